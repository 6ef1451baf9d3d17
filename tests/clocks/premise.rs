//! A passing scenario says what it measured: a run whose premise never happened fails with a
//! configuration finding that says what did not happen and why.

use std::time::Duration;
use whatbreaks::{FindingKind, HerdTest, Request, StampedeEnv, StampedeTest, Upstream};

#[test]
fn an_expiry_scenario_in_which_nothing_expires_fails_and_says_why() {
    for seed in crate::seeds() {
        // moka without a TTL: the warm-up loads, and no entry ever expires again.
        let report =
            StampedeTest::new()
                .scenario("expiry")
                .seed(seed)
                .run(|env: StampedeEnv| async move {
                    let cache =
                        env.per_instance(|| moka::future::Cache::<String, String>::new(100));
                    let key = env.key();
                    if cache.get(&key).await.is_none()
                        && let Ok(row) = env.db().load(&key).await
                    {
                        cache.insert(key, row).await;
                    }
                });
        assert!(!report.is_clean(), "seed {seed:#x}: {report}");
        let f = &report.findings[0];
        assert_eq!(f.kind, FindingKind::Config, "{report}");
        assert!(f.verdict.contains("no entry expired"), "{}", f.verdict);
        assert!(f.fix.contains("env.ttl()"), "{}", f.fix);
        // This binary installs the virtual clock, so the fix does not blame it.
        assert!(
            f.fix.contains("already follows the simulation"),
            "{}",
            f.fix
        );
    }
}

#[test]
fn a_client_that_never_retries_still_passes_the_herd_test() {
    // The premise of the herd test is the outage, and it happened: one call per client.
    for seed in crate::seeds() {
        let report = HerdTest::new()
            .clients(50)
            .seed(seed)
            .run(|up: Upstream| async move {
                let _ = up.call(Request::get("/price")).await;
            });
        assert!(report.is_clean(), "seed {seed:#x}: {report}");
    }
}

#[test]
fn a_cold_start_in_which_nothing_loads_fails_and_says_why() {
    let report = StampedeTest::new()
        .seed(1)
        .run(|_env: StampedeEnv| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
        });
    let f = &report.findings[0];
    assert_eq!(f.kind, FindingKind::Config, "{report}");
    assert!(f.verdict.contains("made no database load"), "{}", f.verdict);
}
