//! Measuring memory: a counting global allocator, user gauges, growth fits, extrapolation.
//!
//! # The counting allocator
//! [`CountingAllocator`] wraps the system allocator (or any other) and counts, **per thread**,
//! the bytes live, the peak of live bytes since the last reset, the number of allocations and
//! the bytes allocated. Install it once per test binary, at the top of `tests/<area>/main.rs`
//! (or `lib.rs`, or an example's `main.rs`):
//!
//! ```ignore
//! whatbreaks::install_counting_allocator!();
//! ```
//!
//! which is the same as
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: whatbreaks::measure::CountingAllocator =
//!     whatbreaks::measure::CountingAllocator::system();
//! ```
//!
//! Why per thread: `cargo test` runs tests on parallel threads of one process, so a
//! process-wide counter would mix the allocations of every test running at the time. A
//! simulation runs on its own thread (named `whatbreaks-sim`) with a current-thread runtime,
//! so everything the code under test allocates is counted on that thread and nothing else is.
//! Memory freed on a thread other than the one that allocated it is subtracted from the
//! freeing thread (its live count can go below zero); whatbreaks only compares readings of one
//! thread with each other, so that does not distort the figures.
//!
//! Cost: a few non-atomic additions in a thread-local per allocation and one relaxed atomic
//! load; no locks, no allocation, no destructor. Cheap enough to leave on in every test
//! binary.
//!
//! Detectors that need the allocator (the leak and scale detectors) check
//! [`installed`] first and report a configuration finding, naming the line to add, when it is
//! missing; they never panic.
//!
//! # Growth fits
//! [`linear_fit`] is the least-squares line through samples, with its R² (how much of the
//! variation the line explains: 1 is a perfect line). [`power_fit`] fits `y = c·x^k` by least
//! squares on `log x, log y`; the exponent `k` says how a figure grows with input size (0:
//! constant, 1: linear). [`Trend`] adds a persistence check used by the leak detector.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// A global allocator that counts allocations per thread; see the [module docs](self).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Counts allocations made through the system allocator.
    pub const fn system() -> Self {
        CountingAllocator { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Counts allocations made through `inner` (for binaries that use another allocator).
    pub const fn new(inner: A) -> Self {
        CountingAllocator { inner }
    }
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

struct Local {
    live: Cell<i64>,
    peak: Cell<i64>,
    allocations: Cell<u64>,
    allocated: Cell<u64>,
}

thread_local! {
    // `const` and without `Drop`: no lazy initialisation, no destructor registration, so it is
    // safe to touch from inside the allocator, even while the thread is shutting down.
    static LOCAL: Local = const {
        Local {
            live: Cell::new(0),
            peak: Cell::new(0),
            allocations: Cell::new(0),
            allocated: Cell::new(0),
        }
    };
}

#[inline]
fn on_alloc(size: usize) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    let _ = LOCAL.try_with(|l| {
        let live = l.live.get() + size as i64;
        l.live.set(live);
        if live > l.peak.get() {
            l.peak.set(live);
        }
        l.allocations.set(l.allocations.get() + 1);
        l.allocated.set(l.allocated.get() + size as u64);
    });
}

#[inline]
fn on_dealloc(size: usize) {
    let _ = LOCAL.try_with(|l| l.live.set(l.live.get() - size as i64));
}

// SAFETY: every method forwards to the inner allocator with the caller's arguments unchanged
// and only updates thread-local counters around the call (which never allocates).
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        on_dealloc(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            on_dealloc(layout.size());
            on_alloc(new_size);
        }
        p
    }
}

/// Installs [`CountingAllocator`] as the global allocator of the binary it is written in.
///
/// Write it once, at module level of the test binary's root (`tests/<area>/main.rs`), a
/// library's `lib.rs` or an example's `main.rs` (users of the facade write
/// `whatbreaks::install_counting_allocator!();`):
///
/// ```
/// whatbreaks_core::install_counting_allocator!();
///
/// fn main() {
///     assert!(whatbreaks_core::components::measure::installed());
///     let span = whatbreaks_core::components::measure::Span::start();
///     let v = vec![0u8; 4096];
///     assert!(span.finish().peak >= 4096);
///     drop(v);
/// }
/// ```
#[macro_export]
macro_rules! install_counting_allocator {
    () => {
        #[global_allocator]
        static __WHATBREAKS_COUNTING_ALLOCATOR: $crate::components::measure::CountingAllocator =
            $crate::components::measure::CountingAllocator::system();
    };
}

/// True when [`CountingAllocator`] is the global allocator of this process.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// What the counting allocator saw on one thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Bytes allocated minus bytes freed on this thread (may be negative, see the module docs).
    pub live: i64,
    /// Highest `live` since the thread started or since [`reset_thread_peak`].
    pub peak: i64,
    /// Allocations (including reallocations) made on this thread.
    pub allocations: u64,
    /// Bytes allocated on this thread, in all.
    pub allocated: u64,
}

/// The calling thread's counters (all zero when the allocator is not installed).
pub fn thread_stats() -> ThreadStats {
    LOCAL
        .try_with(|l| ThreadStats {
            live: l.live.get(),
            peak: l.peak.get(),
            allocations: l.allocations.get(),
            allocated: l.allocated.get(),
        })
        .unwrap_or_default()
}

/// Bytes live on the calling thread now (see [`ThreadStats::live`]).
pub fn thread_live() -> i64 {
    LOCAL.try_with(|l| l.live.get()).unwrap_or(0)
}

/// Starts a new peak on the calling thread: the peak becomes the current live bytes.
pub fn reset_thread_peak() {
    let _ = LOCAL.try_with(|l| l.peak.set(l.live.get()));
}

/// Measures what a stretch of code on the calling thread allocates; see [`Span::finish`].
///
/// ```
/// let span = whatbreaks_core::components::measure::Span::start();
/// let v = vec![0u8; 1 << 20];
/// drop(v);
/// let usage = span.finish();
/// // With the counting allocator installed, `usage.peak` is about 1 MiB; without it, 0.
/// assert!(usage.peak == 0 || usage.peak >= 1 << 20);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Span {
    start: ThreadStats,
}

/// What a [`Span`] measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Highest live bytes during the span, above the live bytes at its start.
    pub peak: i64,
    /// Live bytes at the end minus live bytes at the start (what the span kept).
    pub retained: i64,
    /// Allocations made during the span.
    pub allocations: u64,
}

impl Span {
    /// Starts measuring: resets the thread's peak.
    pub fn start() -> Self {
        reset_thread_peak();
        Span {
            start: thread_stats(),
        }
    }

    /// Ends the span.
    pub fn finish(self) -> Usage {
        let now = thread_stats();
        Usage {
            peak: (now.peak - self.start.live).max(0),
            retained: now.live - self.start.live,
            allocations: now.allocations - self.start.allocations,
        }
    }
}

/// A value a gauge can report: any primitive number.
pub trait GaugeValue {
    /// The value as `f64`.
    fn as_f64(&self) -> f64;
}

macro_rules! gauge_value {
    ($($t:ty),*) => {$(
        impl GaugeValue for $t {
            fn as_f64(&self) -> f64 {
                *self as f64
            }
        }
    )*};
}
gauge_value!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);

/// A least-squares line `y = intercept + slope·x` with its R².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearFit {
    /// Growth of `y` per unit of `x`.
    pub slope: f64,
    /// `y` at `x = 0`.
    pub intercept: f64,
    /// Coefficient of determination in `[0, 1]`; 1 when every point lies on the line (and, by
    /// convention, when `y` does not vary at all).
    pub r2: f64,
}

impl LinearFit {
    /// The line's value at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Fits a least-squares line through `(xs[i], ys[i])`; `None` with fewer than two points or
/// when every `x` is the same.
pub fn linear_fit(xs: &[f64], ys: &[f64]) -> Option<LinearFit> {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return None;
    }
    let (xs, ys) = (&xs[..n], &ys[..n]);
    let mx = xs.iter().sum::<f64>() / n as f64;
    let my = ys.iter().sum::<f64>() / n as f64;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy <= 0.0 {
        1.0
    } else {
        ((sxy * sxy) / (sxx * syy)).clamp(0.0, 1.0)
    };
    Some(LinearFit {
        slope,
        intercept: my - slope * mx,
        r2,
    })
}

/// A power law `y = coefficient·x^exponent` fitted on logarithms, with its R² (in log space).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerFit {
    /// How `y` grows with `x`: 0 constant, 1 linear, 2 quadratic.
    pub exponent: f64,
    /// `y` at `x = 1`.
    pub coefficient: f64,
    /// R² of the fit of `log y` against `log x`.
    pub r2: f64,
}

impl PowerFit {
    /// The law's value at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.coefficient * x.powf(self.exponent)
    }
}

/// Fits `y = c·x^k` by least squares on `(ln x, ln y)`. Points with `x ≤ 0` are skipped and
/// `y` is floored at 1 (a figure of zero bytes is "one byte" on a log scale). `None` with
/// fewer than two usable points.
pub fn power_fit(xs: &[f64], ys: &[f64]) -> Option<PowerFit> {
    let (lx, ly): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, _)| **x > 0.0)
        .map(|(x, y)| (x.ln(), y.max(1.0).ln()))
        .unzip();
    let line = linear_fit(&lx, &ly)?;
    Some(PowerFit {
        exponent: line.slope,
        coefficient: line.intercept.exp(),
        r2: line.r2,
    })
}

/// A series judged for steady growth: the leak detector's rule.
///
/// A series **grows steadily** when (1) its least-squares slope exceeds the threshold,
/// (2) the line explains at least half of its variation (R² ≥ [`MIN_R2`]), and (3) it grows in
/// at least three of its four quarters (by at least a quarter of the allowed rate, so that
/// noise does not count as growth). (3) is what keeps a one-off step (a lazy cache filled
/// once, a table resized once) from reading as a leak: a step lands in one quarter, a leak
/// shows in all of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trend {
    /// The least-squares line (slope per cycle).
    pub fit: LinearFit,
    /// Quarters of the series (by sample) whose last value is above their first.
    pub growing_quarters: usize,
    /// First value of the series.
    pub first: f64,
    /// Last value of the series.
    pub last: f64,
    /// Whether the series grows steadily (see above).
    pub steady_growth: bool,
}

/// The R² a growth fit needs before it counts (see [`Trend`]).
pub const MIN_R2: f64 = 0.5;

impl Trend {
    /// Judges `ys` sampled at `xs` against `max_slope` (growth per unit of `x` allowed).
    /// `None` with fewer than two samples.
    pub fn of(xs: &[f64], ys: &[f64], max_slope: f64) -> Option<Trend> {
        let fit = linear_fit(xs, ys)?;
        let n = ys.len();
        let growing_quarters = if n >= 5 {
            (0..4)
                .filter(|q| {
                    let a = q * (n - 1) / 4;
                    let b = (q + 1) * (n - 1) / 4;
                    // Growth of at least a quarter of the allowed rate: noise is not growth.
                    ys[b] - ys[a] > max_slope * (xs[b] - xs[a]) / 4.0
                })
                .count()
        } else {
            usize::from(ys[n - 1] > ys[0]) * 4
        };
        let steady_growth = fit.slope > max_slope && fit.r2 >= MIN_R2 && growing_quarters >= 3;
        Some(Trend {
            fit,
            growing_quarters,
            first: ys[0],
            last: ys[n - 1],
            steady_growth,
        })
    }
}

/// Eight levels of bar for text pictures.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line picture of a series: at most `columns` bars, each the mean of its samples,
/// scaled from the series' minimum (`▁`) to its maximum (`█`).
pub fn sparkline(ys: &[f64], columns: usize) -> String {
    if ys.is_empty() || columns == 0 {
        return String::new();
    }
    let cols = columns.min(ys.len());
    let means: Vec<f64> = (0..cols)
        .map(|c| {
            let a = c * ys.len() / cols;
            let b = ((c + 1) * ys.len() / cols).max(a + 1);
            ys[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    means
        .iter()
        .map(|v| {
            if hi - lo <= f64::EPSILON {
                BARS[0]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            }
        })
        .collect()
}

/// A horizontal bar of `width` cells for `value` out of `max`, with eighth-cell resolution.
pub fn bar(value: f64, max: f64, width: usize) -> String {
    if max <= 0.0 || value <= 0.0 {
        return "▏".into();
    }
    let eighths = ((value / max).min(1.0) * (width * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    if eighths % 8 > 0 {
        s.push(PARTS[eighths % 8]);
    }
    if s.is_empty() {
        s.push('▏');
    }
    s
}

/// Formats a whole number with thousands separators: `1,000,000`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a signed byte count: `+312 B`, `-1.5 KiB`.
pub fn format_signed_bytes(bytes: f64) -> String {
    let sign = if bytes < 0.0 { "-" } else { "+" };
    format!("{sign}{}", crate::spec::format_bytes(bytes.abs()))
}

#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: CountingAllocator = CountingAllocator::system();

/// The configuration finding for a binary without the counting allocator, for `what` (a
/// detector's attribute, e.g. `#[leak_test]`) that needs it; `None` when it is installed.
pub fn allocator_missing(what: &str) -> Option<crate::report::Finding> {
    if installed() {
        return None;
    }
    Some(
        crate::report::Finding::config(format!(
            "the counting allocator is not installed in this binary: {what} cannot measure memory"
        ))
        .with_evidence(vec![
            "whatbreaks::measure::installed() is false: no allocation went through whatbreaks::measure::CountingAllocator".into(),
        ])
        .with_fix("add `whatbreaks::install_counting_allocator!();` once, at the top of the test binary's root file (`tests/<area>/main.rs`, or `lib.rs` / `main.rs`)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_counts_per_thread() {
        assert!(installed());
        let before = thread_stats();
        let v = vec![0u8; 100_000];
        let during = thread_stats();
        assert!(during.live - before.live >= 100_000);
        assert!(during.allocations > before.allocations);
        // Another thread's allocations are not ours.
        std::thread::spawn(|| drop(vec![0u8; 1 << 20]))
            .join()
            .unwrap();
        assert!(thread_stats().peak - before.live < 1 << 20);
        drop(v);
        assert!(thread_live() - before.live < 1_000);
    }

    #[test]
    fn spans_measure_peak_and_retention() {
        let span = Span::start();
        let big = vec![1u8; 500_000];
        drop(big);
        let kept = vec![2u8; 1_000];
        let usage = span.finish();
        assert!(usage.peak >= 500_000, "{usage:?}");
        assert!((1_000..2_000).contains(&usage.retained), "{usage:?}");
        drop(kept);
    }

    #[test]
    fn fits() {
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 + 2.0 * x).collect();
        let f = linear_fit(&xs, &ys).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-9 && (f.intercept - 3.0).abs() < 1e-9);
        assert!((f.r2 - 1.0).abs() < 1e-9);
        assert_eq!(linear_fit(&[1.0], &[1.0]), None);
        let flat = linear_fit(&xs, &[5.0; 10]).unwrap();
        assert_eq!((flat.slope, flat.r2), (0.0, 1.0));

        let sizes = [1e3, 1e4, 1e5];
        let p = power_fit(&sizes, &sizes.map(|n| 300.0 * n)).unwrap();
        assert!((p.exponent - 1.0).abs() < 1e-9, "{p:?}");
        assert!((p.at(5e8) / 1.5e11 - 1.0).abs() < 1e-6);
        let c = power_fit(&sizes, &[4e5, 4e5, 4e5]).unwrap();
        assert!(c.exponent.abs() < 1e-9);
    }

    #[test]
    fn trends_tell_a_leak_from_a_step() {
        let xs: Vec<f64> = (0..100).map(f64::from).collect();
        let leak: Vec<f64> = xs.iter().map(|x| 1_000.0 + 300.0 * x).collect();
        assert!(Trend::of(&xs, &leak, 8.0).unwrap().steady_growth);
        // A one-off 64 KiB step at sample 60: large slope, but only one quarter grows.
        let step: Vec<f64> = xs
            .iter()
            .map(|x| if *x < 60.0 { 1_000.0 } else { 66_536.0 })
            .collect();
        let t = Trend::of(&xs, &step, 8.0).unwrap();
        assert!(t.fit.slope > 8.0);
        assert_eq!(t.growing_quarters, 1);
        assert!(!t.steady_growth);
        let flat = vec![1_000.0; 100];
        assert!(!Trend::of(&xs, &flat, 8.0).unwrap().steady_growth);
    }

    #[test]
    fn pictures_and_numbers() {
        assert_eq!(
            sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 8),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline(&[5.0; 20], 4), "▁▁▁▁");
        assert_eq!(bar(1.0, 1.0, 4), "████");
        assert_eq!(bar(0.0, 1.0, 4), "▏");
        assert_eq!(format_count(1_000_000), "1,000,000");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_signed_bytes(312.0), "+312 B");
    }
}
