//! Same seed, same run: compared through the hash of the pool's whole history.

use crate::code;
use std::sync::Arc;
use std::time::Duration;
use whatbreaks::SimPool;
use whatbreaks::sim::RunLimits;

fn trace(seed: u64) -> (u64, String) {
    let limits = RunLimits::new(seed);
    let body = Arc::new(|pool: SimPool| async move {
        let _ = code::process_order_fixed(&pool, "order-1").await;
    });
    let (result, pool) = code::leak_scenario()
        .hang_rate(0.01)
        .acquire_timeout(Duration::from_secs(1))
        .run_seed(&limits, body);
    (pool.trace_hash(), result.key_figure)
}

#[test]
fn reference_trace_is_pinned() {
    crate::support::assert_trace_pinned(
        trace,
        (
            0xfdf37e304d522a02,
            "p99 acquire wait 0s, peak 4/4 in use".to_string(),
        ),
    );
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    crate::support::assert_seeds_replay(trace);
}

#[test]
fn reports_of_equal_seeds_are_equal() {
    let run = || code::buggy(code::leak_scenario().seed(77).seeds(3)).render();
    assert_eq!(run(), run());
}
