// One mistake per attribute: a wrong choice, a bad fault string, a bad size, a bad list, a
// wrong parameter type, a value out of range.
use whatbreaks::{CancelEnv, Instance, LeakEnv, SimPool, StampedeEnv, Upstream};

#[whatbreaks::retry_storm_test(rps = 100, outage = "60s..0s", ambiguous = 2.0)]
async fn storm(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::stampede_test(scenario = "warm", keys = 0)]
async fn stampede(env: StampedeEnv) {
    let _ = env;
}

#[whatbreaks::pool_test(size = 4, acquire_timeout = "soon")]
async fn pool(pool: Upstream) {
    let _ = pool;
}

#[whatbreaks::race_test(mode = "chaos")]
async fn race(extra: u64) {
    let _ = extra;
}

#[whatbreaks::double_execution_test(pause = "1 at 90s", skew = "one:+2s")]
async fn scheduler(instance: Instance) {
    let _ = instance;
}

#[whatbreaks::leak_test(max_growth_per_cycle = "8 bytes")]
async fn leak(env: LeakEnv) {
    let _ = env;
}

#[whatbreaks::scale_test(sizes = [1_000, "ten thousand"], max_peak = "1 gig")]
async fn scale(n: SimPool) {
    let _ = n;
}

#[whatbreaks::cancel_test(cut = "sometimes", settle = "a while")]
async fn cancel(env: CancelEnv) {
    let _ = env;
}

fn main() {}
