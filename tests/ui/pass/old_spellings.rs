// The 0.1 spelling of every renamed key is still accepted (and expands into the new builder
// method, so it draws no deprecation warning). `tests/knobs.rs` checks that every old spelling
// declared in `whatbreaks-spec` is used here.
use whatbreaks::{LeakEnv, SimPool, StampedeEnv, Upstream};

#[whatbreaks::race_test(schedules = 500)]
async fn race() {}

#[whatbreaks::leak_test(cycles = 1_000)]
async fn leak(env: LeakEnv) {
    let _ = env;
}

#[whatbreaks::retry_storm_test(duration = "30s", degraded = "0s..10s", degraded_latency = "2s")]
async fn storm(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::stampede_test(scenario = "expiry", duration = "10s", failing_loads = "0s..1s")]
async fn stampede(env: StampedeEnv) {
    let _ = env;
}

#[whatbreaks::pool_test(window = "0s..1s")]
async fn pool(pool: SimPool) {
    let _ = pool;
}

fn main() {}
