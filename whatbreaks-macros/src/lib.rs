//! Attribute macros for [whatbreaks](https://docs.rs/whatbreaks). A thin shim: each macro
//! checks its arguments and function signature at compile time, then expands into a builder
//! from `whatbreaks-core` and one call that runs it. All behaviour lives in `whatbreaks-core`;
//! the documentation of each macro lives on its re-export in the `whatbreaks` crate.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod audit;
mod entry;

use proc_macro::TokenStream;
use whatbreaks_spec as specs;

/// Thundering herd: see `whatbreaks::herd_test`.
#[proc_macro_attribute]
pub fn herd_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::HERD, args.into(), item.into()).into()
}

/// Check-then-act races: see `whatbreaks::race_test`.
#[proc_macro_attribute]
pub fn race_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::RACE, args.into(), item.into()).into()
}

/// Cache stampede: see `whatbreaks::stampede_test`.
#[proc_macro_attribute]
pub fn stampede_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::STAMPEDE, args.into(), item.into()).into()
}

/// Double execution of scheduled jobs: see `whatbreaks::double_execution_test`.
#[proc_macro_attribute]
pub fn double_execution_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::DOUBLE_EXECUTION, args.into(), item.into()).into()
}

/// Slow leak: see `whatbreaks::leak_test`.
#[proc_macro_attribute]
pub fn leak_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::LEAK, args.into(), item.into()).into()
}

/// Unbounded memory at scale: see `whatbreaks::scale_test`.
#[proc_macro_attribute]
pub fn scale_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::SCALE, args.into(), item.into()).into()
}

/// Connection pools: see `whatbreaks::pool_test`.
#[proc_macro_attribute]
pub fn pool_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::POOL, args.into(), item.into()).into()
}

/// Retry storm and duplicate side effects: see `whatbreaks::retry_storm_test`.
#[proc_macro_attribute]
pub fn retry_storm_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::RETRY_STORM, args.into(), item.into()).into()
}

/// Hung upstreams and missing timeouts: see `whatbreaks::hang_test`.
#[proc_macro_attribute]
pub fn hang_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::HANG, args.into(), item.into()).into()
}

/// Silent errors: see `whatbreaks::silent_error_test`.
#[proc_macro_attribute]
pub fn silent_error_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::SILENT, args.into(), item.into()).into()
}

/// Partial writes when a request is cancelled or crashed: see `whatbreaks::cancel_test`.
#[proc_macro_attribute]
pub fn cancel_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::CANCEL, args.into(), item.into()).into()
}

/// N+1 queries: see `whatbreaks::n_plus_one_test`.
#[proc_macro_attribute]
pub fn n_plus_one_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(&specs::N_PLUS_ONE, args.into(), item.into()).into()
}

/// Ask every question unprompted: see `whatbreaks::audit` (the attribute).
#[proc_macro_attribute]
pub fn audit(args: TokenStream, item: TokenStream) -> TokenStream {
    audit::expand(args.into(), item.into()).into()
}
