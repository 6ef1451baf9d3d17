// Every argument error at once: the .stderr file is the catalogue.
use whatbreaks::Upstream;

#[whatbreaks::herd_test(
    clientz = 10,
    clients = 0,
    seeds = 2,
    seeds = 3,
    outage = "10s..1s",
    time_limit = "10 parsecs",
    max_cohort = 1.5,
    latency = 20,
    seed = "0xzz",
)]
async fn bad_arguments(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::herd_test(clients)]
async fn not_key_value(upstream: Upstream) {
    let _ = upstream;
}

fn main() {}
