//! Exploration speed: schedules per second for a small two-task body (read, await, write),
//! next to the same body run once per iteration on a bare tokio runtime (what one schedule
//! costs without the explorer).
use criterion::{Criterion, Throughput, criterion_group};
use std::cell::Cell;
use std::rc::Rc;
use whatbreaks::RaceTest;
use whatbreaks::race::yield_point;

const SCHEDULES: u32 = 2_000;

async fn add(c: Rc<Cell<u32>>) {
    let v = c.get();
    yield_point().await;
    c.set(v + 1);
}

fn race(c: &mut Criterion) {
    let mut group = c.benchmark_group("race");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(SCHEDULES)));
    group.bench_function("whatbreaks_schedules", |b| {
        b.iter(|| {
            RaceTest::new().iterations(SCHEDULES).seed(1).run(|| async {
                let c = Rc::new(Cell::new(0));
                whatbreaks::join!(add(c.clone()), add(c.clone()));
                assert!(c.get() <= 2);
            })
        })
    });
    group.bench_function("bare_tokio_runs", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        b.iter(|| {
            for _ in 0..SCHEDULES {
                rt.block_on(async {
                    let c = Rc::new(Cell::new(0));
                    futures::join!(add(c.clone()), add(c.clone()));
                    assert!(c.get() <= 2);
                })
            }
        })
    });
    group.finish();
}

criterion_group!(benches, race);
