//! Hung upstreams and missing timeouts: does every call into an upstream that stops answering
//! end within a bound?
//!
//! # The scenario
//! Requests arrive as a Poisson process at `rps` (default 20) for `run_for` (default 60 s);
//! each runs the body once with the upstream. Inside `hang` (default `10s..40s`) the upstream
//! accepts every call and never answers: a hung connection, a half-open socket. Calls that
//! arrive after the window are served normally. The run goes on for `grace` (default 60 s)
//! after the traffic ends, then stops, whatever is still waiting.
//!
//! # The property
//! Every call made during the hang must end (the code's timeout, or a cancellation) within
//! `max_wait` (default 10 s). The code is **flagged** (`hung upstream`) when
//! - calls were still waiting when the run stopped, a minute after the last request: there is
//!   no timeout, so in production the in-flight requests, their tasks and their memory pile up
//!   for as long as the upstream hangs; or
//! - calls ended only after more than `max_wait`: a timeout too long to protect the service
//!   (the finding gives its value).
//!
//! The finding names the clients still waiting, the peak number of calls in flight and its
//! growth per second during the hang; the fix says where the timeouts go.
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks_core::detectors::hang::HangTest;
//! use whatbreaks_core::components::upstream::{Request, Upstream};
//!
//! // No timeout: a call into the hung upstream waits forever.
//! let report = HangTest::new().seed(1).run(|up: Upstream| async move {
//!     let _ = up.call(Request::get("/price")).await;
//! });
//! assert!(report.flagged("hung upstream"), "{report}");
//! ```

use crate::components::upstream::{HungCall, Upstream};
use crate::report::{Chart, ChartKind, Finding, Report};
use crate::runtime::sim::{self, Arrivals, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Activity, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of hung-upstream findings.
pub const PATTERN: &str = "hung upstream";

/// A hung-upstream scenario (builder).
#[derive(Clone, Debug)]
pub struct HangTest {
    settings: Settings,
    rps: f64,
    run_for: Duration,
    hang: Range<Duration>,
    max_wait: Duration,
    grace: Duration,
    name: String,
}

crate::scenario::impl_common_settings!(HangTest);

impl Default for HangTest {
    fn default() -> Self {
        Self::new()
    }
}

/// What the calls into the hang did.
#[derive(Clone, Debug, PartialEq)]
pub struct HangAnalysis {
    /// Calls that arrived during the hang.
    pub hung: usize,
    /// Of those, still waiting when the run stopped: `(client, arrival time)`.
    pub still_waiting: Vec<(Option<u32>, Duration)>,
    /// How long each of the others waited before its caller gave up.
    pub waits: Vec<Duration>,
    /// The most calls in flight at once during the hang.
    pub peak_in_flight: usize,
    /// The waits longer than `max_wait`.
    pub too_long: usize,
}

impl HangAnalysis {
    /// Judges the hung calls against `max_wait`.
    pub fn of(hung: &[HungCall], max_wait: Duration) -> Self {
        let mut still_waiting = Vec::new();
        let mut waits = Vec::new();
        for h in hung {
            match h.ended {
                None => still_waiting.push((h.arrival.client, h.arrival.at)),
                Some(end) => waits.push(end.saturating_sub(h.arrival.at)),
            }
        }
        waits.sort_unstable();
        HangAnalysis {
            hung: hung.len(),
            too_long: waits.iter().filter(|w| **w > max_wait).count(),
            peak_in_flight: hung.iter().map(|h| h.arrival.in_flight).max().unwrap_or(0),
            still_waiting,
            waits,
        }
    }

    /// True when a call waited forever or longer than `max_wait`.
    pub fn flagged(&self) -> bool {
        !self.still_waiting.is_empty() || self.too_long > 0
    }

    /// The longest wait that ended.
    pub fn longest_wait(&self) -> Duration {
        self.waits.last().copied().unwrap_or_default()
    }

    /// The headline number.
    pub fn key_figure(&self) -> String {
        if !self.still_waiting.is_empty() {
            format!(
                "{}/{} calls into the hang never ended (peak {} in flight)",
                self.still_waiting.len(),
                self.hung,
                self.peak_in_flight
            )
        } else {
            format!(
                "{} calls into the hang, the longest waited {} (peak {} in flight)",
                self.hung,
                format_duration(self.longest_wait()),
                self.peak_in_flight
            )
        }
    }
}

impl HangTest {
    /// 20 requests per second for 60 s, the upstream hangs `10s..40s`, `max_wait` 10 s, the
    /// run stops 60 s after the traffic.
    pub fn new() -> Self {
        HangTest {
            settings: Settings::default(),
            rps: 20.0,
            run_for: Duration::from_secs(60),
            hang: Duration::from_secs(10)..Duration::from_secs(40),
            max_wait: Duration::from_secs(10),
            grace: Duration::from_secs(60),
            name: "upstream".into(),
        }
    }

    /// Requests per second (default 20).
    pub fn rps(mut self, rps: f64) -> Self {
        self.rps = rps;
        self
    }

    /// How long requests arrive (default 60 s).
    pub fn run_for(mut self, run_for: Duration) -> Self {
        self.run_for = run_for;
        self
    }

    /// When the upstream accepts calls and never answers (default `10s..40s`).
    pub fn hang(mut self, window: Range<Duration>) -> Self {
        self.hang = window;
        self
    }

    /// The longest a call into the hang may wait (default 10 s).
    pub fn max_wait(mut self, bound: Duration) -> Self {
        self.max_wait = bound;
        self
    }

    /// How long the run goes on after the traffic ends (default 60 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The upstream's name in messages (default `upstream`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn scenario(&self, requests: usize) -> String {
        format!(
            "{requests} requests at {} rps over {}, upstream `{}` hangs {}..{}, max_wait {}",
            self.rps,
            format_duration(self.run_for),
            self.name,
            format_duration(self.hang.start),
            format_duration(self.hang.end),
            format_duration(self.max_wait)
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one request's work; it gets the upstream.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the analysis.
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, HangAnalysis)
    where
        B: Fn(Upstream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let upstream = Upstream::builder(self.name.clone())
            .hang(self.hang.clone())
            .build();
        let offsets = Arrivals::Poisson { rate: self.rps }.offsets_for(self.run_for, limits.seed);
        let requests = offsets.len();
        let (up, stop) = (upstream.clone(), self.run_for + self.grace);
        let run = sim::simulate(limits, move || async move {
            let served = up.clone();
            let clients = sim::run_clients(&offsets, move |_| {
                let fut = body(served.clone());
                futures::FutureExt::then(futures::future::lazy(|_| sim::begin_request()), |_| fut)
            });
            // Stop at the end of the grace period, whatever still waits; read the hung calls
            // before the runtime drops the waiting tasks.
            let _ = futures::future::select(Box::pin(clients), Box::pin(tokio::time::sleep(stop)))
                .await;
            up.hung_calls()
        });
        let scenario = self.scenario(requests);
        let mut findings = harness_findings(&run, limits, &scenario);
        let hung = run.value.clone().unwrap_or_default();
        let analysis = HangAnalysis::of(&hung, self.max_wait);
        let calls = upstream.with_arrivals(|a| a.len());
        if analysis.flagged() {
            findings.insert(0, self.finding(&analysis, &upstream, scenario.clone()));
        } else if analysis.hung == 0 && calls > 0 {
            findings.push(
                Finding::config(format!(
                    "the scenario's premise never happened: no call arrived while `{}` hung ({}..{})",
                    self.name,
                    format_duration(self.hang.start),
                    format_duration(self.hang.end)
                ))
                .with_scenario(scenario.clone())
                .with_fix("put the hang window inside the traffic (`hang` within `run_for`) and call the upstream handed to the body"),
            );
        }
        let in_flight: Vec<(f64, f64)> = upstream.with_arrivals(|a| {
            a.iter()
                .map(|a| (a.at.as_secs_f64(), a.in_flight as f64))
                .collect()
        });
        let chart = Chart::new(
            "calls in flight at the upstream",
            ChartKind::Line,
            "virtual time (s)",
            "calls in flight",
        )
        .series("in flight at each arrival", in_flight)
        .mark(self.hang.start.as_secs_f64(), "hang starts")
        .mark(self.hang.end.as_secs_f64(), "hang ends");
        let result = SeedResult {
            activity: Some(Activity {
                virtual_elapsed: run.virtual_elapsed,
                count: calls,
                what: "upstream call",
            }),
            findings,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("calls".into(), calls.to_string()),
                ("calls into the hang".into(), analysis.hung.to_string()),
                (
                    "still waiting".into(),
                    analysis.still_waiting.len().to_string(),
                ),
                ("peak in flight".into(), analysis.peak_in_flight.to_string()),
                (
                    "longest wait".into(),
                    format_duration(analysis.longest_wait()),
                ),
            ],
            charts: vec![chart],
        };
        (result, analysis)
    }

    fn finding(&self, a: &HangAnalysis, upstream: &Upstream, scenario: String) -> Finding {
        let hang_len = self.hang.end.saturating_sub(self.hang.start);
        let verdict = if a.still_waiting.is_empty() {
            format!(
                "calls into a hung upstream waited up to {} before giving up (max_wait {}): the timeout is too long",
                format_duration(a.longest_wait()),
                format_duration(self.max_wait)
            )
        } else {
            format!(
                "calls into a hung upstream never end: {}/{} were still waiting {} after the traffic stopped (no timeout)",
                a.still_waiting.len(),
                a.hung,
                format_duration(self.grace)
            )
        };
        let mut f = Finding::bug(PATTERN, verdict).with_scenario(scenario);
        f.evidence.push(format!(
            "peak {} calls in flight during the {} hang, growing by about {:.1}/s ({} calls arrived at {} rps)",
            a.peak_in_flight,
            format_duration(hang_len),
            a.peak_in_flight as f64 / hang_len.as_secs_f64().max(1e-9),
            a.hung,
            self.rps
        ));
        if !a.still_waiting.is_empty() {
            let shown: Vec<String> = a
                .still_waiting
                .iter()
                .take(6)
                .map(|(c, at)| match c {
                    Some(c) => format!("client #{c} (since t={})", format_duration(*at)),
                    None => format!("a task (since t={})", format_duration(*at)),
                })
                .collect();
            f.evidence.push(format!(
                "still waiting: {}{}",
                shown.join(", "),
                if a.still_waiting.len() > 6 {
                    format!(" and {} more", a.still_waiting.len() - 6)
                } else {
                    String::new()
                }
            ));
        }
        if a.too_long > 0 {
            f.evidence.push(format!(
                "{} call(s) ended after more than {}; the longest after {}",
                a.too_long,
                format_duration(self.max_wait),
                format_duration(a.longest_wait())
            ));
        }
        f.evidence
            .push(format!("upstream: {}", upstream.describe()));
        f.fix = "put a timeout on every attempt (`tokio::time::timeout(Duration::from_secs(2), call)`, well under max_wait) and an overall deadline on the request, retries included, so a hung upstream fails requests fast instead of piling them up; a retry without a per-attempt timeout never gets to retry".into();
        f
    }
}

impl<B, Fut> Scenario<Arc<B>> for HangTest
where
    B: Fn(Upstream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "hang".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario(0)
    }
    fn check(&self, p: &mut Problems) {
        p.require(
            self.rps.is_finite() && self.rps > 0.0,
            "rps",
            self.rps,
            "requests per second above zero, e.g. `20`",
        );
        p.positive("run_for", self.run_for);
        p.window("hang", &self.hang);
        p.positive("max_wait", self.max_wait);
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}
