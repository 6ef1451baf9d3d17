//! A thundering herd of N clients (exponential backoff, 4 tries, 10 s outage) through the
//! full whatbreaks path (runtime, upstream, recording, detector), next to the same workload
//! on bare tokio with a paused clock and an atomic counter as the "upstream".
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use whatbreaks::{HerdTest, Request, Upstream};

const TRIES: u32 = 4;

async fn client(up: Upstream) {
    for attempt in 0..TRIES {
        if up.call(Request::get("/")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
    }
}

fn bare_tokio(clients: u32) -> u64 {
    let calls = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let c = calls.clone();
    rt.block_on(async move {
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for attempt in 0..TRIES {
                        c.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if start.elapsed() >= Duration::from_secs(10) {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    calls.load(Ordering::Relaxed)
}

fn herd(c: &mut Criterion) {
    let mut group = c.benchmark_group("herd");
    group.sample_size(10);
    for clients in [1_000u32, 10_000] {
        group.throughput(Throughput::Elements(u64::from(clients * TRIES)));
        group.bench_with_input(
            BenchmarkId::new("whatbreaks", clients),
            &clients,
            |b, &n| {
                b.iter(|| {
                    let report = HerdTest::new().clients(n).seed(1).run(client);
                    assert!(!report.is_clean());
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("bare_tokio", clients),
            &clients,
            |b, &n| b.iter(|| bare_tokio(n)),
        );
    }
    group.finish();
}

criterion_group!(benches, herd);
