//! The harness never hangs and surfaces panics with their seed.

use std::time::Duration;
use whatbreaks::{FindingKind, HerdTest, Request, Upstream};

#[test]
fn an_endless_retry_loop_ends_at_the_time_limit() {
    let report = HerdTest::new()
        .clients(5)
        .outage(Duration::ZERO..Duration::from_secs(86_400))
        .time_limit(Duration::from_secs(60))
        .seed(1)
        .run(|up: Upstream| async move {
            while up.call(Request::get("/")).await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    let f = report
        .findings
        .iter()
        .find(|f| f.pattern == "time limit")
        .expect("time limit finding");
    assert_eq!(f.kind, FindingKind::Harness);
    assert!(
        f.verdict.contains("virtual time limit 1m reached"),
        "{}",
        f.verdict
    );
    assert!(
        f.evidence[0].contains("the pending clients kept working"),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence[1].contains("#0, #1, #2, #3, #4"),
        "{:?}",
        f.evidence
    );
    assert!(
        f.replay.starts_with("WHATBREAKS_SEED=0x1 cargo test"),
        "{}",
        f.replay
    );
}

#[test]
fn a_deadlock_is_reported_at_once() {
    let started = std::time::Instant::now();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let report = HerdTest::new()
        .clients(3)
        .seed(2)
        .run(move |_up: Upstream| {
            let gate = gate.clone();
            async move {
                let _never = gate.acquire().await;
            }
        });
    let f = &report.findings[0];
    assert_eq!(f.pattern, "time limit");
    assert!(
        f.evidence[0].contains("no simulated component"),
        "{:?}",
        f.evidence
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "virtual time jumps to the limit"
    );
}

#[test]
fn a_spinning_client_trips_the_watchdog() {
    let report = HerdTest::new()
        .clients(2)
        .watchdog(Duration::from_millis(500))
        .seed(3)
        .run(|_up: Upstream| async move {
            loop {
                tokio::task::yield_now().await;
            }
        });
    let f = &report.findings[0];
    assert_eq!(f.pattern, "watchdog");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("clients running or pending: #0, #1")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn a_panicking_client_is_reported_with_its_seed() {
    let report = HerdTest::new()
        .clients(4)
        .seed(0xabc)
        .run(|up: Upstream| async move {
            if whatbreaks::sim::current_client() == Some(2) {
                panic!("client bug: unwrap on None");
            }
            let _ = up.call(Request::get("/")).await;
        });
    let f = report
        .findings
        .iter()
        .find(|f| f.pattern == "client panic")
        .expect("panic finding");
    assert_eq!(f.seed, 0xabc);
    assert!(
        f.evidence[0].contains("client #2 at t=0s: client bug: unwrap on None"),
        "{:?}",
        f.evidence
    );
    assert!(f.scenario.ends_with("seed 0xabc"), "{}", f.scenario);
}
