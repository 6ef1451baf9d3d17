//! Patterns 2 and 3, retry storm and duplicate side effects: the seed article's "resilient"
//! payment call (three immediate attempts of a `POST /charge`, no idempotency key, every error
//! retried) and its fix (an idempotency key made once per charge, exponential backoff with
//! full jitter, retryable vs non-retryable classification, a timeout, and a token-bucket retry
//! budget), plus the half-fixes the detector is proven against.
//!
//! This file is shared by `examples/retry.rs`, `examples/tour.rs` and `tests/retry/`.
#![allow(dead_code)]

use rand::RngExt;
use std::cell::Cell;
use std::time::Duration;
use whatbreaks::{Report, Request, Response, RetryStormTest, Upstream, UpstreamError};

/// BUGGY: the seed article's `callPaymentAPI`, ported. Three attempts, back to back, of a
/// `POST` without an idempotency key, whatever the error. Under a degraded upstream every
/// charge costs three calls; when a charge commits but its response is lost, the retry
/// charges the customer again; a 400 is sent three times.
pub(crate) async fn charge_naive(upstream: &Upstream) -> Result<Response, UpstreamError> {
    const MAX_ATTEMPTS: u32 = 3;
    let mut last = UpstreamError::Unavailable;
    for _ in 0..MAX_ATTEMPTS {
        match upstream.call(Request::post("/charge")).await {
            Ok(response) => return Ok(response),
            Err(e) => last = e, // retry immediately
        }
    }
    Err(last)
}

/// A token-bucket retry budget (Google SRE's retry ratio; tower's `TpsBudget` is the same
/// idea): every request deposits `ratio` tokens, every retry withdraws one, and a retry
/// without a token is not made. Retries stay under `ratio` of requests (plus the initial
/// `max` tokens), however long an outage lasts.
pub(crate) struct RetryBudget {
    tokens: Cell<f64>,
    ratio: f64,
    max: f64,
}

impl RetryBudget {
    pub(crate) const fn new(ratio: f64, max: f64) -> Self {
        RetryBudget {
            tokens: Cell::new(max),
            ratio,
            max,
        }
    }

    /// A new logical request: deposit.
    pub(crate) fn deposit(&self) {
        self.tokens
            .set((self.tokens.get() + self.ratio).min(self.max));
    }

    /// May this retry go out? Withdraws a token if so.
    pub(crate) fn try_retry(&self) -> bool {
        let t = self.tokens.get();
        if t >= 1.0 {
            self.tokens.set(t - 1.0);
            true
        } else {
            false
        }
    }
}

thread_local! {
    /// One budget per process. whatbreaks runs each simulation on its own thread, so a
    /// thread-local budget is also one budget per run (in a multi-threaded service, share one
    /// `Arc<RetryBudget>` with a lock or atomics instead).
    static BUDGET: RetryBudget = const { RetryBudget::new(0.1, 10.0) };
}

/// How a fixed or half-fixed charge behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Send an idempotency key.
    pub(crate) key: KeyPolicy,
    /// Retry only retryable errors (connection failures, 5xx, 408, 429).
    pub(crate) classify: bool,
    /// Spend from the token-bucket budget for every retry.
    pub(crate) budget: bool,
    /// Sleep with full jitter (base 100 ms) between attempts.
    pub(crate) backoff: bool,
    /// Attempts at most (first call included).
    pub(crate) attempts: u32,
}

/// Where the idempotency key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyPolicy {
    /// No key.
    None,
    /// One key per logical request, reused on every retry (the fix).
    PerRequest,
    /// A fresh key per attempt (looks right, deduplicates nothing).
    PerAttempt,
}

impl Policy {
    /// The fix: key per charge, classification, budget, jittered backoff, 4 attempts.
    pub(crate) const FIXED: Policy = Policy {
        key: KeyPolicy::PerRequest,
        classify: true,
        budget: true,
        backoff: true,
        attempts: 4,
    };

    fn new_key() -> String {
        format!("charge-{:016x}", whatbreaks::rng().random::<u64>())
    }

    /// One charge under this policy.
    pub(crate) async fn charge(self, upstream: &Upstream) -> Result<Response, UpstreamError> {
        if self.budget {
            BUDGET.with(RetryBudget::deposit);
        }
        let key = Self::new_key();
        let mut last = UpstreamError::Unavailable;
        for attempt in 0..self.attempts {
            if attempt > 0 {
                if self.budget && !BUDGET.with(RetryBudget::try_retry) {
                    break;
                }
                if self.backoff {
                    let cap_ms = 100u64 << (attempt - 1).min(10);
                    let ms = whatbreaks::rng().random_range(0..=cap_ms);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            let request = match self.key {
                KeyPolicy::None => Request::post("/charge"),
                KeyPolicy::PerRequest => Request::post("/charge").idempotency_key(key.clone()),
                KeyPolicy::PerAttempt => Request::post("/charge").idempotency_key(Self::new_key()),
            };
            // A timeout, so that a slow upstream cannot hold the caller forever.
            match tokio::time::timeout(Duration::from_secs(2), upstream.call(request)).await {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(e)) if self.classify && !e.is_retryable() => return Err(e),
                Ok(Err(e)) => last = e,
                Err(_elapsed) => last = UpstreamError::Unavailable,
            }
        }
        Err(last)
    }
}

/// FIXED: idempotency key made once per charge, full-jitter backoff, only retryable errors
/// retried, every retry paid for from the retry budget, a 2 s timeout per call.
pub(crate) async fn charge_fixed(upstream: &Upstream) -> Result<Response, UpstreamError> {
    Policy::FIXED.charge(upstream).await
}

/// Every half-fix with the patterns it is flagged for (empty: passes), under the storm
/// scenario with ambiguous failures ([`storm_with_ambiguity`]).
pub(crate) const VARIANTS: [(&str, Policy, &[&str]); 6] = [
    ("the fix", Policy::FIXED, &[]),
    (
        "fixed-count retries with backoff, no budget",
        Policy {
            budget: false,
            ..Policy::FIXED
        },
        &["retry storm"],
    ),
    (
        "budgeted retries of every error, 400 included",
        Policy {
            classify: false,
            ..Policy::FIXED
        },
        &["non-retryable error retried"],
    ),
    (
        "budgeted retries of a POST without a key",
        Policy {
            key: KeyPolicy::None,
            ..Policy::FIXED
        },
        &["duplicate side effects"],
    ),
    (
        "a fresh idempotency key per attempt",
        Policy {
            key: KeyPolicy::PerAttempt,
            ..Policy::FIXED
        },
        &["duplicate side effects"],
    ),
    (
        "no retries at all",
        Policy {
            attempts: 1,
            ..Policy::FIXED
        },
        &[],
    ),
];

/// The retry-storm scenario of the example and the tour: 50 charges/s for 60 s, the payment
/// provider failing every call `10s..40s`, 1% of calls answered 400.
pub(crate) fn storm() -> RetryStormTest {
    RetryStormTest::new()
        .rps(50.0)
        .run_for(Duration::from_secs(60))
        .outage(Duration::from_secs(10)..Duration::from_secs(40))
        .name("payments")
}

/// The storm, plus 5% of charges that commit and then lose their response.
pub(crate) fn storm_with_ambiguity() -> RetryStormTest {
    storm().ambiguous(0.05)
}

/// The duplicate-charge scenario: a healthy provider, except that 5% of charges commit and
/// then lose their response (a reset connection, a proxy timeout).
pub(crate) fn ambiguous() -> RetryStormTest {
    storm()
        .outage(Duration::ZERO..Duration::ZERO)
        .ambiguous(0.05)
}

/// The naive charge under a scenario.
pub(crate) fn buggy(scenario: RetryStormTest) -> Report {
    scenario.run(|up: Upstream| async move {
        let _ = charge_naive(&up).await;
    })
}

/// The fixed charge under a scenario.
pub(crate) fn fixed(scenario: RetryStormTest) -> Report {
    scenario.run(|up: Upstream| async move {
        let _ = charge_fixed(&up).await;
    })
}

/// A policy under a scenario.
pub(crate) fn with_policy(scenario: RetryStormTest, policy: Policy) -> Report {
    scenario.run(move |up: Upstream| async move {
        let _ = policy.charge(&up).await;
    })
}
