//! Third-party crates whose clocks cannot be injected, unmodified, on virtual time.

use crate::seeds;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use whatbreaks::{DoubleExecutionTest, Instance, StampedeEnv, StampedeTest};

/// The expiry scenario: a warm hot key under 100 rps for 10 s, entries stored with a 1 s TTL.
fn expiry(seed: u64) -> StampedeTest {
    StampedeTest::new()
        .scenario("expiry")
        .ttl(Duration::from_secs(1))
        .seed(seed)
}

/// One moka cache per instance, with the scenario's TTL.
fn moka_cache(env: &StampedeEnv) -> Arc<moka::future::Cache<String, String>> {
    let ttl = env.ttl();
    env.per_instance(|| moka::future::Cache::builder().time_to_live(ttl).build())
}

#[test]
fn moka_cache_aside_with_a_ttl_stampedes_at_every_expiry() {
    for seed in seeds() {
        let report = expiry(seed).run(|env: StampedeEnv| async move {
            let cache = moka_cache(&env);
            let key = env.key();
            if cache.get(&key).await.is_none()
                && let Ok(row) = env.db().load(&key).await
            {
                cache.insert(key, row).await;
            }
        });
        assert!(
            report.flagged("cache stampede"),
            "seed {seed:#x}:\n{report}"
        );
    }
}

#[test]
fn moka_get_with_loads_once_per_expiry() {
    for seed in seeds() {
        let report = expiry(seed).run(|env: StampedeEnv| async move {
            let cache = moka_cache(&env);
            let key = env.key();
            let db = env.db();
            let k = key.clone();
            cache
                .get_with(key, async move { db.load(&k).await.unwrap_or_default() })
                .await;
        });
        assert!(report.is_clean(), "seed {seed:#x}:\n{report}");
        let episodes: usize = report.figure("episodes").unwrap().parse().unwrap();
        assert!(episodes >= 5, "entries expired under traffic: {report}");
    }
}

/// cached's TTL store behind an async fn; one store per process, so each seed uses its own
/// key space (the function's argument includes the seed).
mod cached_fn {
    use whatbreaks::SimDb;

    #[cached::cached(ttl = 1, key = "String", convert = r#"{ id.clone() }"#)]
    pub(super) async fn product(db: SimDb, id: String) -> String {
        db.load(&id).await.unwrap_or_default()
    }
}

#[test]
fn cached_ttl_fn_stampedes_at_every_expiry() {
    for seed in seeds() {
        let report = expiry(seed).run(move |env: StampedeEnv| async move {
            // The function's global store is shared by every seed: a key per seed.
            let key = env.key();
            let _ = cached_fn::product(env.db(), format!("{seed}:{key}")).await;
        });
        assert!(
            report.flagged("cache stampede"),
            "seed {seed:#x}:\n{report}"
        );
    }
}

/// The production code: a per-minute report job on tokio-cron-scheduler, which reads
/// `chrono::Utc::now()` to decide when a job is due. Each run commits the report of the minute
/// it was scheduled for.
async fn cron_report_job(instance: Instance) {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let scheduler = JobScheduler::new().await.expect("scheduler");
    let job = Job::new_async("0 * * * * *", move |_id, _scheduler| {
        let instance = instance.clone();
        Box::pin(async move {
            let now = chrono::Utc::now();
            let minute = now.timestamp() - now.timestamp() % 60;
            let slot = SystemTime::UNIX_EPOCH + Duration::from_secs(minute as u64);
            instance.effect("daily report", slot);
        })
    })
    .expect("job");
    scheduler.add(job).await.expect("add");
    scheduler.start().await.expect("start");
    std::future::pending::<()>().await;
}

fn cron(seed: u64, instances: u32) -> DoubleExecutionTest {
    DoubleExecutionTest::new()
        .instances(instances)
        .every(Duration::from_secs(60))
        .run_for(Duration::from_secs(10 * 60))
        .seed(seed)
}

#[test]
fn cron_crate_on_two_instances_runs_every_occurrence_twice() {
    for seed in seeds() {
        let report = cron(seed, 2).run(cron_report_job);
        assert!(
            report.flagged("double execution"),
            "seed {seed:#x}:\n{report}"
        );
        assert!(
            report.to_string().contains("twice") || report.to_string().contains("2 times"),
            "every occurrence ran on both instances:\n{report}"
        );
    }
}

#[test]
fn cron_crate_on_one_instance_runs_every_occurrence_once() {
    for seed in seeds() {
        let report = cron(seed, 1).run(cron_report_job);
        assert!(report.is_clean(), "seed {seed:#x}:\n{report}");
    }
}

#[test]
fn cron_crate_with_a_skewed_clock_still_runs_every_occurrence_twice() {
    for seed in seeds() {
        let report = cron(seed, 2).skew("1:+2s").run(cron_report_job);
        assert!(
            report.flagged("double execution"),
            "seed {seed:#x}:\n{report}"
        );
    }
}

#[test]
fn backoff_default_policy_gives_up_after_fifteen_virtual_minutes() {
    use whatbreaks::sim::{RunLimits, simulate};
    use whatbreaks::{Request, Upstream};
    for seed in seeds() {
        let upstream = Upstream::builder("payments")
            .outage(Duration::ZERO..Duration::from_secs(3600))
            .build();
        let u = upstream.clone();
        let run = simulate(&RunLimits::new(seed), move || async move {
            let policy = backoff::ExponentialBackoff::default();
            let result = backoff::future::retry(policy, || async {
                u.call(Request::get("/charge"))
                    .await
                    .map_err(backoff::Error::transient)
            })
            .await;
            (result.is_err(), whatbreaks::sim::now())
        });
        let (gave_up, at) = run.value.expect("the run ends");
        assert!(gave_up, "the outage outlasts the policy");
        // It stops when the next (randomised, at most 90 s) delay would pass 15 minutes.
        assert!(
            at >= Duration::from_secs(13 * 60) && at <= Duration::from_secs(15 * 60),
            "seed {seed:#x}: gave up at {at:?}"
        );
        let calls = upstream.arrivals().len();
        assert!(calls > 10, "it retried: {calls} calls");
    }
}
