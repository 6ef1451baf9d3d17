//! The behaviour behind [whatbreaks](https://docs.rs/whatbreaks): the simulation runtime,
//! simulated components, detectors and reports.
//!
//! Users depend on the `whatbreaks` facade crate, which re-exports this crate and adds the
//! attribute macros; this crate holds all the behaviour as ordinary, unit-tested Rust.
//!
//! - [`sim`]: virtual time, seeded randomness, client populations, time limit and watchdog.
//! - [`upstream`]: a simulated remote service with a fault schedule that records arrivals.
//! - [`herd`]: the thundering-herd detector.
//! - [`storm`]: the retry-storm, duplicate-effect and retry-classification detector.
//! - [`backoff`]: the AWS "Exponential Backoff And Jitter" comparison, reproduced.
//! - [`report`]: findings and the one renderer that gives every failure the same shape.
//! - [`config`]: `WHATBREAKS_*` environment variables and shared settings.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod backoff;
pub mod config;
pub mod herd;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod spec;
pub mod storm;
pub mod upstream;

pub use herd::HerdTest;
pub use report::{Finding, FindingKind, Report};
pub use sim::rng;
pub use storm::RetryStormTest;
pub use upstream::{Request, Response, Upstream, UpstreamError};

/// Support for the attribute macros. Not public API: names and signatures change freely.
#[doc(hidden)]
pub mod __private {
    use crate::report::Report;

    /// Panics with the rendered report unless it is clean: what every `*_test` macro ends with.
    #[track_caller]
    pub fn finish(report: Report) {
        if !report.is_clean() {
            panic!("\n{}\n", report.render());
        }
    }
}
