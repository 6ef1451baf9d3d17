//! A retry storm of N clients (1k, 10k, 100k, 1M) against an upstream that is down for the whole
//! run: each client makes its call and 5 retries, 100 ms apart with jitter. Through the full
//! whatbreaks path (runtime, upstream, recording of every arrival, storm detector), next to
//! the same workload on bare tokio with a paused clock and a counter as the "upstream", in the
//! same group. Also prints the memory per simulated client (peak RSS growth, Linux).
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rand::RngExt;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use whatbreaks::sim::Arrivals;
use whatbreaks::{Request, RetryStormTest, Upstream};

const RETRIES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(10);

fn scenario(clients: u32) -> RetryStormTest {
    RetryStormTest::new()
        .rps(f64::from(clients) / WINDOW.as_secs_f64())
        .run_for(WINDOW)
        .outage(Duration::ZERO..Duration::from_secs(3_600))
        .bad_requests(0.0)
        .max_amplification(100.0)
        .seed(1)
}

async fn client(up: Upstream) {
    for attempt in 0..=RETRIES {
        if up.call(Request::get("/")).await.is_ok() {
            return;
        }
        if attempt < RETRIES {
            let ms = 100 + whatbreaks::rng().random_range(0..100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

fn whatbreaks_storm(clients: u32) -> u64 {
    let report = scenario(clients).run(client);
    report.figure("calls").unwrap().parse().unwrap()
}

/// The same workload on bare tokio: the same arrival offsets, a `Cell` counter as the
/// upstream (down: every call fails at once), the same sleeps.
fn bare_tokio(offsets: &[Duration]) -> u64 {
    let calls = Rc::new(Cell::new(0u64));
    let c = calls.clone();
    super::bare_tokio(async move {
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = offsets
            .iter()
            .map(|&offset| {
                let c = c.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(start + offset).await;
                    let mut rng = rand::rng();
                    for attempt in 0..=RETRIES {
                        c.set(c.get() + 1);
                        if attempt < RETRIES {
                            let ms = 100 + rng.random_range(0..100);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                        }
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

/// Peak resident memory growth of `f`, in bytes (Linux; `None` elsewhere).
fn peak_growth(f: impl FnOnce()) -> Option<u64> {
    let read = |field: &str| -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = read("VmRSS:")?;
    f();
    Some(read("VmHWM:")?.saturating_sub(before))
}

fn report_memory() {
    for n in [100_000u32, 1_000_000] {
        let offsets = Arrivals::Poisson {
            rate: f64::from(n) / WINDOW.as_secs_f64(),
        }
        .offsets_for(WINDOW, 1);
        let bare = peak_growth(|| {
            bare_tokio(&offsets);
        });
        let started = std::time::Instant::now();
        let wb = peak_growth(|| {
            whatbreaks_storm(n);
        });
        let wall = started.elapsed();
        let per = |b: Option<u64>| {
            b.map_or("n/a".to_string(), |b| {
                format!(
                    "{} bytes ({} MB peak growth)",
                    b / offsets.len() as u64,
                    b >> 20
                )
            })
        };
        eprintln!(
            "retry/memory: {} clients x {} calls: peak RSS growth per simulated client: whatbreaks {} in {wall:.2?}, bare tokio {}",
            offsets.len(),
            RETRIES + 1,
            per(wb),
            per(bare)
        );
    }
}

fn retry(c: &mut Criterion) {
    super::quiet();
    if super::selected("retry") {
        report_memory();
    }
    let mut group = c.benchmark_group("retry");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for clients in [1_000u32, 10_000, 100_000, 1_000_000] {
        if clients == 1_000_000 {
            // A run takes seconds: criterion's fewest samples, one run each.
            group.sampling_mode(criterion::SamplingMode::Flat);
            group.warm_up_time(Duration::from_millis(1));
            group.measurement_time(Duration::from_secs(1));
        }
        let offsets = Arrivals::Poisson {
            rate: f64::from(clients) / WINDOW.as_secs_f64(),
        }
        .offsets_for(WINDOW, 1);
        let calls = offsets.len() as u64 * u64::from(RETRIES + 1);
        group.throughput(Throughput::Elements(calls));
        group.bench_with_input(
            BenchmarkId::new("whatbreaks", clients),
            &clients,
            |b, &n| b.iter(|| assert_eq!(whatbreaks_storm(n), calls)),
        );
        group.bench_with_input(
            BenchmarkId::new("bare_tokio", clients),
            &offsets,
            |b, offsets| b.iter(|| assert_eq!(bare_tokio(offsets), calls)),
        );
    }
    group.finish();
}

criterion_group!(benches, retry);
