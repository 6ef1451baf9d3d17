//! The grammar of [whatbreaks](https://docs.rs/whatbreaks), in plain `std` Rust with no
//! dependencies, shared by the runtime (`whatbreaks-core`, where it is `whatbreaks::spec`) and
//! the attribute macros (`whatbreaks-macros`):
//!
//! - the text forms of values: durations (`"250ms"`), windows (`"0s..10s"`), seeds, byte
//!   sizes, timeouts and instance faults, with their parsers, the `*_FORM` descriptions used
//!   in error messages, and [`format_duration`] / [`format_bytes`] for printing;
//! - every attribute's knobs, declared once ([`ATTRIBUTES`]): the keys each `#[…_test]` takes,
//!   the [`Kind`] of value each key takes, its default, its meaning and its old spellings.
//!
//! An attribute argument and the matching `WHATBREAKS_*` variable are checked by the same
//! function, so they accept the same text and fail with the same message.

mod attributes;
mod grammar;

pub use attributes::*;
pub use grammar::*;
