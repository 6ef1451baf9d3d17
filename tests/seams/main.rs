//! Seams: unmodified client code (tower, hyper-util, reqwest, redis-rs) against the simulated
//! upstream and cache. The HTTP semantics of an upstream, the redis-rs commands of the
//! cache, the required verdicts through each seam over several seeds, and the verdicts
//! through a seam against the same logic through the native API on the same seed.

#[path = "../../examples/patterns/seams.rs"]
mod code;

mod http;
mod loopback;
mod macros;
mod redis;
mod verdicts;

// The system clock follows the simulation: reqwest-retry schedules retries with
// `chrono::Utc::now()`.
whatbreaks::install!();

/// Seeds every both-ways test runs: five, from a fixed first seed.
pub(crate) const SEEDS: u32 = 5;

/// The figure `name` of `report`; a test fails naming it when it is missing.
pub(crate) fn figure<'r>(report: &'r whatbreaks::Report, name: &str) -> &'r str {
    report
        .figure(name)
        .unwrap_or_else(|| panic!("no figure `{name}` in {report}"))
}

/// Runs `f` on a paused current-thread runtime (outside any scenario).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(f)
}
