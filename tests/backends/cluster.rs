//! The double-execution check on real-time instances, with Redis and PostgreSQL as the lease
//! store.

use crate::code::{advisory_report, claims_report, cluster, run_everywhere};
use std::time::Duration;
use whatbreaks::double_execution::PATTERN;
use whatbreaks::realtime::{self, EffectLog};
use whatbreaks::redis::{Namespace, RedisLease, connect};

#[test]
fn every_instance_running_the_schedule_is_flagged_in_real_time() {
    let report = cluster().run(run_everywhere);
    report.assert_flagged(PATTERN);
    assert_eq!(report.figure("doubled"), Some("8"));
}

#[test]
fn a_redis_claim_whose_holder_pauses_past_its_ttl_doubles_without_fencing() {
    crate::need_redis();
    let report = claims_report(false);
    report.assert_flagged(PATTERN);
    assert!(report.render().contains("tick 3"), "{}", report.render());
}

#[test]
fn redis_claims_with_fencing_tokens_commit_each_tick_exactly_once() {
    crate::need_redis();
    let report = claims_report(true);
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("rejected"), Some("1"), "{report:?}");
    assert_eq!(report.figure("committed"), Some("8"));
}

#[test]
fn lock_run_unlock_with_an_advisory_lock_is_flagged_when_timers_lag() {
    crate::need_postgres();
    advisory_report(false).assert_flagged(PATTERN);
}

#[test]
fn a_postgres_advisory_lock_leader_commits_each_tick_exactly_once() {
    crate::need_postgres();
    let report = advisory_report(true);
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("committed"), Some("8"));
}

#[test]
fn redis_lease_tokens_grow_and_fence_off_an_expired_holder() {
    crate::need_redis();
    let url = whatbreaks::redis::url();
    let ns = Namespace::new(&url);
    let name = ns.key("leader");
    let log = EffectLog::new();
    let l = log.clone();
    realtime::block_on(Duration::from_secs(10), || async move {
        let conn = connect(&url).await.expect("Redis answers");
        let a = RedisLease::new(conn.clone(), name.clone());
        let b = RedisLease::new(conn, name);
        let t1 = a
            .try_acquire(Duration::from_millis(60))
            .await
            .unwrap()
            .expect("free");
        assert_eq!(
            b.try_acquire(Duration::from_millis(60)).await.unwrap(),
            None
        );
        assert!(a.renew(t1, Duration::from_millis(60)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(120)).await; // a's holder pauses
        let t2 = b
            .try_acquire(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("expired");
        assert!(t2 > t1, "fencing tokens grow: {t1} then {t2}");
        assert!(!a.renew(t1, Duration::from_secs(5)).await.unwrap());
        assert!(
            !a.release(t1).await.unwrap(),
            "a stale holder cannot release"
        );
        assert_eq!(b.holder().await.unwrap(), Some(t2));
        assert!(l.record("report", "day 1", 1, Some(t2)));
        assert!(
            !l.record("report", "day 1", 0, Some(t1)),
            "stale write rejected"
        );
        assert!(b.release(t2).await.unwrap());
        assert_eq!(b.holder().await.unwrap(), None);
    })
    .expect("in time");
    let a = whatbreaks::double_execution::Analysis::of(&log.effects(), &[]);
    assert_eq!((a.commits.len(), a.rejected.len()), (1, 1));
}
