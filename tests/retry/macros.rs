//! `#[retry_storm_test]` as users write it: passing tests, and failing ones that must fail.

use crate::code;
use whatbreaks::Upstream;

#[whatbreaks::retry_storm_test(
    rps = 100,
    duration = "60s",
    degraded = "0s..60s",
    max_amplification = 1.2,
    seed = 0x5eed,
    seeds = 5
)]
async fn payment_calls_are_budgeted(upstream: whatbreaks::Upstream) {
    // one logical request; the body runs once per arrival
    let _ = code::charge_fixed(&upstream).await;
}

#[whatbreaks::retry_storm_test(rps = 50, degraded = "10s..40s", seed = 0x5eed, seeds = 5)]
#[should_panic(expected = "retry storm: retries amplify load")]
async fn immediate_retries_fail(upstream: Upstream) {
    let _ = code::charge_naive(&upstream).await;
}

#[whatbreaks::retry_storm_test(
    rps = 50,
    duration = "30s",
    degraded = "0s..1s",
    ambiguous = 0.05,
    seed = 7,
    seeds = 5
)]
#[should_panic(expected = "duplicate side effects: ")]
async fn retried_post_without_a_key_fails(upstream: Upstream) {
    let _ = code::charge_naive(&upstream).await;
}

#[whatbreaks::retry_storm_test(rps = 50, duration = "30s", ambiguous = 0.05, seed = 7, seeds = 5)]
async fn idempotency_keys_pass(upstream: Upstream) {
    let _ = code::charge_fixed(&upstream).await;
}

#[whatbreaks::retry_storm_test(
    rps = 20.5,
    duration = "20s",
    degraded = "5s..10s",
    max_amplification = 2,
    ambiguous = 0.01,
    error_rate = 0.5,
    degraded_latency = "3s",
    bad_requests = 0,
    latency = "5ms",
    time_limit = "10m",
    watchdog = "30s",
    seed = "0x1"
)]
async fn every_argument_is_accepted(upstream: Upstream) {
    let _ = code::charge_fixed(&upstream).await;
}

#[whatbreaks::retry_storm_test(rps = 10, duration = "20s")]
async fn defaults_apply(upstream: Upstream) {
    let _ = code::charge_fixed(&upstream).await;
}
