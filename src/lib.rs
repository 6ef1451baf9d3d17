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
//! | connection-pool exhaustion | [`pool_test`] | [`PoolTest`] | every connection comes back; no acquire waits forever; pool deadlock is reported, not hung |
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
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `deadpool` | `pool_watch::WatchedDeadpool`: a deadpool (managed) pool whose checkouts are recorded with their sites; leaked guards are flagged with the pool's status |
//! | `bb8` | `pool_watch::WatchedBb8`: the same for bb8 |
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

pub use whatbreaks_core::{DbError, ManualConn, PoolTest, PooledConn, SimPool, pool, pool_watch};
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

/// Connection pools: checks that every connection comes back, that no acquire waits forever,
/// and that pool deadlock is reported instead of hanging.
///
/// The function is one client's work and takes exactly one [`SimPool`], shared by all
/// clients. It runs once per client; clients arrive uniformly over `window`. Queries take a
/// seeded latency and fail, hang or run slow at the given rates. The test fails on a leaked
/// connection (with its checkout site), a pool deadlock (every connection held by a task
/// waiting to acquire; the run stops at once), acquires that would wait forever, or acquires
/// that waited longer than `max_wait` (with connections held across slow work named). See
/// [`pool`] for the rules.
///
/// ```no_run
/// # async fn process_order_with(pool: &whatbreaks::SimPool, id: &str) -> Result<(), whatbreaks::DbError> {
/// #     let conn = pool.get().await?; conn.query(id).await }
/// #[whatbreaks::pool_test(size = 4, clients = 200, error_rate = 0.1)]
/// async fn process_order(pool: whatbreaks::SimPool) {
///     let _ = process_order_with(&pool, "order-1").await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `size` | 10 | connections in the pool |
/// | `clients` | 100 | clients, each running the body once |
/// | `window` | `"0s..10s"` | clients arrive uniformly over this window |
/// | `acquire_timeout` | `"none"` | how long an acquire waits (`"none"`: forever, like deadpool) |
/// | `error_rate` | 0 | share of queries that fail |
/// | `hang_rate` | 0 | share of queries that never return (the connection is lost) |
/// | `slow_rate` | 0 | share of queries that take `slow_latency` |
/// | `slow_latency` | `"1s"` | latency of a slow query |
/// | `latency` | `"5ms"` | typical query latency (drawn from 0.5x..1.5x) |
/// | `max_wait` | `"1s"` | longest acceptable acquire wait |
/// | `slow_hold` | `"100ms"` | hold time beyond query time that counts as slow work |
/// | `seed`, `seeds`, `time_limit`, `watchdog` | | see [Configuration](crate#configuration) |
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn process_order_with(pool: &whatbreaks::SimPool, id: &str) -> Result<(), whatbreaks::DbError> {
/// #     let conn = pool.get().await?; conn.query(id).await }
/// #[test]
/// fn process_order() {
///     let report = whatbreaks::PoolTest::new()
///         .size(4)
///         .clients(200)
///         .error_rate(0.1)
///         .run(|pool: whatbreaks::SimPool| async move {
///             let _ = process_order_with(&pool, "order-1").await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::pool_test;

/// Common imports: `use whatbreaks::prelude::*;`.
pub mod prelude {
    pub use crate::{DbError, PoolTest, SimPool, pool_test};
    pub use crate::{HerdTest, Report, Request, Response, Upstream, UpstreamError, herd_test};
    pub use rand::RngExt as _;
}

#[doc(hidden)]
pub use whatbreaks_core::__private;
