//! Criterion benches: whatbreaks against a bare-tokio baseline measured in the same run.
//!
//! `cargo bench --bench bench_main` (all), or one group: `-- herd`, `-- race`, `-- retry`,
//! `-- seams`, `-- stampede`, `-- pool`, `-- double_execution`, `-- leak`.
//!
//! The binary installs whatbreaks' counting allocator, as a test binary with a leak test
//! does (the leak detector needs it): both sides of every bench allocate through it.
use criterion::criterion_main;

mod benchmarks;

whatbreaks::install_counting_allocator!();

criterion_main! {
    benchmarks::herd::benches,
    benchmarks::race::benches,
    benchmarks::retry::benches,
    benchmarks::seams::benches,
    benchmarks::stampede::benches,
    benchmarks::pool::benches,
    benchmarks::double_execution::benches,
    benchmarks::leak::benches,
}
