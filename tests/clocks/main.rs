//! Unmodified code on virtual time: the system clock (`std::time::Instant`, `SystemTime`,
//! chrono) follows the simulation in a binary that installs it, so third-party crates whose
//! clock cannot be injected (moka, cached, tokio-cron-scheduler, backoff) run on virtual time.

// The one line: the counting allocator and the virtual system clock.
whatbreaks::install!();

#[path = "../../examples/patterns/clocks.rs"]
mod clocks;

mod basics;
mod premise;
mod third_party;

/// The first seeds of the both-ways runs.
pub(crate) fn seeds() -> impl Iterator<Item = u64> {
    (0..5u64).map(|i| 0x5eed + i)
}
