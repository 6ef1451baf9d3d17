//! Same seed, same run: compared through the hash of the database's load trace.

use crate::code::Strategy;
use std::sync::Arc;
use whatbreaks::StampedeEnv;
use whatbreaks::sim::RunLimits;

fn trace(seed: u64) -> (u64, String) {
    let limits = RunLimits::new(seed);
    let body = Arc::new(|env: StampedeEnv| async move { Strategy::CacheAside.serve(&env).await });
    let (result, db) = crate::code::expiry(2).keys(3).run_seed(&limits, body);
    (db.trace_hash(), result.key_figure)
}

#[test]
fn reference_trace_is_pinned() {
    crate::support::assert_trace_pinned(
        trace,
        (
            0x414160568e781ef6,
            "9 loads of one key per expiry (23/24 expiries)".to_string(),
        ),
    );
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    crate::support::assert_seeds_replay(trace);
}
