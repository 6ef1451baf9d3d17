//! Criterion benches of retry policies under a retry storm (feature `criterion`): criterion
//! measures what a retry policy does to the upstream and to its callers instead of wall time,
//! so a `criterion_group!` of your policies reports amplification and tail latency, keeps a
//! baseline, and flags a regression when a change makes the storm worse.
//!
//! The criterion types here are criterion 0.8's: bench with `criterion = "0.8"`.
//!
//! # What is measured
//! [`StormBench`] runs a [`RetryStormTest`] scenario (logical requests arriving open-loop at an
//! upstream that is degraded for a while) once per criterion iteration, each run with its own
//! seed, and hands criterion that run's [`StormFigures`]. [`StormMetric`] is the criterion
//! [`Measurement`]: pick one per `criterion_group!` with
//! `Criterion::default().with_measurement(StormMetric::…)`.
//!
//! | metric | per run | unit |
//! |---|---|---|
//! | [`StormMetric::CallsPerRequest`] | upstream calls divided by the logical requests that called (the storm detector's amplification) | calls/req |
//! | [`StormMetric::LatencyP50`], [`StormMetric::LatencyP99`] | median and 99th percentile of a logical request's virtual completion time, retries and backoff included (exact, nearest rank) | virtual ms or s |
//! | [`StormMetric::FailedRequests`] | share of logical requests whose last call failed: what the policy gave up on | % |
//! | [`StormMetric::DuplicateEffects`] | effects committed beyond one per logical request (needs `ambiguous` failures and calls that commit) | effects |
//!
//! Larger is worse for every metric, so criterion's "Performance has regressed" means the
//! storm got worse. Criterion labels every figure `time:`; the unit says what it is. It
//! refuses a sample of exactly 0, so no duplicate effect, or no failed request, reaches it
//! as [`ZERO`] (shown as `0.0000`).
//!
//! # Deterministic, with a distribution
//! Iteration `i` of a bench function runs the scenario with seed `i` derived from the base
//! seed ([`StormBench::seed`]), so every figure is a pure function of the code and the seed,
//! and the spread criterion sees is the spread over seeds. Every bench function starts at
//! `i = 0`: the policies of one group meet the same arrivals and the same faults (a paired
//! comparison), and a run filtered to one policy measures what the full run measures.
//! [`StormBench::group`] pins criterion to one warm-up run and one run per sample (warm-up
//! and measurement times of 1 ns, flat sampling, [`StormBench::samples`] samples), so the
//! samples are the same from one `cargo bench` to the next and a change in them is a change
//! in the code. Criterion warns that it cannot complete the samples in 1 ns: that target is
//! what pins one run per sample; ignore the warning.
//!
//! Virtual time does not depend on the machine: the figures are the same on a loaded laptop
//! and in CI. A run that cannot finish (the time limit, the watchdog, a panic in the body) or
//! a scenario with a bad knob stops the bench with the finding, as a test would fail.
//!
//! ```no_run
//! use criterion::{Criterion, criterion_group, criterion_main};
//! use std::time::Duration;
//! use whatbreaks_core::bench::{StormBench, StormMetric};
//! use whatbreaks_core::{Request, RetryStormTest, Upstream};
//!
//! // A policy as you would write it: three retries, exponential backoff, no jitter.
//! async fn exponential(up: Upstream) {
//!     for attempt in 0..=3u32 {
//!         if up.call(Request::get("/price")).await.is_ok() || attempt == 3 {
//!             return;
//!         }
//!         tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
//!     }
//! }
//!
//! fn storm() -> StormBench {
//!     let scenario = RetryStormTest::new()
//!         .rps(100.0)
//!         .run_for(Duration::from_secs(30))
//!         .outage(Duration::from_secs(5)..Duration::from_secs(20))
//!         .error_rate(0.5);
//!     StormBench::new(scenario).seed(0x5eed)
//! }
//!
//! fn policies(c: &mut Criterion<StormMetric>) {
//!     let storm = storm();
//!     let mut group = storm.group(c, "price");
//!     // The closure makes the body of one run: per-run state (a budget) goes inside it.
//!     group.bench_function("exponential", storm.bench(|| exponential));
//!     group.finish();
//! }
//!
//! criterion_group! {
//!     name = calls_per_request;
//!     config = Criterion::default().with_measurement(StormMetric::CallsPerRequest);
//!     targets = policies
//! }
//! criterion_group! {
//!     name = p99;
//!     config = Criterion::default().with_measurement(StormMetric::LatencyP99);
//!     targets = policies
//! }
//! criterion_main!(calls_per_request, p99);
//! ```
//!
//! `benches/retry_policies.rs` in the whatbreaks repository benches six policies this way:
//! none, exponential, full jitter, equal jitter, decorrelated jitter, and tower's `TpsBudget`.

use crate::components::upstream::{Outcome, Upstream};
use crate::detectors::storm::RetryStormTest;
use crate::report::{Finding, FindingKind};
use crate::runtime::rng::splitmix64;
use crate::runtime::sim::RunLimits;
use crate::scenario::config::Settings;
use crate::scenario::{Problems, Scenario, Timing, premise_finding};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Bencher, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What a figure of 0 reaches criterion as (criterion refuses a sample of exactly 0); it
/// shows as `0.0000`.
pub const ZERO: f64 = 1e-9;

/// What criterion measures of a retry policy under a storm: one [`StormFigures`] field per
/// variant (see the [module docs](self) for the units). Larger is worse for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StormMetric {
    /// Upstream calls per logical request (amplification).
    CallsPerRequest,
    /// Median virtual completion time of a logical request.
    LatencyP50,
    /// 99th-percentile virtual completion time of a logical request.
    LatencyP99,
    /// Share of logical requests whose last call failed, in percent.
    FailedRequests,
    /// Effects committed beyond one per logical request.
    DuplicateEffects,
}

/// The figures of one or more storm runs, summed over the runs (criterion adds the runs of a
/// sample and divides by their number): divide a field by [`runs`](Self::runs) for the mean
/// per run, or use [`StormFigures::mean`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StormFigures {
    /// Runs summed.
    pub runs: u64,
    /// Upstream calls divided by the logical requests that called, summed over the runs.
    pub calls_per_request: f64,
    /// Median virtual completion time of a logical request, in nanoseconds, summed.
    pub latency_p50_ns: f64,
    /// 99th-percentile virtual completion time, in nanoseconds, summed.
    pub latency_p99_ns: f64,
    /// Percent of logical requests whose last call failed, summed.
    pub failed_percent: f64,
    /// Effects committed beyond one per logical request, summed.
    pub duplicate_effects: f64,
    /// Upstream calls, summed.
    pub calls: u64,
    /// Logical requests that called the upstream, summed.
    pub requests: u64,
}

impl StormFigures {
    fn sum(&self, other: &StormFigures) -> StormFigures {
        StormFigures {
            runs: self.runs + other.runs,
            calls_per_request: self.calls_per_request + other.calls_per_request,
            latency_p50_ns: self.latency_p50_ns + other.latency_p50_ns,
            latency_p99_ns: self.latency_p99_ns + other.latency_p99_ns,
            failed_percent: self.failed_percent + other.failed_percent,
            duplicate_effects: self.duplicate_effects + other.duplicate_effects,
            calls: self.calls + other.calls,
            requests: self.requests + other.requests,
        }
    }

    /// The figure `metric` reads, summed over the runs.
    pub fn get(&self, metric: StormMetric) -> f64 {
        match metric {
            StormMetric::CallsPerRequest => self.calls_per_request,
            StormMetric::LatencyP50 => self.latency_p50_ns,
            StormMetric::LatencyP99 => self.latency_p99_ns,
            StormMetric::FailedRequests => self.failed_percent,
            StormMetric::DuplicateEffects => self.duplicate_effects,
        }
    }

    /// The mean per run of the figure `metric` reads (0 without runs).
    pub fn mean(&self, metric: StormMetric) -> f64 {
        if self.runs == 0 {
            0.0
        } else {
            self.get(metric) / self.runs as f64
        }
    }
}

/// A [`RetryStormTest`] to bench retry policies under, with criterion (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
pub struct StormBench {
    scenario: RetryStormTest,
    seed: u64,
    samples: usize,
}

/// The body type the configuration check is asked about (the check does not run a body).
type NoBody = Arc<fn(Upstream) -> std::future::Ready<()>>;

impl StormBench {
    /// Benches under `scenario` (its seed settings are not used: see [`StormBench::seed`]),
    /// with base seed 0 and 20 samples.
    pub fn new(scenario: RetryStormTest) -> Self {
        StormBench {
            scenario,
            seed: 0,
            samples: 20,
        }
    }

    /// The base seed: run `i` of each bench function uses a seed derived from it and `i`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Samples per bench function (one run each; criterion needs at least 10), set by
    /// [`StormBench::group`]. Default 20.
    pub fn samples(mut self, samples: usize) -> Self {
        self.samples = samples;
        self
    }

    /// The seed of run `index`.
    pub fn seed_of(&self, index: u64) -> u64 {
        splitmix64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// A criterion group set up for storm runs: one warm-up run, one run per sample, flat
    /// sampling, [`StormBench::samples`] samples (see the [module docs](self)).
    pub fn group<'a>(
        &self,
        c: &'a mut Criterion<StormMetric>,
        name: impl Into<String>,
    ) -> BenchmarkGroup<'a, StormMetric> {
        self.checked();
        let mut group = c.benchmark_group(name);
        group
            .warm_up_time(Duration::from_nanos(1))
            .measurement_time(Duration::from_nanos(1))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(self.samples);
        group
    }

    /// A criterion routine for `bench_function`: iteration `i` runs the scenario with seed
    /// [`seed_of(i)`](StormBench::seed_of) and the body `make_body()` returns. `make_body`
    /// is called once per run, on the simulation's thread, before the first logical request:
    /// per-run state (a retry budget, a circuit breaker) goes inside it, starts empty every
    /// run, and reads virtual time from the start.
    ///
    /// # Panics
    /// With the finding, when the scenario has a bad knob or a run cannot finish (time
    /// limit, watchdog, a panic in the body, no upstream call at all).
    pub fn bench<MB, B, Fut>(&self, make_body: MB) -> impl FnMut(&mut Bencher<'_, StormMetric>)
    where
        MB: Fn() -> B + Send + Sync + 'static,
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let storm = self.clone();
        let make_body = Arc::new(make_body);
        let mut next = 0u64;
        move |b: &mut Bencher<'_, StormMetric>| {
            b.iter_custom(|iters| {
                let mut total = StormFigures::default();
                for _ in 0..iters {
                    total = total.sum(&storm.run_shared(next, make_body.clone()));
                    next += 1;
                }
                total
            })
        }
    }

    /// Runs the scenario once with seed [`seed_of(index)`](StormBench::seed_of) and the body
    /// `make_body()` returns (as in [`StormBench::bench`]), and returns its figures (`runs`
    /// is 1): what one criterion iteration measures.
    ///
    /// # Panics
    /// As [`StormBench::bench`].
    pub fn run<MB, B, Fut>(&self, index: u64, make_body: MB) -> StormFigures
    where
        MB: Fn() -> B + Send + Sync + 'static,
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.run_shared(index, Arc::new(make_body))
    }

    fn run_shared<MB, B, Fut>(&self, index: u64, make_body: Arc<MB>) -> StormFigures
    where
        MB: Fn() -> B + Send + Sync + 'static,
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let settings = self.checked();
        let seed = self.seed_of(index);
        let limits = RunLimits {
            seed,
            time_limit: settings.time_limit,
            watchdog: settings.watchdog,
        };
        // Each logical request's virtual completion time, recorded when its body returns.
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let record = latencies.clone();
        let made: OnceLock<B> = OnceLock::new();
        let body = Arc::new(move |up: Upstream| {
            let fut = made.get_or_init(|| make_body())(up);
            let record = record.clone();
            async move {
                let start = tokio::time::Instant::now();
                fut.await;
                let took = start.elapsed().as_nanos() as u64;
                record.lock().unwrap_or_else(|e| e.into_inner()).push(took);
            }
        });
        let (result, upstream) = self.scenario.run_seed(&limits, body);
        if let Some(f) = result
            .findings
            .into_iter()
            .find(|f| f.kind != FindingKind::Bug)
        {
            stop(f, Some(seed));
        }
        if let Some(a) = &result.activity
            && let Some(f) = premise_finding(a.virtual_elapsed, a.count, a.what)
        {
            stop(f, Some(seed));
        }
        // The last outcome of each logical request, in arrival order.
        let (calls, last) = upstream.with_arrivals(|arrivals| {
            let mut last: BTreeMap<(Option<u32>, Option<u64>), Outcome> = BTreeMap::new();
            for a in arrivals {
                last.insert((a.client, a.request), a.outcome);
            }
            (arrivals.len(), last)
        });
        let requests = last.len();
        let failed = last
            .values()
            .filter(|o| !matches!(o, Outcome::Ok | Outcome::Deduplicated))
            .count();
        let duplicate_effects: u64 = upstream
            .effects()
            .values()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum();
        let mut latencies =
            std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
        let per = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        StormFigures {
            runs: 1,
            calls_per_request: per(calls, requests),
            latency_p50_ns: nearest_rank(&mut latencies, 0.50),
            latency_p99_ns: nearest_rank(&mut latencies, 0.99),
            failed_percent: 100.0 * per(failed, requests),
            duplicate_effects: duplicate_effects as f64,
            calls: calls as u64,
            requests: requests as u64,
        }
    }
}

impl StormBench {
    /// The scenario's settings, once every knob is checked; stops the bench with the
    /// configuration finding otherwise.
    fn checked(&self) -> &Settings {
        let Timing::Simulated(settings) = Scenario::<NoBody>::timing(&self.scenario) else {
            unreachable!("[whatbreaks internal bug] a retry storm runs on virtual time")
        };
        let mut problems = Problems::default();
        settings.check(&mut problems);
        Scenario::<NoBody>::check(&self.scenario, &mut problems);
        problems.at_least("samples", self.samples as u64, 10);
        if !problems.is_empty() {
            let describe = Scenario::<NoBody>::describe(&self.scenario);
            stop(problems.finding(describe), None);
        }
        settings
    }
}

/// The `q` quantile of `values` by nearest rank (0 when empty).
fn nearest_rank(values: &mut [u64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    *values.select_nth_unstable(rank - 1).1 as f64
}

/// Stops the bench with `finding` (a bench has no other way to fail).
fn stop(mut finding: Finding, seed: Option<u64>) -> ! {
    if let Some(seed) = seed {
        finding.seed = seed;
        finding.scenario = if finding.scenario.is_empty() {
            format!("seed {seed:#x}")
        } else {
            format!("{}, seed {seed:#x}", finding.scenario)
        };
        finding.replay = format!(
            "StormBench::run(index, body) with the index whose seed_of is {seed:#x}, or RetryStormTest::seed({seed:#x}).run(body)"
        );
    }
    panic!("{}", finding.render())
}

impl Measurement for StormMetric {
    type Intermediate = ();
    type Value = StormFigures;

    fn start(&self) -> Self::Intermediate {}

    fn end(&self, _: Self::Intermediate) -> Self::Value {
        // Only `iter_custom` measures a storm: `iter` and friends time nothing.
        StormFigures::default()
    }

    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        v1.sum(v2)
    }

    fn zero(&self) -> Self::Value {
        StormFigures::default()
    }

    fn to_f64(&self, value: &Self::Value) -> f64 {
        // Criterion refuses a sample of exactly 0 ("took zero time"): no duplicate effect or
        // no failed request reaches it as a figure too small to show.
        value.get(*self).max(ZERO)
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self
    }
}

impl ValueFormatter for StormMetric {
    fn scale_values(&self, typical_value: f64, values: &mut [f64]) -> &'static str {
        match self {
            StormMetric::CallsPerRequest => "calls/req",
            StormMetric::FailedRequests => "% failed",
            StormMetric::DuplicateEffects => "dup effects",
            StormMetric::LatencyP50 | StormMetric::LatencyP99 => {
                let (divisor, unit) = if typical_value >= 1e9 {
                    (1e9, "s (virtual)")
                } else {
                    (1e6, "ms (virtual)")
                };
                for v in values {
                    *v /= divisor;
                }
                unit
            }
        }
    }

    fn scale_throughputs(
        &self,
        typical_value: f64,
        _throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        // A throughput of a virtual figure means nothing: show the figure.
        self.scale_values(typical_value, values)
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        match self {
            StormMetric::CallsPerRequest => "calls/req",
            StormMetric::FailedRequests => "percent failed",
            StormMetric::DuplicateEffects => "duplicate effects",
            StormMetric::LatencyP50 | StormMetric::LatencyP99 => "ns (virtual)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::upstream::Request;

    fn storm() -> StormBench {
        let scenario = RetryStormTest::new()
            .rps(50.0)
            .run_for(Duration::from_secs(4))
            .outage(Duration::from_secs(1)..Duration::from_secs(2))
            .bad_requests(0.0);
        StormBench::new(scenario).seed(7)
    }

    async fn three_retries(up: Upstream) {
        for _ in 0..4 {
            if up.call(Request::get("/")).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[test]
    fn a_run_is_a_function_of_its_seed() {
        let s = storm();
        let a = s.run(0, || three_retries);
        assert_eq!(a, s.run(0, || three_retries));
        assert_ne!(
            a,
            s.run(1, || three_retries),
            "another seed, other arrivals"
        );
        assert_eq!(a.runs, 1);
        // Requests in the outage make 4 calls, the others 1: between the two.
        assert!(
            a.calls_per_request > 1.2 && a.calls_per_request < 4.0,
            "{a:?}"
        );
        // A request served at once takes the 20 ms latency; one that fails all 4 calls at
        // once (connection refused) gives up after its 4 sleeps.
        assert_eq!(a.latency_p50_ns, 20e6);
        assert_eq!(a.latency_p99_ns, 400e6);
        assert!(a.failed_percent > 5.0 && a.failed_percent < 50.0, "{a:?}");
        assert_eq!(a.duplicate_effects, 0.0);
        assert_eq!(a.mean(StormMetric::CallsPerRequest), a.calls_per_request);
    }

    #[test]
    fn duplicates_are_effects_beyond_one() {
        let s = StormBench::new(
            RetryStormTest::new()
                .rps(50.0)
                .run_for(Duration::from_secs(2))
                .outage(Duration::ZERO..Duration::ZERO)
                .ambiguous(0.5)
                .bad_requests(0.0),
        );
        let f = s.run(0, || {
            |up: Upstream| async move {
                for _ in 0..3 {
                    if up.call(Request::post("/charge")).await.is_ok() {
                        return;
                    }
                }
            }
        });
        assert!(f.duplicate_effects > 10.0, "{f:?}");
    }

    #[test]
    #[should_panic(expected = "`rps`")]
    fn a_bad_knob_stops_the_bench_with_its_name() {
        StormBench::new(RetryStormTest::new().rps(0.0)).run(0, || three_retries);
    }

    #[test]
    #[should_panic(expected = "`samples`")]
    fn too_few_samples_is_a_configuration_finding() {
        storm().samples(5).run(0, || three_retries);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&mut v, 0.5), 50.0);
        assert_eq!(nearest_rank(&mut v, 0.99), 99.0);
        assert_eq!(nearest_rank(&mut [7], 0.99), 7.0);
        assert_eq!(nearest_rank(&mut [], 0.5), 0.0);
    }
}
