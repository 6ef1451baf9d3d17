//! The simulated backends through the public API, inside a scenario.

use std::time::Duration;
use whatbreaks::store::{DbError, SimDb};
use whatbreaks::{SimCache, StampedeEnv, StampedeTest};

#[test]
fn cache_and_db_follow_virtual_time_and_are_shared_by_instances() {
    let report =
        StampedeTest::new()
            .clients(2)
            .instances(2)
            .seed(1)
            .run(|env: StampedeEnv| async move {
                let cache = env.cache();
                // Both instances see one cache: exactly one of the two wins the lease.
                let won = cache.set_nx("lease", "x", Duration::from_secs(2)).await;
                let n = cache.incr("winners").await.unwrap();
                if won {
                    // The lease's winner loads the row once (a run without any load would
                    // fail: the scenario's premise is that the database gets asked).
                    let row = env.db().load(&env.key()).await.unwrap();
                    cache.set("value", row, Duration::from_secs(1)).await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                assert!(cache.get("value").await.is_some(), "n={n}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                assert_eq!(
                    cache.get("value").await,
                    None,
                    "expired after 1s of virtual time"
                );
                assert!(!cache.del("value").await);
            });
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.figure("db loads"), Some("1"));
}

#[test]
fn db_records_loads_per_key_with_times_and_failures() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let db = SimDb::builder("products")
            .latency(Duration::from_millis(100))
            .failing(Duration::ZERO..Duration::from_millis(50))
            .build();
        db.put_row("7", "{\"id\":7}");
        assert_eq!(
            db.load("7").await,
            Err(DbError::Unavailable { key: "7".into() })
        );
        assert_eq!(db.load("7").await.as_deref(), Ok("{\"id\":7}"));
        let loads = db.loads();
        assert_eq!(loads.len(), 2);
        assert!(loads[0].failed && !loads[1].failed);
        assert_eq!(loads[1].done - loads[1].at, Duration::from_millis(100));
        assert_eq!(db.load_counts().get("7"), Some(&2));
        let cache = SimCache::with_latency(Duration::ZERO);
        cache.set_persistent("k", "v").await;
        assert_eq!(cache.get_with_ttl("k").await, Some(("v".into(), None)));
    });
}

#[test]
fn a_lease_that_is_never_released_ends_at_the_time_limit() {
    let report = StampedeTest::new()
        .clients(3)
        .time_limit(Duration::from_secs(60))
        .seed(2)
        .run(|env: StampedeEnv| async move {
            let cache = env.cache();
            // Waits forever for a value that the lease holder never stores.
            while cache.get("product:1").await.is_none() {
                if cache.set_nx("lock", "me", Duration::from_secs(3_600)).await {
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    let f = &report.findings[0];
    assert_eq!(f.pattern, "time limit", "{report}");
    assert!(f.evidence[1].contains("#0, #1, #2"), "{:?}", f.evidence);
}
