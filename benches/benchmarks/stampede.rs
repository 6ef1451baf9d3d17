//! Cache stampedes through the full whatbreaks path (runtime, simulated cache and database,
//! recording every load, the stampede detector), next to the same workload on bare tokio.
//!
//! The body is plain cache-aside on one hot key: `GET` (1 ms), on a miss a database load
//! (100 ms) and a `SET` with the TTL (1 ms). `cold`: 1,000 requests within 10 ms on an
//! empty cache, so all of them load. `expiry`: one warm-up request, then 1,000 requests per
//! second for 10 s with a 1 s TTL, so the key expires again and again under traffic. The bare
//! version has the same arrivals, the same sleeps for the same latencies, a `HashMap` with
//! expiry times as the cache and a counter as the database.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use whatbreaks::sim::Arrivals;
use whatbreaks::stampede::{COLD_BURST, StampedeScenario};
use whatbreaks::{StampedeEnv, StampedeTest};

const CLIENTS: u32 = 1_000;
const RPS: f64 = 1_000.0;
const RUN_FOR: Duration = Duration::from_secs(10);
const TTL: Duration = Duration::from_secs(1);
const CACHE: Duration = Duration::from_millis(1);
const DB: Duration = Duration::from_millis(100);
const SEED: u64 = 1;

async fn cache_aside(env: StampedeEnv) {
    let key = env.key();
    if env.cache().get(&key).await.is_none() {
        if let Ok(row) = env.db().load(&key).await {
            env.cache().set(&key, row, env.ttl()).await;
        }
    }
}

fn whatbreaks_stampede(scenario: StampedeScenario) -> u64 {
    let report = StampedeTest::new()
        .scenario_kind(scenario)
        .clients(CLIENTS)
        .rps(RPS)
        .run_for(RUN_FOR)
        .ttl(TTL)
        .seed(SEED)
        .run(cache_aside);
    assert!(report.flagged("cache stampede"), "{report}");
    report.figure("db loads").unwrap().parse().unwrap()
}

#[derive(Default)]
struct Bare {
    cache: RefCell<HashMap<String, (String, Instant)>>,
    loads: Cell<u64>,
}

async fn bare_cache_aside(b: &Bare, key: &str) {
    tokio::time::sleep(CACHE).await;
    let now = Instant::now();
    let hit = b.cache.borrow().get(key).is_some_and(|(_, exp)| *exp > now);
    if !hit {
        tokio::time::sleep(DB).await;
        b.loads.set(b.loads.get() + 1);
        let row = format!("row {key}");
        tokio::time::sleep(CACHE).await;
        let expires = Instant::now() + TTL;
        b.cache.borrow_mut().insert(key.to_string(), (row, expires));
    }
}

/// The same requests on bare tokio: a warm-up request alone first (expiry), then one task
/// per request at its offset.
fn bare_tokio(warm_up: bool, offsets: &[Duration]) -> u64 {
    let b = Rc::new(Bare::default());
    let bare = b.clone();
    super::bare_tokio(async move {
        if warm_up {
            bare_cache_aside(&bare, "1").await;
        }
        let start = Instant::now();
        let tasks: Vec<_> = offsets
            .iter()
            .map(|&offset| {
                let bare = bare.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(start + offset).await;
                    bare_cache_aside(&bare, "1").await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    b.loads.get()
}

fn stampede(c: &mut Criterion) {
    super::quiet();
    let mut group = c.benchmark_group("stampede");
    group.sample_size(10);
    let cases = [
        (
            StampedeScenario::Cold,
            Arrivals::Uniform { over: COLD_BURST }.offsets(CLIENTS, SEED),
        ),
        (
            StampedeScenario::Expiry,
            Arrivals::Poisson { rate: RPS }.offsets_for(RUN_FOR, SEED),
        ),
    ];
    for (scenario, offsets) in cases {
        let expiry = scenario == StampedeScenario::Expiry;
        let name = if expiry { "expiry" } else { "cold" };
        group.throughput(Throughput::Elements(offsets.len() as u64));
        // The same workload: both sides load about as often.
        if super::selected("stampede") {
            let (wb, bare) = (whatbreaks_stampede(scenario), bare_tokio(expiry, &offsets));
            eprintln!("stampede/{name}: database loads: whatbreaks {wb}, bare tokio {bare}");
        }
        group.bench_function(BenchmarkId::new("whatbreaks", name), |b| {
            b.iter(|| whatbreaks_stampede(scenario))
        });
        group.bench_function(BenchmarkId::new("bare_tokio", name), |b| {
            b.iter(|| bare_tokio(expiry, &offsets))
        });
    }
    group.finish();
}

criterion_group!(benches, stampede);
