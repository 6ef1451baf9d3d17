//! # whatbreaks: tests that ask what breaks in production
//!
//! Code that passes ordinary tests still ships thundering herds, retry storms, duplicate
//! charges, cache stampedes, exhausted pools, races, double-run cron jobs and leaks. whatbreaks
//! runs ordinary async Rust under simulated production conditions (virtual time, seeded
//! randomness, simulated upstreams, many clients) and checks the property that breaks:
//! *retry arrivals are not synchronized*, *one database load per cold key*, and so on.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks::{Request, Upstream};
//!
//! // One client's work: call, and retry with full jitter (the fix for thundering herds).
//! async fn fetch_price(upstream: &Upstream) {
//!     use rand::RngExt;
//!     for attempt in 0..5u32 {
//!         if upstream.call(Request::get("/price")).await.is_ok() {
//!             return;
//!         }
//!         let cap = 100u64 << attempt; // ms
//!         let ms = whatbreaks::rng().random_range(0..=cap);
//!         tokio::time::sleep(Duration::from_millis(ms)).await;
//!     }
//! }
//!
//! // In a test file this is `#[whatbreaks::herd_test(clients = 1000)]` on
//! // `async fn t(upstream: whatbreaks::Upstream) { fetch_price(&upstream).await }`.
//! let report = whatbreaks::HerdTest::new()
//!     .clients(1000)
//!     .seed(7)
//!     .run(|upstream| async move { fetch_price(&upstream).await });
//! assert!(report.is_clean(), "{report}");
//! ```
//!
//! ## Writing tests
//!
//! Each failure pattern has an attribute macro and a builder. The macro turns an `async fn`
//! into a `#[test]`: the function is one client's (or one instance's) work, and the harness
//! runs many of them on virtual time, then panics with a diagnosis if the property fails.
//! The builder runs the same scenario and returns a [`Report`] without panicking, for asserting
//! that buggy code *is* flagged, or for tools.
//!
//! | pattern | attribute | builder | property |
//! |---|---|---|---|
//! | thundering herd | [`herd_test`] | [`HerdTest`] | retry arrivals are not synchronized |
//! | retry storm, duplicate side effects | [`retry_storm_test`] | [`RetryStormTest`] | calls per logical request stay under a bound; each request commits at most once; non-retryable errors are not retried |
//!
//! ## Running, and replaying a failure
//!
//! Every run prints its seed to stderr (`whatbreaks: herd: seed 0x3f2a…`); every failure
//! ends with one line that replays it:
//!
//! ```text
//! whatbreaks: thundering herd: retry arrivals are synchronized
//!   scenario  1000 clients, upstream `upstream` down 0s..10s, seed 0x5eed
//!   evidence  retry 1: 1000/1000 clients in the same 1 ms (t=1s)
//!             retry 2: 1000/1000 clients in the same 1 ms (t=3s)
//!   arrivals  █···█·······█···  0s..7.500s, 500ms per column, peak 1000
//!   fix       add jitter to the backoff: sleep a random time in [0, base * 2^attempt] (full jitter), drawn per client
//!   replay    WHATBREAKS_SEED=0x5eed cargo test -p app --test herd -- retry::no_jitter --exact
//! ```
//!
//! Same seed, same run, same verdict. To debug a failure, replay its seed and add prints or a
//! debugger; the run is single-threaded and deterministic. To hunt for rare failures, run
//! more seeds: `WHATBREAKS_SEEDS=200 cargo test`. Seeds can be spread over machines with
//! cargo-nextest's `--partition`; whatbreaks keeps no state between runs.
//!
//! ## Configuration
//!
//! Precedence: **environment > attribute argument or builder call > default**. The
//! environment wins so that a replay line always reproduces its run.
//!
//! | variable | attribute / builder | default | meaning |
//! |---|---|---|---|
//! | `WHATBREAKS_SEED` | `seed` | random, printed | first seed to run |
//! | `WHATBREAKS_SEEDS` | `seeds` | 1 | seeds to run (the first, then derived ones) |
//! | `WHATBREAKS_TIME_LIMIT` | `time_limit` | `1h` | virtual-time limit of one run |
//! | `WHATBREAKS_WATCHDOG` | `watchdog` | `60s` | wall-clock limit of one run |
//! | `WHATBREAKS_QUIET` | | `0` | `1` hides the seed line printed at the start |
//!
//! A bad value is an error naming the variable and the form it needs
//! (`WHATBREAKS_SEEDS="many" cannot be used: expected a whole number of at least 1`);
//! an unknown `WHATBREAKS_*` name draws a warning.
//!
//! ## Never hangs
//!
//! A scenario that cannot finish ends with a finding instead of a hung test: the virtual-time
//! limit catches endless retry loops and deadlocks (with a timer pending, virtual time jumps
//! straight to the limit, so a deadlock is reported at once), and a wall-clock watchdog
//! catches tasks that spin without letting time advance. Both list the clients still pending.
//! A panic inside a client is reported with the seed.
//!
//! ## Limitations
//!
//! - Only `tokio::time` is virtual. Code that reads `std::time::Instant`, `SystemTime` or
//!   `chrono::Utc::now()` sees real time; inject a clock into such code.
//! - Tasks spawned with `tokio::spawn` inside a client lose the client's identity (arrivals
//!   they cause are recorded without a client id), but keep the seeded randomness.
//! - `tokio::select!` picks branches with tokio's own RNG unless `biased;` is written; it is
//!   seedable only with `--cfg tokio_unstable`. Properties are statistical where that matters.
//! - Third-party code that draws from its own RNG (`rand::rng()`, `fastrand`) is judged
//!   correctly, because the properties are statistical; it is not replayed bit for bit.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub use whatbreaks_core::{
    Finding, FindingKind, HerdTest, Report, Request, Response, Upstream, UpstreamError, config,
    herd, report, rng, scenario, sim, spec, upstream,
};

/// Thundering herd: checks that retries after a correlated failure do not arrive in lock-step.
///
/// The function is one client's work and takes exactly one [`Upstream`]. It runs once per
/// client, concurrently, on virtual time; every client's first call happens at t=0 and fails,
/// the upstream fails every call inside `outage` and serves normally after it. The test fails
/// when lock-step cohorts persist round after round (see [`herd`] for the metric).
///
/// ```no_run
/// # async fn my_retry<F, Fut>(f: F) -> Result<whatbreaks::Response, whatbreaks::UpstreamError>
/// # where F: Fn() -> Fut, Fut: std::future::Future<Output = Result<whatbreaks::Response, whatbreaks::UpstreamError>> { f().await }
/// #[whatbreaks::herd_test(clients = 1000, outage = "0s..10s")]
/// async fn retries_spread_out(upstream: whatbreaks::Upstream) {
///     let _ = my_retry(|| upstream.call(whatbreaks::Request::get("/price"))).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `clients` | 1000 | clients, each running the body once |
/// | `outage` | `"0s..10s"` | window in which every call fails |
/// | `max_cohort` | 0.1 | largest share of a retry round allowed in one millisecond |
/// | `min_rounds` | 2 | synchronized rounds needed to flag (every round when fewer) |
/// | `latency` | `"20ms"` | latency of a served call |
/// | `seed`, `seeds`, `time_limit`, `watchdog` | | see [Configuration](crate#configuration) |
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn my_retry<F, Fut>(f: F) -> Result<whatbreaks::Response, whatbreaks::UpstreamError>
/// # where F: Fn() -> Fut, Fut: std::future::Future<Output = Result<whatbreaks::Response, whatbreaks::UpstreamError>> { f().await }
/// #[test]
/// fn retries_spread_out() {
///     let report = whatbreaks::HerdTest::new()
///         .clients(1000)
///         .outage(std::time::Duration::from_secs(0)..std::time::Duration::from_secs(10))
///         .run(|upstream: whatbreaks::Upstream| async move {
///             let _ = my_retry(|| upstream.call(whatbreaks::Request::get("/price"))).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::herd_test;

pub use whatbreaks_core::{RetryStormTest, backoff, storm};

/// Retry storm and duplicate side effects: checks what retries do to a degraded upstream and
/// to the effects it commits.
///
/// The function is one logical request's work (retries included) and takes exactly one
/// [`Upstream`]. Requests arrive open-loop (seeded Poisson) at `rps` for `duration`; each
/// runs the body once, with its own logical request id shared by its retries. Inside
/// `degraded` the upstream fails calls (all of them at once by default; a share of them with
/// `error_rate`; slowly with `degraded_latency`). The test fails when (see [`storm`]):
/// - upstream calls per logical request exceed `max_amplification` (`retry storm`);
/// - a logical request commits its effect more than once, e.g. a `POST` without a stable
///   idempotency key retried after an `ambiguous` failure (`duplicate side effects`);
/// - a non-retryable answer (4xx other than 408/429; `bad_requests` of the calls are answered
///   400) is retried (`non-retryable error retried`).
///
/// ```no_run
/// # async fn charge_with_retries(_: &whatbreaks::Upstream) -> Result<(), ()> { Ok(()) }
/// #[whatbreaks::retry_storm_test(rps = 100, duration = "60s", degraded = "0s..60s", max_amplification = 1.2)]
/// async fn payment_calls_are_budgeted(upstream: whatbreaks::Upstream) {
///     // one logical request; the body runs once per arrival
///     let _ = charge_with_retries(&upstream).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `rps` | 100 | logical requests per second (Poisson arrivals) |
/// | `duration` | `"60s"` | how long requests keep arriving |
/// | `degraded` | `"10s..40s"` | window in which the upstream fails calls |
/// | `error_rate` | 1 | share of calls failing in the window (1: all, at once; below 1: 503 after the latency) |
/// | `degraded_latency` | none | latency of every call in the window (slow responses, client timeouts) |
/// | `max_amplification` | 1.5 | upstream calls per logical request allowed over the run |
/// | `ambiguous` | 0 | share of `POST`/`PUT`/`DELETE` calls that commit, then lose their response |
/// | `bad_requests` | 0.01 | share of calls answered 400 |
/// | `latency` | `"20ms"` | latency of a served call |
/// | `seed`, `seeds`, `time_limit`, `watchdog` | | see [Configuration](crate#configuration) |
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn charge_with_retries(_: &whatbreaks::Upstream) -> Result<(), ()> { Ok(()) }
/// use std::time::Duration;
/// #[test]
/// fn payment_calls_are_budgeted() {
///     let report = whatbreaks::RetryStormTest::new()
///         .rps(100.0)
///         .duration(Duration::from_secs(60))
///         .degraded(Duration::from_secs(0)..Duration::from_secs(60))
///         .max_amplification(1.2)
///         .run(|upstream: whatbreaks::Upstream| async move {
///             let _ = charge_with_retries(&upstream).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::retry_storm_test;

/// Common imports: `use whatbreaks::prelude::*;`.
pub mod prelude {
    pub use crate::{HerdTest, Report, Request, Response, Upstream, UpstreamError, herd_test};
    pub use crate::{RetryStormTest, retry_storm_test};
    pub use rand::RngExt as _;
}

#[doc(hidden)]
pub use whatbreaks_core::__private;
