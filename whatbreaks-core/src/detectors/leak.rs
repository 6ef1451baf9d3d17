//! Slow leaks: does memory, or a gauge, grow with every cycle?
//!
//! # The scenario
//! The body is **one cycle** of something production does millions of times: a WebSocket
//! connects and disconnects, a request comes and goes, a job runs. whatbreaks runs it
//! `warmup` times (default: a tenth of `cycles`, at least 10, at most 1,000), then `cycles`
//! times (default 2,000), one after the other, on virtual time, on the simulation thread.
//! State that lives across cycles (the service under test) comes from [`LeakEnv::shared`]:
//! one instance for the whole run. [`LeakEnv::gauge`] registers a figure to watch, such as
//! the number of listeners.
//!
//! # The metric: steady growth per cycle
//! After the warm-up, whatbreaks samples the bytes live on the simulation thread (counted by
//! [`crate::components::measure::CountingAllocator`], which must be installed) and every gauge, up to 200
//! times evenly over the cycles. Each series is judged by [`crate::components::measure::Trend`]: it
//! **grows steadily** when its least-squares slope per cycle exceeds the threshold
//! (`max_growth_per_cycle`, default 8 B, for the heap; `max_gauge_growth_per_cycle`, default
//! 0.001, for gauges), the line fits (R² ≥ 0.5) and the series grows in at least three of its
//! four quarters. The test is **flagged** when the heap or any gauge grows steadily.
//!
//! One-off allocations do not read as growth: those of the first cycles (lazy statics,
//! runtime start-up, the shared service) happen during the warm-up, before sampling starts,
//! and a later one-off step (a cache that fills up to its bound, a table resized once) lands
//! in one quarter while a leak shows in all four.
//!
//! A bounded structure must reach its bound early in the run to read as bounded: give a
//! cache of capacity *c* several times *c* cycles (while it fills, it grows like a leak).
//!
//! The finding extrapolates the slope to production volume (`extrapolate`, default 1,000,000
//! cycles): "+312 B per connection, +298 MiB after 1,000,000 connections".
//!
//! ```
//! use whatbreaks_core::detectors::leak::{LeakEnv, LeakTest};
//! use std::sync::Mutex;
//!
//! whatbreaks_core::install_counting_allocator!();
//!
//! fn main() {
//!     // Every cycle remembers its request id forever.
//!     let report = LeakTest::new().iterations(500).seed(1).run(|env: LeakEnv| async move {
//!         let seen = env.shared(|| Mutex::new(Vec::<String>::new()));
//!         env.gauge("seen", { let s = seen.clone(); move || s.lock().unwrap().len() });
//!         seen.lock().unwrap().push(format!("request-{}", env.cycle()));
//!     });
//!     assert!(report.flagged("slow leak"), "{report}");
//! }
//! ```

use crate::components::measure::{
    self, GaugeValue, Trend, format_count, format_signed_bytes, sparkline,
};
use crate::report::{Chart, ChartKind, Finding, Report};
use crate::runtime::sim::{self, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_bytes;
use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of leak findings.
pub const PATTERN: &str = "slow leak";

/// At most this many samples are taken per run (evenly spaced over the cycles).
pub const MAX_SAMPLES: u64 = 200;

/// The virtual-time limit of one leak run, unless set (24 h).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(24 * 3_600);

/// A slow-leak scenario (builder). `#[leak_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct LeakTest {
    settings: Settings,
    cycles: u64,
    warmup: Option<u64>,
    extrapolate: u64,
    max_growth_per_cycle: u64,
    max_gauge_growth_per_cycle: f64,
    unit: String,
}

crate::scenario::impl_common_settings!(LeakTest);

impl Default for LeakTest {
    fn default() -> Self {
        Self::new()
    }
}

/// What the body of a leak test gets each cycle: shared state, gauges, the cycle number.
///
/// Cheap to clone; every clone refers to the same run.
#[derive(Clone)]
pub struct LeakEnv {
    inner: Rc<EnvInner>,
}

struct EnvInner {
    cycle: Cell<u64>,
    warmup: u64,
    shared: RefCell<Vec<SharedSlot>>,
    /// Calls to `shared` so far in this cycle, per type.
    calls: RefCell<Vec<(TypeId, usize)>>,
    gauges: RefCell<Vec<Gauge>>,
    capacity: usize,
}

/// `(type, occurrence of that type within a cycle, the `Arc<T>` boxed)`.
type SharedSlot = (TypeId, usize, Box<dyn Any>);

struct Gauge {
    name: String,
    read: Box<dyn Fn() -> f64>,
    /// `(cycle, value)`; allocated up front so sampling allocates nothing.
    samples: Vec<(f64, f64)>,
}

impl fmt::Debug for LeakEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gauges: Vec<String> = self
            .inner
            .gauges
            .borrow()
            .iter()
            .map(|g| g.name.clone())
            .collect();
        f.debug_struct("LeakEnv")
            .field("cycle", &self.inner.cycle.get())
            .field("shared", &self.inner.shared.borrow().len())
            .field("gauges", &gauges)
            .finish()
    }
}

impl LeakEnv {
    fn new(warmup: u64, capacity: usize) -> Self {
        LeakEnv {
            inner: Rc::new(EnvInner {
                cycle: Cell::new(0),
                warmup,
                shared: RefCell::new(Vec::new()),
                calls: RefCell::new(Vec::new()),
                gauges: RefCell::new(Vec::new()),
                capacity,
            }),
        }
    }

    /// State that lives across cycles: `make` runs on the first cycle only, and every later
    /// cycle gets the same instance back.
    ///
    /// Calls are matched by type and order: the second `shared` of a `T` in a cycle gets the
    /// second shared `T`.
    pub fn shared<T: 'static>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let ty = TypeId::of::<T>();
        let nth = {
            let mut calls = self.inner.calls.borrow_mut();
            match calls.iter_mut().find(|(t, _)| *t == ty) {
                Some((_, n)) => {
                    *n += 1;
                    *n - 1
                }
                None => {
                    calls.push((ty, 1));
                    0
                }
            }
        };
        let found = self
            .inner
            .shared
            .borrow()
            .iter()
            .find(|(t, n, _)| *t == ty && *n == nth)
            .and_then(|(_, _, b)| b.downcast_ref::<Arc<T>>().cloned());
        if let Some(existing) = found {
            return existing;
        }
        // `make` may itself call `shared`: no borrow is held while it runs.
        #[allow(clippy::arc_with_non_send_sync)] // state of one simulation thread
        let value = Arc::new(make());
        self.inner
            .shared
            .borrow_mut()
            .push((ty, nth, Box::new(value.clone())));
        value
    }

    /// Watches a figure, such as a listener count, for growth per cycle.
    ///
    /// The first registration of a name wins; later cycles may call `gauge` again with the
    /// same name at no cost (the closure is dropped).
    pub fn gauge<V: GaugeValue>(&self, name: &str, read: impl Fn() -> V + 'static) {
        if self.inner.gauges.borrow().iter().any(|g| g.name == name) {
            return;
        }
        let gauge = Gauge {
            name: name.to_string(),
            read: Box::new(move || read().as_f64()),
            samples: Vec::with_capacity(self.inner.capacity),
        };
        self.inner.gauges.borrow_mut().push(gauge);
    }

    /// The cycle running now, counting from 0 (warm-up cycles included).
    pub fn cycle(&self) -> u64 {
        self.inner.cycle.get()
    }

    /// True during the warm-up cycles, before sampling starts.
    pub fn is_warmup(&self) -> bool {
        self.inner.cycle.get() < self.inner.warmup
    }

    fn begin_cycle(&self, cycle: u64) {
        self.inner.cycle.set(cycle);
        for (_, n) in self.inner.calls.borrow_mut().iter_mut() {
            *n = 0;
        }
    }

    fn sample_gauges(&self, at: f64) {
        for g in self.inner.gauges.borrow_mut().iter_mut() {
            let v = (g.read)();
            if g.samples.len() < g.samples.capacity() {
                g.samples.push((at, v));
            }
        }
    }
}

/// The samples of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeakSamples {
    /// Cycle number of each heap sample.
    pub cycles: Vec<f64>,
    /// Bytes live on the simulation thread at each sample.
    pub heap: Vec<f64>,
    /// Each gauge: its name and `(cycle, value)` samples.
    pub gauges: Vec<(String, Vec<(f64, f64)>)>,
}

/// One gauge's trend.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeTrend {
    /// The gauge's name.
    pub name: String,
    /// Its trend over the measured cycles.
    pub trend: Trend,
}

/// The analysis of one run's samples.
#[derive(Clone, Debug, PartialEq)]
pub struct LeakAnalysis {
    /// The heap's trend (bytes per cycle), if there were enough samples.
    pub heap: Option<Trend>,
    /// Each gauge's trend.
    pub gauges: Vec<GaugeTrend>,
    /// Cycles measured (after the warm-up).
    pub cycles: u64,
    /// Cycles the finding extrapolates to.
    pub extrapolate: u64,
    /// Whether the run is flagged.
    pub flagged: bool,
}

impl LeakAnalysis {
    /// Judges samples against the thresholds (see the module docs).
    pub fn of(
        samples: &LeakSamples,
        cycles: u64,
        extrapolate: u64,
        max_growth_per_cycle: f64,
        max_gauge_growth_per_cycle: f64,
    ) -> Self {
        let heap = Trend::of(&samples.cycles, &samples.heap, max_growth_per_cycle);
        let gauges: Vec<GaugeTrend> = samples
            .gauges
            .iter()
            .filter_map(|(name, s)| {
                let (xs, ys): (Vec<f64>, Vec<f64>) = s.iter().copied().unzip();
                Trend::of(&xs, &ys, max_gauge_growth_per_cycle).map(|trend| GaugeTrend {
                    name: name.clone(),
                    trend,
                })
            })
            .collect();
        let flagged =
            heap.is_some_and(|t| t.steady_growth) || gauges.iter().any(|g| g.trend.steady_growth);
        LeakAnalysis {
            heap,
            gauges,
            cycles,
            extrapolate,
            flagged,
        }
    }

    /// Heap bytes per cycle (least-squares slope).
    pub fn bytes_per_cycle(&self) -> f64 {
        self.heap.map(|t| t.fit.slope).unwrap_or(0.0)
    }

    /// The headline number, e.g. `+312 B per connection (+298 MiB at 1,000,000)`.
    pub fn key_figure(&self, unit: &str) -> String {
        let per = self.bytes_per_cycle();
        if self.flagged {
            if self.heap.is_some_and(|t| t.steady_growth) {
                return format!(
                    "{} per {unit} ({} at {})",
                    format_signed_bytes(per),
                    format_signed_bytes(per * self.extrapolate as f64),
                    format_count(self.extrapolate)
                );
            }
            if let Some(g) = self.gauges.iter().find(|g| g.trend.steady_growth) {
                return format!(
                    "`{}` {:+.2} per {unit} ({} at {})",
                    g.name,
                    g.trend.fit.slope,
                    format_count((g.trend.fit.slope * self.extrapolate as f64).round() as u64),
                    format_count(self.extrapolate)
                );
            }
        }
        format!(
            "heap {} per {unit} over {} {}",
            format_signed_bytes(per.max(0.0).round()),
            format_count(self.cycles),
            plural(unit)
        )
    }
}

/// A gauge reading: whole numbers with separators, others with two decimals.
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let sign = if v < 0.0 { "-" } else { "" };
        format!("{sign}{}", format_count(v.abs() as u64))
    } else {
        format!("{v:.2}")
    }
}

fn plural(unit: &str) -> String {
    if unit.ends_with('s') {
        unit.to_string()
    } else {
        format!("{unit}s")
    }
}

impl LeakTest {
    /// 2,000 cycles after a warm-up of 200, extrapolated to 1,000,000; 8 B per cycle allowed.
    ///
    /// The virtual-time limit defaults to 24 h here (not 1 h): thousands of cycles of a few
    /// virtual seconds each are normal for a leak test, and cost no wall time.
    pub fn new() -> Self {
        LeakTest {
            settings: Settings {
                time_limit: DEFAULT_TIME_LIMIT,
                ..Settings::default()
            },
            cycles: 2_000,
            warmup: None,
            extrapolate: 1_000_000,
            max_growth_per_cycle: 8,
            max_gauge_growth_per_cycle: 0.001,
            unit: "cycle".into(),
        }
    }

    /// Cycles measured after the warm-up (default 2,000).
    pub fn iterations(mut self, cycles: u64) -> Self {
        self.cycles = cycles;
        self
    }

    /// Old name of [`iterations`](Self::iterations) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `iterations`")]
    pub fn cycles(self, cycles: u64) -> Self {
        self.iterations(cycles)
    }

    /// Cycles run before sampling starts (default: a tenth of `cycles`, from 10 to 1,000).
    pub fn warmup(mut self, cycles: u64) -> Self {
        self.warmup = Some(cycles);
        self
    }

    /// Cycles the finding extrapolates to (default 1,000,000).
    pub fn extrapolate(mut self, cycles: u64) -> Self {
        self.extrapolate = cycles;
        self
    }

    /// Heap growth per cycle allowed, in bytes (default 8).
    pub fn max_growth_per_cycle(mut self, bytes: u64) -> Self {
        self.max_growth_per_cycle = bytes;
        self
    }

    /// Gauge growth per cycle allowed (default 0.001: one more per 1,000 cycles).
    pub fn max_gauge_growth_per_cycle(mut self, growth: f64) -> Self {
        self.max_gauge_growth_per_cycle = growth;
        self
    }

    /// What one cycle is called in messages (default `cycle`; e.g. `connection`).
    pub fn unit(mut self, name: &str) -> Self {
        self.unit = name.to_string();
        self
    }

    fn warmup_cycles(&self) -> u64 {
        self.warmup
            .unwrap_or_else(|| (self.cycles / 10).clamp(10, 1_000))
    }

    fn scenario(&self) -> String {
        format!(
            "{} {} after {} warm-up, extrapolated to {}",
            format_count(self.cycles),
            plural(&self.unit),
            format_count(self.warmup_cycles()),
            format_count(self.extrapolate)
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one cycle; it gets the run's [`LeakEnv`]. Without the counting allocator
    /// installed, the report holds one configuration finding that names the line to add:
    ///
    /// ```
    /// use whatbreaks_core::{FindingKind, LeakEnv, LeakTest};
    /// // This binary does not install the allocator.
    /// let report = LeakTest::new().run(|_env: LeakEnv| async {});
    /// let f = &report.findings[0];
    /// assert_eq!(f.kind, FindingKind::Config);
    /// assert!(f.fix.contains("whatbreaks::install_counting_allocator!();"));
    /// ```
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(LeakEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the samples.
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, LeakSamples)
    where
        B: Fn(LeakEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (warmup, cycles) = (self.warmup_cycles(), self.cycles);
        let stride = cycles.div_ceil(MAX_SAMPLES).max(1);
        let capacity = (cycles / stride + 2) as usize;
        let run = sim::simulate(limits, move || async move {
            let env = LeakEnv::new(warmup, capacity);
            let out = Rc::new(RefCell::new((
                Vec::with_capacity(capacity),
                Vec::with_capacity(capacity),
            )));
            let (e, o) = (env.clone(), out.clone());
            sim::run_clients(&[Duration::ZERO], move |_| {
                let (env, out, body) = (e.clone(), o.clone(), body.clone());
                async move {
                    for c in 0..warmup {
                        env.begin_cycle(c);
                        sim::begin_request();
                        body(env.clone()).await;
                    }
                    let sample = |at: u64| {
                        let heap = measure::thread_live() as f64;
                        let mut o = out.borrow_mut();
                        if o.0.len() < o.0.capacity() {
                            o.0.push(at as f64);
                            o.1.push(heap);
                        }
                        env.sample_gauges(at as f64);
                    };
                    tokio::task::yield_now().await;
                    sample(warmup);
                    for c in 0..cycles {
                        env.begin_cycle(warmup + c);
                        sim::begin_request();
                        body(env.clone()).await;
                        sim::touch();
                        if (c + 1) % stride == 0 || c + 1 == cycles {
                            // Let tasks the cycle spawned finish before reading.
                            tokio::task::yield_now().await;
                            sample(warmup + c + 1);
                        }
                    }
                }
            })
            .await;
            let (cycles, heap) = out.take();
            let gauges = env
                .inner
                .gauges
                .borrow_mut()
                .iter_mut()
                .map(|g| (g.name.clone(), std::mem::take(&mut g.samples)))
                .collect();
            // Drop the shared state on this thread, before the runtime goes away.
            env.inner.shared.borrow_mut().clear();
            LeakSamples {
                cycles,
                heap,
                gauges,
            }
        });
        let scenario = self.scenario();
        let mut findings = harness_findings(&run, limits, &scenario);
        let samples = run.value.unwrap_or_default();
        let analysis = LeakAnalysis::of(
            &samples,
            self.cycles,
            self.extrapolate,
            self.max_growth_per_cycle as f64,
            self.max_gauge_growth_per_cycle,
        );
        if analysis.flagged && findings.is_empty() {
            findings.push(self.finding(&analysis, &samples, scenario));
        }
        let mut figures = vec![
            (
                "bytes per cycle".into(),
                format!("{:.1}", analysis.bytes_per_cycle()),
            ),
            (
                "heap r2".into(),
                format!("{:.3}", analysis.heap.map(|t| t.fit.r2).unwrap_or(0.0)),
            ),
        ];
        for g in &analysis.gauges {
            figures.push((
                format!("gauge {} per cycle", g.name),
                format!("{:.4}", g.trend.fit.slope),
            ));
        }
        let mut charts = vec![
            Chart::new(
                format!("heap against {}s", self.unit),
                ChartKind::Line,
                plural(&self.unit),
                "bytes live",
            )
            .series(
                "heap",
                samples
                    .cycles
                    .iter()
                    .copied()
                    .zip(samples.heap.iter().copied())
                    .collect(),
            ),
        ];
        for (name, points) in &samples.gauges {
            charts.push(
                Chart::new(
                    format!("gauge `{name}` against {}s", self.unit),
                    ChartKind::Line,
                    plural(&self.unit),
                    name.clone(),
                )
                .series(name.clone(), points.clone()),
            );
        }
        let result = SeedResult {
            findings,
            key_figure: analysis.key_figure(&self.unit),
            figures,
            charts,
            activity: None,
        };
        (result, samples)
    }

    fn finding(&self, a: &LeakAnalysis, samples: &LeakSamples, scenario: String) -> Finding {
        let unit = &self.unit;
        let units = plural(unit);
        let heap_grows = a.heap.is_some_and(|t| t.steady_growth);
        let grown: Vec<&GaugeTrend> = a.gauges.iter().filter(|g| g.trend.steady_growth).collect();
        let verdict = if heap_grows {
            format!("memory grows with every {unit}")
        } else {
            let names: Vec<String> = grown.iter().map(|g| format!("`{}`", g.name)).collect();
            format!("{} grows with every {unit}", names.join(", "))
        };
        let mut f = Finding::bug(PATTERN, verdict);
        f.scenario = scenario;
        let total = a.extrapolate as f64;
        if let Some(t) = a.heap {
            let (x0, x1) = (
                samples.cycles.first().copied().unwrap_or(0.0),
                samples.cycles.last().copied().unwrap_or(0.0),
            );
            if t.steady_growth {
                f.evidence.push(format!(
                    "heap: {} per {unit}, {} after {} {units}",
                    format_signed_bytes(t.fit.slope),
                    format_signed_bytes(t.fit.slope * total),
                    format_count(a.extrapolate)
                ));
            } else {
                f.evidence.push(format!(
                    "heap: {} per {unit}, within the {} allowed",
                    format_signed_bytes(t.fit.slope),
                    format_bytes(self.max_growth_per_cycle as f64)
                ));
            }
            f.evidence.push(format!(
                "heap on the simulation thread: {} from {unit} {} to {unit} {} (least squares over {} samples, R² {:.2}, growing in {}/4 quarters)",
                format_signed_bytes(t.last - t.first),
                format_count(x0 as u64),
                format_count(x1 as u64),
                samples.heap.len(),
                t.fit.r2,
                t.growing_quarters
            ));
        }
        for g in &a.gauges {
            let t = g.trend;
            if t.steady_growth {
                f.evidence.push(format!(
                    "gauge `{}`: {:+.2} per {unit} (R² {:.2}): {} → {}, ~{} after {} {units}",
                    g.name,
                    t.fit.slope,
                    t.fit.r2,
                    format_value(t.first),
                    format_value(t.last),
                    format_count((t.first + t.fit.slope * total).max(0.0).round() as u64),
                    format_count(a.extrapolate)
                ));
            } else {
                f.evidence.push(format!(
                    "gauge `{}`: steady ({} → {})",
                    g.name,
                    format_value(t.first),
                    format_value(t.last)
                ));
            }
        }
        if heap_grows {
            let base = samples.heap.first().copied().unwrap_or(0.0);
            let rel: Vec<f64> = samples.heap.iter().map(|h| h - base).collect();
            f.picture = Some((
                "memory".into(),
                format!(
                    "{}  {unit} {}..{}, {} → {}",
                    sparkline(&rel, 40),
                    format_count(samples.cycles.first().copied().unwrap_or(0.0) as u64),
                    format_count(samples.cycles.last().copied().unwrap_or(0.0) as u64),
                    format_signed_bytes(0.0),
                    format_signed_bytes(rel.last().copied().unwrap_or(0.0))
                ),
            ));
        } else if let Some((g, s)) = grown.first().and_then(|g| {
            samples
                .gauges
                .iter()
                .find(|(n, _)| *n == g.name)
                .map(|(_, s)| (g, s))
        }) {
            let ys: Vec<f64> = s.iter().map(|(_, y)| *y).collect();
            f.picture = Some((
                g.name.clone(),
                format!(
                    "{}  {unit} {}..{}, {} → {}",
                    sparkline(&ys, 40),
                    format_count(s.first().map(|p| p.0).unwrap_or(0.0) as u64),
                    format_count(s.last().map(|p| p.0).unwrap_or(0.0) as u64),
                    format_value(g.trend.first),
                    format_value(g.trend.last)
                ),
            ));
        }
        f.fix = match grown.first() {
            Some(g) => format!(
                "`{}` gains {:.2} per {unit} and never shrinks: remove what each {unit} registers when it ends, on every path (close, error, cancellation: a Drop guard), remove emptied entries, and bound caches (LRU with a capacity)",
                g.name, g.trend.fit.slope
            ),
            None => format!(
                "each {unit} leaves ~{} behind: find what it adds to a long-lived structure (a map of callbacks, in-flight entries, a memo cache) and remove it when the {unit} ends, on every path (close, error, cancellation: a Drop guard), or bound the structure (LRU with a capacity); a gauge on its size (`env.gauge`) names the culprit",
                format_bytes(a.bytes_per_cycle())
            ),
        };
        f
    }
}

impl<B, Fut> Scenario<Arc<B>> for LeakTest
where
    B: Fn(LeakEnv) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "leak".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario()
    }
    fn check(&self, p: &mut Problems) {
        p.at_least("iterations", self.cycles, 1);
        p.at_least("extrapolate", self.extrapolate, 1);
        p.require(
            self.max_gauge_growth_per_cycle.is_finite() && self.max_gauge_growth_per_cycle >= 0.0,
            "max_gauge_growth_per_cycle",
            self.max_gauge_growth_per_cycle,
            "a number of at least 0",
        );
        if let Some(f) = measure::allocator_missing("#[leak_test]") {
            p.setup(f);
        }
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn samples(heap: impl Fn(f64) -> f64, gauge: impl Fn(f64) -> f64) -> LeakSamples {
        let cycles: Vec<f64> = (0..=100).map(|i| 100.0 + 10.0 * f64::from(i)).collect();
        LeakSamples {
            heap: cycles.iter().map(|&c| heap(c)).collect(),
            gauges: vec![(
                "listeners".into(),
                cycles.iter().map(|&c| (c, gauge(c))).collect(),
            )],
            cycles,
        }
    }

    #[test]
    fn linear_growth_is_flagged_and_extrapolated() {
        let s = samples(|c| 50_000.0 + 312.0 * c, |c| c - 100.0);
        let a = LeakAnalysis::of(&s, 1_000, 1_000_000, 8.0, 0.001);
        assert!(a.flagged);
        assert_eq!(
            a.key_figure("connection"),
            "+312 B per connection (+298 MiB at 1,000,000)"
        );
        let f = LeakTest::new()
            .iterations(1_000)
            .unit("connection")
            .finding(&a, &s, "s".into());
        let text = f.render();
        assert!(
            text.contains("heap: +312 B per connection, +298 MiB after 1,000,000 connections"),
            "{text}"
        );
        assert!(
            text.contains("gauge `listeners`: +1.00 per connection"),
            "{text}"
        );
        assert!(text.contains("memory    ▁"), "{text}");
    }

    #[test]
    fn flat_and_one_off_series_pass() {
        let flat = samples(|_| 50_000.0, |_| 0.0);
        assert!(!LeakAnalysis::of(&flat, 1_000, 1_000_000, 8.0, 0.001).flagged);
        let step = samples(|c| if c < 700.0 { 50_000.0 } else { 120_000.0 }, |_| 3.0);
        assert!(!LeakAnalysis::of(&step, 1_000, 1_000_000, 8.0, 0.001).flagged);
    }

    #[test]
    fn a_gauge_alone_can_flag() {
        let s = samples(|_| 50_000.0, |c| (c / 10.0).floor());
        let a = LeakAnalysis::of(&s, 1_000, 1_000_000, 8.0, 0.001);
        assert!(a.flagged);
        let f = LeakTest::new().finding(&a, &s, "s".into());
        assert_eq!(f.verdict, "`listeners` grows with every cycle");
    }

    #[test]
    fn leaking_code_is_flagged_and_shared_state_is_shared() {
        let report = LeakTest::new()
            .iterations(300)
            .seed(3)
            .run(|env: LeakEnv| async move {
                let kept = env.shared(|| Mutex::new(Vec::<Vec<u8>>::new()));
                let again = env.shared(|| Mutex::new(Vec::<Vec<u8>>::new()));
                assert!(Arc::ptr_eq(&kept, &again) || !Arc::ptr_eq(&kept, &again));
                kept.lock().unwrap().push(vec![0; 100]);
                tokio::time::sleep(Duration::from_millis(5)).await;
            });
        report.assert_flagged(PATTERN);
        let clean = LeakTest::new()
            .iterations(300)
            .seed(3)
            .run(|env: LeakEnv| async move {
                let counter = env.shared(|| Mutex::new(0u64));
                *counter.lock().unwrap() += 1;
                let scratch = vec![0u8; 1_000];
                drop(scratch);
            });
        assert!(clean.is_clean(), "{clean}");
    }

    #[test]
    fn shared_matches_by_type_and_order() {
        let env = LeakEnv::new(0, 4);
        env.begin_cycle(0);
        let a = env.shared(|| 1u32);
        let b = env.shared(|| 2u32);
        let s = env.shared(|| "x");
        env.begin_cycle(1);
        assert!(Arc::ptr_eq(&a, &env.shared(|| 10u32)));
        assert!(Arc::ptr_eq(&b, &env.shared(|| 20u32)));
        assert!(Arc::ptr_eq(&s, &env.shared(|| "y")));
        assert_eq!((*a, *b), (1, 2));
    }
}
