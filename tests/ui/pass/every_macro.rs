// Every attribute with every key it takes, under its current name: all compile. `tests/knobs.rs`
// checks that no declared key is missing here, and includes this file in a test build, where
// each key becomes a builder call (so each key is a builder method). The tests are ignored
// there: they exist to be compiled, not run. `crate = "wb"` names the crate through the rename
// below, as for a renamed dependency.
extern crate whatbreaks as wb;
use whatbreaks::{CancelEnv, Instance, LeakEnv, SimPool, StampedeEnv, Upstream};

#[whatbreaks::herd_test(
    clients = 1000,
    outage = "0s..10s",
    max_cohort = 0.1,
    min_rounds = 2,
    latency = "20ms",
    seed = 0x5eed,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn herd(upstream: Upstream) {
    let _ = upstream.call(whatbreaks::Request::get("/price")).await;
}

#[whatbreaks::retry_storm_test(
    rps = 100,
    run_for = "60s",
    outage = "0s..60s",
    error_rate = 0.5,
    outage_latency = "2s",
    max_amplification = 1.2,
    ambiguous = 0.1,
    bad_requests = 0.01,
    latency = "20ms",
    seed = "0x5eed",
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn storm(upstream: Upstream) {
    let _ = upstream.call(whatbreaks::Request::post("/charge")).await;
}

#[whatbreaks::stampede_test(
    clients = 100,
    keys = 1,
    instances = 2,
    scenario = "expiry",
    rps = 50,
    run_for = "10s",
    max_loads_per_key = 1,
    ttl = "1s",
    db_latency = "100ms",
    cache_latency = "1ms",
    outage = "0s..1s",
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn stampede(env: StampedeEnv) {
    let _ = env.db().load(&env.key()).await;
}

#[whatbreaks::pool_test(
    size = 4,
    clients = 200,
    arrivals = "0s..10s",
    acquire_timeout = "none",
    error_rate = 0.1,
    hang_rate = 0.01,
    slow_rate = 0.05,
    slow_latency = "1s",
    latency = "5ms",
    max_wait = "1s",
    slow_hold = "100ms",
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn pool(pool: SimPool) {
    let _ = pool.get().await;
}

#[whatbreaks::race_test(
    iterations = 500,
    mode = "pct",
    time_limit = "1h",
    seed = 7,
    seeds = 2,
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn race() {
    let db = whatbreaks::SimDb::new();
    whatbreaks::join!(db.get("t", "k"), db.get("t", "k"));
}

#[whatbreaks::double_execution_test(
    instances = 2,
    run_for = "10m",
    every = "1m",
    pause = "1@90s+45s",
    crash = "0@5m+30s",
    skew = "1:+2s",
    jump = "0@4m+1h",
    partition = "1@3m+1m",
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn scheduler(instance: Instance) {
    let _ = instance;
}

#[whatbreaks::leak_test(
    iterations = 10_000,
    warmup = 100,
    extrapolate = 1_000_000,
    max_growth_per_cycle = "8B",
    unit = "connection",
    time_limit = "24h",
    seed = 7,
    seeds = 2,
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn leak(env: LeakEnv) {
    let _ = env;
}

#[whatbreaks::scale_test(
    sizes = [1_000, 10_000, 100_000],
    target = 500_000_000,
    max_peak = "1GiB",
    max_time = "10m",
    unit = "row",
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn scale(n: u64) {
    let _ = n;
}

#[whatbreaks::hang_test(
    rps = 20,
    run_for = "60s",
    hang = "10s..40s",
    max_wait = "10s",
    grace = "60s",
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn hang(upstream: Upstream) {
    let _ = upstream.call(whatbreaks::Request::get("/price")).await;
}

#[whatbreaks::cancel_test(
    cut = "both",
    settle = "10s",
    latency = "10ms",
    jitter = "2ms",
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn cancel(env: CancelEnv) {
    let _ = env.db().update("inventory", "sku-1", "9").await;
}

#[whatbreaks::n_plus_one_test(
    sizes = [1, 10, 100],
    max_queries_per_item = 0.5,
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn n_plus_one(env: whatbreaks::QueryEnv) {
    let _ = env.db().scan("posts").await;
}

#[whatbreaks::silent_error_test(
    rps = 20,
    run_for = "30s",
    error_rate = 0.2,
    db_fail_rate = 0.1,
    seed = 7,
    seeds = 2,
    time_limit = "1h",
    watchdog = "60s",
    crate = "wb",
)]
#[ignore = "compiled, not run"]
async fn silent_error(env: whatbreaks::SilentEnv) -> Result<(), whatbreaks::UpstreamError> {
    env.upstream().call(whatbreaks::Request::get("/price")).await?;
    Ok(())
}

fn main() {}
