//! What a clock read costs once the system clock follows the simulation
//! (`whatbreaks::install!()`): `Instant::now()` outside a simulation (the interposer checks a
//! thread-local and calls glibc) and inside one (it answers the virtual instant), next to
//! glibc's `clock_gettime` called directly, in the same run.
//!
//! `cargo bench --bench clock`
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

whatbreaks::install_virtual_clock!();

const READS: u64 = 10_000;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn real_now() -> Duration {
    whatbreaks::os_clock::real_reading(libc::CLOCK_MONOTONIC).unwrap_or_default()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn real_now() -> Duration {
    // No interposer here: `Instant` is the real clock.
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

fn clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    group.throughput(Throughput::Elements(READS));
    group.bench_function("glibc_clock_gettime", |b| {
        b.iter(|| {
            for _ in 0..READS {
                black_box(real_now());
            }
        })
    });
    group.bench_function("instant_now_outside_a_simulation", |b| {
        b.iter(|| {
            for _ in 0..READS {
                black_box(Instant::now());
            }
        })
    });
    group.bench_function("instant_now_inside_a_simulation", |b| {
        b.iter_custom(|iters| {
            let run = whatbreaks::sim::simulate(
                &whatbreaks::sim::RunLimits::new(1),
                move || async move {
                    // Timed on the real clock: inside the simulation `Instant` is virtual.
                    let start = real_now();
                    for _ in 0..iters * READS {
                        black_box(Instant::now());
                    }
                    real_now() - start
                },
            );
            run.value.unwrap_or_default()
        })
    });
    group.finish();
}

criterion_group!(benches, clock);
criterion_main!(benches);
