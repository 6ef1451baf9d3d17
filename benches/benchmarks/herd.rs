//! A thundering herd of N clients (exponential backoff, 4 tries, 10 s outage) through the
//! full whatbreaks path (runtime, upstream, recording, detector), next to the same workload
//! on bare tokio with a paused clock and a counter as the "upstream".
//!
//! The bare version does what the simulation does, task for task and timer for timer: one
//! local task per client, all started at t=0; a call inside the outage fails at once (no
//! timer), a call after it takes the 20 ms latency (one timer); a failed try sleeps its
//! backoff (one timer).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use whatbreaks::{HerdTest, Request, Upstream};

const TRIES: u32 = 4;
const OUTAGE: Duration = Duration::from_secs(10);
const LATENCY: Duration = Duration::from_millis(20);

async fn client(up: Upstream) {
    for attempt in 0..TRIES {
        if up.call(Request::get("/")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
    }
}

fn bare_tokio(clients: u32) -> u64 {
    let calls = Rc::new(Cell::new(0u64));
    let c = calls.clone();
    super::bare_tokio(async move {
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let c = c.clone();
                tokio::task::spawn_local(async move {
                    for attempt in 0..TRIES {
                        c.set(c.get() + 1);
                        if start.elapsed() >= OUTAGE {
                            // Served: the answer takes the latency.
                            tokio::time::sleep(LATENCY).await;
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
    calls.get()
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
            |b, &n| b.iter(|| assert_eq!(bare_tokio(n), u64::from(n * TRIES))),
        );
    }
    group.finish();
}

criterion_group!(benches, herd);
