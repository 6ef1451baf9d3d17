//! Third-party crates whose clocks cannot be injected, unmodified, on virtual time.

use crate::clocks::{cron, cron_report_job, expiry, moka};
use crate::seeds;
use std::time::Duration;
use whatbreaks::StampedeEnv;

#[test]
fn moka_cache_aside_with_a_ttl_stampedes_at_every_expiry() {
    for seed in seeds() {
        let report = moka(expiry().seed(seed), false);
        assert!(
            report.flagged("cache stampede"),
            "seed {seed:#x}:\n{report}"
        );
    }
}

#[test]
fn moka_get_with_loads_once_per_expiry() {
    for seed in seeds() {
        let report = moka(expiry().seed(seed), true);
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
        let report = expiry().seed(seed).run(move |env: StampedeEnv| async move {
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

#[test]
fn cron_crate_on_two_instances_runs_every_occurrence_twice() {
    for seed in seeds() {
        let report = cron(2).seed(seed).run(cron_report_job);
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
        let report = cron(1).seed(seed).run(cron_report_job);
        assert!(report.is_clean(), "seed {seed:#x}:\n{report}");
    }
}

#[test]
fn cron_crate_with_a_skewed_clock_still_runs_every_occurrence_twice() {
    for seed in seeds() {
        let report = cron(2).skew("1:+2s").seed(seed).run(cron_report_job);
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
