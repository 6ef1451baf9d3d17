//! The cluster's faults and backends, observed from inside the instances.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use whatbreaks::clock::{self, epoch, system_now};
use whatbreaks::cluster::{Cluster, Faults};
use whatbreaks::sim::{RunLimits, simulate};
use whatbreaks::{DoubleExecutionTest, Instance, LeaseError};

fn limits() -> RunLimits {
    RunLimits::new(1)
}

/// `(instance, virtual seconds, wall seconds since the epoch)` every 30 s for 3 minutes.
fn wall_clocks(faults: Faults) -> Vec<(u32, u64, i64)> {
    let run = simulate(&limits(), move || async move {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        Cluster::new(2, faults, None)
            .run(Duration::from_secs(181), move |i| {
                let s = s.clone();
                async move {
                    loop {
                        // Read from a task spawned through the instance: same clock.
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        i.spawn(async move {
                            let _ = tx.send(system_now());
                        });
                        let wall = rx.await.unwrap();
                        let secs = match wall.duration_since(epoch()) {
                            Ok(d) => d.as_secs() as i64,
                            Err(e) => -(e.duration().as_secs() as i64),
                        };
                        let now = whatbreaks::sim::now().as_secs();
                        s.lock().unwrap().push((i.id(), now, secs));
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
            })
            .await;
        seen.lock().unwrap().clone()
    });
    run.value.expect("the run completes")
}

#[test]
fn skew_and_jumps_move_one_instance_wall_clock() {
    let mut faults = Faults::default();
    faults.add_skews("1:+2s").unwrap();
    faults.add_jumps("0@60s+1h, 1@120s-30s").unwrap();
    let seen = wall_clocks(faults);
    let of = |inst: u32| -> Vec<(u64, i64)> {
        seen.iter()
            .filter(|s| s.0 == inst)
            .map(|s| (s.1, s.2))
            .collect()
    };
    assert_eq!(
        of(0),
        vec![
            (0, 0),
            (30, 30),
            (60, 3_660),
            (90, 3_690),
            (120, 3_720),
            (150, 3_750),
            (180, 3_780)
        ]
    );
    assert_eq!(
        of(1),
        vec![
            (0, 2),
            (30, 32),
            (60, 62),
            (90, 92),
            (120, 92),
            (150, 122),
            (180, 152)
        ]
    );
}

#[test]
fn system_now_outside_an_instance_is_the_unskewed_virtual_wall_time() {
    let run = simulate(&limits(), || async {
        tokio::time::sleep(Duration::from_secs(90)).await;
        system_now()
    });
    assert_eq!(run.value, Some(epoch() + Duration::from_secs(90)));
    assert_eq!(
        clock::since_epoch(epoch() + Duration::from_secs(5)),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn a_partitioned_instance_cannot_reach_the_lease_store_and_loses_its_lease() {
    let run = simulate(&limits(), || async {
        let mut faults = Faults::default();
        faults.add_partitions("0@20s+60s").unwrap();
        let cluster = Cluster::new(2, faults, None);
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        cluster
            .run(Duration::from_secs(120), move |i: Instance| {
                let l = l.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(u64::from(i.id()) * 100)).await;
                    loop {
                        let r = i
                            .leases()
                            .acquire_or_renew("leader", Duration::from_secs(15));
                        let state = match r {
                            Ok(Some(lease)) => format!("lead {}", lease.token),
                            Ok(None) => "follow".into(),
                            Err(LeaseError::Unreachable) => "unreachable".into(),
                        };
                        l.lock()
                            .unwrap()
                            .push((whatbreaks::sim::now().as_secs(), i.id(), state));
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                }
            })
            .await;
        let grants = cluster.lease_store().grants();
        let v = log.lock().unwrap().clone();
        (v, grants)
    });
    let (log, grants) = run.value.unwrap();
    let at = |t: u64, i: u32| {
        log.iter()
            .find(|e| e.0 == t && e.1 == i)
            .map(|e| e.2.clone())
            .unwrap()
    };
    assert_eq!(at(0, 0), "lead 1");
    assert_eq!(at(0, 1), "follow");
    assert_eq!(at(20, 0), "unreachable");
    assert_eq!(
        at(20, 1),
        "follow",
        "#0's lease (renewed at 10 s) lives until 25 s"
    );
    assert_eq!(at(30, 1), "lead 2");
    assert_eq!(at(80, 0), "follow", "back in contact, but #1 leads now");
    assert_eq!(grants.len(), 2);
}

#[test]
fn a_paused_instance_commits_nothing_during_its_pause() {
    let t = DoubleExecutionTest::new()
        .instances(1)
        .run_for(Duration::from_secs(300))
        .pause("0@90s+45s")
        .seed(1);
    let body = Arc::new(|i: Instance| async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            i.effect("tick", whatbreaks::sim::now().as_secs());
        }
    });
    let (_, ledger) = t.run_seed(&RunLimits::new(1), body);
    let at: Vec<u64> = ledger.effects().iter().map(|e| e.at.as_secs()).collect();
    assert!(at.iter().all(|t| !(90..135).contains(t)), "{at:?}");
    assert!(
        at.contains(&80) && at.contains(&135) && at.contains(&145),
        "{at:?}"
    );
}

#[test]
fn fault_strings_are_checked_at_run_time_too() {
    let report = DoubleExecutionTest::new()
        .skew("1:2s")
        .run(|_i: Instance| async {});
    assert_eq!(report.findings[0].kind, whatbreaks::FindingKind::Config);
    assert!(
        report.findings[0]
            .verdict
            .contains("`skew` = \"1:2s\" cannot be used: `1:2s`: `2s` needs a sign"),
        "{report}"
    );
}

#[test]
fn tasks_spawned_through_the_instance_pause_and_crash_with_it() {
    let run = simulate(&limits(), || async {
        let mut faults = Faults::default();
        faults.add_pauses("0@30s+25s").unwrap();
        faults.add_crashes("0@100s").unwrap();
        let cluster = Cluster::new(1, faults, None);
        let ledger = cluster.ledger();
        cluster
            .run(Duration::from_secs(200), |i: Instance| async move {
                let worker = i.clone();
                i.spawn(async move {
                    for n in 0u64.. {
                        tokio::time::sleep(Duration::from_secs(20)).await;
                        worker.effect("worker", n);
                    }
                });
                std::future::pending::<()>().await;
            })
            .await;
        ledger.effects()
    });
    let at: Vec<u64> = run.value.unwrap().iter().map(|e| e.at.as_secs()).collect();
    // 20 s; the 40 s timer fires at the pause's end (55 s); 75 s, 95 s; nothing after the
    // crash at 100 s.
    assert_eq!(at, vec![20, 55, 75, 95]);
}
