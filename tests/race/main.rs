//! Check-then-act races: the explorer proven both ways over several seeds, the macro, the
//! trace in the finding, and determinism.

#[path = "../../examples/patterns/race.rs"]
mod code;

mod catalogue;
mod macros;
mod verdicts;

/// Seeds (first schedule seeds) every both-ways test runs.
pub(crate) const SEEDS: [u64; 5] = [1, 2, 3, 0x5eed, 0xdead_beef];
