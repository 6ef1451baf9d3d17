//! Connection pools: the detectors proven both ways, the macro, determinism, the harness,
//! and what a user sees when a pool test fails.

#[path = "../../examples/patterns/pool.rs"]
mod code;

mod determinism;
mod e2e;
mod fixtures;
mod harness;
mod macros;
#[cfg(any(feature = "deadpool", feature = "bb8"))]
mod real;
#[path = "../support/e2e.rs"]
mod support;
mod verdicts;

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;
