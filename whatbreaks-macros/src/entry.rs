//! Parsing and expansion shared by every `*_test` attribute.
//!
//! A macro is described by an [`Attribute`] declared in `whatbreaks-spec`: its name, the
//! parameter types its function takes, the builder it starts from, and a table of argument keys
//! with the kind of value each takes. Arguments become builder calls with the same names
//! (`clients = 1000` becomes `.clients(1000)`). This file is only the syn/quote side: parsing,
//! spans and expansion. Values are checked here, at compile time, with the same grammar the
//! runtime uses for `WHATBREAKS_*` variables.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, Token};
use whatbreaks_spec::{Attribute, Kind};

/// Collects every error so that all of them are reported at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let e = syn::Error::new(span, message);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

/// Expands `#[<attr.name>(args)] item`.
pub(crate) fn expand(attr: &Attribute, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            // Not a function: keep the item so the IDE still sees it.
            let e = e.to_compile_error();
            return quote! { #e #item };
        }
    };
    let Args { calls, krate } = parse_args(attr, args, &mut errors);
    check_function(attr, &func, &mut errors);
    if let Some(e) = errors.0 {
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
    let params = sig.inputs.iter();
    let builder = syn::Ident::new(attr.builder, Span::call_site());
    let body_span = block.span();
    // A `#[should_panic]` test fails on purpose: its seed is not saved as a regression.
    let finish = if attrs.iter().any(|a| a.path().is_ident("should_panic")) {
        quote!(finish_unsaved)
    } else {
        quote!(finish)
    };
    // Every path into the crate goes through `krate`: `::whatbreaks`, or the `crate = "…"` path.
    let krate = krate.unwrap_or_else(|| quote!(::whatbreaks));
    // An attribute that judges what the function returns keeps its return type on the body,
    // so `?` and `return` inside it convert to that type.
    let body = match (&sig.output, attr.returns()) {
        (syn::ReturnType::Type(_, ty), Some(_)) => quote_spanned! {body_span=>
            async move {
                let __whatbreaks_output: #ty = #block;
                __whatbreaks_output
            }
        },
        _ => quote_spanned!(body_span=> async move #block),
    };
    let run = quote_spanned! {body_span=>
        #krate::__private::#finish(
            __whatbreaks_scenario.run(move |#(#params),*| #body)
        );
    };
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #ident() {
            let __whatbreaks_scenario = #krate::#builder::new() #(#calls)*;
            #run
        }
    }
}

/// The arguments of one attribute, turned into tokens.
#[derive(Default)]
struct Args {
    /// One builder call per argument: `.clients(1000)`.
    calls: Vec<TokenStream>,
    /// The path given with `crate = "…"`.
    krate: Option<TokenStream>,
}

fn parse_args(attr: &Attribute, args: TokenStream, errors: &mut Errors) -> Args {
    let parsed = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(p) => p,
        Err(e) => {
            errors.push(
                e.span(),
                format!(
                    "expected `key = value` arguments, e.g. `#[{}(clients = 100)]`; valid keys: {}",
                    attr.name,
                    attr.key_list()
                ),
            );
            return Args::default();
        }
    };
    // (key, spelling used) of each key set so far.
    let mut seen: Vec<(&str, String)> = Vec::new();
    let mut out = Args::default();
    for meta in parsed {
        let nv = match meta {
            Meta::NameValue(nv) => nv,
            other => {
                let shown = other.path().to_token_stream().to_string();
                errors.push(
                    other.span(),
                    format!(
                        "`{shown}` needs a value: `{shown} = …`; valid keys: {}",
                        attr.key_list()
                    ),
                );
                continue;
            }
        };
        let Some(ident) = nv.path.get_ident() else {
            errors.push(
                nv.path.span(),
                format!("unknown argument; valid arguments: {}", attr.key_list()),
            );
            continue;
        };
        let name = ident.to_string();
        let Some(key) = attr.key(&name) else {
            errors.push(
                ident.span(),
                format!(
                    "unknown argument `{name}` for `#[{}]`; valid arguments: {}",
                    attr.name,
                    attr.key_list()
                ),
            );
            continue;
        };
        // An old spelling is named with the key it stands for, and expands into the key's
        // (new) builder method, so that user code sees no deprecation warning.
        let shown = if name == key.name {
            format!("`{name}`")
        } else {
            format!("`{name}` (old spelling of `{}`)", key.name)
        };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key.name) {
            let message = if *first == name {
                format!("`{name}` set multiple times")
            } else {
                let old = if name == key.name { first } else { &name };
                format!(
                    "`{}` set multiple times: `{old}` is its old spelling",
                    key.name
                )
            };
            errors.push(ident.span(), message);
            continue;
        }
        seen.push((key.name, name.clone()));
        match value_tokens(key.kind, &nv.value) {
            Ok(path) if matches!(key.kind, Kind::CratePath) => out.krate = Some(path),
            Ok(value) => {
                let method = syn::Ident::new(key.name, ident.span());
                out.calls.push(quote! { .#method(#value) });
            }
            // Grammar errors from `whatbreaks-spec` already name the expected form.
            Err(problem) if problem.contains("expected") => {
                errors.push(nv.value.span(), format!("invalid {shown}: {problem}"))
            }
            Err(problem) => errors.push(
                nv.value.span(),
                format!(
                    "invalid {shown}: {problem}; expected {}",
                    key.kind.expected()
                ),
            ),
        }
    }
    out
}

fn lit(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(g) => lit(&g.expr),
        _ => None,
    }
}

fn value_tokens(kind: Kind, expr: &Expr) -> Result<TokenStream, String> {
    let span = expr.span();
    if let (Kind::Counts, Expr::Array(array)) = (kind, expr) {
        let mut values = Vec::new();
        for e in &array.elems {
            match lit(e) {
                Some(Lit::Int(i)) => {
                    let v: u64 = i.base10_parse().map_err(|e| e.to_string())?;
                    values.push(Literal::u64_suffixed(v));
                }
                _ => return Err("every element must be a whole number".into()),
            }
        }
        if values.is_empty() {
            return Err("the list is empty".into());
        }
        return Ok(quote_spanned!(span=> &[#(#values),*]));
    }
    let lit = lit(expr).ok_or_else(|| "not a literal".to_string())?;
    let millis = |d: std::time::Duration| {
        let ms = Literal::u64_unsuffixed(d.as_millis() as u64);
        quote_spanned!(span=> ::core::time::Duration::from_millis(#ms))
    };
    let number = |lit: &Lit| -> Result<f64, String> {
        match lit {
            Lit::Float(f) => f.base10_parse().map_err(|e| e.to_string()),
            Lit::Int(i) => Ok(i.base10_parse::<u64>().map_err(|e| e.to_string())? as f64),
            _ => Err("wrong kind of literal".into()),
        }
    };
    // The ranges and grammars are `whatbreaks-spec`'s (`Kind::check_*`); this turns the
    // checked value into tokens.
    match (kind, lit) {
        (Kind::Count { .. }, Lit::Int(i)) => {
            let v: u64 = i.base10_parse().map_err(|e| e.to_string())?;
            kind.check_count(v)?;
            let mut l = Literal::u64_unsuffixed(v);
            l.set_span(span);
            Ok(l.into_token_stream())
        }
        (Kind::Seed, Lit::Int(i)) => {
            let v: u64 = i.base10_parse().map_err(|e| e.to_string())?;
            Ok(Literal::u64_suffixed(v).into_token_stream())
        }
        (Kind::Seed, Lit::Str(s)) => {
            let v = whatbreaks_spec::parse_seed(&s.value())?;
            Ok(Literal::u64_suffixed(v).into_token_stream())
        }
        (Kind::Share { .. } | Kind::Number { .. }, Lit::Float(_) | Lit::Int(_)) => {
            let v = number(lit)?;
            kind.check_number(v)?;
            Ok(Literal::f64_suffixed(v).into_token_stream())
        }
        (Kind::Duration { .. }, Lit::Str(s)) => {
            let text = s.value();
            kind.check_text(&text)?;
            Ok(millis(whatbreaks_spec::parse_duration(&text)?))
        }
        (Kind::Window, Lit::Str(s)) => {
            let (a, b) = whatbreaks_spec::parse_window(&s.value())?;
            let (a, b) = (millis(a), millis(b));
            Ok(quote!(#a..#b))
        }
        (Kind::Bytes, Lit::Str(s)) => {
            let v = whatbreaks_spec::parse_bytes(&s.value())?;
            Ok(Literal::u64_suffixed(v).into_token_stream())
        }
        (Kind::CratePath, Lit::Str(s)) => {
            kind.check_text(&s.value())?;
            // The path's tokens take the span of the string, so a path that does not resolve
            // is reported there.
            let path = s
                .parse_with(syn::Path::parse_mod_style)
                .map_err(|e| format!("`{}` is not a path ({e})", s.value()))?;
            Ok(path.into_token_stream())
        }
        (Kind::Choice(_) | Kind::Checked { .. }, Lit::Str(s)) => {
            kind.check_text(&s.value())?;
            Ok(s.into_token_stream())
        }
        _ => Err("wrong kind of literal".into()),
    }
}

fn check_function(attr: &Attribute, func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span(),
            format!(
                "the `async` keyword is missing from the function declaration; `#[{}]` expects `{}`",
                attr.name,
                attr.signature()
            ),
        );
    }
    for a in &func.attrs {
        let path = a.path();
        let is_test = path.segments.last().is_some_and(|s| s.ident == "test");
        if is_test {
            errors.push(
                a.span(),
                format!(
                    "`#[{}]` already makes this function a test; remove this second test attribute",
                    attr.name
                ),
            );
        }
    }
    if !sig.generics.params.is_empty() {
        errors.push(
            sig.generics.span(),
            format!("`#[{}]` functions cannot be generic", attr.name),
        );
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        let unit = matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty());
        if !unit && attr.returns().is_none() {
            errors.push(
                ty.span(),
                format!(
                    "`#[{}]` functions return `()`; use `assert!` or `panic!` to fail",
                    attr.name
                ),
            );
        }
    }
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    if inputs.len() != attr.params.len() {
        let span = if inputs.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        errors.push(
            span,
            format!(
                "`#[{}]` functions take {} argument(s): `{}`",
                attr.name,
                attr.params.len(),
                attr.signature()
            ),
        );
        return;
    }
    for (input, param) in inputs.iter().zip(attr.params) {
        match input {
            FnArg::Receiver(r) => errors.push(
                r.span(),
                format!("`#[{}]` functions cannot take `self`", attr.name),
            ),
            FnArg::Typed(pt) => {
                let ok = match &*pt.ty {
                    syn::Type::Path(p) => p
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == param.ty && s.arguments.is_empty()),
                    _ => false,
                };
                if !ok {
                    errors.push(
                        pt.ty.span(),
                        format!(
                            "expected `{}` here; `#[{}]` expects `{}`",
                            param.type_path(),
                            attr.name,
                            attr.signature()
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Expansion snapshots: what the attribute turns a function into. A change here is a
    //! change in what users' tests compile to; update the snapshot on purpose only.
    use super::*;

    fn expand_str(attr: &Attribute, args: TokenStream, item: TokenStream) -> String {
        expand(attr, args, item).to_string()
    }

    #[test]
    fn silent_error_test_keeps_the_return_type_on_the_body() {
        let out = expand_str(
            &whatbreaks_spec::SILENT,
            quote!(error_rate = 0.5),
            quote! {
                async fn t(env: whatbreaks::SilentEnv) -> Result<(), String> { Err(env.request_id().into()) }
            },
        );
        assert!(
            out.contains(":: whatbreaks :: SilentErrorTest :: new () . error_rate (0.5f64)"),
            "{out}"
        );
        assert!(
            out.contains(
                "async move { let __whatbreaks_output : Result < () , String > = { Err (env . request_id () . into ()) } ; __whatbreaks_output }"
            ),
            "{out}"
        );
        assert!(out.contains("fn t ()"), "{out}");
    }

    #[test]
    fn herd_test_expands_into_a_test_over_the_builder() {
        let out = expand_str(
            &whatbreaks_spec::HERD,
            quote!(clients = 10, outage = "0s..2s", seed = 0x5eed),
            quote! {
                #[ignore]
                async fn t(upstream: whatbreaks::Upstream) { let _ = upstream; }
            },
        );
        assert_eq!(
            out,
            "# [ignore] # [:: core :: prelude :: v1 :: test] fn t () { \
             let __whatbreaks_scenario = :: whatbreaks :: HerdTest :: new () \
             . clients (10) \
             . outage (:: core :: time :: Duration :: from_millis (0) .. :: core :: time :: Duration :: from_millis (2000)) \
             . seed (24301u64) ; \
             :: whatbreaks :: __private :: finish (__whatbreaks_scenario . run (move | upstream : whatbreaks :: Upstream | async move { let _ = upstream ; })) ; }"
        );
    }

    #[test]
    fn race_test_takes_no_arguments_and_passes_choices_through() {
        let out = expand_str(
            &whatbreaks_spec::RACE,
            quote!(iterations = 50, mode = "pct"),
            quote!(
                async fn r() {}
            ),
        );
        assert!(
            out.contains(":: whatbreaks :: RaceTest :: new () . iterations (50) . mode (\"pct\")"),
            "{out}"
        );
        assert!(out.contains("run (move | | async move { })"), "{out}");
    }

    #[test]
    fn old_spellings_expand_into_the_new_builder_methods() {
        let out = expand_str(
            &whatbreaks_spec::RETRY_STORM,
            quote!(
                duration = "30s",
                degraded = "0s..1s",
                degraded_latency = "2s"
            ),
            quote!(
                async fn s(upstream: whatbreaks::Upstream) {}
            ),
        );
        assert!(
            out.contains(
                ":: whatbreaks :: RetryStormTest :: new () \
                 . run_for (:: core :: time :: Duration :: from_millis (30000)) \
                 . outage (:: core :: time :: Duration :: from_millis (0) .. :: core :: time :: Duration :: from_millis (1000)) \
                 . outage_latency (:: core :: time :: Duration :: from_millis (2000)) ;"
            ),
            "{out}"
        );
        for (attr, old, new) in [
            (&whatbreaks_spec::RACE, "schedules", "iterations"),
            (&whatbreaks_spec::LEAK, "cycles", "iterations"),
            (&whatbreaks_spec::POOL, "window", "arrivals"),
            (&whatbreaks_spec::STAMPEDE, "failing_loads", "outage"),
        ] {
            let key = attr.key(old).unwrap();
            assert_eq!(key.name, new);
        }
    }

    #[test]
    fn a_key_and_its_old_spelling_together_are_set_twice() {
        let out = expand_str(
            &whatbreaks_spec::RACE,
            quote!(iterations = 5, schedules = 0),
            quote!(
                async fn r() {}
            ),
        );
        assert!(
            out.contains("`iterations` set multiple times: `schedules` is its old spelling"),
            "{out}"
        );
        let out = expand_str(
            &whatbreaks_spec::RACE,
            quote!(schedules = 0),
            quote!(
                async fn r() {}
            ),
        );
        assert!(
            out.contains("invalid `schedules` (old spelling of `iterations`): 0 is too small"),
            "{out}"
        );
    }

    #[test]
    fn crate_names_every_path_of_the_expansion() {
        let out = expand_str(
            &whatbreaks_spec::HERD,
            quote!(crate = "wb", clients = 10),
            quote!(
                async fn t(upstream: wb::Upstream) {}
            ),
        );
        assert!(
            out.contains("let __whatbreaks_scenario = wb :: HerdTest :: new () . clients (10) ;"),
            "{out}"
        );
        assert!(out.contains("wb :: __private :: finish ("), "{out}");
        assert!(!out.contains("whatbreaks ::"), "{out}");
        let out = expand_str(
            &whatbreaks_spec::RACE,
            quote!(crate = "::deps::whatbreaks"),
            quote!(
                async fn r() {}
            ),
        );
        assert!(
            out.contains(":: deps :: whatbreaks :: RaceTest :: new () ;"),
            "{out}"
        );
    }

    #[test]
    fn a_bad_crate_path_is_an_error() {
        for (args, message) in [
            (
                quote!(crate = "not a path"),
                "invalid `crate`: `not a path` is not a path",
            ),
            (
                quote!(crate = "wb::"),
                "invalid `crate`: `wb::` is not a path",
            ),
            (quote!(crate = wb), "invalid `crate`: not a literal"),
            (
                quote!(crate = "wb", crate = "wb"),
                "`crate` set multiple times",
            ),
        ] {
            let out = expand_str(
                &whatbreaks_spec::RACE,
                args,
                quote!(
                    async fn r() {}
                ),
            );
            assert!(out.contains(message), "{out}");
        }
    }

    #[test]
    fn errors_keep_the_function_and_add_compile_errors() {
        let out = expand_str(
            &whatbreaks_spec::HERD,
            quote!(clientz = 1),
            quote!(
                fn t(u: whatbreaks::Upstream) {}
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("unknown argument `clientz`"), "{out}");
        assert!(out.contains("the `async` keyword is missing"), "{out}");
        assert!(
            out.ends_with("fn t (u : whatbreaks :: Upstream) { }"),
            "{out}"
        );
    }
}
