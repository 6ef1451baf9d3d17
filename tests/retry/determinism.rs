//! Same seed, same run: compared through the hash of the whole arrival trace.

use crate::code::{self, Policy};
use std::sync::Arc;
use std::time::Duration;
use whatbreaks::sim::RunLimits;
use whatbreaks::{RetryStormTest, Upstream};

fn trace(seed: u64) -> (u64, String) {
    let limits = RunLimits::new(seed);
    let body = Arc::new(|up: Upstream| async move {
        let _ = Policy::FIXED.charge(&up).await;
    });
    let (result, upstream) = RetryStormTest::new()
        .rps(30.0)
        .run_for(Duration::from_secs(20))
        .outage(Duration::from_secs(5)..Duration::from_secs(10))
        .ambiguous(0.05)
        .run_seed(&limits, body);
    (upstream.trace_hash(), result.key_figure)
}

#[test]
fn reference_trace_is_pinned() {
    crate::support::assert_trace_pinned(
        trace,
        (
            0x307cfc107496d7c9,
            "1.07 calls per request, no duplicate effects".to_string(),
        ),
    );
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    crate::support::assert_seeds_replay(trace);
}

#[test]
fn reports_of_equal_seeds_are_equal() {
    let run = || code::buggy(code::ambiguous().seed(77).seeds(3)).render();
    assert_eq!(run(), run());
}
