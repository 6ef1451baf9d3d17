//! The simulation runtime: virtual time, seeded randomness, the schedule explorer.
//!
//! The lowest layer of behaviour: it knows nothing of components, scenarios or detectors.
//! - [`sim`]: runs a scenario on a paused current-thread tokio runtime on its own thread, with
//!   per-client seeded randomness, client populations, a virtual-time limit and a wall-clock
//!   watchdog.
//! - [`clock`]: the virtual wall clock (`SystemTime`) and the current instance's clock.
//! - [`os_clock`]: the system clock (`clock_gettime`) follows the simulation, once a test
//!   binary installs it.
//! - [`explorer`]: seeded exploration of interleavings at await points (`join!`, `spawn`).
//! - [`rng`]: seed derivation (SplitMix64) and fresh seeds.
//! - [`sync`]: std primitives, swapped for loom's under `--cfg whatbreaks_loom` (or `--cfg loom`).

pub mod clock;
pub mod explorer;
pub mod os_clock;
pub mod rng;
pub mod sim;
pub mod sync;
