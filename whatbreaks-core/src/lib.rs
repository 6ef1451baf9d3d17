//! The behaviour behind [whatbreaks](https://docs.rs/whatbreaks): the simulation runtime,
//! simulated components, detectors and reports.
//!
//! Users depend on the `whatbreaks` facade crate, which re-exports this crate and adds the
//! attribute macros; this crate holds all the behaviour as ordinary, unit-tested Rust.
//!
//! Runtime and support:
//! - [`sim`]: virtual time, seeded randomness, client populations, time limit and watchdog.
//! - [`scenario`]: the seed driver every detector shares; [`config`]: `WHATBREAKS_*` and
//!   shared settings; [`spec`]: the text grammars of durations, windows, sizes and faults.
//! - [`report`]: findings and the one renderer that gives every failure the same shape.
//! - [`clock`]: the virtual wall clock (`SystemTime`) for code that reads the time of day.
//! - [`measure`]: the counting allocator, gauges, growth fits and extrapolation.
//!
//! Simulated components:
//! - [`upstream`]: a remote service with a fault schedule that records every arrival.
//! - [`store`]: a Redis-like cache and a database double ([`db`]: its tables, transactions
//!   and row locks); [`table`] and [`sink`]: a generated table with a streaming cursor, and
//!   writers for output.
//! - [`pool`]: a connection pool; [`pool_watch`]: leak checks on real pools (features
//!   `deadpool`, `bb8`).
//! - [`cluster`]: several instances on one virtual clock, cluster faults, leases, effects.
//! - [`sync`]: std primitives, swapped for loom's under `--cfg loom`.
//!
//! Detectors, one per failure pattern:
//! - [`herd`] (thundering herd), [`storm`] (retry storms, duplicate effects,
//!   classification; [`backoff`] reproduces the AWS backoff comparison), [`stampede`],
//!   [`race`] (the schedule explorer), [`double_execution`], [`leak`], [`scale`], and
//!   `http` (feature `http`: auth-context leaks, mass assignment, hostile inputs).
//! - [`html`]: the HTML report with charts; [`regressions`]: failing seeds saved and replayed.
//! - [`realtime`]: real-time mode (real clocks, scaled-down durations, bounded loops) for
//!   checks against real services; `postgres` and `redis` (cargo features of the same names).
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod backends;
pub mod components;
pub mod detectors;
pub mod probes;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod spec;

pub use components::cluster::{Instance, Lease, LeaseError, Occurrence, StaleToken};
pub use components::measure::CountingAllocator;
pub use components::pool::{ManualConn, PooledConn, QueryError, SimPool};
pub use components::store::{SimCache, SimDb};
pub use components::upstream::{Request, Response, Upstream, UpstreamError};
pub use detectors::double_execution::DoubleExecutionTest;
pub use detectors::herd::HerdTest;
pub use detectors::leak::{LeakEnv, LeakTest};
pub use detectors::pool::PoolTest;
pub use detectors::race::RaceTest;
pub use detectors::scale::ScaleTest;
pub use detectors::stampede::{StampedeEnv, StampedeTest};
pub use detectors::storm::RetryStormTest;
pub use report::{Finding, FindingKind, Report};
pub use runtime::explorer::spawn;
pub use runtime::sim::rng;

/// The modules behind cargo features, for the facade to re-export with a glob (so it sees
/// them whenever the feature is on, whichever crate turned it on).
#[doc(hidden)]
pub mod features {
    #[cfg(feature = "postgres")]
    pub use crate::backends::postgres;
    #[cfg(feature = "redis")]
    pub use crate::backends::redis;
    #[cfg(feature = "http")]
    pub use crate::probes::http;
}

/// Support for the attribute macros. Not public API: names and signatures change freely.
#[doc(hidden)]
pub mod __private {
    use crate::report::Report;

    /// Panics with the rendered report unless it is clean: what every `*_test` macro ends with.
    ///
    /// Before panicking it saves the failing seed ([`crate::regressions`]) and says where.
    #[track_caller]
    pub fn finish(report: Report) {
        if !report.is_clean() {
            let saved = match crate::scenario::regressions::save(&report) {
                Some(path) => format!(
                    "\n  saved     seed {:#x} to {}: this test replays it before new seeds from now on (check the file in)",
                    report.seed(),
                    path.display()
                ),
                None => String::new(),
            };
            panic!("\n{}{saved}\n", report.render());
        }
    }

    /// [`finish`] without saving the seed: for `#[should_panic]` tests, which fail on purpose.
    #[track_caller]
    pub fn finish_unsaved(report: Report) {
        if !report.is_clean() {
            panic!("\n{}\n", report.render());
        }
    }
}
