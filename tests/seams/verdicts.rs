//! The required verdicts through the seams, each over several seeds, and the verdicts
//! through a seam against the same logic through the native API on the same seed.

use crate::code::{self, Path, RetryFailures};
use crate::{SEEDS, figure};
use whatbreaks::stampede::PATTERN as STAMPEDE;
use whatbreaks::storm::PATTERN as STORM;

#[test]
fn tower_retry_over_hyper_without_a_budget_is_a_storm() {
    let report = code::tower_retry(
        code::storm(1).seeds(SEEDS),
        Path::Hyper,
        RetryFailures::unbudgeted,
    );
    report.assert_flagged(STORM);
    assert!(report.render().contains("calls per request"), "{report}");
}

#[test]
fn tower_retry_over_hyper_with_tps_budget_passes() {
    let report = code::tower_retry(
        code::storm(1).seeds(SEEDS),
        Path::Hyper,
        RetryFailures::budgeted,
    );
    report.assert_clean();
}

#[test]
fn tower_retry_over_the_upstream_service_both_ways() {
    let buggy = code::tower_retry(
        code::storm(11).seeds(SEEDS),
        Path::Tower,
        RetryFailures::unbudgeted,
    );
    buggy.assert_flagged(STORM);
    let fixed = code::tower_retry(
        code::storm(11).seeds(SEEDS),
        Path::Tower,
        RetryFailures::budgeted,
    );
    fixed.assert_clean();
}

#[test]
fn redis_cache_aside_on_a_cold_key_is_a_stampede() {
    for instances in [1, 2] {
        let report = code::redis_cache_aside(code::cold(1, instances).seeds(SEEDS));
        report.assert_flagged(STAMPEDE);
    }
}

#[test]
fn a_set_nx_px_lease_with_a_recheck_passes() {
    for instances in [1, 2] {
        let report = code::redis_leased(code::cold(1, instances).seeds(SEEDS));
        report.assert_clean();
        assert_eq!(figure(&report, "worst loads per episode"), "1", "{report}");
    }
}

/// The same seed through a seam and through the native API: the same verdict and the same
/// figures (calls, logical requests, amplification; loads), and through the tower `Service`
/// and redis-rs the very same trace.
#[test]
fn seams_give_the_native_verdicts_on_the_same_seed() {
    for seed in 1..=2u64 {
        for budgeted in [false, true] {
            let native = code::native_retry(code::storm(seed), budgeted);
            let policy = if budgeted {
                RetryFailures::budgeted
            } else {
                RetryFailures::unbudgeted
            };
            for path in [Path::Tower, Path::Hyper] {
                let seam = code::tower_retry(code::storm(seed), path, policy);
                assert_eq!(native.is_clean(), seam.is_clean(), "{path:?}: {seam}");
                assert_eq!(native.flagged(STORM), !budgeted);
                // Through hyper, the upstream's random faults (here the 1% of 400s) draw from
                // a stream of the connection's own: same figures, another trace.
                let names: &[&str] = match path {
                    Path::Tower => &["calls", "logical requests", "amplification", "trace hash"],
                    Path::Hyper => &["calls", "logical requests", "amplification"],
                };
                for &name in names {
                    assert_eq!(
                        figure(&native, name),
                        figure(&seam, name),
                        "seed {seed}, budget {budgeted}, {path:?}: {name}"
                    );
                }
            }
        }
        let native = code::native_cache_aside(code::cold(seed, 2));
        let seam = code::redis_cache_aside(code::cold(seed, 2));
        assert!(native.flagged(STAMPEDE) && seam.flagged(STAMPEDE));
        for name in ["db loads", "loads per key", "cache ops", "trace hash"] {
            assert_eq!(
                figure(&native, name),
                figure(&seam, name),
                "seed {seed}: {name}"
            );
        }
    }
}
