//! Thundering herd: do retries after a correlated failure arrive in lock-step?
//!
//! # The scenario
//! `clients` clients (default 1000) each run the body once, concurrently, on virtual time.
//! Every client's first call happens at t=0 and fails (a correlated failure: a deploy that
//! resets every connection); the upstream fails every call inside `outage` (default
//! `0s..10s`) and serves normally after it.
//!
//! # The metric: lock-step cohorts per retry round
//! Retry round *r* is the *r*-th retry of each client (attempt number *r* ≥ 1 at the
//! upstream). For each round, whatbreaks counts how many of the clients that made that retry
//! arrived in the **same millisecond** (tokio's timer grain, so the finest instant virtual
//! time has) and keeps the largest such group: the round's *largest cohort*.
//!
//! A cohort is judged against the spread the round's own delays allow. If the round's `n`
//! clients were spread uniformly over `B` milliseconds, the largest millisecond would hold
//! about `E = λ + √(2 λ ln B)` of them (`λ = n / B`). `B` is the longest of: the round's span
//! (first to last arrival), its mean retry delay (a backoff of about a second could spread
//! its clients over a second), and 10 ms (the least spread any backoff worth the name gives).
//! A round is **synchronized** when its largest cohort holds at least 3 clients, more than
//! `max_cohort` (default 10%) of the round's clients, and more than `2·E`: far more than its
//! own spread explains. So 1000 clients retrying with full jitter over 10 ms (about 100 per
//! millisecond by arithmetic, a largest millisecond of about 110) pass, and a jitter clamped to
//! a floor (half the clients in its millisecond), an immediate first retry or a constant
//! first delay is flagged. Rounds with fewer than 3 retrying clients are not judged.
//!
//! The code is **flagged** when at least `min_rounds` (default 1) rounds are synchronized: one
//! synchronized round already sends its cohort to the upstream in one millisecond, right as
//! it recovers.
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks_core::detectors::herd::HerdTest;
//! use whatbreaks_core::components::upstream::{Request, Upstream};
//!
//! // Deterministic exponential backoff: every client sleeps exactly 1 s, 2 s, 4 s.
//! let report = HerdTest::new().clients(200).seed(1).run(|up: Upstream| async move {
//!     for attempt in 0..4 {
//!         if up.call(Request::get("/price")).await.is_ok() { return; }
//!         tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
//!     }
//! });
//! assert!(report.flagged("thundering herd"));
//! ```

use crate::components::upstream::{Arrival, FxMap, Upstream};
use crate::report::{Finding, Report, arrivals_chart, histogram};
use crate::runtime::sim::{self, Arrivals, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Activity, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of herd findings.
pub const PATTERN: &str = "thundering herd";

/// Clients that must share an instant before a cohort can count as lock-step.
pub const MIN_COHORT: usize = 3;

/// The least spread, in milliseconds, a round is judged against (see the module docs).
pub const MIN_SPREAD_MS: f64 = 10.0;

/// The largest millisecond `n` clients spread uniformly over `buckets` milliseconds would
/// give, about: `λ + √(2 λ ln B)` with `λ = n / B` (the maximum of `B` Poisson counts).
pub fn expected_largest(n: usize, buckets: f64) -> f64 {
    let b = buckets.max(1.0);
    let lambda = n as f64 / b;
    lambda + (2.0 * lambda * b.ln()).sqrt()
}

/// A thundering-herd scenario (builder). `#[herd_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct HerdTest {
    settings: Settings,
    clients: u32,
    outage: Range<Duration>,
    max_cohort: f64,
    min_rounds: u32,
    latency: Duration,
    upstream_name: String,
}

crate::scenario::impl_common_settings!(HerdTest);

impl Default for HerdTest {
    fn default() -> Self {
        Self::new()
    }
}

/// One retry round's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// 1 for the first retry of each client, 2 for the second, …
    pub round: u32,
    /// Clients that made this retry.
    pub clients: usize,
    /// Clients in the largest same-millisecond cohort.
    pub largest: usize,
    /// When that cohort arrived.
    pub at: Duration,
    /// The largest millisecond the round's clients would give if spread uniformly over the
    /// spread their own delays allow (see the module docs).
    pub expected: f64,
    /// Whether the round counts as synchronized.
    pub synchronized: bool,
}

impl Round {
    /// Largest cohort as a share of the round's clients.
    pub fn share(&self) -> f64 {
        self.largest as f64 / self.clients.max(1) as f64
    }
}

/// The analysis of one run's arrivals.
#[derive(Clone, Debug, PartialEq)]
pub struct HerdAnalysis {
    /// Every retry round, in order.
    pub rounds: Vec<Round>,
    /// Whether the herd is flagged.
    pub flagged: bool,
}

impl HerdAnalysis {
    /// Measures lock-step cohorts per retry round (see the module docs).
    pub fn of(arrivals: &[Arrival], max_cohort: f64, min_rounds: u32) -> Self {
        // The attempt and time of each logical request's latest call, to measure the retry
        // delays (attempt k follows attempt k - 1 of the same request).
        let mut latest: FxMap<(Option<u32>, Option<u64>), (u32, Duration)> = FxMap::default();
        let mut per_round: BTreeMap<u32, (BTreeMap<u128, usize>, Duration, usize)> =
            BTreeMap::new();
        for a in arrivals {
            let previous = latest.insert((a.client, a.request), (a.attempt, a.at));
            if a.attempt == 0 {
                continue;
            }
            let round = per_round.entry(a.attempt).or_default();
            *round.0.entry(a.at.as_millis()).or_default() += 1;
            if let Some((attempt, at)) = previous
                && attempt + 1 == a.attempt
            {
                round.1 += a.at.saturating_sub(at);
                round.2 += 1;
            }
        }
        let rounds: Vec<Round> = per_round
            .into_iter()
            .map(|(round, (buckets, delays, measured))| {
                let clients: usize = buckets.values().sum();
                let (at, largest) = buckets
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(ms, n)| (Duration::from_millis(*ms as u64), *n))
                    .unwrap_or_default();
                let span = match (buckets.keys().next(), buckets.keys().next_back()) {
                    (Some(first), Some(last)) => (last - first + 1) as f64,
                    _ => 1.0,
                };
                let mean_delay = delays.as_secs_f64() * 1e3 / measured.max(1) as f64;
                let expected = expected_largest(clients, span.max(mean_delay).max(MIN_SPREAD_MS));
                let synchronized = clients >= MIN_COHORT
                    && largest >= MIN_COHORT
                    && largest as f64 > max_cohort * clients as f64
                    && largest as f64 > 2.0 * expected;
                Round {
                    round,
                    clients,
                    largest,
                    at,
                    expected,
                    synchronized,
                }
            })
            .collect();
        let synced = rounds.iter().filter(|r| r.synchronized).count();
        let flagged = synced >= 1 && synced >= min_rounds as usize;
        HerdAnalysis { rounds, flagged }
    }

    /// The headline number, e.g. `1000/1000 clients retry in the same ms`.
    pub fn key_figure(&self) -> String {
        let worst = self
            .rounds
            .iter()
            .max_by(|a, b| a.share().total_cmp(&b.share()).then(b.round.cmp(&a.round)));
        match worst {
            None => "no retries".into(),
            Some(r) if self.flagged => format!(
                "{}/{} clients retry in the same ms (retry {})",
                r.largest, r.clients, r.round
            ),
            Some(r) => format!(
                "largest same-ms cohort {}/{} ({:.1}%)",
                r.largest,
                r.clients,
                r.share() * 100.0
            ),
        }
    }
}

impl HerdTest {
    /// 1000 clients, upstream down `0s..10s`, `max_cohort` 10%, `min_rounds` 1.
    pub fn new() -> Self {
        HerdTest {
            settings: Settings::default(),
            clients: 1000,
            outage: Duration::ZERO..Duration::from_secs(10),
            max_cohort: 0.10,
            min_rounds: 1,
            latency: Duration::from_millis(20),
            upstream_name: "upstream".into(),
        }
    }

    /// Number of clients (default 1000).
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients;
        self
    }

    /// When the upstream fails every call (default `0s..10s`).
    pub fn outage(mut self, window: Range<Duration>) -> Self {
        self.outage = window;
        self
    }

    /// Largest share of a round's clients allowed in one millisecond (default 0.10).
    pub fn max_cohort(mut self, share: f64) -> Self {
        self.max_cohort = share;
        self
    }

    /// Synchronized retry rounds needed to flag (default 1).
    pub fn min_rounds(mut self, rounds: u32) -> Self {
        self.min_rounds = rounds;
        self
    }

    /// Latency of a served call (default 20 ms).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The upstream's name in messages (default `upstream`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.upstream_name = name.into();
        self
    }

    /// Old name of [`name`](Self::name) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `name`")]
    pub fn upstream_name(self, name: impl Into<String>) -> Self {
        self.name(name)
    }

    fn upstream(&self) -> Upstream {
        Upstream::builder(self.upstream_name.clone())
            .latency(self.latency)
            // Every client's first call, at t=0, fails: the correlated failure.
            .outage(Duration::ZERO..Duration::from_millis(1))
            .outage(self.outage.clone())
            .build()
    }

    fn scenario(&self) -> String {
        format!(
            "{} clients, upstream `{}` down {}..{}",
            self.clients,
            self.upstream_name,
            format_duration(self.outage.start),
            format_duration(self.outage.end)
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one client's work; it gets a handle to the shared upstream.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the upstream (for its arrivals and trace hash).
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, Upstream)
    where
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let upstream = self.upstream();
        let offsets = Arrivals::AtOnce.offsets(self.clients, limits.seed);
        let up = upstream.clone();
        let run = sim::simulate(limits, move || async move {
            sim::run_clients(&offsets, move |_| body(up.clone())).await;
        });
        let scenario = self.scenario();
        let mut findings = harness_findings(&run, limits, &scenario);
        let analysis =
            upstream.with_arrivals(|a| HerdAnalysis::of(a, self.max_cohort, self.min_rounds));
        if analysis.flagged {
            findings.insert(0, self.finding(&analysis, &upstream, scenario));
        }
        let stats = upstream.stats();
        let result = SeedResult {
            activity: Some(Activity {
                virtual_elapsed: run.virtual_elapsed,
                count: stats.calls,
                what: "upstream call",
            }),
            findings,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("calls".into(), stats.calls.to_string()),
                ("retry rounds".into(), analysis.rounds.len().to_string()),
                (
                    "largest cohort share".into(),
                    format!(
                        "{:.3}",
                        analysis.rounds.iter().map(Round::share).fold(0.0, f64::max)
                    ),
                ),
                (
                    "trace hash".into(),
                    format!("{:#018x}", upstream.trace_hash()),
                ),
            ],
            charts: vec![arrivals_chart(
                &upstream.arrival_times(true),
                "retry",
                "retries",
            )],
        };
        (result, upstream)
    }

    fn finding(&self, analysis: &HerdAnalysis, upstream: &Upstream, scenario: String) -> Finding {
        let mut f = Finding::bug(PATTERN, "retry arrivals are synchronized");
        f.scenario = scenario;
        f.evidence = analysis
            .rounds
            .iter()
            .map(|r| {
                if r.synchronized {
                    format!(
                        "retry {}: {}/{} clients in the same 1 ms (t={})",
                        r.round,
                        r.largest,
                        r.clients,
                        format_duration(r.at)
                    )
                } else {
                    format!(
                        "retry {}: largest cohort {}/{} ({:.1}%), spread out",
                        r.round,
                        r.largest,
                        r.clients,
                        r.share() * 100.0
                    )
                }
            })
            .collect();
        let times: Vec<Duration> = upstream.with_arrivals(|a| a.iter().map(|a| a.at).collect());
        f.picture = Some(("arrivals".into(), histogram(&times, 60)));
        let worst = analysis.rounds.iter().map(Round::share).fold(0.0, f64::max);
        f.fix = if worst >= 0.9 {
            "add jitter to the backoff: sleep a random time in [0, base * 2^attempt] (full jitter), drawn per client".into()
        } else {
            format!(
                "the jitter leaves {:.0}% of a round on one instant: it is too narrow or clamped to a floor; draw the whole delay from a wide range, e.g. full jitter in [0, base * 2^attempt]",
                worst * 100.0
            )
        };
        f
    }
}

impl<B, Fut> Scenario<Arc<B>> for HerdTest
where
    B: Fn(Upstream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "herd".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario()
    }
    fn check(&self, p: &mut Problems) {
        p.at_least("clients", self.clients.into(), 1);
        p.window("outage", &self.outage);
        p.require(
            self.max_cohort > 0.0 && self.max_cohort <= 1.0,
            "max_cohort",
            self.max_cohort,
            "a share greater than 0 and at most 1",
        );
        p.at_least("min_rounds", self.min_rounds.into(), 1);
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::upstream::{Method, Outcome};

    fn arrival(at_ms: u64, client: u32, attempt: u32) -> Arrival {
        Arrival {
            at: Duration::from_millis(at_ms),
            client: Some(client),
            request: Some(u64::from(client)),
            attempt,
            method: Method::Get,
            path: "/".into(),
            key: None,
            outcome: Outcome::Ok,
            in_flight: 1,
        }
    }

    #[test]
    fn lock_step_rounds_are_flagged() {
        let mut a = Vec::new();
        for c in 0..10 {
            a.push(arrival(0, c, 0));
            a.push(arrival(1_000, c, 1));
            a.push(arrival(3_000, c, 2));
        }
        let h = HerdAnalysis::of(&a, 0.1, 2);
        assert!(h.flagged);
        assert_eq!(h.rounds[0].largest, 10);
        assert_eq!(h.rounds[1].at, Duration::from_millis(3_000));
        assert_eq!(
            h.key_figure(),
            "10/10 clients retry in the same ms (retry 1)"
        );
    }

    #[test]
    fn spread_rounds_pass_and_tiny_rounds_are_not_judged() {
        let a: Vec<_> = (0..100)
            .flat_map(|c| [arrival(0, c, 0), arrival(c as u64 * 7, c, 1)])
            .collect();
        assert!(!HerdAnalysis::of(&a, 0.1, 2).flagged);
        let two: Vec<_> = (0..2).map(|c| arrival(5, c, 1)).collect();
        assert!(!HerdAnalysis::of(&two, 0.1, 2).flagged);
        assert!(!HerdAnalysis::of(&[], 0.1, 2).flagged);
    }

    #[test]
    fn one_synchronized_round_is_a_herd() {
        // Retry 1 in lock-step, retry 2 spread over a second.
        let a: Vec<_> = (0..10)
            .flat_map(|c| {
                [
                    arrival(0, c, 0),
                    arrival(1_000, c, 1),
                    arrival(2_000 + u64::from(c) * 97, c, 2),
                ]
            })
            .collect();
        let h = HerdAnalysis::of(&a, 0.1, 1);
        assert!(h.flagged);
        assert!(h.rounds[0].synchronized && !h.rounds[1].synchronized);
        assert!(
            !HerdAnalysis::of(&a, 0.1, 2).flagged,
            "min_rounds 2 asks for two"
        );
    }

    #[test]
    fn a_dense_round_that_its_own_spread_explains_passes() {
        // 1000 clients, full jitter over 10 ms: about 91 per millisecond, by arithmetic.
        let a: Vec<_> = (0..1000)
            .flat_map(|c| [arrival(0, c, 0), arrival(u64::from(c) % 11, c, 1)])
            .collect();
        let h = HerdAnalysis::of(&a, 0.1, 1);
        assert!(!h.flagged, "{:?}", h.rounds);
        assert!(h.rounds[0].expected > 100.0, "{:?}", h.rounds);
    }

    #[test]
    fn a_jitter_clamped_to_its_floor_is_flagged() {
        // max(50 ms, random(0, 100 ms)): half the clients in the floor's millisecond.
        let a: Vec<_> = (0..1000)
            .flat_map(|c| {
                let d = if c % 2 == 0 {
                    50
                } else {
                    50 + u64::from(c) % 51
                };
                [arrival(0, c, 0), arrival(d, c, 1)]
            })
            .collect();
        assert!(HerdAnalysis::of(&a, 0.1, 1).flagged);
    }
}
