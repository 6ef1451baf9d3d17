//! Pattern 7, double execution: the seed article's scheduler guarded by a thread lock
//! (ported to Rust), the lease-without-fencing trap, and two fixes (a lease with fencing
//! tokens checked where the effect lands; a claim per occurrence in the shared store).
//!
//! This file is shared by `examples/scheduler.rs`, `examples/tour.rs` and `tests/cluster/`.
#![allow(dead_code)]

use rand::RngExt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use whatbreaks::clock::WallClock;
use whatbreaks::{DoubleExecutionTest, Instance, Report};

/// The job's period.
pub(crate) const EVERY: Duration = Duration::from_secs(60);
/// How long building the report takes.
pub(crate) const BUILD: Duration = Duration::from_secs(5);
/// The leader lease's time to live, and how often instances poll for it.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);
pub(crate) const POLL: Duration = Duration::from_secs(5);
/// The leader (instance 0) pauses 2 s into building the 1m report, for 45 s: longer than
/// its 30 s lease.
pub(crate) const HOLDER_PAUSE: &str = "0@62s+45s";

/// The first slot (a multiple of `every` since the Unix epoch, as cron aligns them) after `t`.
pub(crate) fn next_slot(t: SystemTime, every: Duration) -> SystemTime {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let every_ms = every.as_millis() as u64;
    UNIX_EPOCH + Duration::from_millis((ms / every_ms + 1) * every_ms)
}

/// The last slot at or before `t`.
pub(crate) fn last_slot(t: SystemTime, every: Duration) -> SystemTime {
    next_slot(t, every) - every
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

// ---------------------------------------------------------------------------------------
// BUGGY: the seed article's scheduler. The lock guards the task list against the threads of
// *this* process; a second instance has its own list, its own lock, and fires every task too.

struct Task<'a> {
    name: &'static str,
    every: Duration,
    next_run: SystemTime,
    job: Box<dyn Fn(SystemTime) + 'a>,
}

/// An in-process scheduler: a task list behind a thread lock, checked once a second.
pub(crate) struct Scheduler<'a, C: WallClock> {
    clock: C,
    tasks: Mutex<Vec<Task<'a>>>,
}

impl<'a, C: WallClock> Scheduler<'a, C> {
    pub(crate) fn new(clock: C) -> Self {
        Scheduler {
            clock,
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn add(&self, name: &'static str, every: Duration, job: impl Fn(SystemTime) + 'a) {
        let next_run = next_slot(self.clock.now(), every);
        self.tasks.lock().unwrap().push(Task {
            name,
            every,
            next_run,
            job: Box::new(job),
        });
    }

    /// Runs due tasks once a second, forever.
    pub(crate) async fn run(&self) {
        loop {
            let now = self.clock.now();
            {
                let mut tasks = self.tasks.lock().unwrap(); // "no two threads touch the list"
                for task in tasks.iter_mut() {
                    if now >= task.next_run {
                        (task.job)(task.next_run);
                        task.next_run = next_slot(now, task.every);
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    pub(crate) fn task_names(&self) -> Vec<&'static str> {
        self.tasks.lock().unwrap().iter().map(|t| t.name).collect()
    }
}

/// One instance's main with the in-process scheduler: `daily_report` every minute.
pub(crate) async fn run_scheduler(instance: Instance, job: impl Fn(SystemTime)) {
    let scheduler = Scheduler::new(instance.clock());
    scheduler.add("daily_report", EVERY, job);
    scheduler.run().await;
}

// ---------------------------------------------------------------------------------------
// BUGGY under a pause: leader election with a lease, and a `last_run` record so that a new
// leader catches up on an occurrence the old one did not finish. When the leader pauses past
// its lease, another instance takes over and runs the occurrence; the old leader wakes up
// mid-job, still believing it leads, and commits it a second time.
//
// FIXED: the same, passing the lease's fencing token with the write; the effects sink rejects
// the old leader's token once the new leader's (higher) token has written.

async fn build_report() {
    tokio::time::sleep(BUILD).await;
}

/// One instance's main: the leader runs `daily_report`; `fenced` passes fencing tokens.
pub(crate) async fn leader_scheduler(instance: Instance, fenced: bool) {
    // Instances boot a little apart; instance 0 first.
    let boot = u64::from(instance.id()) * whatbreaks::rng().random_range(1_000..4_000);
    tokio::time::sleep(Duration::from_millis(boot)).await;
    let (leases, store, clock) = (instance.leases(), instance.store(), instance.clock());
    loop {
        tokio::time::sleep(POLL).await;
        let Ok(Some(lease)) = leases.acquire_or_renew("scheduler", LEASE_TTL) else {
            continue; // another instance leads, or the lease store is unreachable
        };
        let due = last_slot(clock.now(), EVERY);
        let last = store
            .get("daily_report:last_run")
            .and_then(|v| v.parse::<u64>().ok());
        let Some(last) = last else {
            // The first leader starts from the next occurrence.
            store.set("daily_report:last_run", unix_secs(due).to_string());
            continue;
        };
        if unix_secs(due) <= last {
            continue;
        }
        build_report().await; // the leader may pause in here, past its lease
        if fenced {
            if instance
                .fenced_effect("daily_report", due, lease.token)
                .is_err()
            {
                continue; // a newer leader has written: this one is stale
            }
        } else {
            instance.effect("daily_report", due);
        }
        store.set("daily_report:last_run", unix_secs(due).to_string());
    }
}

// ---------------------------------------------------------------------------------------
// FIXED without a leader: every instance tries every occurrence and claims it in the shared
// store, keyed by occurrence (`INSERT … ON CONFLICT DO NOTHING`), in the same transaction as
// the effect. Any healthy instance runs it; a crashed or paused one loses nothing.

/// One instance's main: claim each occurrence, then commit it.
pub(crate) async fn claiming_scheduler(instance: Instance) {
    let (store, clock) = (instance.store(), instance.clock());
    loop {
        let slot = next_slot(clock.now(), EVERY);
        clock.sleep_until(slot).await;
        build_report().await;
        // One transaction: the claim and the effect commit together, or not at all.
        let key = format!("daily_report:{}", unix_secs(slot));
        if store.insert_if_absent(&key, instance.id().to_string()) {
            instance.effect("daily_report", slot);
        }
    }
}

// ---------------------------------------------------------------------------------------

/// The scenario of every verdict: 2 instances, 10 minutes, `daily_report` every minute.
pub(crate) fn scenario() -> DoubleExecutionTest {
    DoubleExecutionTest::new()
        .instances(2)
        .run_for(Duration::from_secs(600))
        .every(EVERY)
}

pub(crate) fn in_process(t: DoubleExecutionTest) -> Report {
    t.run(|instance: Instance| async move {
        run_scheduler(instance.clone(), |slot| {
            instance.effect("daily_report", slot)
        })
        .await;
    })
}

pub(crate) fn lease_only(t: DoubleExecutionTest) -> Report {
    t.run(|instance: Instance| leader_scheduler(instance, false))
}

pub(crate) fn lease_fenced(t: DoubleExecutionTest) -> Report {
    t.run(|instance: Instance| leader_scheduler(instance, true))
}

pub(crate) fn claimed(t: DoubleExecutionTest) -> Report {
    t.run(claiming_scheduler)
}
