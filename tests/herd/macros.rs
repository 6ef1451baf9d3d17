//! `#[herd_test]` as users write it: a passing test, and a failing one that must fail.

use crate::code::{self, Backoff};
use std::time::Duration;
use whatbreaks::{Request, Upstream};

#[whatbreaks::herd_test(clients = 1000, outage = "0s..10s", seed = 0x5eed, seeds = 5)]
async fn full_jitter_passes(upstream: whatbreaks::Upstream) {
    let _ =
        code::retry_request_jittered(&upstream, Request::get("/price"), 4, Duration::from_secs(1))
            .await;
}

#[whatbreaks::herd_test(clients = 1000, seed = 0x5eed, seeds = 5)]
#[should_panic(expected = "thundering herd: retry arrivals are synchronized")]
async fn exponential_without_jitter_fails(upstream: Upstream) {
    let _ = code::retry_request(&upstream, Request::get("/price"), 4, Duration::from_secs(1)).await;
}

#[whatbreaks::herd_test(
    clients = 50,
    outage = "0s..2s",
    max_cohort = 0.5,
    min_rounds = 3,
    latency = "5ms",
    time_limit = "10m",
    watchdog = "30s",
    seed = "0x1"
)]
async fn every_argument_is_accepted(upstream: Upstream) {
    Backoff::EqualJitter.fetch(&upstream, 100).await;
}

#[whatbreaks::herd_test]
async fn defaults_apply(upstream: Upstream) {
    Backoff::NoRetry.fetch(&upstream, 100).await;
}
