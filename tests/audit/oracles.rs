//! The audit's own oracles, proven both ways on their own: the serializability check of the
//! race question and the one-commit-per-occurrence check of the double-execution question;
//! and questions that do not apply say why.

use crate::seeds;
use std::time::Duration;
use whatbreaks::Instance;
use whatbreaks::audit::{Audit, Ctx, Verdict, World};

/// Reserves a seat: read the seats left, await, write one fewer.
async fn reserve(world: World, locked: bool) {
    let db = world.db();
    if locked {
        let mut tx = db.begin().await;
        let left: i64 = tx
            .select_for_update("seats", "flight")
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        tx.update("seats", "flight", (left - 1).to_string()).await;
        let _ = tx.commit().await;
    } else {
        let left: i64 = db
            .get("seats", "flight")
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        db.update("seats", "flight", (left - 1).to_string()).await;
    }
}

fn seats(locked: bool) -> Audit {
    Audit::new("seats")
        .setup(|w: World| async move {
            let _ = w.db().insert("seats", "flight", "10").await;
        })
        .handler("reserve", move |w: World, _c: Ctx| reserve(w, locked))
}

#[test]
fn a_lost_update_breaks_serializability() {
    for seed in seeds() {
        let report = seats(false).seed(seed).run();
        let row = report.row("race", "reserve").expect("asked");
        assert_eq!(row.verdict, Verdict::Breaks, "seed {seed:#x}:\n{report}");
        let text = row.report.as_ref().unwrap().render();
        assert!(text.contains("no serial order leaves"), "{text}");
    }
}

#[test]
fn a_locked_update_is_serializable() {
    for seed in seeds() {
        let report = seats(true).seed(seed).run();
        let row = report.row("race", "reserve").expect("asked");
        assert_eq!(row.verdict, Verdict::Holds, "seed {seed:#x}:\n{report}");
    }
}

/// A job that commits each minute's report: on every instance, or only after taking the
/// leader lease with a fencing token checked where the effect lands.
async fn minute_job(instance: Instance, leader_only: bool) {
    let every = Duration::from_secs(60);
    let leases = instance.leases();
    let mut minute = 1u64;
    loop {
        tokio::time::sleep_until(
            tokio::time::Instant::now()
                + (every * minute as u32).saturating_sub(whatbreaks::sim::now()),
        )
        .await;
        if leader_only {
            if let Ok(Some(lease)) = leases.acquire_or_renew("report", Duration::from_secs(30)) {
                let _ = instance.fenced_effect("report", minute, lease.token);
            }
        } else {
            instance.effect("report", minute);
        }
        minute += 1;
    }
}

#[test]
fn a_job_on_every_instance_breaks_and_a_fenced_leader_holds() {
    for seed in seeds() {
        let every = Audit::new("jobs")
            .job("report", |_w: World, i: Instance| minute_job(i, false))
            .seed(seed)
            .run();
        assert!(every.breaks("double execution"), "seed {seed:#x}:\n{every}");
        let leader = Audit::new("jobs")
            .job("report", |_w: World, i: Instance| minute_job(i, true))
            .seed(seed)
            .run();
        assert!(leader.holds(), "seed {seed:#x}:\n{leader}");
    }
}

#[test]
fn questions_that_do_not_apply_say_why() {
    let report = Audit::new("idle")
        .handler("noop", |_w: World, _c: Ctx| async {})
        .seed(1)
        .run();
    assert!(report.holds(), "{report}");
    assert!(!report.rows.is_empty());
    for r in &report.rows {
        match &r.verdict {
            Verdict::NotApplicable(why) => assert!(!why.is_empty()),
            // Every handler can leak: requests come and go whatever it touches.
            Verdict::Holds if r.question == "leak" => {}
            other => panic!("{} should not apply: {other:?}\n{report}", r.question),
        }
    }
}

/// The leak oracle both ways: in-process state that keeps every request breaks it, state
/// that forgets holds. (Without the counting allocator the question is not applicable and
/// says which line to add: core's unit tests, whose binary has none.)
#[test]
fn the_leak_question_counts_the_heap() {
    let report = Audit::new("registry")
        .handler("remember", |w: World, c: Ctx| async move {
            let seen = w.per_instance(|| std::sync::Mutex::new(Vec::<String>::new()));
            seen.lock()
                .unwrap()
                .push(format!("request {}", c.request()));
        })
        .seed(1)
        .run();
    assert!(report.breaks("leak"), "{report}");
    let forgetful = Audit::new("registry")
        .handler("forget", |w: World, c: Ctx| async move {
            let seen = w.per_instance(|| std::sync::Mutex::new(Vec::<String>::new()));
            let mut seen = seen.lock().unwrap();
            seen.push(format!("request {}", c.request()));
            seen.clear();
        })
        .seed(1)
        .run();
    assert!(forgetful.holds(), "{forgetful}");
}
