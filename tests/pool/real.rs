//! Real pools behind cargo features (`--features deadpool,bb8`): a leaked guard is flagged in
//! both, a second acquire while holding a connection is flagged as a latent deadlock, correct
//! RAII use passes.

use std::time::Duration;
use whatbreaks::pool::{DEADLOCK, LEAK};
use whatbreaks::pool_watch::WatchTest;

/// One client: take a connection, use it for 5 ms; one client in ten forgets the guard.
async fn work<G>(get: impl std::future::Future<Output = G>, leak: bool) {
    let conn = get.await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    if leak && whatbreaks::sim::chance(0.1) {
        std::mem::forget(conn);
    }
}

/// Asserts a latent deadlock naming both checkout sites of this file, and no deadlock of
/// this run (the clients never overlap four at a time).
fn assert_latent_deadlock(report: &whatbreaks::Report) {
    report.assert_flagged(DEADLOCK);
    let text = report.render();
    assert!(text.contains("latent pool deadlock"), "{text}");
    assert!(
        text.matches("tests/pool/real.rs:").count() >= 2,
        "both sites: {text}"
    );
    assert!(!report.flagged(LEAK), "{text}");
}

fn scenario() -> WatchTest {
    WatchTest::new().clients(60).seed(1).seeds(crate::SEEDS)
}

#[cfg(feature = "deadpool")]
mod deadpool_pool {
    use super::*;
    use std::convert::Infallible;
    use whatbreaks::pool_watch::WatchedDeadpool;
    use whatbreaks::pool_watch::deadpool::managed::{self, Metrics, RecycleResult};

    pub(crate) struct Conns;

    impl managed::Manager for Conns {
        type Type = u32;
        type Error = Infallible;
        async fn create(&self) -> Result<u32, Infallible> {
            Ok(0)
        }
        async fn recycle(&self, _: &mut u32, _: &Metrics) -> RecycleResult<Infallible> {
            Ok(())
        }
    }

    fn make() -> WatchedDeadpool<Conns> {
        // Default settings: no wait timeout, so a get on an exhausted pool waits forever.
        WatchedDeadpool::new(
            managed::Pool::builder(Conns)
                .max_size(4)
                .build()
                .expect("deadpool builds"),
        )
    }

    #[test]
    fn a_leaked_deadpool_guard_is_flagged() {
        let report = scenario().run(make, |pool: WatchedDeadpool<Conns>| async move {
            work(pool.get(), true).await
        });
        report.assert_flagged(LEAK);
        let text = report.render();
        assert!(text.contains("tests/pool/real.rs:"), "{text}");
        assert!(text.contains("deadpool status: max size 4"), "{text}");
    }

    #[test]
    fn a_second_deadpool_acquire_while_holding_one_is_a_latent_deadlock() {
        let report = scenario().run(make, |pool: WatchedDeadpool<Conns>| async move {
            let order = pool.get().await;
            let lines = pool.get().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop((order, lines));
        });
        assert_latent_deadlock(&report);
    }

    #[test]
    fn raii_use_of_deadpool_passes() {
        let report = scenario().run(make, |pool: WatchedDeadpool<Conns>| async move {
            work(pool.get(), false).await
        });
        assert!(report.is_clean(), "{report}");
    }
}

#[cfg(feature = "bb8")]
mod bb8_pool {
    use super::*;
    use std::convert::Infallible;
    use whatbreaks::pool_watch::WatchedBb8;
    use whatbreaks::pool_watch::bb8;

    pub(crate) struct Conns;

    impl bb8::ManageConnection for Conns {
        type Connection = u32;
        type Error = Infallible;
        async fn connect(&self) -> Result<u32, Infallible> {
            Ok(0)
        }
        async fn is_valid(&self, _: &mut u32) -> Result<(), Infallible> {
            Ok(())
        }
        fn has_broken(&self, _: &mut u32) -> bool {
            false
        }
    }

    fn make() -> WatchedBb8<Conns> {
        // Default settings: a get times out after 30 s (on virtual time).
        WatchedBb8::new(bb8::Pool::builder().max_size(4).build_unchecked(Conns))
    }

    #[test]
    fn a_leaked_bb8_guard_is_flagged() {
        let report = scenario().run(make, |pool: WatchedBb8<Conns>| async move {
            work(pool.get(), true).await
        });
        report.assert_flagged(LEAK);
        let text = report.render();
        assert!(text.contains("bb8 status: max size 4"), "{text}");
    }

    #[test]
    fn a_second_bb8_acquire_while_holding_one_is_a_latent_deadlock() {
        let report = scenario().run(make, |pool: WatchedBb8<Conns>| async move {
            let order = pool.get().await;
            let lines = pool.get().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop((order, lines));
        });
        assert_latent_deadlock(&report);
    }

    #[test]
    fn raii_use_of_bb8_passes() {
        let report = scenario().run(make, |pool: WatchedBb8<Conns>| async move {
            work(pool.get(), false).await
        });
        assert!(report.is_clean(), "{report}");
    }
}
