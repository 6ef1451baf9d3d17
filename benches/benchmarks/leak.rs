//! Slow leaks: cycles per second through the full whatbreaks path (cycle bookkeeping, heap
//! samples from the counting allocator, a gauge, the growth fit of the leak detector), next to
//! the same cycles on bare tokio.
//!
//! One cycle is a connection that registers a listener in a shared registry, stays open for
//! 1 ms and unregisters it (no leak): one allocation, one timer, two map operations. 20,000
//! cycles after the detector's warm-up of 1,000. The bare version runs the same 21,000 cycles
//! in a loop on a paused runtime, against an `Rc` registry.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;
use whatbreaks::{LeakEnv, LeakTest};

const CYCLES: u64 = 20_000;
const WARMUP: u64 = 1_000;
const OPEN: Duration = Duration::from_millis(1);

type Registry = Mutex<HashMap<u64, String>>;

async fn connection(env: LeakEnv) {
    let registry = env.shared(Registry::default);
    env.gauge("listeners", {
        let r = registry.clone();
        move || r.lock().unwrap().len()
    });
    let id = env.cycle();
    registry
        .lock()
        .unwrap()
        .insert(id, format!("listener {id}"));
    tokio::time::sleep(OPEN).await;
    registry.lock().unwrap().remove(&id);
}

fn whatbreaks_leak() {
    let report = LeakTest::new()
        .iterations(CYCLES)
        .warmup(WARMUP)
        .seed(1)
        .run(connection);
    assert!(report.is_clean(), "{report}");
}

fn bare_tokio() {
    super::bare_tokio(async {
        let registry: Rc<RefCell<HashMap<u64, String>>> = Rc::default();
        for id in 0..WARMUP + CYCLES {
            registry.borrow_mut().insert(id, format!("listener {id}"));
            tokio::time::sleep(OPEN).await;
            registry.borrow_mut().remove(&id);
        }
        assert!(registry.borrow().is_empty());
    })
}

fn leak(c: &mut Criterion) {
    super::quiet();
    let mut group = c.benchmark_group("leak");
    group.sample_size(10);
    group.throughput(Throughput::Elements(WARMUP + CYCLES));
    group.bench_function(BenchmarkId::new("whatbreaks", CYCLES), |b| {
        b.iter(whatbreaks_leak)
    });
    group.bench_function(BenchmarkId::new("bare_tokio", CYCLES), |b| {
        b.iter(bare_tokio)
    });
    group.finish();
}

criterion_group!(benches, leak);
