//! `#[audit]`: a function that describes a service (returns `whatbreaks::audit::Audit`) becomes
//! a test that asks every question that applies and fails with the table when one breaks.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, Token};

/// Expands `#[audit(args)] fn describe() -> Audit { … }`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let e = e.to_compile_error();
            return quote! { #e #item };
        }
    };
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut krate = quote!(::whatbreaks);
    match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(parsed) => {
            for meta in parsed {
                match &meta {
                    Meta::NameValue(nv) if nv.path.is_ident("crate") => match &nv.value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => match s.parse::<syn::Path>() {
                            Ok(p) => krate = quote!(#p),
                            Err(_) => push(syn::Error::new(
                                s.span(),
                                "`crate` takes a path, e.g. `crate = \"::whatbreaks\"`",
                            )),
                        },
                        other => push(syn::Error::new(
                            other.span(),
                            "`crate` takes a path in quotes, e.g. `crate = \"::whatbreaks\"`",
                        )),
                    },
                    other => push(syn::Error::new(
                        other.span(),
                        "`#[audit]` takes no arguments but `crate = \"…\"`: seeds and limits come from `WHATBREAKS_*` or from the builder the function returns (`.seed(…)`, `.seeds(…)`)",
                    )),
                }
            }
        }
        Err(e) => push(syn::Error::new(
            e.span(),
            "expected `#[audit]` or `#[audit(crate = \"…\")]`",
        )),
    }
    if !func.sig.inputs.is_empty() {
        push(syn::Error::new(
            func.sig.inputs.span(),
            "an `#[audit]` function takes no parameters: it returns the service's description, `whatbreaks::audit::Audit`",
        ));
    }
    if let Some(a) = &func.sig.asyncness {
        push(syn::Error::new(
            a.span(),
            "an `#[audit]` function is not async: it returns the service's description, `whatbreaks::audit::Audit`",
        ));
    }
    if let Some(e) = errors {
        let e = e.to_compile_error();
        return quote! { #e #item };
    }
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ident = &sig.ident;
    let output = &sig.output;
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #ident() {
            fn __whatbreaks_describe() #output #block
            #krate::__private::finish_audit(#krate::audit::Audit::run(&__whatbreaks_describe()));
        }
    }
}
