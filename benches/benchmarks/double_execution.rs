//! Double execution: simulated minutes per wall second for 2 and 10 instances of a
//! lease-guarded scheduler, through the full whatbreaks path (cluster, per-instance clocks,
//! lease store, effect ledger, the detector with its missed-execution check), next to the same
//! loops on bare tokio.
//!
//! Each instance wakes on every 1 s slot of a 60-minute run (3,600 slots), renews or acquires
//! the lease (`acquire_or_renew`, 30 s TTL) and, holding it, commits the slot's effect: one
//! timer, one lease operation and at most one effect per instance per slot. The bare version
//! runs one local task per instance with the same sleeps, a `RefCell` lease (holder, expiry)
//! and a `Vec` of effects, and stops every task at the end of the run.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use whatbreaks::{DoubleExecutionTest, Instance};

const RUN_FOR: Duration = Duration::from_secs(3_600);
const EVERY: Duration = Duration::from_secs(1);
const TTL: Duration = Duration::from_secs(30);

async fn scheduler(instance: Instance) {
    let clock = instance.clock();
    let leases = instance.leases();
    let mut slot = clock.now() + EVERY;
    loop {
        clock.sleep_until(slot).await;
        if let Ok(Some(_)) = leases.acquire_or_renew("report", TTL) {
            instance.effect("report", slot);
        }
        slot += EVERY;
    }
}

fn whatbreaks_run(instances: u32) -> usize {
    let report = DoubleExecutionTest::new()
        .instances(instances)
        .run_for(RUN_FOR)
        .every(EVERY)
        .seed(1)
        .run(scheduler);
    assert!(report.is_clean(), "{report}");
    report.figure("committed").unwrap().parse().unwrap()
}

#[derive(Default)]
struct Bare {
    lease: RefCell<Option<(u32, Instant)>>,
    effects: RefCell<Vec<(u32, Duration)>>,
}

fn bare_tokio(instances: u32) -> usize {
    let b = Rc::new(Bare::default());
    let bare = b.clone();
    super::bare_tokio(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..instances)
            .map(|id| {
                let bare = bare.clone();
                tokio::task::spawn_local(async move {
                    let mut slot = start + EVERY;
                    loop {
                        tokio::time::sleep_until(slot).await;
                        let now = Instant::now();
                        let mut lease = bare.lease.borrow_mut();
                        let mine = match *lease {
                            Some((holder, until)) if until > now => holder == id,
                            _ => true,
                        };
                        if mine {
                            *lease = Some((id, now + TTL));
                            bare.effects.borrow_mut().push((id, slot - start));
                        }
                        drop(lease);
                        slot += EVERY;
                    }
                })
            })
            .collect();
        tokio::time::sleep(RUN_FOR).await;
        for t in tasks {
            t.abort();
        }
    });
    b.effects.borrow().len()
}

fn double_execution(c: &mut Criterion) {
    super::quiet();
    let mut group = c.benchmark_group("double_execution");
    group.sample_size(10);
    // Throughput in simulated minutes: criterion's "elem/s" reads as minutes per second.
    group.throughput(Throughput::Elements(RUN_FOR.as_secs() / 60));
    for instances in [2u32, 10] {
        // The same workload: one committed effect per slot on both sides (the bare run stops
        // at the end of the run, before or after the last slot's effect).
        if super::selected("double_execution") {
            let (wb, bare) = (whatbreaks_run(instances), bare_tokio(instances));
            eprintln!("double_execution/{instances}: effects: whatbreaks {wb}, bare tokio {bare}");
        }
        group.bench_with_input(
            BenchmarkId::new("whatbreaks", instances),
            &instances,
            |b, &n| b.iter(|| whatbreaks_run(n)),
        );
        group.bench_with_input(
            BenchmarkId::new("bare_tokio", instances),
            &instances,
            |b, &n| b.iter(|| bare_tokio(n)),
        );
    }
    group.finish();
}

criterion_group!(benches, double_execution);
