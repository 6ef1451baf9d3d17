//! Connection pools: checkouts per second through the full whatbreaks path (the simulated
//! pool recording every checkout, wait and release with its site, the pool detector), next to
//! the same clients on bare tokio with a semaphore as the pool.
//!
//! 10,000 clients arrive uniformly over 10 s at a pool of 10 connections; each checks out a
//! connection, runs one query (5 ms: 2 to 7 ms, whole milliseconds) and returns it. The bare version
//! has the same arrivals, a `tokio::sync::Semaphore` of 10 permits and the same sleeps.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rand::RngExt;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Semaphore;
use whatbreaks::sim::Arrivals;
use whatbreaks::{PoolTest, SimPool};

const CLIENTS: u32 = 10_000;
const SIZE: usize = 10;
const ARRIVALS: Duration = Duration::from_secs(10);

async fn checkout(pool: SimPool) {
    let conn = pool.get().await.unwrap();
    conn.query("SELECT 1").await.unwrap();
}

fn whatbreaks_pool() {
    let report = PoolTest::new()
        .size(SIZE)
        .clients(CLIENTS)
        .arrivals(Duration::ZERO..ARRIVALS)
        .seed(1)
        .run(checkout);
    assert!(report.is_clean(), "{report}");
}

fn bare_tokio(offsets: &[Duration]) {
    super::bare_tokio(async {
        let pool = Rc::new(Semaphore::new(SIZE));
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = offsets
            .iter()
            .map(|&offset| {
                let pool = pool.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(start + offset).await;
                    let _conn = pool.acquire().await.unwrap();
                    let ms = rand::rng().random_range(2..=7);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
}

fn pool(c: &mut Criterion) {
    super::quiet();
    let mut group = c.benchmark_group("pool");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(CLIENTS)));
    let offsets = Arrivals::Uniform { over: ARRIVALS }.offsets(CLIENTS, 1);
    group.bench_function(BenchmarkId::new("whatbreaks", CLIENTS), |b| {
        b.iter(whatbreaks_pool)
    });
    group.bench_function(BenchmarkId::new("bare_tokio", CLIENTS), |b| {
        b.iter(|| bare_tokio(&offsets))
    });
    group.finish();
}

criterion_group!(benches, pool);
