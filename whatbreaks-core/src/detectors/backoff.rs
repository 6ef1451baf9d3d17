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
//! calls and the completion time (when the last client's write succeeded), averaged over
//! several runs, and checks the post's published claims ([`ComparisonTable::claims`]).
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

/// The comparison (builder).
#[derive(Clone, Debug)]
pub struct BackoffComparison {
    clients: Vec<u32>,
    runs: u32,
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
    /// Mean write calls per run.
    pub calls: f64,
    /// Mean completion time per run, in milliseconds.
    pub time_ms: f64,
}

/// The results of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonTable {
    /// Client counts, in order.
    pub clients: Vec<u32>,
    /// Runs averaged per cell.
    pub runs: u32,
    /// Every cell, strategy-major.
    pub outcomes: Vec<Measurement>,
}

impl BackoffComparison {
    /// 10, 20, …, 190 clients, 10 runs per cell, seed 1, base 5 ms, cap 2 s, network delay
    /// 10 ms ± 2 ms per hop.
    pub fn new() -> Self {
        BackoffComparison {
            clients: (1..=19).map(|i| i * 10).collect(),
            runs: 10,
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

    /// Runs averaged per cell (default 10).
    pub fn runs(mut self, runs: u32) -> Self {
        self.runs = runs.max(1);
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
                let (mut calls, mut time) = (0u64, 0.0);
                for r in 0..self.runs {
                    let seed = crate::scenario::config::splitmix64(
                        self.seed ^ (u64::from(clients) << 32) ^ (u64::from(r) << 8) ^ si as u64,
                    );
                    let (c, t) = self.run_one(strategy, clients, seed);
                    calls += c;
                    time += t;
                }
                outcomes.push(Measurement {
                    strategy,
                    clients,
                    calls: calls as f64 / f64::from(self.runs),
                    time_ms: time / f64::from(self.runs),
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

    /// One network hop: 1 model ms is 1 virtual second.
    async fn hop(&self) {
        let mut rng = sim::rng();
        // Box-Muller: a normal draw from two uniform ones.
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let ms = (self.delay_ms + self.delay_sd_ms * z).abs();
        tokio::time::sleep(Duration::from_secs_f64(ms)).await;
    }

    async fn client(&self, strategy: Strategy, version: &Cell<u64>, calls: &Cell<u64>) {
        let mut attempt = 0;
        let mut previous = self.base_ms;
        loop {
            self.hop().await;
            let read = version.get();
            self.hop().await;
            self.hop().await;
            calls.set(calls.get() + 1);
            let won = version.get() == read;
            if won {
                version.set(read + 1);
            }
            self.hop().await;
            if won {
                return;
            }
            attempt += 1;
            let sleep = strategy.delay(attempt, self.base_ms, self.cap_ms, &mut previous);
            tokio::time::sleep(Duration::from_secs_f64(sleep)).await;
        }
    }
}

impl ComparisonTable {
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
                "backoff comparison: {} client counts, {} runs each",
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
        for o in &self.outcomes {
            report.figures.push((
                format!("{} @ {}", o.strategy, o.clients),
                format!("{:.0} calls, {:.0} ms", o.calls, o.time_ms),
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
        writeln!(
            f,
            "N clients on one row (optimistic concurrency), mean of {} runs: write calls / completion time",
            self.runs
        )?;
        write!(f, "{:>7}", "clients")?;
        for s in Strategy::ALL {
            write!(f, " | {:>20}", s.name())?;
        }
        writeln!(f)?;
        write!(f, "{}", "-".repeat(7))?;
        for _ in Strategy::ALL {
            write!(f, "-+-{}", "-".repeat(20))?;
        }
        writeln!(f)?;
        for &n in &self.clients {
            write!(f, "{n:>7}")?;
            for s in Strategy::ALL {
                let cell = format!("{:.0} / {:.0}ms", self.calls(s, n), self.time(s, n));
                write!(f, " | {cell:>20}")?;
            }
            writeln!(f)?;
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
    fn one_client_writes_once_and_the_same_seed_replays() {
        let t = BackoffComparison::new().clients(&[1, 10]).runs(1).run();
        assert_eq!(t.cell(Strategy::Exponential, 1).unwrap().calls, 1.0);
        let again = BackoffComparison::new().clients(&[1, 10]).runs(1).run();
        assert_eq!(t, again);
        let none = t.cell(Strategy::None, 10).unwrap();
        assert!(none.calls >= 10.0 && none.time_ms > 30.0, "{none:?}");
    }
}
