//! The harness around the memory detectors: panics and hangs in the body become findings.

use std::time::Duration;
use whatbreaks::{FindingKind, LeakEnv, LeakTest, ScaleTest};

#[test]
fn a_panicking_cycle_is_reported_not_judged() {
    let report = LeakTest::new()
        .iterations(200)
        .seed(0xabc)
        .run(|env: LeakEnv| async move {
            if env.cycle() == 50 {
                panic!("cycle bug: unwrap on None");
            }
        });
    let f = &report.findings[0];
    assert_eq!((f.pattern, f.kind), ("client panic", FindingKind::Harness));
    assert!(f.evidence[0].contains("cycle bug"), "{:?}", f.evidence);
    assert!(f.scenario.ends_with("seed 0xabc"), "{}", f.scenario);
    assert!(!report.flagged(whatbreaks::leak::PATTERN));
}

#[test]
fn a_cycle_that_never_finishes_ends_at_the_time_limit() {
    let report = LeakTest::new()
        .iterations(100)
        .time_limit(Duration::from_secs(600))
        .seed(1)
        .run(|env: LeakEnv| async move {
            if env.cycle() == 20 {
                let gate = tokio::sync::Semaphore::new(0);
                let _never = gate.acquire().await;
            }
        });
    assert_eq!(report.findings[0].pattern, "time limit");
    assert!(
        report.findings[0].evidence[0].contains("no simulated component"),
        "{report}"
    );
}

#[test]
fn a_panicking_size_is_reported_not_judged() {
    let report = ScaleTest::new()
        .sizes(&[10, 100])
        .seed(2)
        .run(|n: u64| async move { assert!(n < 50, "size {n} too big for this code") });
    let f = &report.findings[0];
    assert_eq!(f.pattern, "client panic");
    assert!(
        f.evidence[0].contains("size 100 too big"),
        "{:?}",
        f.evidence
    );
}
