//! Retry policies under a retry storm, measured by criterion with `whatbreaks::bench`: not
//! wall time, but what each policy does to the upstream and to its callers.
//!
//! The storm: a checkout charges a card, 100 logical requests per second for 60 s (seeded
//! Poisson arrivals); from 10 s to 40 s the payments upstream answers half its calls 503
//! after its 20 ms latency; over the whole run 2% of the charges commit and then lose their
//! response. Each policy is written as a user would write it, against `Upstream::call` (or,
//! for the budget, tower's `Retry` over the upstream as a `tower::Service`): at most 3
//! retries, base 100 ms, cap 2 s.
//!
//! | policy | between attempts |
//! |---|---|
//! | `none` | no retry |
//! | `exponential` | 100, 200, 400 ms |
//! | `full_jitter` | random in [0, 100 ms * 2^attempt] |
//! | `equal_jitter` | half of that, plus random in [0, the other half] |
//! | `decorrelated_jitter` | random in [100 ms, 3 * the previous sleep], capped |
//! | `tps_budget` | `full_jitter`'s sleeps, each retry paid for from tower's `TpsBudget` (default: 10 s window, 10 retries/s, 20% of requests) |
//!
//! One criterion group per metric (`StormMetric`): calls per request, p50 and p99 virtual
//! completion time, failed requests, duplicate effects. 20 seeds per policy, the same 20 for
//! every policy. `cargo bench --bench retry_policies` runs them all (under a minute);
//! `cargo bench --bench retry_policies -- calls` one metric, `-- tps_budget` one policy.
//! Jitter draws from `whatbreaks::rng()`, the run's seeded RNG, so every figure replays.
use criterion::{Criterion, criterion_group, criterion_main};
use rand::RngExt;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use tower::retry::budget::{Budget, TpsBudget};
use whatbreaks::bench::{StormBench, StormMetric};
use whatbreaks::{Request, RetryStormTest, Upstream};

const RETRIES: u32 = 3;
const BASE_MS: u64 = 100;
const CAP_MS: u64 = 2_000;

fn storm() -> StormBench {
    let scenario = RetryStormTest::new()
        .rps(100.0)
        .run_for(Duration::from_secs(60))
        .outage(Duration::from_secs(10)..Duration::from_secs(40))
        .error_rate(0.5)
        .ambiguous(0.02)
        .bad_requests(0.0);
    StormBench::new(scenario).seed(0x5eed)
}

async fn charge(up: &Upstream) -> bool {
    up.call(Request::post("/charge")).await.is_ok()
}

/// Calls, and sleeps `delay(attempt, previous sleep)` ms between attempts.
async fn with_backoff(up: Upstream, delay: impl Fn(u32, u64) -> u64) {
    let mut slept = BASE_MS;
    for attempt in 0..=RETRIES {
        if charge(&up).await || attempt == RETRIES {
            return;
        }
        slept = delay(attempt, slept).min(CAP_MS);
        tokio::time::sleep(Duration::from_millis(slept)).await;
    }
}

async fn none(up: Upstream) {
    charge(&up).await;
}

async fn exponential(up: Upstream) {
    with_backoff(up, |attempt, _| BASE_MS << attempt).await
}

async fn full_jitter(up: Upstream) {
    with_backoff(up, |attempt, _| {
        whatbreaks::rng().random_range(0..=BASE_MS << attempt)
    })
    .await
}

async fn equal_jitter(up: Upstream) {
    with_backoff(up, |attempt, _| {
        let half = (BASE_MS << attempt) / 2;
        half + whatbreaks::rng().random_range(0..=half)
    })
    .await
}

async fn decorrelated_jitter(up: Upstream) {
    with_backoff(up, |_, previous| {
        whatbreaks::rng().random_range(BASE_MS..=previous * 3)
    })
    .await
}

/// A tower retry policy paid for from a shared `TpsBudget`, with `full_jitter`'s sleeps.
#[derive(Clone)]
struct Budgeted {
    attempt: u32,
    budget: Arc<TpsBudget>,
}

type HttpRequest = http::Request<http_body_util::Full<bytes::Bytes>>;

impl<B, E> tower::retry::Policy<HttpRequest, http::Response<B>, E> for Budgeted {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut HttpRequest,
        result: &mut Result<http::Response<B>, E>,
    ) -> Option<Self::Future> {
        let failed = match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        };
        if !failed {
            self.budget.deposit();
            return None;
        }
        if self.attempt == RETRIES || !self.budget.withdraw() {
            return None;
        }
        let ms = whatbreaks::rng().random_range(0..=BASE_MS << self.attempt);
        self.attempt += 1;
        Some(tokio::time::sleep(Duration::from_millis(ms.min(CAP_MS))))
    }

    fn clone_request(&mut self, request: &HttpRequest) -> Option<HttpRequest> {
        let mut copy = http::Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        Some(copy)
    }
}

async fn tps_budget(up: Upstream, budget: Arc<TpsBudget>) {
    let policy = Budgeted { attempt: 0, budget };
    let request = http::Request::post("http://payments.internal/charge")
        .body(http_body_util::Full::default())
        .expect("a valid request");
    let _ = tower::retry::Retry::new(policy, up).oneshot(request).await;
}

fn policies(c: &mut Criterion<StormMetric>, metric: &str) {
    let storm = storm();
    let mut group = storm.group(c, metric);
    group.bench_function("none", storm.bench(|| none));
    group.bench_function("exponential", storm.bench(|| exponential));
    group.bench_function("full_jitter", storm.bench(|| full_jitter));
    group.bench_function("equal_jitter", storm.bench(|| equal_jitter));
    group.bench_function("decorrelated_jitter", storm.bench(|| decorrelated_jitter));
    group.bench_function(
        "tps_budget",
        storm.bench(|| {
            // One budget per run, as a service holds one from start-up.
            let budget = Arc::new(TpsBudget::default());
            move |up| tps_budget(up, budget.clone())
        }),
    );
    group.finish();
}

fn calls(c: &mut Criterion<StormMetric>) {
    policies(c, "calls per request");
}
fn p50(c: &mut Criterion<StormMetric>) {
    policies(c, "p50 latency");
}
fn p99(c: &mut Criterion<StormMetric>) {
    policies(c, "p99 latency");
}
fn failed(c: &mut Criterion<StormMetric>) {
    policies(c, "failed requests");
}
fn duplicates(c: &mut Criterion<StormMetric>) {
    policies(c, "duplicate effects");
}

criterion_group! {
    name = calls_per_request;
    config = Criterion::default().with_measurement(StormMetric::CallsPerRequest);
    targets = calls
}
criterion_group! {
    name = latency_p50;
    config = Criterion::default().with_measurement(StormMetric::LatencyP50);
    targets = p50
}
criterion_group! {
    name = latency_p99;
    config = Criterion::default().with_measurement(StormMetric::LatencyP99);
    targets = p99
}
criterion_group! {
    name = failed_requests;
    config = Criterion::default().with_measurement(StormMetric::FailedRequests);
    targets = failed
}
criterion_group! {
    name = duplicate_effects;
    config = Criterion::default().with_measurement(StormMetric::DuplicateEffects);
    targets = duplicates
}
criterion_main!(
    calls_per_request,
    latency_p50,
    latency_p99,
    failed_requests,
    duplicate_effects
);
