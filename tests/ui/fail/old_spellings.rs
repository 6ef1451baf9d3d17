// Old (0.1) spellings are still accepted, but a key and its old spelling together set it
// twice, and an error in an old spelling names the key it stands for.
use whatbreaks::{SimPool, Upstream};

#[whatbreaks::race_test(iterations = 10, schedules = 20)]
async fn race() {}

#[whatbreaks::retry_storm_test(degraded = "10s..1s", outage = "0s..1s")]
async fn storm(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::pool_test(window = "0s")]
async fn pool(pool: SimPool) {
    let _ = pool;
}

fn main() {}
