//! Thundering herd: the detector proven both ways, the macro, determinism, the harness's
//! limits, and what a user sees when a test fails.

#[path = "../../examples/patterns/herd.rs"]
mod code;

mod determinism;
mod e2e;
mod fixtures;
mod harness;
mod macros;
#[path = "../support/e2e.rs"]
mod support;
mod tracing_events;
mod verdicts;

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;
