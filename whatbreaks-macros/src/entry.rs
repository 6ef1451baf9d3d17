//! Parsing and expansion shared by every `*_test` attribute.
//!
//! A macro is described by a [`Spec`]: its name, the parameter types its function takes, the
//! builder expression it starts from, and a table of argument keys with the kind of value each
//! takes. Arguments become builder calls with the same names (`clients = 1000` becomes
//! `.clients(1000)`), so the attribute and the builder cannot drift apart. Values are checked
//! here, at compile time, with the same grammar the runtime uses for `WHATBREAKS_*` variables.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, Meta, Token};
use whatbreaks_spec as spec;

/// The kind of value an argument takes, and how it is checked.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// A whole number of at least `min`.
    Count { min: u64 },
    /// A `u64` seed: an integer literal (decimal or hex) or a string such as `"0x5eed"`.
    Seed,
    /// A number in `(0, max]`.
    Share { max: f64 },
    /// A duration string such as `"10s"`; `positive` rejects zero.
    Duration { positive: bool },
    /// A window string such as `"0s..10s"`.
    Window,
    /// A number in `[min, max]` (integer or float literal), passed as `f64`.
    Number { min: f64, max: f64 },
    /// One of a fixed set of strings, passed as `&'static str`.
    Choice(&'static [&'static str]),
    /// A byte size string such as `"1GiB"` or `"512KiB"`, passed as `u64`.
    Bytes,
    /// A list of whole numbers such as `[1_000, 10_000]`, passed as `&[u64]`.
    Counts,
    /// A string checked at compile time by a grammar from `spec.rs` (`form` names it),
    /// passed as `&'static str` for the builder to parse again.
    Checked {
        check: fn(&str) -> Result<(), String>,
        form: &'static str,
    },
}

impl Kind {
    fn expected(self) -> String {
        match self {
            Kind::Count { min } => format!("a whole number of at least {min}"),
            Kind::Seed => spec::SEED_FORM.to_string(),
            Kind::Share { max } => format!("a number greater than 0 and at most {max}"),
            Kind::Duration { .. } => format!("a string with {}", spec::DURATION_FORM),
            Kind::Window => format!("a string with {}", spec::WINDOW_FORM),
            Kind::Number { min, max } => format!("a number from {min} to {max}"),
            Kind::Choice(choices) => format!(
                "one of {}",
                choices
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Bytes => format!("a string with {}", spec::BYTES_FORM),
            Kind::Counts => "a list of whole numbers, e.g. `[1_000, 10_000]`".into(),
            Kind::Checked { form, .. } => format!("a string with {form}"),
        }
    }
}

/// One argument key.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
}

/// The keys every scenario accepts.
pub(crate) const COMMON_KEYS: &[Key] = &[
    Key {
        name: "seed",
        kind: Kind::Seed,
    },
    Key {
        name: "seeds",
        kind: Kind::Count { min: 1 },
    },
    Key {
        name: "time_limit",
        kind: Kind::Duration { positive: true },
    },
    Key {
        name: "watchdog",
        kind: Kind::Duration { positive: true },
    },
];

/// What one attribute macro accepts and how it expands.
pub(crate) struct Spec {
    /// The attribute's name, e.g. `herd_test`.
    pub(crate) name: &'static str,
    /// `(parameter name to suggest, type name)` for each parameter, in order.
    pub(crate) params: &'static [(&'static str, &'static str)],
    /// The builder type under `::whatbreaks`, e.g. `HerdTest`.
    pub(crate) builder: &'static str,
    /// Keys specific to this macro (the common keys are added).
    pub(crate) keys: &'static [Key],
}

impl Spec {
    fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().chain(COMMON_KEYS).find(|k| k.name == name)
    }

    fn key_list(&self) -> String {
        self.keys
            .iter()
            .chain(COMMON_KEYS)
            .map(|k| format!("`{}`", k.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {}", type_path(t)))
            .collect();
        format!("async fn name({})", params.join(", "))
    }
}

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

/// Expands `#[<spec.name>(args)] item`.
pub(crate) fn expand(spec: &Spec, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            // Not a function: keep the item so the IDE still sees it.
            let e = e.to_compile_error();
            return quote! { #e #item };
        }
    };
    let calls = parse_args(spec, args, &mut errors);
    check_function(spec, &func, &mut errors);
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
    let builder = syn::Ident::new(spec.builder, Span::call_site());
    let body_span = block.span();
    // A `#[should_panic]` test fails on purpose: its seed is not saved as a regression.
    let finish = if attrs.iter().any(|a| a.path().is_ident("should_panic")) {
        quote!(finish_unsaved)
    } else {
        quote!(finish)
    };
    let run = quote_spanned! {body_span=>
        ::whatbreaks::__private::#finish(
            __whatbreaks_scenario.run(move |#(#params),*| async move #block)
        );
    };
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #ident() {
            let __whatbreaks_scenario = ::whatbreaks::#builder::new() #(#calls)*;
            #run
        }
    }
}

fn parse_args(spec: &Spec, args: TokenStream, errors: &mut Errors) -> Vec<TokenStream> {
    let parsed = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(p) => p,
        Err(e) => {
            errors.push(
                e.span(),
                format!(
                    "expected `key = value` arguments, e.g. `#[{}(clients = 100)]`; valid keys: {}",
                    spec.name,
                    spec.key_list()
                ),
            );
            return Vec::new();
        }
    };
    let mut seen: Vec<String> = Vec::new();
    let mut calls = Vec::new();
    for meta in parsed {
        let nv = match meta {
            Meta::NameValue(nv) => nv,
            other => {
                let shown = other.path().to_token_stream().to_string();
                errors.push(
                    other.span(),
                    format!(
                        "`{shown}` needs a value: `{shown} = …`; valid keys: {}",
                        spec.key_list()
                    ),
                );
                continue;
            }
        };
        let Some(ident) = nv.path.get_ident() else {
            errors.push(
                nv.path.span(),
                format!("unknown argument; valid arguments: {}", spec.key_list()),
            );
            continue;
        };
        let name = ident.to_string();
        let Some(key) = spec.key(&name) else {
            errors.push(
                ident.span(),
                format!(
                    "unknown argument `{name}` for `#[{}]`; valid arguments: {}",
                    spec.name,
                    spec.key_list()
                ),
            );
            continue;
        };
        if seen.contains(&name) {
            errors.push(ident.span(), format!("`{name}` set multiple times"));
            continue;
        }
        seen.push(name.clone());
        match value_tokens(key.kind, &nv.value) {
            Ok(value) => {
                let method = syn::Ident::new(key.name, ident.span());
                calls.push(quote! { .#method(#value) });
            }
            // Grammar errors from `spec` already name the expected form.
            Err(problem) if problem.contains("expected") => {
                errors.push(nv.value.span(), format!("invalid `{name}`: {problem}"))
            }
            Err(problem) => errors.push(
                nv.value.span(),
                format!(
                    "invalid `{name}`: {problem}; expected {}",
                    key.kind.expected()
                ),
            ),
        }
    }
    calls
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
    match (kind, lit) {
        (Kind::Count { min }, Lit::Int(i)) => {
            let v: u64 = i.base10_parse().map_err(|e| e.to_string())?;
            if v < min {
                return Err(format!("{v} is too small"));
            }
            let mut l = Literal::u64_unsuffixed(v);
            l.set_span(span);
            Ok(l.into_token_stream())
        }
        (Kind::Seed, Lit::Int(i)) => {
            let v: u64 = i.base10_parse().map_err(|e| e.to_string())?;
            Ok(Literal::u64_suffixed(v).into_token_stream())
        }
        (Kind::Seed, Lit::Str(s)) => {
            let v = spec::parse_seed(&s.value())?;
            Ok(Literal::u64_suffixed(v).into_token_stream())
        }
        (Kind::Share { max }, Lit::Float(_) | Lit::Int(_)) => {
            let v: f64 = match lit {
                Lit::Float(f) => f.base10_parse().map_err(|e| e.to_string())?,
                Lit::Int(i) => i.base10_parse::<u64>().map_err(|e| e.to_string())? as f64,
                _ => unreachable!(),
            };
            if !(v > 0.0 && v <= max) {
                return Err(format!("{v} is out of range"));
            }
            Ok(Literal::f64_suffixed(v).into_token_stream())
        }
        (Kind::Duration { positive }, Lit::Str(s)) => {
            let d = spec::parse_duration(&s.value())?;
            if positive && d.is_zero() {
                return Err("it must be longer than zero".into());
            }
            Ok(millis(d))
        }
        (Kind::Window, Lit::Str(s)) => {
            let (a, b) = spec::parse_window(&s.value())?;
            let (a, b) = (millis(a), millis(b));
            Ok(quote!(#a..#b))
        }
        (Kind::Number { min, max }, Lit::Float(_) | Lit::Int(_)) => {
            let v: f64 = match lit {
                Lit::Float(f) => f.base10_parse().map_err(|e| e.to_string())?,
                Lit::Int(i) => i.base10_parse::<u64>().map_err(|e| e.to_string())? as f64,
                _ => unreachable!(),
            };
            if !(min..=max).contains(&v) {
                return Err(format!("{v} is out of range"));
            }
            Ok(Literal::f64_suffixed(v).into_token_stream())
        }
        (Kind::Choice(choices), Lit::Str(s)) => {
            let v = s.value();
            if !choices.contains(&v.as_str()) {
                return Err(format!("\"{v}\" is not a choice"));
            }
            Ok(s.into_token_stream())
        }
        (Kind::Bytes, Lit::Str(s)) => {
            let v = spec::parse_bytes(&s.value())?;
            Ok(Literal::u64_suffixed(v).into_token_stream())
        }
        (Kind::Checked { check, .. }, Lit::Str(s)) => {
            check(&s.value())?;
            Ok(s.into_token_stream())
        }
        _ => Err("wrong kind of literal".into()),
    }
}

fn check_function(spec: &Spec, func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span(),
            format!(
                "the `async` keyword is missing from the function declaration; `#[{}]` expects `{}`",
                spec.name,
                spec.signature()
            ),
        );
    }
    for attr in &func.attrs {
        let path = attr.path();
        let is_test = path.segments.last().is_some_and(|s| s.ident == "test");
        if is_test {
            errors.push(
                attr.span(),
                format!(
                    "`#[{}]` already makes this function a test; remove this second test attribute",
                    spec.name
                ),
            );
        }
    }
    if !sig.generics.params.is_empty() {
        errors.push(
            sig.generics.span(),
            format!("`#[{}]` functions cannot be generic", spec.name),
        );
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        let unit = matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty());
        if !unit {
            errors.push(
                ty.span(),
                format!(
                    "`#[{}]` functions return `()`; use `assert!` or `panic!` to fail",
                    spec.name
                ),
            );
        }
    }
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    if inputs.len() != spec.params.len() {
        let span = if inputs.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        errors.push(
            span,
            format!(
                "`#[{}]` functions take {} argument(s): `{}`",
                spec.name,
                spec.params.len(),
                spec.signature()
            ),
        );
        return;
    }
    for (input, (_, expected)) in inputs.iter().zip(spec.params) {
        match input {
            FnArg::Receiver(r) => errors.push(
                r.span(),
                format!("`#[{}]` functions cannot take `self`", spec.name),
            ),
            FnArg::Typed(pt) => {
                let ok = match &*pt.ty {
                    syn::Type::Path(p) => p
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == expected && s.arguments.is_empty()),
                    _ => false,
                };
                if !ok {
                    errors.push(
                        pt.ty.span(),
                        format!(
                            "expected `{}` here; `#[{}]` expects `{}`",
                            type_path(expected),
                            spec.name,
                            spec.signature()
                        ),
                    );
                }
            }
        }
    }
}

/// How a parameter type is written in messages: `whatbreaks::Upstream`, but plain `u64`.
fn type_path(ty: &str) -> String {
    if ty.starts_with(|c: char| c.is_ascii_lowercase()) {
        ty.to_string()
    } else {
        format!("whatbreaks::{ty}")
    }
}

#[cfg(test)]
mod tests {
    //! Expansion snapshots: what the attribute turns a function into. A change here is a
    //! change in what users' tests compile to; update the snapshot on purpose only.
    use super::*;
    use crate::specs;

    fn expand_str(spec: &Spec, args: TokenStream, item: TokenStream) -> String {
        expand(spec, args, item).to_string()
    }

    #[test]
    fn herd_test_expands_into_a_test_over_the_builder() {
        let out = expand_str(
            &specs::HERD,
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
            &specs::RACE,
            quote!(schedules = 50, mode = "pct"),
            quote!(
                async fn r() {}
            ),
        );
        assert!(
            out.contains(":: whatbreaks :: RaceTest :: new () . schedules (50) . mode (\"pct\")"),
            "{out}"
        );
        assert!(out.contains("run (move | | async move { })"), "{out}");
    }

    #[test]
    fn errors_keep_the_function_and_add_compile_errors() {
        let out = expand_str(
            &specs::HERD,
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
