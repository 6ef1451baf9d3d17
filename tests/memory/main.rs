//! Slow leaks and unbounded memory at scale: the counting allocator, both detectors proven
//! both ways over several seeds, the macros, and what a user sees when a test fails.

// The detectors measure the heap of the simulation thread through this allocator.
whatbreaks::install_counting_allocator!();

#[path = "../../examples/patterns/leak.rs"]
mod leak_code;
#[path = "../../examples/patterns/scale.rs"]
mod scale_code;

mod determinism;
mod e2e;
mod fixtures;
mod harness;
mod leak;
mod macros;
mod measure;
mod scale;
#[path = "../support/e2e.rs"]
mod support;

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;

/// The first seeds of the runs that must each be flagged (one seed per run, so that every
/// seed is checked, not only the first that fails).
pub(crate) fn seeds() -> impl Iterator<Item = u64> {
    (0..u64::from(SEEDS)).map(|i| 0x5eed + i)
}
