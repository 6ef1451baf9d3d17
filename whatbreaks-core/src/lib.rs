//! The behaviour behind [whatbreaks](https://docs.rs/whatbreaks): the simulation runtime,
//! simulated components, detectors and reports.
//!
//! Users depend on the `whatbreaks` facade crate, which re-exports this crate (under the short
//! module names of 0.1: `whatbreaks::herd`, `whatbreaks::upstream`, …) and adds the attribute
//! macros; this crate holds all the behaviour as ordinary, unit-tested Rust.
//!
//! # Layers
//! Each folder is a layer; a layer imports only the layers below it, never one above, and
//! there are no import circles. From the bottom:
//!
//! | layer | what it holds |
//! |---|---|
//! | [`spec`] | the grammar of durations, windows, seeds, sizes and faults, and every attribute's knobs (the `whatbreaks-spec` crate, shared with the macros) |
//! | [`report`] | findings, reports, text pictures, charts, the HTML report |
//! | [`runtime`] | the simulation ([`runtime::sim`]), virtual clocks, seed derivation, the schedule explorer, `sync` |
//! | [`components`] | simulated upstream, cache, database, tables, pool, cluster, measurement: they record, never judge |
//! | [`seams`] | the ecosystem's interfaces onto the components: `tower::Service` and a hyper connector for an upstream, redis-rs for the cache (features `http`, `hyper`, `redis`) |
//! | [`scenario`] | the one run path ([`scenario::Scenario`], [`scenario::run`]): settings, validation, `WHATBREAKS_*` ([`scenario::config`]), seeds, regressions, harness findings |
//! | [`detectors`] | one per failure pattern: a builder and its analysis; detectors never import each other |
//! | [`audit`] | asks every question that applies to a described service, with the detectors |
//! | `bench` | criterion benches of retry policies under a storm, measuring calls per request and virtual latency instead of wall time (feature `criterion`) |
//! | [`backends`], [`probes`] | real PostgreSQL and Redis in real time (features `postgres`, `redis`); HTTP trust-boundary probes (feature `http`) |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod audit;
pub mod backends;
#[cfg(feature = "criterion")]
#[cfg_attr(docsrs, doc(cfg(feature = "criterion")))]
pub mod bench;
pub mod components;
pub mod detectors;
pub mod probes;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod seams;
pub mod spec;

pub use components::cluster::{Instance, Lease, LeaseError, Occurrence, StaleToken};
pub use components::measure::CountingAllocator;
pub use components::pool::{ManualConn, PooledConn, QueryError, SimPool};
pub use components::store::{SimCache, SimDb};
pub use components::upstream::{Request, Response, Upstream, UpstreamError};
pub use detectors::cancel::{CancelEnv, CancelTest};
pub use detectors::double_execution::DoubleExecutionTest;
pub use detectors::hang::HangTest;
pub use detectors::herd::HerdTest;
pub use detectors::leak::{LeakEnv, LeakTest};
pub use detectors::n_plus_one::{NPlusOneTest, QueryEnv};
pub use detectors::pool::PoolTest;
pub use detectors::race::RaceTest;
pub use detectors::scale::ScaleTest;
pub use detectors::silent::{SilentEnv, SilentErrorTest};
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
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub use crate::backends::postgres;
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub use crate::backends::redis;
    #[cfg(feature = "criterion")]
    #[cfg_attr(docsrs, doc(cfg(feature = "criterion")))]
    pub use crate::bench;
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub use crate::probes::http;
}

/// Support for the attribute macros. Not public API: names and signatures change freely.
#[doc(hidden)]
pub mod __private {
    use crate::report::Report;

    /// Panics with the rendered report unless it is clean: what every `*_test` macro ends with.
    /// A clean report prints its clean line (`whatbreaks: clean: …` with the key figure), so a
    /// passing test says what it measured.
    ///
    /// Before panicking it saves the failing seed ([`crate::scenario::regressions`]) and says where.
    #[track_caller]
    pub fn finish(report: Report) {
        if report.is_clean() {
            print_clean(&report);
        } else {
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
        if report.is_clean() {
            print_clean(&report);
        } else {
            panic!("\n{}\n", report.render());
        }
    }

    /// Panics with the audit's table and its breaks unless every question holds or does not
    /// apply: what `#[audit]` ends with. A passing audit prints its table.
    #[track_caller]
    pub fn finish_audit(report: crate::audit::AuditReport) {
        if report.holds() {
            let quiet = crate::scenario::config::EnvOverrides::from_env().is_ok_and(|e| e.quiet);
            if !quiet {
                crate::report::notes::note(report.table());
            }
        } else {
            panic!("\n{report}\n");
        }
    }

    fn print_clean(report: &Report) {
        let quiet = crate::scenario::config::EnvOverrides::from_env().is_ok_and(|e| e.quiet);
        if !quiet {
            crate::report::notes::note(report.render());
        }
    }
}
