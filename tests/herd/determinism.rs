//! Same seed, same run: compared through the hash of the whole arrival trace.

use crate::code::Backoff;
use std::sync::Arc;
use whatbreaks::sim::RunLimits;
use whatbreaks::{HerdTest, Upstream};

fn trace(seed: u64) -> (u64, String) {
    let limits = RunLimits::new(seed);
    let body = Arc::new(|up: Upstream| async move { Backoff::Decorrelated.fetch(&up, 100).await });
    let (result, upstream) = HerdTest::new().clients(300).run_seed(&limits, body);
    (upstream.trace_hash(), result.key_figure)
}

#[test]
fn reference_trace_is_pinned() {
    crate::support::assert_trace_pinned(
        trace,
        (
            0x6b59065cc7708c8a,
            "largest same-ms cohort 5/300 (1.7%)".to_string(),
        ),
    );
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    crate::support::assert_seeds_replay(trace);
}

#[test]
fn reports_of_equal_seeds_are_equal() {
    let run = || {
        HerdTest::new()
            .clients(200)
            .seed(77)
            .seeds(3)
            .run(|up: Upstream| async move { Backoff::TinyJitter.fetch(&up, 1_000).await })
            .render()
    };
    assert_eq!(run(), run());
}
