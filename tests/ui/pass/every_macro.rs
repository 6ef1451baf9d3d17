// Every attribute with every kind of argument it takes: all compile.
use whatbreaks::{Instance, LeakEnv, SimPool, StampedeEnv, Upstream};

#[whatbreaks::retry_storm_test(rps = 100, duration = "60s", degraded = "0s..60s", max_amplification = 1.2, ambiguous = 0.1)]
async fn storm(upstream: Upstream) {
    let _ = upstream.call(whatbreaks::Request::post("/charge")).await;
}

#[whatbreaks::stampede_test(clients = 100, keys = 1, instances = 2, scenario = "expiry", rps = 50, ttl = "1s")]
async fn stampede(env: StampedeEnv) {
    let _ = env.db().load(&env.key()).await;
}

#[whatbreaks::pool_test(size = 4, clients = 200, error_rate = 0.1, acquire_timeout = "none", max_wait = "1s")]
async fn pool(pool: SimPool) {
    let _ = pool.get().await;
}

#[whatbreaks::race_test(schedules = 500, mode = "pct", seed = 7)]
async fn race() {
    let db = whatbreaks::SimDb::new();
    whatbreaks::join!(db.get("t", "k"), db.get("t", "k"));
}

#[whatbreaks::double_execution_test(instances = 2, run_for = "10m", every = "1m", pause = "1@90s+45s", skew = "1:+2s", crash = "0@5m")]
async fn scheduler(instance: Instance) {
    let _ = instance;
}

#[whatbreaks::leak_test(cycles = 10_000, extrapolate = 1_000_000, max_growth_per_cycle = "8B", unit = "connection")]
async fn leak(env: LeakEnv) {
    let _ = env;
}

#[whatbreaks::scale_test(sizes = [1_000, 10_000, 100_000], target = 500_000_000, max_peak = "1GiB", max_time = "10m")]
async fn scale(n: u64) {
    let _ = n;
}

fn main() {}
