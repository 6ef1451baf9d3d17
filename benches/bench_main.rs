//! Criterion benches: whatbreaks against a bare-tokio baseline measured in the same run.
//!
//! `cargo bench` (all), `cargo bench -- herd` (one group), `cargo bench -- retry`, `cargo bench -- seams`.
use criterion::criterion_main;

mod benchmarks;

criterion_main! {
    benchmarks::herd::benches,
    benchmarks::race::benches,
    benchmarks::retry::benches,
    benchmarks::seams::benches,
}
