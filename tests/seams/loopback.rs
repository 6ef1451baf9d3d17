//! reqwest (with reqwest-middleware and reqwest-retry), unmodified, against a simulated
//! upstream served on a real loopback socket (`upstream.url()`), on virtual time.

use crate::code;
use crate::{SEEDS, figure};
use std::time::Duration;
use whatbreaks::Upstream;
use whatbreaks::herd::PATTERN as HERD;
use whatbreaks::sim::{self, RunLimits};
use whatbreaks::storm::DUPLICATE_PATTERN as DUPLICATES;

#[test]
fn reqwest_retry_without_jitter_is_a_herd() {
    for seed in 1..=u64::from(SEEDS) {
        let report = code::reqwest_herd_unjittered(seed);
        report.assert_flagged(HERD);
    }
}

#[test]
fn reqwest_retry_with_its_default_jitter_passes() {
    for seed in 1..=u64::from(SEEDS) {
        let report = code::reqwest_herd_jittered(seed);
        report.assert_clean();
        // The premise: every client retried through the outage.
        let calls: usize = figure(&report, "calls").parse().unwrap();
        assert!(calls >= 2 * 200, "{report}");
    }
}

#[test]
fn reqwest_retry_recharging_a_lost_response_is_a_duplicate() {
    for seed in 1..=u64::from(SEEDS) {
        code::reqwest_charges(seed, false).assert_flagged(DUPLICATES);
    }
}

#[test]
fn one_idempotency_key_across_reqwest_retries_passes() {
    for seed in 1..=u64::from(SEEDS) {
        let report = code::reqwest_charges(seed, true);
        report.assert_clean();
    }
}

/// reqwest-retry through the socket and the same backoff through `upstream.call`: the same
/// verdict, the same figures and the very same trace on the same seed.
#[test]
fn reqwest_gives_the_native_verdict_on_the_same_seed() {
    for seed in 1..=2 {
        let native = code::native_herd_unjittered(seed);
        let seam = code::reqwest_herd_unjittered(seed);
        assert!(
            native.flagged(HERD) && seam.flagged(HERD),
            "{native}\n{seam}"
        );
        for name in [
            "calls",
            "retry rounds",
            "largest cohort share",
            "trace hash",
        ] {
            assert_eq!(
                figure(&native, name),
                figure(&seam, name),
                "seed {seed}: {name}"
            );
        }
    }
}

/// Virtual time is kept through the socket: a 20 ms answer takes 20 virtual ms, and a
/// client timeout fires at its virtual deadline, not at once.
#[test]
fn latency_and_timeouts_run_on_virtual_time() {
    let slow = Upstream::builder("slow")
        .latency(Duration::from_secs(3))
        .build();
    let up = slow.clone();
    let run = sim::simulate(&RunLimits::new(1), move || async move {
        let base = up.url();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let t0 = tokio::time::Instant::now();
        let ok = client.get(format!("{base}/a")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let served = t0.elapsed();
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let t1 = tokio::time::Instant::now();
        let err = impatient.get(format!("{base}/b")).send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        (served, t1.elapsed())
    });
    let (served, timed_out) = run.value.expect("the run completes");
    assert!(
        served >= Duration::from_secs(3) && served < Duration::from_millis(3_050),
        "{served:?}"
    );
    assert_eq!(timed_out, Duration::from_secs(1));
    assert_eq!(slow.stats().calls, 2);
}

/// Same seed, same figures (the trace too, where no randomness comes from outside the seed:
/// without jitter).
#[test]
fn the_same_seed_gives_the_same_run() {
    let a = code::reqwest_herd_unjittered(7);
    let b = code::reqwest_herd_unjittered(7);
    for name in ["calls", "retry rounds", "trace hash"] {
        assert_eq!(figure(&a, name), figure(&b, name), "{name}");
    }
}
