//! Required verdicts, each over several seeds: flagged buggy code, passing fixed code.

use crate::SEEDS;
use crate::code::{self, Strategy};
use std::time::Duration;
use whatbreaks::stampede::PATTERN;
use whatbreaks::{Report, StampedeTest};

fn seeded(scenario: StampedeTest, first: u64) -> StampedeTest {
    scenario.seed(first).seeds(SEEDS)
}

fn assert_clean(report: &Report, what: &str) {
    assert!(report.is_clean(), "{what} should pass:\n{report}");
    assert_eq!(
        report.seeds.len(),
        crate::support::expected_seeds(SEEDS),
        "every seed ran"
    );
}

#[test]
fn plain_cache_aside_is_flagged_cold_and_on_expiry() {
    let cold = code::buggy(seeded(code::cold(1), 1));
    cold.assert_flagged(PATTERN);
    let text = cold.render();
    assert!(
        text.contains("100 database loads of key \"1\" in one cold start (allowed 1)"),
        "{text}"
    );
    assert!(text.contains("up to 100 in flight"), "{text}");
    let expiry = code::buggy(seeded(code::expiry(1), 2));
    expiry.assert_flagged(PATTERN);
    assert!(
        expiry.render().contains("in one expiry (allowed 1)"),
        "{expiry}"
    );
}

#[test]
fn per_key_mutex_passes_on_one_instance_and_is_flagged_on_two() {
    let one = code::per_key_mutex(seeded(code::cold(1), 3));
    assert_clean(&one, "per-key mutex on 1 instance");
    assert_eq!(one.figure("worst loads per episode"), Some("1"));
    let two = code::per_key_mutex(seeded(code::cold(2), 3));
    two.assert_flagged(PATTERN);
    let text = two.render();
    assert!(
        text.contains(
            "in-process coalescing was defeated by a second instance: 2 loads of key \"1\""
        ),
        "{text}"
    );
    assert!(text.contains("per instance #0: 1, #1: 1"), "{text}");
    assert!(
        text.contains("take a lease in the shared cache")
            || text.contains("Take a lease in the shared cache"),
        "{text}"
    );
}

#[test]
fn singleflight_passes_on_one_instance_and_is_defeated_on_two() {
    assert_clean(
        &Strategy::SingleFlight.run(seeded(code::cold(1), 4)),
        "singleflight on 1 instance",
    );
    let two = Strategy::SingleFlight.run(seeded(code::cold(2), 4));
    two.assert_flagged(PATTERN);
    assert!(
        two.render().contains("defeated by a second instance"),
        "{two}"
    );
}

#[test]
fn a_lease_in_the_shared_cache_passes_on_several_instances() {
    for instances in [2, 3] {
        let report = code::fixed(seeded(code::cold(instances), 5).keys(3).clients(150));
        assert_clean(&report, &format!("lease on {instances} instances"));
    }
}

#[test]
fn expiry_xfetch_with_coalescing_passes() {
    let report = Strategy::XFetch.run(seeded(code::expiry(1), 6));
    assert_clean(&report, "XFetch + singleflight under expiry");
    let episodes: usize = report.figure("episodes").unwrap().parse().unwrap();
    assert!(
        episodes >= 8,
        "every expiry is checked: {episodes} episodes\n{report}"
    );
}

#[test]
fn expiry_stale_while_revalidate_with_coalescing_passes() {
    let report = Strategy::StaleWhileRevalidate.run(seeded(code::expiry(1), 12));
    assert_clean(&report, "stale-while-revalidate + coalescing under expiry");
    let episodes: usize = report.figure("episodes").unwrap().parse().unwrap();
    assert!(
        episodes >= 8,
        "every expiry is checked: {episodes} episodes\n{report}"
    );
    let two = Strategy::StaleWhileRevalidate.run(seeded(code::expiry(2), 12));
    two.assert_flagged(PATTERN);
    assert!(
        two.render().contains("defeated by a second instance"),
        "{two}"
    );
}

#[test]
fn expiry_lease_passes_on_two_instances() {
    let report = code::fixed(seeded(code::expiry(2), 7));
    assert_clean(&report, "lease under expiry on 2 instances");
}

#[test]
fn failing_loader_turns_the_mutex_waiters_into_a_serial_storm() {
    let failing = |s: StampedeTest| s.outage(Duration::ZERO..Duration::from_secs(3_600));
    let mutex = code::per_key_mutex(failing(seeded(code::cold(1), 8)));
    mutex.assert_flagged(PATTERN);
    let text = mutex.render();
    assert!(
        text.contains(
            "failed loads turned the waiters into a serial storm: 100 loads of key \"1\""
        ),
        "{text}"
    );
    assert!(text.contains("100 failed, one at a time"), "{text}");
    let aside = code::buggy(failing(seeded(code::cold(1), 8)));
    aside.assert_flagged(PATTERN);
    assert!(
        aside.render().contains("100 failed, up to 100 in flight"),
        "{aside}"
    );
    for strategy in [Strategy::SingleFlight, Strategy::Lease] {
        let report = strategy.run(failing(seeded(code::cold(1), 9)));
        assert_clean(&report, &format!("{strategy:?} with a failing loader"));
        assert_eq!(report.figure("db loads"), Some("1"), "{strategy:?}");
        assert_eq!(
            report.figure("loads per key"),
            Some("\"1\": 1 (1 failed)"),
            "{strategy:?}"
        );
    }
    let lease2 = Strategy::Lease.run(failing(seeded(code::cold(2), 9)));
    assert_clean(&lease2, "lease with a failing loader on 2 instances");
}

#[test]
fn expiry_verdicts_for_the_other_strategies() {
    assert_clean(
        &code::per_key_mutex(seeded(code::expiry(1), 10)),
        "per-key mutex under expiry on 1 instance",
    );
    assert_clean(
        &Strategy::SingleFlight.run(seeded(code::expiry(1), 10)),
        "singleflight under expiry on 1 instance",
    );
    let two = code::per_key_mutex(seeded(code::expiry(2), 10));
    two.assert_flagged(PATTERN);
    assert!(
        two.render().contains("defeated by a second instance"),
        "{two}"
    );
}

#[test]
fn several_keys_are_judged_per_key() {
    let report = code::buggy(seeded(code::cold(1), 11).keys(4).clients(200));
    report.assert_flagged(PATTERN);
    let text = report.render();
    assert!(
        text.contains("4 of 4 keys loaded more than once in the cold start"),
        "{text}"
    );
    let fixed = Strategy::SingleFlight.run(seeded(code::cold(1), 11).keys(4).clients(200));
    assert_clean(&fixed, "singleflight over 4 keys");
    assert_eq!(fixed.figure("episodes"), Some("4"));
}
