//! Double execution on a cluster: the detector proven both ways, the faults, the macro,
//! determinism, and what a user sees when a test fails.

#[path = "../../examples/patterns/scheduler.rs"]
mod code;

mod determinism;
mod e2e;
mod faults;
mod fixtures;
mod macros;
#[path = "../support/e2e.rs"]
mod support;
mod verdicts;

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;
