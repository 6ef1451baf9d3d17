//! Retry storms, duplicate side effects and retry classification: the detector proven both
//! ways, the macro, determinism, the AWS backoff comparison, and what a user sees when a test
//! fails.

#[path = "../../examples/patterns/retry.rs"]
mod code;

mod comparison;
mod determinism;
mod e2e;
mod fixtures;
mod macros;
#[path = "../support/e2e.rs"]
mod support;
mod verdicts;

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;
