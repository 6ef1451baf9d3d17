//! The classic backoff comparison, reproduced on whatbreaks' runtime: N clients contend on one
//! row with optimistic concurrency, each retrying with a backoff strategy.
//!
//! This is the model of the AWS Architecture Blog post "Exponential Backoff And Jitter"
//! (Marc Brooker, 2015). One row holds a version number. Each client wants to update it once:
//! it reads the version, then writes with that version, and the write succeeds only if the
//! version is still current (a conditional write). A client whose write lost retries the
//! read and the write after a backoff. Every hop on the network takes a delay drawn from a
//! normal distribution (mean 10 ms, deviation 2 ms); backoff base 5 ms, cap 2 s. All clients
//! start together.
//!
//! For each strategy ([`Strategy`]) and client count, the comparison reports the total write
//! calls (reads are not counted) and the completion time (when the last client learned that
//! its write succeeded), averaged over runs, and checks the post's published claims
//! ([`ComparisonTable::claims`]) and the numbers of the post's own simulator ([`REFERENCE`]:
//! every cell within 5% on calls and 10% on time, [`ComparisonTable::against_reference`]).
//!
//! How many runs a cell averages ([`Runs`]): by default, as many as its means need to be
//! stable (standard error within 1% of the mean calls and 2% of the mean time, at least 20
//! runs, at most 2000). The spread differs by cell: the completion time of a jittered strategy
//! at 10 to 40 clients varies by 20-28% from run to run (90 to 200 runs for a 2% standard
//! error), that of exponential backoff at 10 clients by 37% (364 runs), while 190 clients
//! without backoff vary by 2% (20 runs, the least, are plenty; half the cells take 20). The
//! full grid is 4713 runs, 22 s in release. A fixed count
//! ([`BackoffComparison::runs`]) is for quick looks: its table is not judged by the reference.
//!
//! The clients run on virtual time like every whatbreaks scenario. Because tokio's timers have
//! a 1 ms grain, the model runs 1000 times slower in virtual time (1 model millisecond is
//! 1 virtual second), which gives the model a 1 µs grain; it costs nothing in wall time.
//!
//! ```
//! use whatbreaks_core::detectors::backoff::{BackoffComparison, Strategy};
//!
//! let table = BackoffComparison::new().clients(&[20]).runs(2).run();
//! let none = table.cell(Strategy::None, 20).unwrap();
//! assert!(none.calls >= 20.0); // every client writes at least once
//! ```

use crate::report::{Finding, Report};
use crate::runtime::sim::{self, RunLimits};
use rand::RngExt;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// The pattern name of a comparison whose results contradict the published claims.
pub const PATTERN: &str = "backoff comparison";

/// A backoff strategy, with the post's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// Retry at once.
    None,
    /// `min(cap, base * 2^attempt)`.
    Exponential,
    /// `random(0, min(cap, base * 2^attempt))`.
    FullJitter,
    /// `v / 2 + random(0, v / 2)` with `v = min(cap, base * 2^attempt)`.
    EqualJitter,
    /// `min(cap, random(base, previous * 3))`.
    Decorrelated,
}

impl Strategy {
    /// Every strategy, in the post's order.
    pub const ALL: [Strategy; 5] = [
        Strategy::None,
        Strategy::Exponential,
        Strategy::FullJitter,
        Strategy::EqualJitter,
        Strategy::Decorrelated,
    ];

    /// The strategy's name, e.g. `full jitter`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::Exponential => "exponential",
            Strategy::FullJitter => "full jitter",
            Strategy::EqualJitter => "equal jitter",
            Strategy::Decorrelated => "decorrelated",
        }
    }

    /// The sleep before retry `attempt` (1 for the first retry), in model milliseconds.
    /// `previous` is the previous sleep (decorrelated jitter feeds on it; start it at `base`).
    /// Draws from [`sim::rng`].
    pub fn delay(self, attempt: u32, base: f64, cap: f64, previous: &mut f64) -> f64 {
        let expo = (base * 2f64.powi(attempt.min(60) as i32)).min(cap);
        let mut rng = sim::rng();
        let d = match self {
            Strategy::None => 0.0,
            Strategy::Exponential => expo,
            Strategy::FullJitter => rng.random_range(0.0..=expo),
            Strategy::EqualJitter => expo / 2.0 + rng.random_range(0.0..=expo / 2.0),
            Strategy::Decorrelated => {
                let hi = (*previous * 3.0).max(base);
                rng.random_range(base..=hi).min(cap)
            }
        };
        *previous = d;
        d
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many runs a cell of the comparison averages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Runs {
    /// Exactly this many runs per cell.
    Fixed(u32),
    /// Runs until the standard error of the mean calls is within `calls_se` of the mean and
    /// that of the mean completion time within `time_se` (fractions: `0.01` is 1%), at least
    /// `min` runs and at most `max`.
    UntilStable {
        /// Fewest runs (the standard errors are estimated from the runs themselves).
        min: u32,
        /// Most runs, stable or not ([`Measurement::stable`] says which).
        max: u32,
        /// Target standard error of the mean calls, as a fraction of the mean.
        calls_se: f64,
        /// Target standard error of the mean completion time, as a fraction of the mean.
        time_se: f64,
    },
}

impl Runs {
    /// The default: until the standard errors are within 1% (calls) and 2% (time) of the
    /// means, 20 to 2000 runs. Against [`REFERENCE`]'s 500-run means (whose own standard errors
    /// are at most 0.4% on calls and 1.7% on time), 5% on calls is at least 4.6 standard errors
    /// of the difference and 10% on time at least 3.8: a cell that reproduces the simulator
    /// strays by chance about once in 8000 cells (more where the runs' own estimate of their
    /// spread ran low; the 95 cells of the default grid land within 2.9 standard errors).
    pub const STABLE: Runs = Runs::UntilStable {
        min: 20,
        max: 2000,
        calls_se: 0.01,
        time_se: 0.02,
    };
}

impl fmt::Display for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Runs::Fixed(n) => write!(f, "{n} runs per cell"),
            Runs::UntilStable {
                min,
                max,
                calls_se,
                time_se,
            } => write!(
                f,
                "runs per cell until the standard error is within {}% of the mean calls and {}% of the mean time ({min} to {max} runs)",
                calls_se * 100.0,
                time_se * 100.0
            ),
        }
    }
}

/// The comparison (builder).
#[derive(Clone, Debug)]
pub struct BackoffComparison {
    clients: Vec<u32>,
    runs: Runs,
    seed: u64,
    base_ms: f64,
    cap_ms: f64,
    delay_ms: f64,
    delay_sd_ms: f64,
}

impl Default for BackoffComparison {
    fn default() -> Self {
        Self::new()
    }
}

/// One strategy at one client count, averaged over the runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The strategy.
    pub strategy: Strategy,
    /// Contending clients.
    pub clients: u32,
    /// Runs averaged.
    pub runs: u32,
    /// Mean write calls per run.
    pub calls: f64,
    /// Mean completion time per run, in milliseconds.
    pub time_ms: f64,
    /// Standard error of the mean calls (0 for a single run).
    pub calls_se: f64,
    /// Standard error of the mean completion time, in milliseconds (0 for a single run).
    pub time_ms_se: f64,
    /// Whether the runs met the [`Runs::UntilStable`] targets (always true for
    /// [`Runs::Fixed`], which has none).
    pub stable: bool,
}

/// The results of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonTable {
    /// Client counts, in order.
    pub clients: Vec<u32>,
    /// How many runs each cell averaged ([`Measurement::runs`] says how many it took).
    pub runs: Runs,
    /// Every cell, strategy-major.
    pub outcomes: Vec<Measurement>,
}

/// The mean of one cell of Brooker's simulator: `(strategy, clients, calls, completion ms)`.
pub type ReferenceCell = (Strategy, u32, f64, f64);

/// How far a cell's mean calls may stray from [`REFERENCE`]'s, as a fraction (5%).
pub const REFERENCE_CALLS_TOLERANCE: f64 = 0.05;
/// How far a cell's mean completion time may stray from [`REFERENCE`]'s, as a fraction (10%).
pub const REFERENCE_TIME_TOLERANCE: f64 = 0.10;

/// One cell of a table next to the same cell of [`REFERENCE`].
#[derive(Clone, Debug, PartialEq)]
pub struct Deviation {
    /// Our cell.
    pub ours: Measurement,
    /// The simulator's mean write calls.
    pub reference_calls: f64,
    /// The simulator's mean completion time, in milliseconds.
    pub reference_time_ms: f64,
}

impl Deviation {
    /// `ours / reference - 1` on calls (`0.03` is 3% more calls).
    pub fn calls(&self) -> f64 {
        self.ours.calls / self.reference_calls - 1.0
    }

    /// `ours / reference - 1` on completion time.
    pub fn time(&self) -> f64 {
        self.ours.time_ms / self.reference_time_ms - 1.0
    }

    /// Within [`REFERENCE_CALLS_TOLERANCE`] on calls and [`REFERENCE_TIME_TOLERANCE`] on time.
    pub fn holds(&self) -> bool {
        self.calls().abs() <= REFERENCE_CALLS_TOLERANCE
            && self.time().abs() <= REFERENCE_TIME_TOLERANCE
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} @ {}: {:.1} calls vs {:.1} ({:+.1}%), {:.0} ms vs {:.0} ms ({:+.1}%), {} runs",
            self.ours.strategy,
            self.ours.clients,
            self.ours.calls,
            self.reference_calls,
            100.0 * self.calls(),
            self.ours.time_ms,
            self.reference_time_ms,
            100.0 * self.time(),
            self.ours.runs
        )
    }
}

/// The means of the post's own simulator, every strategy at 10, 20, …, 190 clients.
///
/// Where they come from: Marc Brooker's simulator for the post, the public repository
/// `aws-samples/aws-arch-backoff-simulator`, `src/backoff_simulator.py` at commit
/// `66cb169277051eea207dbef8c7f71767fe6af144` (2015-02-25), run under Python 2.7.18 with its
/// own model and parameters (`Net(10, 2)`, `backoff_cls(5, 2000)`, the clients of its grid)
/// unchanged, driven by a loop of our own outside this repository in place of its `run()`:
/// 500 runs per cell instead of its 100, `random.seed` once per cell, and the means kept as
/// floats (its CSV truncates them to integers). The largest standard error of these means is
/// 0.4% of the mean on calls (exponential backoff at 20 clients) and 1.7% on time (at 10).
/// The simulator's own CSV (100 runs, unchanged) is within 2.2% on calls and 7.6% on time of
/// them.
///
/// Its model, which ours follows ([`BackoffComparison`]): each client sends a read (one hop
/// of `abs(normal(10, 2))` ms), gets the version back (a hop), sends the conditional write (a
/// hop), gets the outcome back (a hop); after a lost write it sleeps the backoff of attempt
/// `n` (1 for the first retry) and starts over. A hop's delay is drawn per hop, each way. Only
/// writes are counted; the time of a run is that of its last event, the last client hearing
/// that its write succeeded; the per-run means are averaged over runs. Exponential sleeps are
/// `min(2000, 5 * 2^n)`; decorrelated jitter starts from `sleep = 5` and feeds on its capped
/// sleep, `sleep = min(2000, uniform(5, 3 * sleep))`.
pub const REFERENCE: [ReferenceCell; 95] = {
    use Strategy::{Decorrelated, EqualJitter, Exponential, FullJitter, None};
    [
        (None, 10, 50.7, 379.0),
        (None, 20, 151.6, 600.9),
        (None, 30, 287.6, 777.6),
        (None, 40, 467.9, 959.3),
        (None, 50, 689.7, 1139.3),
        (None, 60, 955.6, 1320.7),
        (None, 70, 1262.9, 1502.6),
        (None, 80, 1606.8, 1677.4),
        (None, 90, 1998.3, 1857.0),
        (None, 100, 2422.4, 2026.8),
        (None, 110, 2887.6, 2199.1),
        (None, 120, 3393.0, 2371.0),
        (None, 130, 3939.7, 2543.1),
        (None, 140, 4521.1, 2711.4),
        (None, 150, 5138.0, 2875.2),
        (None, 160, 5800.5, 3042.9),
        (None, 170, 6500.4, 3211.7),
        (None, 180, 7229.9, 3373.0),
        (None, 190, 8002.1, 3535.9),
        (Exponential, 10, 50.8, 3440.3),
        (Exponential, 20, 149.7, 14330.9),
        (Exponential, 30, 276.2, 22445.8),
        (Exponential, 40, 437.2, 29791.3),
        (Exponential, 50, 623.6, 36324.1),
        (Exponential, 60, 829.8, 42534.2),
        (Exponential, 70, 1058.0, 48355.7),
        (Exponential, 80, 1296.4, 53281.3),
        (Exponential, 90, 1568.4, 58575.6),
        (Exponential, 100, 1857.3, 63383.5),
        (Exponential, 110, 2163.2, 68234.1),
        (Exponential, 120, 2489.7, 72959.5),
        (Exponential, 130, 2821.0, 77210.6),
        (Exponential, 140, 3177.9, 81572.9),
        (Exponential, 150, 3544.8, 85645.3),
        (Exponential, 160, 3923.3, 89719.5),
        (Exponential, 170, 4320.4, 93560.3),
        (Exponential, 180, 4745.5, 97779.0),
        (Exponential, 190, 5159.5, 101328.7),
        (FullJitter, 10, 39.0, 460.1),
        (FullJitter, 20, 100.3, 1008.3),
        (FullJitter, 30, 171.5, 1660.2),
        (FullJitter, 40, 249.8, 2308.5),
        (FullJitter, 50, 332.5, 2916.5),
        (FullJitter, 60, 419.2, 3430.8),
        (FullJitter, 70, 509.4, 3851.1),
        (FullJitter, 80, 602.6, 4212.7),
        (FullJitter, 90, 698.1, 4509.6),
        (FullJitter, 100, 795.9, 4887.8),
        (FullJitter, 110, 896.2, 5209.1),
        (FullJitter, 120, 998.8, 5508.8),
        (FullJitter, 130, 1102.9, 5819.4),
        (FullJitter, 140, 1209.6, 6110.4),
        (FullJitter, 150, 1318.8, 6406.7),
        (FullJitter, 160, 1428.4, 6631.6),
        (FullJitter, 170, 1541.4, 6948.1),
        (FullJitter, 180, 1655.8, 7229.8),
        (FullJitter, 190, 1771.6, 7463.8),
        (EqualJitter, 10, 42.3, 705.7),
        (EqualJitter, 20, 107.6, 1614.0),
        (EqualJitter, 30, 182.5, 2593.7),
        (EqualJitter, 40, 262.9, 3494.3),
        (EqualJitter, 50, 347.7, 4272.9),
        (EqualJitter, 60, 435.1, 4774.6),
        (EqualJitter, 70, 526.1, 5434.8),
        (EqualJitter, 80, 619.0, 5807.2),
        (EqualJitter, 90, 714.6, 6204.6),
        (EqualJitter, 100, 812.4, 6597.4),
        (EqualJitter, 110, 911.5, 7031.0),
        (EqualJitter, 120, 1013.2, 7373.1),
        (EqualJitter, 130, 1114.6, 7641.5),
        (EqualJitter, 140, 1219.2, 8025.5),
        (EqualJitter, 150, 1323.9, 8284.1),
        (EqualJitter, 160, 1431.6, 8588.2),
        (EqualJitter, 170, 1539.5, 8880.0),
        (EqualJitter, 180, 1648.7, 9129.0),
        (EqualJitter, 190, 1760.1, 9434.1),
        (Decorrelated, 10, 37.5, 436.1),
        (Decorrelated, 20, 101.1, 828.5),
        (Decorrelated, 30, 180.1, 1247.7),
        (Decorrelated, 40, 272.3, 1714.6),
        (Decorrelated, 50, 374.3, 2213.0),
        (Decorrelated, 60, 486.1, 2756.3),
        (Decorrelated, 70, 605.5, 3211.4),
        (Decorrelated, 80, 730.8, 3689.8),
        (Decorrelated, 90, 863.4, 4190.0),
        (Decorrelated, 100, 1003.1, 4609.7),
        (Decorrelated, 110, 1144.0, 5038.4),
        (Decorrelated, 120, 1292.3, 5403.3),
        (Decorrelated, 130, 1444.3, 5805.1),
        (Decorrelated, 140, 1599.1, 6162.8),
        (Decorrelated, 150, 1760.5, 6559.1),
        (Decorrelated, 160, 1922.6, 6950.8),
        (Decorrelated, 170, 2093.8, 7193.0),
        (Decorrelated, 180, 2262.2, 7556.2),
        (Decorrelated, 190, 2439.9, 7906.1),
    ]
};

/// The reference mean of `strategy` at `clients` in [`REFERENCE`]: `(calls, completion ms)`.
pub fn reference(strategy: Strategy, clients: u32) -> Option<(f64, f64)> {
    REFERENCE
        .iter()
        .find(|r| r.0 == strategy && r.1 == clients)
        .map(|r| (r.2, r.3))
}

impl BackoffComparison {
    /// 10, 20, …, 190 clients, runs per cell until the means are stable ([`Runs::STABLE`]),
    /// seed 1, base 5 ms, cap 2 s, network delay 10 ms ± 2 ms per hop.
    pub fn new() -> Self {
        BackoffComparison {
            clients: (1..=19).map(|i| i * 10).collect(),
            runs: Runs::STABLE,
            seed: 1,
            base_ms: 5.0,
            cap_ms: 2_000.0,
            delay_ms: 10.0,
            delay_sd_ms: 2.0,
        }
    }

    /// The client counts to compare (default 10, 20, …, 190).
    pub fn clients(mut self, clients: &[u32]) -> Self {
        self.clients = clients.to_vec();
        self
    }

    /// Exactly `runs` runs per cell (default: until stable, [`Runs::STABLE`]). Such a table
    /// shows [`REFERENCE`] but is not judged by it: a few runs do not make a stable mean.
    pub fn runs(mut self, runs: u32) -> Self {
        self.runs = Runs::Fixed(runs.max(1));
        self
    }

    /// How many runs each cell averages (see [`Runs`]).
    pub fn runs_until(mut self, runs: Runs) -> Self {
        self.runs = match runs {
            Runs::Fixed(n) => Runs::Fixed(n.max(1)),
            Runs::UntilStable {
                min,
                max,
                calls_se,
                time_se,
            } => Runs::UntilStable {
                min: min.max(2),
                max: max.max(min.max(2)),
                calls_se,
                time_se,
            },
        };
        self
    }

    /// The first seed (default 1); each run derives its own.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs every strategy at every client count.
    pub fn run(&self) -> ComparisonTable {
        let mut outcomes = Vec::new();
        for (si, strategy) in Strategy::ALL.into_iter().enumerate() {
            for &clients in &self.clients {
                let (min, max, targets) = match self.runs {
                    Runs::Fixed(n) => (n, n, None),
                    Runs::UntilStable {
                        min,
                        max,
                        calls_se,
                        time_se,
                    } => (min, max, Some((calls_se, time_se))),
                };
                let (mut calls, mut time) = (Mean::default(), Mean::default());
                let mut stable = targets.is_none();
                for r in 0..max {
                    let seed = crate::scenario::config::splitmix64(
                        self.seed ^ (u64::from(clients) << 32) ^ (u64::from(r) << 8) ^ si as u64,
                    );
                    let (c, t) = self.run_one(strategy, clients, seed);
                    calls.add(c as f64);
                    time.add(t);
                    if let Some((calls_se, time_se)) = targets {
                        if r + 1 >= min
                            && calls.se() <= calls_se * calls.mean
                            && time.se() <= time_se * time.mean
                        {
                            stable = true;
                            break;
                        }
                    }
                }
                outcomes.push(Measurement {
                    strategy,
                    clients,
                    runs: calls.n,
                    calls: calls.mean,
                    time_ms: time.mean,
                    calls_se: calls.se(),
                    time_ms_se: time.se(),
                    stable,
                });
            }
        }
        ComparisonTable {
            clients: self.clients.clone(),
            runs: self.runs,
            outcomes,
        }
    }

    /// One run: `(write calls, completion time in model ms)`.
    fn run_one(&self, strategy: Strategy, clients: u32, seed: u64) -> (u64, f64) {
        let limits = RunLimits {
            seed,
            time_limit: Duration::from_secs(100_000_000),
            watchdog: Duration::from_secs(120),
        };
        let me = self.clone();
        let run = sim::simulate(&limits, move || async move {
            let version = Rc::new(Cell::new(0u64));
            let calls = Rc::new(Cell::new(0u64));
            let c = calls.clone();
            sim::run_clients(&vec![Duration::ZERO; clients as usize], move |_| {
                let (version, calls, me) = (version.clone(), c.clone(), me.clone());
                async move { me.client(strategy, &version, &calls).await }
            })
            .await;
            (calls.get(), sim::now().as_secs_f64())
        });
        run.value.unwrap_or((0, f64::NAN))
    }

    /// One network hop's delay, in model ms: `abs(normal(delay, sd))`, drawn per hop.
    fn hop_ms(&self) -> f64 {
        let mut rng = sim::rng();
        // Box-Muller: a normal draw from two uniform ones.
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (self.delay_ms + self.delay_sd_ms * z).abs()
    }

    /// Waits `ms` model milliseconds: 1 model ms is 1 virtual second.
    async fn wait(ms: f64) {
        tokio::time::sleep(Duration::from_secs_f64(ms)).await;
    }

    /// One client: read, conditional write, and after a lost write the backoff and again.
    ///
    /// Four hops a try (the read out, the version back, the write out, the outcome back), each
    /// drawn on its own. The row is touched only at the read and the write, so the hops between
    /// them are one timer: the version back and the write out; after a lost write, the outcome
    /// back, the backoff and the next read out (the simulator's `write_rsp` schedules the read
    /// at `delay() + backoff(attempt)`). Two timers a try instead of five: the same instants,
    /// two fifths of the timers.
    async fn client(&self, strategy: Strategy, version: &Cell<u64>, calls: &Cell<u64>) {
        let mut attempt = 0;
        let mut previous = self.base_ms;
        let mut to_read = self.hop_ms();
        loop {
            Self::wait(to_read).await;
            let read = version.get();
            Self::wait(self.hop_ms() + self.hop_ms()).await;
            calls.set(calls.get() + 1);
            if version.get() == read {
                version.set(read + 1);
                // The outcome back: the client knows it won.
                Self::wait(self.hop_ms()).await;
                return;
            }
            attempt += 1;
            let back = self.hop_ms();
            let sleep = strategy.delay(attempt, self.base_ms, self.cap_ms, &mut previous);
            to_read = back + sleep + self.hop_ms();
        }
    }
}

/// A running mean and variance (Welford).
#[derive(Default)]
struct Mean {
    n: u32,
    mean: f64,
    m2: f64,
}

impl Mean {
    fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / f64::from(self.n);
        self.m2 += d * (x - self.mean);
    }

    /// Standard error of the mean (0 below two samples).
    fn se(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = f64::from(self.n);
        (self.m2 / (n - 1.0) / n).sqrt()
    }
}

impl ComparisonTable {
    /// Every cell that [`REFERENCE`] has, next to the reference's mean.
    pub fn against_reference(&self) -> Vec<Deviation> {
        self.outcomes
            .iter()
            .filter_map(|o| {
                reference(o.strategy, o.clients).map(|(calls, time)| Deviation {
                    ours: o.clone(),
                    reference_calls: calls,
                    reference_time_ms: time,
                })
            })
            .collect()
    }

    /// Whether the table is judged by [`REFERENCE`]: its cells ran until stable.
    pub fn judged_by_reference(&self) -> bool {
        matches!(self.runs, Runs::UntilStable { .. })
    }

    /// The largest deviations from [`REFERENCE`], on calls and on time (absolute fractions),
    /// with the cells where they are; `None` when no cell is in the reference.
    pub fn worst_deviation(&self) -> Option<((f64, Deviation), (f64, Deviation))> {
        let all = self.against_reference();
        let calls = all
            .iter()
            .max_by(|a, b| a.calls().abs().total_cmp(&b.calls().abs()))?;
        let time = all
            .iter()
            .max_by(|a, b| a.time().abs().total_cmp(&b.time().abs()))?;
        Some((
            (calls.calls().abs(), calls.clone()),
            (time.time().abs(), time.clone()),
        ))
    }

    /// The comparison with the reference in one line, e.g. `within 2.1% on calls and 6.0% on
    /// time of Brooker's simulator in all 95 cells (tolerance 5%, 10%)`.
    pub fn reference_summary(&self) -> String {
        let all = self.against_reference();
        let Some(((wc, c), (wt, t))) = self.worst_deviation() else {
            return "no cell of Brooker's simulator to compare with".into();
        };
        let strays = all.iter().filter(|d| !d.holds()).count();
        let judged = if self.judged_by_reference() {
            ""
        } else {
            " (not judged: a fixed number of runs)"
        };
        let verdict = if strays == 0 {
            format!("all {} cells", all.len())
        } else {
            format!("{} of {} cells STRAY", strays, all.len())
        };
        format!(
            "{verdict} of Brooker's simulator within {:.0}% on calls and {:.0}% on time: worst {:.1}% on calls ({} @ {}), {:.1}% on time ({} @ {}){judged}",
            REFERENCE_CALLS_TOLERANCE * 100.0,
            REFERENCE_TIME_TOLERANCE * 100.0,
            wc * 100.0,
            c.ours.strategy,
            c.ours.clients,
            wt * 100.0,
            t.ours.strategy,
            t.ours.clients,
        )
    }

    /// The cell of `strategy` at `clients`.
    pub fn cell(&self, strategy: Strategy, clients: u32) -> Option<&Measurement> {
        self.outcomes
            .iter()
            .find(|o| o.strategy == strategy && o.clients == clients)
    }

    fn calls(&self, s: Strategy, n: u32) -> f64 {
        self.cell(s, n).map_or(f64::NAN, |o| o.calls)
    }

    fn time(&self, s: Strategy, n: u32) -> f64 {
        self.cell(s, n).map_or(f64::NAN, |o| o.time_ms)
    }

    /// The post's claims that this table can check, each with whether it holds.
    ///
    /// 1. Without backoff the work grows with N²: between the smallest N ≥ 50 and the largest
    ///    N, calls grow faster than N^1.5.
    /// 2. At 100 clients full jitter needs less than half the calls of exponential backoff.
    /// 3. Exponential backoff without jitter is the clear loser: more calls and more time than
    ///    every jittered strategy, at every N ≥ 50.
    /// 4. Full and equal jitter do about the same work (within 15% summed over N ≥ 50);
    ///    decorrelated jitter does more.
    /// 5. Equal jitter takes longer than full jitter at every N ≥ 50.
    /// 6. Full jitter takes slightly more time than decorrelated jitter (summed over N ≥ 50).
    ///
    /// Claims need the client counts they talk about; those that cannot be checked are left out.
    pub fn claims(&self) -> Vec<(String, bool)> {
        use Strategy::{Decorrelated, EqualJitter, Exponential, FullJitter};
        let mut out = Vec::new();
        let big: Vec<u32> = self.clients.iter().copied().filter(|n| *n >= 50).collect();
        if let (Some(&lo), Some(&hi)) = (big.first(), big.last()) {
            if hi > lo {
                let (a, b) = (
                    self.calls(Strategy::None, lo),
                    self.calls(Strategy::None, hi),
                );
                let exponent = (b / a).ln() / (f64::from(hi) / f64::from(lo)).ln();
                out.push((
                    format!(
                        "without backoff the work grows with N^2 ({a:.0} calls at {lo} clients, {b:.0} at {hi}: N^{exponent:.2})"
                    ),
                    exponent > 1.5,
                ));
            }
        }
        if self.clients.contains(&100) {
            let (f, e) = (self.calls(FullJitter, 100), self.calls(Exponential, 100));
            out.push((
                format!(
                    "full jitter cuts the calls of exponential backoff by more than half at 100 clients ({f:.0} vs {e:.0}: {:.0}%)",
                    100.0 * f / e
                ),
                f < e / 2.0,
            ));
        }
        if big.is_empty() {
            return out;
        }
        let jittered = [FullJitter, EqualJitter, Decorrelated];
        let ok = big.iter().all(|&n| {
            jittered.iter().all(|&s| {
                self.calls(s, n) < self.calls(Exponential, n)
                    && self.time(s, n) < self.time(Exponential, n)
            })
        });
        out.push((
            "exponential backoff without jitter is the clear loser: more calls and more time than every jittered strategy (N >= 50)".into(),
            ok,
        ));
        let sum = |s: Strategy, f: &dyn Fn(&Self, Strategy, u32) -> f64| -> f64 {
            big.iter().map(|&n| f(self, s, n)).sum()
        };
        let (full, equal, decorr) = (
            sum(FullJitter, &Self::calls),
            sum(EqualJitter, &Self::calls),
            sum(Decorrelated, &Self::calls),
        );
        out.push((
            format!(
                "full and equal jitter do about the same work, decorrelated more (calls summed over N >= 50: {full:.0}, {equal:.0}, {decorr:.0})"
            ),
            (equal / full - 1.0).abs() < 0.15 && decorr > full && decorr > equal,
        ));
        let ok = big
            .iter()
            .all(|&n| self.time(EqualJitter, n) > self.time(FullJitter, n));
        out.push((
            "equal jitter takes longer than full jitter (N >= 50)".into(),
            ok,
        ));
        let (tf, td) = (sum(FullJitter, &Self::time), sum(Decorrelated, &Self::time));
        out.push((
            format!(
                "full jitter takes slightly more time than decorrelated jitter (summed over N >= 50: {tf:.0} ms vs {td:.0} ms)"
            ),
            tf > td,
        ));
        out
    }

    /// The table as a [`Report`]: a finding for each claim that does not hold, the table and
    /// the claims as figures, and the headline ratio as key figure.
    pub fn to_report(&self) -> Report {
        let mut report = Report {
            scenario: format!(
                "backoff comparison: {} client counts, {}",
                self.clients.len(),
                self.runs
            ),
            ..Report::default()
        };
        for (claim, holds) in self.claims() {
            if !holds {
                let mut f =
                    Finding::bug(PATTERN, format!("a published claim does not hold: {claim}"));
                f.scenario = report.scenario.clone();
                f.evidence = self.to_string().lines().map(String::from).collect();
                f.fix = "[whatbreaks internal bug] the model or a strategy drifted from the post; compare `Strategy::delay` with the post".into();
                report.findings.push(f);
            }
            report.figures.push((claim, holds.to_string()));
        }
        let deviations = self.against_reference();
        if self.judged_by_reference() {
            for d in deviations.iter().filter(|d| !d.holds()) {
                let mut f = Finding::bug(
                    PATTERN,
                    format!(
                        "a cell strays from Brooker's simulator (more than {:.0}% on calls or {:.0}% on time): {d}",
                        REFERENCE_CALLS_TOLERANCE * 100.0,
                        REFERENCE_TIME_TOLERANCE * 100.0
                    ),
                );
                f.scenario = report.scenario.clone();
                f.evidence = self.to_string().lines().map(String::from).collect();
                f.fix = "[whatbreaks internal bug] the model drifted from the simulator's (hops, what is counted, when time stops, `Strategy::delay`), or the cell's mean is not stable; compare with `REFERENCE`'s notes".into();
                report.findings.push(f);
            }
        }
        if !deviations.is_empty() {
            report.figures.push((
                "against Brooker's simulator".into(),
                self.reference_summary(),
            ));
        }
        for o in &self.outcomes {
            let versus = reference(o.strategy, o.clients).map_or(String::new(), |(c, t)| {
                format!(" (simulator: {c:.0} calls, {t:.0} ms)")
            });
            report.figures.push((
                format!("{} @ {}", o.strategy, o.clients),
                format!(
                    "{:.0} calls, {:.0} ms, {} runs{versus}",
                    o.calls, o.time_ms, o.runs
                ),
            ));
        }
        let n = if self.clients.contains(&100) {
            100
        } else {
            self.clients.iter().copied().max().unwrap_or(0)
        };
        report.key_figure = format!(
            "at {n} clients full jitter makes {:.0}% of exponential backoff's calls",
            100.0 * self.calls(Strategy::FullJitter, n) / self.calls(Strategy::Exponential, n)
        );
        report
    }
}

impl fmt::Display for ComparisonTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.outcomes.iter().map(|o| o.runs);
        let (fewest, most) = (
            runs.clone().min().unwrap_or(0),
            runs.clone().max().unwrap_or(0),
        );
        writeln!(
            f,
            "N clients on one row (optimistic concurrency), {} ({} runs in all, {fewest} to {most} a cell): mean write calls / completion time",
            self.runs,
            runs.sum::<u32>()
        )?;
        let deviations = self.against_reference();
        let header = |f: &mut fmt::Formatter<'_>, width: usize| -> fmt::Result {
            write!(f, "{:>7}", "clients")?;
            for s in Strategy::ALL {
                write!(f, " | {:>width$}", s.name())?;
            }
            writeln!(f)?;
            write!(f, "{}", "-".repeat(7))?;
            for _ in Strategy::ALL {
                write!(f, "-+-{}", "-".repeat(width))?;
            }
            writeln!(f)
        };
        header(f, 20)?;
        for &n in &self.clients {
            write!(f, "{n:>7}")?;
            for s in Strategy::ALL {
                let cell = format!("{:.0} / {:.0}ms", self.calls(s, n), self.time(s, n));
                write!(f, " | {cell:>20}")?;
            }
            writeln!(f)?;
        }
        if !deviations.is_empty() {
            writeln!(
                f,
                "\nBrooker's simulator (500 runs per cell): its mean calls / time, and ours against it (calls% time%)"
            )?;
            header(f, 28)?;
            for &n in &self.clients {
                write!(f, "{n:>7}")?;
                for s in Strategy::ALL {
                    let d = deviations
                        .iter()
                        .find(|d| d.ours.strategy == s && d.ours.clients == n);
                    let cell = d.map_or(String::new(), |d| {
                        format!(
                            "{:.0} / {:.0}ms {:+.1}% {:+.1}%{}",
                            d.reference_calls,
                            d.reference_time_ms,
                            100.0 * d.calls(),
                            100.0 * d.time(),
                            if d.holds() { "" } else { "!" }
                        )
                    });
                    write!(f, " | {cell:>28}")?;
                }
                writeln!(f)?;
            }
            let mark = if !self.judged_by_reference() {
                "[ -- ]"
            } else if deviations.iter().all(Deviation::holds) {
                "[holds]"
            } else {
                "[FAILS]"
            };
            writeln!(f, "{mark} {}", self.reference_summary())?;
        }
        for (claim, holds) in self.claims() {
            writeln!(f, "[{}] {claim}", if holds { "holds" } else { "FAILS" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_stay_in_their_ranges() {
        let mut prev = 5.0;
        assert_eq!(
            Strategy::Exponential.delay(3, 5.0, 2_000.0, &mut prev),
            40.0
        );
        assert_eq!(
            Strategy::Exponential.delay(20, 5.0, 2_000.0, &mut prev),
            2_000.0
        );
        for attempt in 1..12 {
            let d = Strategy::FullJitter.delay(attempt, 5.0, 2_000.0, &mut prev);
            assert!((0.0..=2_000.0).contains(&d));
            let e = Strategy::EqualJitter.delay(attempt, 5.0, 2_000.0, &mut prev);
            let v = (5.0 * 2f64.powi(attempt as i32)).min(2_000.0);
            assert!((v / 2.0..=v).contains(&e));
            let d = Strategy::Decorrelated.delay(attempt, 5.0, 2_000.0, &mut prev);
            assert!((5.0..=2_000.0).contains(&d));
        }
    }

    #[test]
    fn the_reference_has_every_cell_once() {
        for s in Strategy::ALL {
            for n in (1..=19).map(|i| i * 10) {
                let cells: Vec<_> = REFERENCE.iter().filter(|r| r.0 == s && r.1 == n).collect();
                assert_eq!(cells.len(), 1, "{s} @ {n}");
                let (calls, time) = reference(s, n).unwrap();
                assert!(calls >= f64::from(n) && time > 30.0, "{s} @ {n}");
            }
        }
        assert_eq!(reference(Strategy::None, 5), None);
    }

    #[test]
    fn means_and_standard_errors() {
        let mut m = Mean::default();
        assert_eq!(m.se(), 0.0);
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            m.add(x);
        }
        assert_eq!(m.n, 8);
        assert!((m.mean - 5.0).abs() < 1e-12);
        // Sample variance 32 / 7; standard error sqrt(32 / 7 / 8).
        assert!((m.se() - (32.0f64 / 7.0 / 8.0).sqrt()).abs() < 1e-12);
        let d = Deviation {
            ours: Measurement {
                strategy: Strategy::None,
                clients: 10,
                runs: 8,
                calls: 105.0,
                time_ms: 89.0,
                calls_se: 0.0,
                time_ms_se: 0.0,
                stable: true,
            },
            reference_calls: 100.0,
            reference_time_ms: 100.0,
        };
        assert!((d.calls() - 0.05).abs() < 1e-12 && (d.time() + 0.11).abs() < 1e-12);
        assert!(!d.holds());
    }

    #[test]
    fn a_cell_that_strays_from_the_reference_is_a_finding() {
        // 10 clients: no claim of the post speaks of them, so only the reference judges.
        let (calls, time) = reference(Strategy::FullJitter, 10).unwrap();
        let cell = |time_ms: f64| Measurement {
            strategy: Strategy::FullJitter,
            clients: 10,
            runs: 20,
            calls,
            time_ms,
            calls_se: 0.0,
            time_ms_se: 0.0,
            stable: true,
        };
        let table = |time_ms: f64, runs: Runs| ComparisonTable {
            clients: vec![10],
            runs,
            outcomes: vec![cell(time_ms)],
        };
        let near = table(time * 1.09, Runs::STABLE).to_report();
        assert!(near.is_clean(), "{near}");
        let far = table(time * 1.11, Runs::STABLE);
        let report = far.to_report();
        assert_eq!(report.findings.len(), 1, "{report}");
        assert!(
            report.findings[0]
                .verdict
                .contains("strays from Brooker's simulator"),
            "{report}"
        );
        assert!(far.to_string().contains("[FAILS]"), "{far}");
        assert!(far.reference_summary().starts_with("1 of 1 cells STRAY"));
        // A fixed run count is shown against the reference, not judged by it.
        assert!(table(time * 1.11, Runs::Fixed(3)).to_report().is_clean());
    }

    #[test]
    fn until_stable_stops_when_the_means_are_stable() {
        let rule = Runs::UntilStable {
            min: 5,
            max: 400,
            calls_se: 0.02,
            time_se: 0.05,
        };
        let t = BackoffComparison::new()
            .clients(&[10])
            .runs_until(rule)
            .run();
        for o in &t.outcomes {
            assert!(o.stable && (5..400).contains(&o.runs), "{o:?}");
            assert!(o.calls_se <= 0.02 * o.calls && o.time_ms_se <= 0.05 * o.time_ms);
        }
        // Cells stop when their own spread allows: not all after the same number of runs.
        let first = t.outcomes[0].runs;
        assert!(t.outcomes.iter().any(|o| o.runs != first), "{t}");
    }

    #[test]
    fn one_client_writes_once_and_the_same_seed_replays() {
        let t = BackoffComparison::new().clients(&[1, 10]).runs(1).run();
        assert_eq!(t.cell(Strategy::Exponential, 1).unwrap().calls, 1.0);
        let again = BackoffComparison::new().clients(&[1, 10]).runs(1).run();
        assert_eq!(t, again);
        let none = t.cell(Strategy::None, 10).unwrap();
        assert!(none.calls >= 10.0 && none.time_ms > 30.0, "{none:?}");
    }
}
