//! Hung upstreams: the seed article's fourth retry fix, explicit timeouts. A retry loop
//! without a timeout waits forever on a hung connection and never gets to retry (buggy); a
//! timeout of 30 s ends the wait, too late to protect the service (buggy); a 1 s timeout per
//! attempt and a 5 s overall deadline (fixed).
//!
//! This file is shared by `examples/hang.rs`, `examples/tour.rs` and `tests/hang/`.
#![allow(dead_code)]

use std::time::Duration;
use whatbreaks::{HangTest, Report, Request, Response, Upstream, UpstreamError};

/// BUGGY: three attempts with backoff, but no timeout: a call into a hung upstream never
/// returns, so the loop never gets to its second attempt.
pub(crate) async fn fetch_price(upstream: &Upstream) -> Result<Response, UpstreamError> {
    let mut last = UpstreamError::Unavailable;
    for attempt in 0..3u32 {
        match upstream.call(Request::get("/price")).await {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    }
    Err(last)
}

/// BUGGY too: a timeout per attempt, but of 30 s: each hung request holds its task for a
/// minute and a half before it fails.
pub(crate) async fn fetch_price_slow_timeout(
    upstream: &Upstream,
) -> Result<Response, UpstreamError> {
    with_timeouts(upstream, Duration::from_secs(30), Duration::from_secs(120)).await
}

/// FIXED: a 1 s timeout per attempt and a 5 s deadline for the whole request.
pub(crate) async fn fetch_price_fixed(upstream: &Upstream) -> Result<Response, UpstreamError> {
    with_timeouts(upstream, Duration::from_secs(1), Duration::from_secs(5)).await
}

async fn with_timeouts(
    upstream: &Upstream,
    per_attempt: Duration,
    overall: Duration,
) -> Result<Response, UpstreamError> {
    let attempts = async {
        let mut last = UpstreamError::Unavailable;
        for attempt in 0..3u32 {
            match tokio::time::timeout(per_attempt, upstream.call(Request::get("/price"))).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) => last = e,
                Err(_elapsed) => last = UpstreamError::Unavailable,
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        Err(last)
    };
    tokio::time::timeout(overall, attempts)
        .await
        .unwrap_or(Err(UpstreamError::Unavailable))
}

/// The scenario the example, the tour and the tests use: 20 rps for 60 s, hung `10s..40s`.
pub(crate) fn scenario() -> HangTest {
    HangTest::new().name("prices")
}

pub(crate) fn buggy(test: HangTest) -> Report {
    test.run(|up: Upstream| async move {
        let _ = fetch_price(&up).await;
    })
}

pub(crate) fn slow_timeout(test: HangTest) -> Report {
    test.run(|up: Upstream| async move {
        let _ = fetch_price_slow_timeout(&up).await;
    })
}

pub(crate) fn fixed(test: HangTest) -> Report {
    test.run(|up: Upstream| async move {
        let _ = fetch_price_fixed(&up).await;
    })
}
