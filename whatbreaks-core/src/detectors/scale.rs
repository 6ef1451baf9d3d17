//! Unbounded memory at scale: does peak memory grow with the size of the input?
//!
//! # The scenario
//! The body takes a size `n` (rows in a table, items in a batch) and does its work once at
//! that size, for example exporting a [`crate::components::table::Table`] of `n` generated rows to
//! [`crate::components::sink::discard()`]. whatbreaks runs it at each of `sizes` (default 1,000, 10,000
//! and 100,000), smallest first, on the simulation thread, and records the peak of the bytes
//! live on that thread above what was live when the size started (counted by
//! [`crate::components::measure::CountingAllocator`], which must be installed) and the virtual time taken.
//!
//! # The metric: the growth exponent, extrapolated to `target`
//! How a figure grows with `n` is its exponent `k` in `figure ∝ n^k` (0: constant, 1: linear).
//! whatbreaks takes `k` between the **two largest sizes** (where the asymptotic behaviour
//! shows; small sizes are dominated by fixed costs such as one batch of a cursor) and
//! extrapolates from the largest measured size to `target` (default 500,000,000). When the
//! growth is about linear (`0.7 ≤ k ≤ 1.3`) the model is a line with an intercept through the
//! two largest sizes, `peak(target) = peak(n_max) + b · (target − n_max)`: a `Vec` that grows
//! by doubling measures as `n^0.9` between two sizes, and a power law would underestimate it
//! by half at 500 million rows, while the line matches the bytes per row. Otherwise it is the
//! power law `peak(n_max) · (target / n_max)^k`, with `k` clamped to `[0, 3]`. The estimate
//! comes with a range: for the line, the slopes of the last two intervals (three sizes or
//! more); for the power law, the exponents of the last two intervals. The least-squares fit
//! over all sizes (`power_fit`, with its R²) is printed as evidence.
//!
//! The code is **flagged** when the extrapolated peak exceeds `max_peak` (default 1 GiB), and,
//! when `max_time` is given, when the extrapolated virtual time exceeds it (pattern
//! `slow at scale`). Streaming through a bounded buffer has `k ≈ 0` and passes; materializing
//! the input (`fetch_all()`, `collect::<Vec<_>>()`) has `k ≈ 1` and is flagged.
//!
//! ```
//! use whatbreaks_core::detectors::scale::ScaleTest;
//! use whatbreaks_core::components::table::Table;
//!
//! whatbreaks_core::install_counting_allocator!();
//!
//! fn main() {
//!     let report = ScaleTest::new().sizes(&[1_000, 4_000, 16_000]).seed(1).run(|n: u64| async move {
//!         let table = Table::generated(n, |i| format!("row {i:>40}"));
//!         let all = table.fetch_all().await; // every row in memory at once
//!         assert_eq!(all.len() as u64, n);
//!     });
//!     assert!(report.flagged("unbounded memory at scale"), "{report}");
//! }
//! ```

use crate::components::measure::{PowerFit, Span, bar, format_count, power_fit};
use crate::report::{Finding, Report};
use crate::runtime::sim::{self, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::{format_bytes, format_duration};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of memory findings.
pub const PATTERN: &str = "unbounded memory at scale";

/// The pattern name of time findings (only with `max_time`).
pub const PATTERN_TIME: &str = "slow at scale";

/// Largest growth exponent used for extrapolation.
pub const MAX_EXPONENT: f64 = 3.0;

/// An unbounded-memory-at-scale scenario (builder). `#[scale_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct ScaleTest {
    settings: Settings,
    sizes: Vec<u64>,
    target: u64,
    max_peak: u64,
    max_time: Option<Duration>,
    unit: String,
}

crate::scenario::impl_common_settings!(ScaleTest);

impl Default for ScaleTest {
    fn default() -> Self {
        Self::new()
    }
}

/// What one size measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    /// The size.
    pub n: u64,
    /// Peak bytes live above the start of the size.
    pub peak: i64,
    /// Bytes still live at the end of the size.
    pub retained: i64,
    /// Allocations made.
    pub allocations: u64,
    /// Virtual time taken.
    pub time: Duration,
}

/// A figure's growth between the two largest sizes, and its extrapolation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Growth {
    /// The exponent `k` between the two largest sizes, clamped to `[0, 3]`.
    pub exponent: f64,
    /// The least-squares fit over every size.
    pub fit: Option<PowerFit>,
    /// The figure extrapolated to the target size.
    pub at_target: f64,
    /// The extrapolation's range, `(low, high)` (see the module docs).
    pub range: (f64, f64),
    /// True when the line with an intercept was used (growth about linear), false for the
    /// power law.
    pub linear: bool,
}

impl Growth {
    /// Growth of `ys` over `ns`, extrapolated to `target` (see the module docs); `None` with
    /// fewer than two sizes.
    pub fn of(ns: &[f64], ys: &[f64], target: f64) -> Option<Growth> {
        let n = ns.len().min(ys.len());
        if n < 2 {
            return None;
        }
        let (n1, n2) = (ns[n - 2], ns[n - 1]);
        let (y1, y2) = (ys[n - 2].max(1.0), ys[n - 1].max(1.0));
        if n1 <= 0.0 || n2 <= n1 {
            return None;
        }
        let raw = (y2 / y1).ln() / (n2 / n1).ln();
        let exponent = raw.clamp(0.0, MAX_EXPONENT);
        let ahead = (target - n2).max(0.0);
        let power = |k: f64| y2 * (target / n2).max(1.0).powf(k.clamp(0.0, MAX_EXPONENT));
        let line = |slope: f64| y2 + slope.max(0.0) * ahead;
        let linear = (0.7..=1.3).contains(&raw);
        // The interval before the last one, when there is one, bounds the estimate.
        let earlier =
            (n >= 3 && ns[n - 3] > 0.0 && ns[n - 3] < n1).then(|| (ns[n - 3], ys[n - 3].max(1.0)));
        let (at_target, other) = if linear {
            let slope = (y2 - y1) / (n2 - n1);
            let other = earlier.map(|(n0, y0)| line((y1 - y0) / (n1 - n0)));
            (line(slope), other.unwrap_or(power(exponent)))
        } else {
            let other = earlier.map(|(n0, y0)| power((y1 / y0).ln() / (n1 / n0).ln()));
            (power(exponent), other.unwrap_or(power(exponent)))
        };
        Some(Growth {
            exponent,
            fit: power_fit(ns, ys),
            at_target,
            range: (at_target.min(other), at_target.max(other)),
            linear,
        })
    }
}

/// The analysis of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleAnalysis {
    /// Each size, smallest first.
    pub points: Vec<Measured>,
    /// Growth of the peak.
    pub peak: Option<Growth>,
    /// Growth of the virtual time, in milliseconds.
    pub time: Option<Growth>,
    /// The target size.
    pub target: u64,
    /// Whether the extrapolated peak exceeds `max_peak`.
    pub memory_flagged: bool,
    /// Whether the extrapolated time exceeds `max_time`.
    pub time_flagged: bool,
}

impl ScaleAnalysis {
    /// Judges the measurements (see the module docs).
    pub fn of(
        points: Vec<Measured>,
        target: u64,
        max_peak: u64,
        max_time: Option<Duration>,
    ) -> Self {
        let ns: Vec<f64> = points.iter().map(|p| p.n as f64).collect();
        let peaks: Vec<f64> = points.iter().map(|p| p.peak as f64).collect();
        // Milliseconds: the timer's grain, and the floor of the log scale.
        let times: Vec<f64> = points.iter().map(|p| p.time.as_secs_f64() * 1e3).collect();
        let peak = Growth::of(&ns, &peaks, target as f64);
        let time = Growth::of(&ns, &times, target as f64);
        let largest = points.last();
        let memory_flagged = peak.is_some_and(|g| g.at_target > max_peak as f64)
            || largest.is_some_and(|p| p.peak > max_peak as i64);
        let time_flagged = max_time.is_some_and(|max| {
            time.is_some_and(|g| g.at_target > max.as_secs_f64() * 1e3)
                || largest.is_some_and(|p| p.time > max)
        });
        ScaleAnalysis {
            points,
            peak,
            time,
            target,
            memory_flagged,
            time_flagged,
        }
    }

    /// The headline number, e.g. `peak ∝ n^1.00: 500,000,000 rows need ~480 GiB` (the
    /// finding's evidence says "peak grows as n^1.00: …").
    pub fn key_figure(&self, unit: &str) -> String {
        match self.peak {
            Some(g) => format!(
                "peak ∝ n^{:.2}: {} {unit}s need ~{}",
                g.exponent,
                format_count(self.target),
                format_bytes(g.at_target)
            ),
            None => "not enough sizes measured".into(),
        }
    }
}

impl ScaleTest {
    /// Sizes 1,000, 10,000, 100,000; target 500,000,000; `max_peak` 1 GiB; no `max_time`.
    pub fn new() -> Self {
        ScaleTest {
            settings: Settings::default(),
            sizes: vec![1_000, 10_000, 100_000],
            target: 500_000_000,
            max_peak: 1 << 30,
            max_time: None,
            unit: "row".into(),
        }
    }

    /// Sizes to measure, at least two (default `[1_000, 10_000, 100_000]`); sorted and
    /// deduplicated.
    pub fn sizes(mut self, sizes: &[u64]) -> Self {
        let mut s = sizes.to_vec();
        s.sort_unstable();
        s.dedup();
        self.sizes = s;
        self
    }

    /// The production size to extrapolate to (default 500,000,000).
    pub fn target(mut self, n: u64) -> Self {
        self.target = n;
        self
    }

    /// Peak memory allowed at the target size, in bytes (default 1 GiB).
    pub fn max_peak(mut self, bytes: u64) -> Self {
        self.max_peak = bytes;
        self
    }

    /// Virtual time allowed at the target size (default: not checked).
    pub fn max_time(mut self, limit: Duration) -> Self {
        self.max_time = Some(limit);
        self
    }

    /// What one unit of size is called in messages (default `row`).
    pub fn unit(mut self, name: &str) -> Self {
        self.unit = name.to_string();
        self
    }

    fn scenario(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|n| format_count(*n)).collect();
        let mut s = format!(
            "sizes {} {}s, extrapolated to {}, max_peak {}",
            sizes.join(", "),
            self.unit,
            format_count(self.target),
            format_bytes(self.max_peak as f64)
        );
        if let Some(t) = self.max_time {
            s.push_str(&format!(", max_time {}", format_duration(t)));
        }
        s
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` does the work once at size `n`.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the analysis.
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, ScaleAnalysis)
    where
        B: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let sizes = self.sizes.clone();
        let run = sim::simulate(limits, move || async move {
            let out = Rc::new(RefCell::new(Vec::with_capacity(sizes.len())));
            let o = out.clone();
            sim::run_clients(&[Duration::ZERO], move |_| {
                let (out, body, sizes) = (o.clone(), body.clone(), sizes.clone());
                async move {
                    for &n in &sizes {
                        sim::begin_request();
                        let started = tokio::time::Instant::now();
                        let span = Span::start();
                        body(n).await;
                        let usage = span.finish();
                        sim::touch();
                        out.borrow_mut().push(Measured {
                            n,
                            peak: usage.peak,
                            retained: usage.retained,
                            allocations: usage.allocations,
                            time: started.elapsed(),
                        });
                    }
                }
            })
            .await;
            out.take()
        });
        let scenario = self.scenario();
        let mut findings = harness_findings(&run, limits, &scenario);
        let points = run.value.unwrap_or_default();
        let analysis = ScaleAnalysis::of(points, self.target, self.max_peak, self.max_time);
        if findings.is_empty() {
            if analysis.memory_flagged {
                findings.push(self.memory_finding(&analysis, scenario.clone()));
            }
            if analysis.time_flagged {
                findings.push(self.time_finding(&analysis, scenario));
            }
        }
        let mut figures = Vec::new();
        if let Some(g) = analysis.peak {
            figures.push(("peak exponent".into(), format!("{:.2}", g.exponent)));
            figures.push(("peak at target".into(), format!("{:.0}", g.at_target)));
        }
        if let Some(g) = analysis.time {
            figures.push(("time exponent".into(), format!("{:.2}", g.exponent)));
            figures.push((
                "seconds at target".into(),
                format!("{:.1}", g.at_target / 1e3),
            ));
        }
        for p in &analysis.points {
            figures.push((format!("peak at {}", p.n), p.peak.to_string()));
        }
        let unit = &self.unit;
        let points = |f: fn(&Measured) -> f64| -> Vec<(f64, f64)> {
            analysis.points.iter().map(|p| (p.n as f64, f(p))).collect()
        };
        let charts = vec![
            crate::report::Chart::new(
                format!("memory against input size ({unit}s)"),
                crate::report::ChartKind::Line,
                format!("input size ({unit}s)"),
                "bytes",
            )
            .series("peak", points(|p| p.peak as f64))
            .series("retained", points(|p| p.retained as f64)),
        ];
        let result = SeedResult {
            findings,
            key_figure: analysis.key_figure(&self.unit),
            figures,
            charts,
            activity: None,
        };
        (result, analysis)
    }

    fn table(&self, a: &ScaleAnalysis) -> Vec<String> {
        let width = a
            .points
            .iter()
            .map(|p| format_count(p.n).len())
            .max()
            .unwrap_or(1);
        a.points
            .iter()
            .map(|p| {
                format!(
                    "n={:<width$}  peak {:>9}  time {:>8}  allocations {}",
                    format_count(p.n),
                    format_bytes(p.peak as f64),
                    format_duration(p.time),
                    format_count(p.allocations)
                )
            })
            .collect()
    }

    fn fit_line(g: &Growth) -> String {
        match g.fit {
            Some(f) => format!(
                "between the two largest sizes; least squares over all sizes: n^{:.2}, R² {:.2}",
                f.exponent, f.r2
            ),
            None => "between the two largest sizes".into(),
        }
    }

    fn memory_finding(&self, a: &ScaleAnalysis, scenario: String) -> Finding {
        let mut f = Finding::bug(PATTERN, "peak memory grows with input size");
        f.scenario = scenario;
        f.evidence = self.table(a);
        if let Some(g) = a.peak {
            f.evidence.push(format!(
                "peak grows as n^{:.2}: {} {}s need ~{}, above max_peak {} ({})",
                g.exponent,
                format_count(a.target),
                self.unit,
                format_bytes(g.at_target),
                format_bytes(self.max_peak as f64),
                Self::fit_line(&g)
            ));
        }
        let max = a.points.iter().map(|p| p.peak).max().unwrap_or(1) as f64;
        let width = format_count(a.target).len();
        let mut picture: Vec<String> = a
            .points
            .iter()
            .map(|p| {
                format!(
                    "n={:<width$} {} {}",
                    format_count(p.n),
                    bar(p.peak as f64, max, 30),
                    format_bytes(p.peak as f64)
                )
            })
            .collect();
        if let Some(g) = a.peak {
            picture.push(format!(
                "n={:<width$} ~{} (extrapolated, {:.0}× the largest measured)",
                format_count(a.target),
                format_bytes(g.at_target),
                g.at_target / max.max(1.0)
            ));
            f.evidence.push(format!(
                "extrapolated with {}: {} at {} {}s, range {} to {}",
                if g.linear {
                    "a line through the two largest sizes (growth about linear)"
                } else {
                    "the power law between the two largest sizes"
                },
                format_bytes(g.at_target),
                format_count(a.target),
                self.unit,
                format_bytes(g.range.0),
                format_bytes(g.range.1)
            ));
        }
        f.picture = Some(("memory".into(), picture.join("\n")));
        f.fix = format!(
            "stream instead of materializing: read through a server-side cursor in batches (`table.rows()`), write each {} as it arrives through a bounded buffer (`BufWriter::with_capacity`), and never hold the whole input (`fetch_all()`, `collect::<Vec<_>>()`, an ever-growing output buffer) before writing",
            self.unit
        );
        f
    }

    fn time_finding(&self, a: &ScaleAnalysis, scenario: String) -> Finding {
        let mut f = Finding::bug(PATTERN_TIME, "virtual time grows past max_time at scale");
        f.scenario = scenario;
        f.evidence = self.table(a);
        if let Some(g) = a.time {
            f.evidence.push(format!(
                "time grows as n^{:.2}: {} {}s take ~{}, above max_time {} ({})",
                g.exponent,
                format_count(a.target),
                self.unit,
                format_duration(Duration::from_secs_f64((g.at_target / 1e3).min(1e12))),
                format_duration(self.max_time.unwrap_or_default()),
                Self::fit_line(&g)
            ));
        }
        f.fix = "fetch in larger batches or in parallel, move per-row round trips into one query, or split the job so each part fits the time budget".into();
        f
    }
}

/// The peak memory a closure's work needs on the calling thread (for quick checks outside a
/// scenario); 0 when the counting allocator is not installed.
pub fn peak_of<T>(work: impl FnOnce() -> T) -> (T, i64) {
    let span = Span::start();
    let out = work();
    (out, span.finish().peak.max(0))
}

impl<B, Fut> Scenario<Arc<B>> for ScaleTest
where
    B: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "scale".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario()
    }
    fn check(&self, p: &mut Problems) {
        if self.sizes.len() < 2 || self.sizes[0] == 0 {
            p.invalid(
                "sizes",
                &self.sizes,
                "needs at least two sizes above zero to measure growth: give at least two sizes a factor of ten apart, e.g. `sizes = [1_000, 10_000, 100_000]`",
            );
        }
        p.at_least("target", self.target, 1);
        if let Some(f) = crate::components::measure::allocator_missing("#[scale_test]") {
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
    use crate::components::table::Table;
    use crate::report::FindingKind;

    fn point(n: u64, peak: i64, ms: u64) -> Measured {
        Measured {
            n,
            peak,
            retained: 0,
            allocations: 0,
            time: Duration::from_millis(ms),
        }
    }

    fn text_of(a: &ScaleAnalysis) -> String {
        ScaleTest::new().memory_finding(a, String::new()).render()
    }

    #[test]
    fn linear_peak_is_extrapolated_and_flagged() {
        let pts = vec![
            point(1_000, 1_030_000, 1),
            point(10_000, 10_300_000, 10),
            point(100_000, 103_000_000, 100),
        ];
        let a = ScaleAnalysis::of(pts, 500_000_000, 1 << 30, None);
        assert!(a.memory_flagged && !a.time_flagged);
        assert_eq!(
            a.key_figure("row"),
            "peak ∝ n^1.00: 500,000,000 rows need ~480 GiB"
        );
        assert!(text_of(&a).contains("peak grows as n^1.00: 500,000,000 rows need ~480 GiB"));
        let f = ScaleTest::new().memory_finding(&a, "s".into());
        let text = f.render();
        assert!(text.contains("n=100,000  peak  98.2 MiB"), "{text}");
        assert!(
            text.contains("memory    n=1,000       ▎ 1006 KiB"),
            "{text}"
        );
        assert!(text.contains("~480 GiB (extrapolated"), "{text}");
    }

    #[test]
    fn a_vec_grown_by_doubling_is_extrapolated_by_its_bytes_per_row() {
        // Peak of a Vec collected row by row: old and new buffers live at the last doubling.
        let peak = |n: u64| 1.5 * n.next_power_of_two() as f64 * 96.0;
        let ns = [1_000.0, 10_000.0, 100_000.0];
        let ys: Vec<f64> = ns.iter().map(|n| peak(*n as u64)).collect();
        let g = Growth::of(&ns, &ys, 500e6).unwrap();
        assert!(g.exponent < 0.95, "two points read it as sublinear: {g:?}");
        assert!(g.linear, "{g:?}");
        let per_row = ys[2] / ns[2] * 500e6;
        assert!(
            (g.at_target / per_row - 1.0).abs() < 0.15,
            "{g:?} vs {per_row}"
        );
        assert!(
            g.range.0 <= g.at_target && g.at_target <= g.range.1,
            "{g:?}"
        );
        let truth = peak(500_000_000);
        assert!((g.at_target / truth - 1.0).abs() < 0.25, "{g:?} vs {truth}");
    }

    #[test]
    fn constant_peak_passes_and_time_is_checked_when_asked() {
        let pts = vec![
            point(1_000, 400_000, 1),
            point(10_000, 410_000, 10),
            point(100_000, 410_000, 100),
        ];
        let a = ScaleAnalysis::of(pts.clone(), 500_000_000, 1 << 30, None);
        assert!(!a.memory_flagged, "{a:?}");
        assert_eq!(a.peak.unwrap().exponent, 0.0);
        let slow = ScaleAnalysis::of(pts, 500_000_000, 1 << 30, Some(Duration::from_secs(60)));
        assert!(slow.time_flagged);
        assert!((slow.time.unwrap().at_target - 500_000.0).abs() < 1.0);
    }

    #[test]
    fn runs_measure_the_simulation_thread() {
        let sizes = [1_000, 4_000, 16_000];
        let flagged = ScaleTest::new()
            .sizes(&sizes)
            .seed(1)
            .run(|n: u64| async move {
                let t = Table::generated(n, |i| vec![i as u8; 64]);
                let all = t.fetch_all().await;
                assert_eq!(all.len() as u64, n);
            });
        flagged.assert_flagged(PATTERN);
        let clean = ScaleTest::new()
            .sizes(&sizes)
            .seed(1)
            .max_time(Duration::from_secs(3_600))
            .run(|n: u64| async move {
                use futures::StreamExt;
                let t = Table::generated(n, |i| vec![i as u8; 64]);
                let mut rows = t.rows();
                while let Some(r) = rows.next().await {
                    drop(r);
                }
            });
        assert!(clean.is_clean(), "{clean}");
        let bad = ScaleTest::new().sizes(&[10]).run(|_| async {});
        assert_eq!(bad.findings[0].kind, FindingKind::Config);
        let (_, peak) = peak_of(|| vec![0u8; 10_000]);
        assert!(peak >= 10_000);
        assert!(crate::components::measure::installed());
    }
}
