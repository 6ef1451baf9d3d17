//! Third-party clocks: production code whose clock cannot be injected, run unmodified on
//! virtual time once the test binary installs the virtual system clock (`whatbreaks::install!()`).
//!
//! - A product cache on moka with a 1 s `time_to_live` (moka reads `std::time::Instant`):
//!   cache-aside with `get` then `insert` (buggy: every request that misses an expired entry
//!   loads it) and `get_with` (fixed: moka coalesces the loads of one key).
//! - A per-minute report job on tokio-cron-scheduler (it reads `chrono::Utc::now()`): correct
//!   on one instance, every minute twice on two.
//!
//! This file is shared by `examples/clocks.rs`, `examples/tour.rs` and `tests/clocks/`.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};
use whatbreaks::{DoubleExecutionTest, Instance, Report, StampedeEnv, StampedeTest};

/// The expiry scenario: a warm hot key under 100 rps for 10 s, entries stored with a 1 s TTL.
pub(crate) fn expiry() -> StampedeTest {
    StampedeTest::new()
        .scenario("expiry")
        .ttl(Duration::from_secs(1))
}

/// One moka cache per instance of the service, with the scenario's TTL.
fn product_cache(env: &StampedeEnv) -> Arc<moka::future::Cache<String, String>> {
    let ttl = env.ttl();
    env.per_instance(|| moka::future::Cache::builder().time_to_live(ttl).build())
}

/// BUGGY: cache-aside over moka. Every request that finds the entry expired loads the row.
pub(crate) async fn moka_cache_aside(env: StampedeEnv) {
    let cache = product_cache(&env);
    let key = env.key();
    if cache.get(&key).await.is_none()
        && let Ok(row) = env.db().load(&key).await
    {
        cache.insert(key, row).await;
    }
}

/// FIXED: moka's `get_with` runs one init per key; the other requests wait for its value.
pub(crate) async fn moka_get_with(env: StampedeEnv) {
    let cache = product_cache(&env);
    let (key, db) = (env.key(), env.db());
    let k = key.clone();
    cache
        .get_with(key, async move { db.load(&k).await.unwrap_or_default() })
        .await;
}

/// The stampede check of both moka caches.
pub(crate) fn moka(test: StampedeTest, fixed: bool) -> Report {
    if fixed {
        test.run(moka_get_with)
    } else {
        test.run(moka_cache_aside)
    }
}

/// The production job: a report per minute on tokio-cron-scheduler, which decides when a
/// job is due from `chrono::Utc::now()`. Each run commits the report of its minute.
pub(crate) async fn cron_report_job(instance: Instance) {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let scheduler = JobScheduler::new().await.expect("scheduler");
    let job = Job::new_async("0 * * * * *", move |_id, _scheduler| {
        let instance = instance.clone();
        Box::pin(async move {
            let now = chrono::Utc::now();
            let minute = now.timestamp() - now.timestamp() % 60;
            let slot = SystemTime::UNIX_EPOCH + Duration::from_secs(minute as u64);
            instance.effect("minute report", slot);
        })
    })
    .expect("job");
    scheduler.add(job).await.expect("add");
    scheduler.start().await.expect("start");
    std::future::pending::<()>().await;
}

/// Ten minutes of the per-minute job on `instances` instances.
pub(crate) fn cron(instances: u32) -> DoubleExecutionTest {
    DoubleExecutionTest::new()
        .instances(instances)
        .every(Duration::from_secs(60))
        .run_for(Duration::from_secs(10 * 60))
}
