//! Pattern 1, thundering herd: a retry wrapper with deterministic exponential backoff
//! (the seed article's `retry_request`, ported to Rust) and its fix with full jitter, plus the
//! other backoff strategies the detector is proven against.
//!
//! This file is shared by `examples/herd.rs`, `examples/tour.rs` and `tests/herd/`.
#![allow(dead_code)]

use rand::RngExt;
use std::time::Duration;
use whatbreaks::{HerdTest, Report, Request, Response, Upstream, UpstreamError};

/// BUGGY: retries with `backoff * 2^attempt`, the same for every client. After a correlated
/// failure every client sleeps exactly 1 s, 2 s, 4 s… and they come back in waves.
pub(crate) async fn retry_request(
    upstream: &Upstream,
    request: Request,
    retries: u32,
    backoff: Duration,
) -> Result<Response, UpstreamError> {
    let mut last = UpstreamError::Unavailable;
    for attempt in 0..retries {
        match upstream.call(request.clone()).await {
            Ok(response) => return Ok(response),
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => last = e,
        }
        if attempt + 1 < retries {
            tokio::time::sleep(backoff * 2u32.pow(attempt)).await;
        }
    }
    Err(last)
}

/// FIXED: full jitter. Each client sleeps a random time in `[0, backoff * 2^attempt]`, so
/// clients that failed together spread out instead of converging.
pub(crate) async fn retry_request_jittered(
    upstream: &Upstream,
    request: Request,
    retries: u32,
    backoff: Duration,
) -> Result<Response, UpstreamError> {
    let mut last = UpstreamError::Unavailable;
    for attempt in 0..retries {
        match upstream.call(request.clone()).await {
            Ok(response) => return Ok(response),
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => last = e,
        }
        if attempt + 1 < retries {
            let cap = (backoff * 2u32.pow(attempt)).as_millis() as u64;
            let sleep = whatbreaks::rng().random_range(0..=cap);
            tokio::time::sleep(Duration::from_millis(sleep)).await;
        }
    }
    Err(last)
}

/// The backoff strategies the detector is proven against (AWS Architecture Blog's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backoff {
    /// `base * 2^n`: flagged.
    Exponential,
    /// `base` every time: flagged.
    Constant,
    /// `base * 2^n ± 1 ms`: jitter too small to matter, flagged.
    TinyJitter,
    /// `max(base * 2^n / 2, random(0, base * 2^n))`: half the clients on the floor, flagged.
    ClampedToFloor,
    /// The clamped floor on the first retry only, full jitter after: flagged (one round is
    /// enough).
    ClampedFirstOnly,
    /// An immediate first retry, then full jitter: flagged.
    ImmediateFirst,
    /// A constant first delay (`base`), then full jitter: flagged.
    ConstantFirst,
    /// `random(0, base * 2^n)`: passes.
    FullJitter,
    /// Full jitter drawn from the thread RNG instead of whatbreaks' seed: passes too.
    FullJitterThreadRng,
    /// `base * 2^n / 2 + random(0, base * 2^n / 2)`: passes.
    EqualJitter,
    /// `min(cap, random(base, previous * 3))`: passes.
    Decorrelated,
    /// One call, no retry: passes.
    NoRetry,
}

impl Backoff {
    /// Every strategy with its expected verdict (`true` = flagged).
    pub(crate) const ALL: [(Backoff, bool); 12] = [
        (Backoff::Exponential, true),
        (Backoff::Constant, true),
        (Backoff::TinyJitter, true),
        (Backoff::ClampedToFloor, true),
        (Backoff::ClampedFirstOnly, true),
        (Backoff::ImmediateFirst, true),
        (Backoff::ConstantFirst, true),
        (Backoff::FullJitter, false),
        (Backoff::FullJitterThreadRng, false),
        (Backoff::EqualJitter, false),
        (Backoff::Decorrelated, false),
        (Backoff::NoRetry, false),
    ];

    fn delay(self, attempt: u32, base_ms: u64, previous_ms: u64) -> u64 {
        let exp = base_ms << attempt;
        let mut rng = whatbreaks::rng();
        match self {
            Backoff::Exponential => exp,
            Backoff::Constant => base_ms,
            Backoff::TinyJitter => exp - 1 + rng.random_range(0..=2),
            Backoff::ClampedToFloor => rng.random_range(0..=exp).max(exp / 2),
            Backoff::ClampedFirstOnly if attempt == 0 => rng.random_range(0..=exp).max(exp / 2),
            Backoff::ImmediateFirst if attempt == 0 => 0,
            Backoff::ConstantFirst if attempt == 0 => base_ms,
            Backoff::ClampedFirstOnly | Backoff::ImmediateFirst | Backoff::ConstantFirst => {
                rng.random_range(0..=exp)
            }
            Backoff::FullJitter => rng.random_range(0..=exp),
            Backoff::FullJitterThreadRng => rand::rng().random_range(0..=exp),
            Backoff::EqualJitter => exp / 2 + rng.random_range(0..=exp / 2),
            Backoff::Decorrelated => rng
                .random_range(base_ms..=(previous_ms * 3).max(base_ms + 1))
                .min(20_000),
            Backoff::NoRetry => 0,
        }
    }

    /// One client: call `/price`, retrying up to 5 times with this strategy (base `base_ms`).
    pub(crate) async fn fetch(self, upstream: &Upstream, base_ms: u64) {
        let tries = if self == Backoff::NoRetry { 1 } else { 6 };
        let mut previous = base_ms;
        for attempt in 0..tries {
            if upstream.call(Request::get("/price")).await.is_ok() {
                return;
            }
            if attempt + 1 < tries {
                previous = self.delay(attempt, base_ms, previous);
                tokio::time::sleep(Duration::from_millis(previous)).await;
            }
        }
    }
}

/// The scenario the example, the tour and the tests use: 1000 clients, 10 s outage.
pub(crate) fn scenario() -> HerdTest {
    HerdTest::new().clients(1000).name("payments")
}

/// The buggy wrapper (backoff 1 s, 4 tries) under the scenario.
pub(crate) fn buggy(scenario: HerdTest) -> Report {
    scenario.run(|up: Upstream| async move {
        let _ = retry_request(&up, Request::get("/price"), 4, Duration::from_secs(1)).await;
    })
}

/// The fixed wrapper (backoff 1 s, 4 tries) under the scenario.
pub(crate) fn fixed(scenario: HerdTest) -> Report {
    scenario.run(|up: Upstream| async move {
        let _ =
            retry_request_jittered(&up, Request::get("/price"), 4, Duration::from_secs(1)).await;
    })
}
