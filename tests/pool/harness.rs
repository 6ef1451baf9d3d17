//! The harness around the pool: panics release their guards, metrics are readable, and a
//! bad acquire timeout is a configuration finding.

use std::time::Duration;
use whatbreaks::{FindingKind, PoolTest, SimPool};

#[test]
fn a_panicking_client_releases_its_guard_and_is_reported() {
    let report = PoolTest::new()
        .size(2)
        .clients(10)
        .seed(1)
        .run(|pool: SimPool| async move {
            let conn = pool.get().await.unwrap();
            conn.query("SELECT 1").await.unwrap();
            if whatbreaks::sim::current_client() == Some(3) {
                panic!("boom while holding a connection");
            }
        });
    assert!(!report.flagged(whatbreaks::pool::LEAK), "{report}");
    let f = report
        .findings
        .iter()
        .find(|f| f.pattern == "client panic")
        .expect("client panic finding");
    assert_eq!(f.kind, FindingKind::Harness);
}

#[test]
fn a_bad_acquire_timeout_is_a_configuration_finding() {
    let report = PoolTest::new()
        .acquire_timeout("soon")
        .run(|_pool: SimPool| async move {});
    assert_eq!(report.findings[0].kind, FindingKind::Config);
    assert!(report.findings[0].verdict.contains("`none`"), "{report}");
}

#[test]
fn figures_and_metrics_are_reported() {
    let report = PoolTest::new()
        .size(3)
        .clients(30)
        .arrivals(Duration::ZERO..Duration::from_secs(1))
        .acquire_timeout(Duration::from_secs(1))
        .seed(2)
        .run(|pool: SimPool| async move {
            let conn = pool.get().await.unwrap();
            let _ = conn.query("SELECT 1").await;
        });
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.figure("size"), Some("3"));
    assert_eq!(report.figure("acquires"), Some("30"));
    assert_eq!(report.figure("leaked"), Some("0"));
    assert!(
        report.key_figure.starts_with("p99 acquire wait"),
        "{}",
        report.key_figure
    );
}

#[test]
fn a_query_dropped_by_its_timeout_replaces_the_connection() {
    use whatbreaks::pool::PoolConfig;
    let limits = whatbreaks::sim::RunLimits {
        seed: 3,
        time_limit: Duration::from_secs(60),
        watchdog: Duration::from_secs(20),
    };
    let pool = SimPool::new(
        "db",
        PoolConfig {
            size: 1,
            hang_rate: 1.0,
            acquire_timeout: Some(Duration::from_secs(1)),
            ..PoolConfig::default()
        },
    );
    let p = pool.clone();
    let run = whatbreaks::sim::simulate(&limits, move || async move {
        for _ in 0..3 {
            let conn = p.get().await.unwrap();
            let r = tokio::time::timeout(Duration::from_millis(50), conn.query("SELECT 1")).await;
            assert!(r.is_err(), "the query hangs");
        }
        p.freeze();
    });
    assert!(run.is_clean(), "{:?}", run.end);
    let stats = pool.stats();
    assert_eq!((stats.hung_queries, stats.replaced, stats.idle), (3, 3, 1));
    assert!(pool.open_at_end().is_empty());
}
