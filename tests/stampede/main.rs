//! Cache stampede: the simulated backends, the detector proven both ways (one and several
//! instances, cold and expiring keys, failing loaders), the macro, and determinism.

#[path = "../../examples/patterns/stampede.rs"]
mod code;

mod determinism;
mod e2e;
mod fixtures;
mod macros;
mod store;
#[path = "../support/e2e.rs"]
mod support;
mod verdicts;

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;
