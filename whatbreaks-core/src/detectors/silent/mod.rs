//! Silent errors: does every request that fails leave a trace an operator can find by its
//! request id?
//!
//! # The scenario
//! Requests arrive as a Poisson process at `rps` (default 20) for `run_for` (default 30 s).
//! Each runs the body once, the handler, with a [`SilentEnv`]: its correlation id
//! ([`SilentEnv::request_id`], `req-17`, as production code takes it from a header), an
//! upstream whose calls fail at `error_rate` (default 20%, with 503) and a database whose
//! loads ([`SimDb::load`]) fail at `db_fail_rate` (default 10%). The faults are drawn from
//! the seed, so some requests meet errors.
//!
//! While the run lasts, the simulation thread's `tracing` subscriber is the detector's own: it
//! keeps the spans with their fields and every event at `WARN` or `ERROR` with the fields of
//! its enclosing spans (the subscriber of the test, if any, does not hear the run's events).
//!
//! # The property
//! The body returns what the handler returns, judged by [`RequestOutcome`]: `Err` of a
//! `Result`, a status of 500 or more (`u16`, and `http::StatusCode` / `http::Response` with
//! feature `http`) and a panic are failures; `()` and `Ok` report success. Then
//! - every request that **failed** must emit at least one warn or error event that carries
//!   its correlation id: the id appears in a field of the event (its message included) or of
//!   an enclosing span (`tracing::info_span!("request", request_id = %id)`);
//! - no error is **swallowed**: a request that met a dependency error it did not recover
//!   from (the last call to that upstream or database in the request failed) and then
//!   reported success must have logged it at warn or error. A retry that succeeds is a
//!   recovery; a default value is not.
//!
//! A request that failed or swallowed an error with no warn or error event at all is
//! **flagged** as `silent error` ([`PATTERN`]); the finding lists the requests with their
//! id, the dependency error they met and what they answered. A warn or error event that
//! carries no request id (in a request's task: not that request's id) is **flagged** as
//! `error without correlation id` ([`UNCORRELATED`]): it says something failed, not which
//! request; the finding gives the event's call site. One that carries another request's id
//! is the mark of a span guard (`span.enter()`) held across an `.await`: the finding says so.
//!
//! When no request met an error or failed (the code never calls the faulty dependencies),
//! there was nothing to judge: a configuration finding, not a pass.
//!
//! ```
//! use whatbreaks_core::detectors::silent::{SilentErrorTest, SilentEnv};
//! use whatbreaks_core::components::upstream::Request;
//!
//! // Every error becomes a default price and a 200: nobody hears of it.
//! let report = SilentErrorTest::new().seed(1).run(|env: SilentEnv| async move {
//!     let _price = env.upstream().call(Request::get("/price")).await.unwrap_or_else(|_| {
//!         whatbreaks_core::Response { status: 200, replayed: false }
//!     });
//!     200u16
//! });
//! assert!(report.flagged("silent error"), "{report}");
//! ```

mod capture;

pub use capture::LoggedEvent;

use crate::components::store::SimDb;
use crate::components::upstream::{Outcome, Upstream};
use crate::report::{Chart, ChartKind, Finding, Report, histogram, time_buckets_to};
use crate::runtime::sim::{self, Arrivals, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use capture::Capture;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of requests that failed, or swallowed an error, without a trace.
pub const PATTERN: &str = "silent error";

/// The pattern name of warn and error events that carry no request id.
pub const UNCORRELATED: &str = "error without correlation id";

/// What a handler's return value says about its request.
///
/// `failure` is `None` for success, or a description of the failure (an error's `Display`,
/// `answered 503`). Implemented for `()` (success: the handler reports nothing else),
/// `Result<T, E>` (`Err` fails, with the error's `Display`), `u16` and the simulated
/// [`Response`](crate::components::upstream::Response) (500 or more fails), and with feature
/// `http` for `http::StatusCode` and `http::Response<B>`.
pub trait RequestOutcome {
    /// `None` when the request succeeded; what failed otherwise.
    fn failure(&self) -> Option<String>;
}

impl RequestOutcome for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Display> RequestOutcome for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(|e| format!("returned Err({e})"))
    }
}

impl RequestOutcome for u16 {
    fn failure(&self) -> Option<String> {
        (*self >= 500).then(|| format!("answered {self}"))
    }
}

impl RequestOutcome for crate::components::upstream::Response {
    fn failure(&self) -> Option<String> {
        self.status.failure()
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl RequestOutcome for http::StatusCode {
    fn failure(&self) -> Option<String> {
        self.is_server_error().then(|| format!("answered {self}"))
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl<B> RequestOutcome for http::Response<B> {
    fn failure(&self) -> Option<String> {
        self.status().failure()
    }
}

/// What one request's handler gets: its correlation id and the dependencies, some of whose
/// calls fail.
#[derive(Clone, Debug)]
pub struct SilentEnv {
    request: u32,
    id: String,
    upstream: Upstream,
    db: SimDb,
}

impl SilentEnv {
    /// The request's correlation id, e.g. `req-17` (what production code reads from an
    /// `x-request-id` header): put it in a span around the request, or in the events.
    pub fn request_id(&self) -> &str {
        &self.id
    }

    /// The request's number, `0..requests` (the `17` of `req-17`).
    pub fn request(&self) -> u32 {
        self.request
    }

    /// The upstream: a share `error_rate` of its calls fail with 503.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The database: a share `db_fail_rate` of its loads ([`SimDb::load`]) fail.
    pub fn db(&self) -> &SimDb {
        &self.db
    }
}

/// A silent-error scenario (builder).
#[derive(Clone, Debug)]
pub struct SilentErrorTest {
    settings: Settings,
    rps: f64,
    run_for: Duration,
    error_rate: f64,
    db_fail_rate: f64,
    name: String,
}

crate::scenario::impl_common_settings!(SilentErrorTest);

impl Default for SilentErrorTest {
    fn default() -> Self {
        Self::new()
    }
}

/// One call to a dependency, as one request made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependencyCall {
    /// Virtual time of the call.
    pub at: Duration,
    /// The dependency, e.g. ``upstream `prices` `` or ``db `db` ``.
    pub dependency: String,
    /// What was called, e.g. `GET /price` or `load item:3`.
    pub call: String,
    /// The error it returned, if any.
    pub error: Option<String>,
}

/// One request: what it met, what it answered, what it logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Its correlation id, `req-17`.
    pub id: String,
    /// Virtual time it arrived.
    pub at: Duration,
    /// Its calls to the dependencies, in order.
    pub calls: Vec<DependencyCall>,
    /// What failed (`answered 503`, `returned Err(…)`, `panicked: …`), or `None` for success.
    pub failure: Option<String>,
    /// Warn and error events attributed to it (by its id in their fields, or by its task).
    pub events: usize,
    /// Of those, the events that carry its id.
    pub correlated: usize,
}

impl RequestRecord {
    /// The dependency errors it did not recover from: per dependency, the last call failed.
    pub fn unrecovered(&self) -> Vec<&DependencyCall> {
        let mut last: BTreeMap<&str, &DependencyCall> = BTreeMap::new();
        for c in &self.calls {
            last.insert(&c.dependency, c);
        }
        let mut out: Vec<&DependencyCall> =
            last.into_values().filter(|c| c.error.is_some()).collect();
        out.sort_by_key(|c| c.at);
        out
    }

    /// True when it met a dependency error it did not recover from and reported success.
    pub fn swallowed(&self) -> bool {
        self.failure.is_none() && !self.unrecovered().is_empty()
    }

    /// True when it failed or swallowed an error and logged nothing at warn or error.
    pub fn silent(&self) -> bool {
        (self.failure.is_some() || self.swallowed()) && self.events == 0
    }

    /// One line: id, time, the error met, the call path, what it answered.
    pub fn describe(&self) -> String {
        let met = match self.calls.iter().rev().find(|c| c.error.is_some()) {
            Some(c) => format!(
                "{} at {}: {} (t={}) -> ",
                c.call,
                c.dependency,
                c.error.as_deref().unwrap_or_default(),
                format_duration(c.at)
            ),
            None => String::new(),
        };
        let answer = match &self.failure {
            Some(f) => format!("{f}, nothing logged at warn or error"),
            None => "reported success, nothing logged (the error was swallowed)".into(),
        };
        format!(
            "{} (arrived t={}): {met}{answer}",
            self.id,
            format_duration(self.at)
        )
    }
}

/// What the requests did and logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilentAnalysis {
    /// Every request, in arrival order.
    pub requests: Vec<RequestRecord>,
    /// Every warn and error event, in order.
    pub events: Vec<LoggedEvent>,
    /// The indices in `events` of those that carry no request id (of their own request:
    /// see `foreign`).
    pub uncorrelated: Vec<usize>,
    /// Of `uncorrelated`, the events that ran in one request's task and carry another
    /// request's id, with that id's number: a span guard (`span.enter()`) held across an
    /// `.await` stays entered while other requests run.
    pub foreign: Vec<(usize, u32)>,
}

/// The correlation ids (`req-<n>`, `n < requests`) in `text`, each bounded by characters
/// that cannot continue an id.
fn ids_in(text: &str, requests: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let continues = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut from = 0;
    while let Some(pos) = text[from..].find("req-") {
        let start = from + pos;
        let digits = bytes[start + 4..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = start + 4 + digits;
        let bounded = (start == 0 || !continues(bytes[start - 1]))
            && (end == bytes.len() || !continues(bytes[end]));
        if digits > 0
            && bounded
            && let Ok(n) = text[start + 4..end].parse::<u32>()
            && (n as usize) < requests
        {
            out.push(n);
        }
        from = start + 4;
    }
    out
}

impl SilentAnalysis {
    /// Attributes each event to a request (the id it carries, else the task it ran in) and
    /// judges every request.
    pub fn of(mut requests: Vec<RequestRecord>, events: Vec<LoggedEvent>) -> Self {
        let n = requests.len();
        let mut uncorrelated = Vec::new();
        let mut foreign = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let mut ids: Vec<u32> = e.values().flat_map(|v| ids_in(v, n)).collect();
            ids.sort_unstable();
            ids.dedup();
            // In a request's task, only that request's id counts; elsewhere (a task the
            // handler spawned) any request's id does.
            let carried = match e.client {
                Some(c) if !ids.is_empty() => ids.contains(&c).then_some(c),
                _ => ids.first().copied(),
            };
            if carried.is_none() {
                uncorrelated.push(i);
                if let (Some(_), Some(other)) = (e.client, ids.first()) {
                    foreign.push((i, *other));
                }
            }
            if let Some(r) = carried
                .or(e.client)
                .and_then(|r| requests.get_mut(r as usize))
            {
                r.events += 1;
                if carried.is_some() {
                    r.correlated += 1;
                }
            }
        }
        SilentAnalysis {
            requests,
            events,
            uncorrelated,
            foreign,
        }
    }

    /// The requests that failed or swallowed an error without a trace.
    pub fn silent(&self) -> Vec<&RequestRecord> {
        self.requests.iter().filter(|r| r.silent()).collect()
    }

    /// Requests that failed (an error returned, a 5xx answered, a panic).
    pub fn failed(&self) -> usize {
        self.requests.iter().filter(|r| r.failure.is_some()).count()
    }

    /// Requests that met at least one dependency error.
    pub fn met_error(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.calls.iter().any(|c| c.error.is_some()))
            .count()
    }

    /// Requests that failed or swallowed an error: those that must leave a trace.
    pub fn must_log(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.failure.is_some() || r.swallowed())
            .count()
    }

    /// Of [`must_log`](Self::must_log), those that logged with their id.
    pub fn traced(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| (r.failure.is_some() || r.swallowed()) && r.correlated > 0)
            .count()
    }

    /// Calls to the dependencies, over all requests.
    pub fn calls(&self) -> usize {
        self.requests.iter().map(|r| r.calls.len()).sum()
    }

    /// The headline number ("requests with an error": those that failed or swallowed one).
    pub fn key_figure(&self) -> String {
        let silent = self.silent().len();
        if silent > 0 {
            format!(
                "{silent}/{} requests with an error logged nothing at warn/error",
                self.must_log()
            )
        } else if !self.uncorrelated.is_empty() {
            format!(
                "{}/{} warn/error events carry no request id",
                self.uncorrelated.len(),
                self.events.len()
            )
        } else {
            format!(
                "{}/{} requests with an error logged their request id",
                self.traced(),
                self.must_log()
            )
        }
    }
}

impl SilentErrorTest {
    /// 20 requests per second for 30 s; 20% of upstream calls fail with 503, 10% of database
    /// loads fail.
    pub fn new() -> Self {
        SilentErrorTest {
            settings: Settings::default(),
            rps: 20.0,
            run_for: Duration::from_secs(30),
            error_rate: 0.2,
            db_fail_rate: 0.1,
            name: "upstream".into(),
        }
    }

    /// Requests per second (default 20).
    pub fn rps(mut self, rps: f64) -> Self {
        self.rps = rps;
        self
    }

    /// How long requests arrive (default 30 s).
    pub fn run_for(mut self, run_for: Duration) -> Self {
        self.run_for = run_for;
        self
    }

    /// Share of upstream calls that fail with 503 (default 0.2).
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate;
        self
    }

    /// Share of database loads that fail (default 0.1).
    pub fn db_fail_rate(mut self, rate: f64) -> Self {
        self.db_fail_rate = rate;
        self
    }

    /// The upstream's name in messages (default `upstream`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn scenario(&self, requests: usize) -> String {
        format!(
            "{requests} requests at {} rps over {}, upstream `{}` fails {:.0}% of calls (503), db loads fail {:.0}%",
            self.rps,
            format_duration(self.run_for),
            self.name,
            self.error_rate * 100.0,
            self.db_fail_rate * 100.0
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one request's handler; it gets the request's [`SilentEnv`] and returns what
    /// the handler returns ([`RequestOutcome`]).
    pub fn run<B, Fut, O>(&self, body: B) -> Report
    where
        B: Fn(SilentEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + 'static,
        O: RequestOutcome + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the analysis (`None` when the run did not
    /// complete: see the harness findings).
    pub fn run_seed<B, Fut, O>(
        &self,
        limits: &RunLimits,
        body: Arc<B>,
    ) -> (SeedResult, Option<SilentAnalysis>)
    where
        B: Fn(SilentEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + 'static,
        O: RequestOutcome + 'static,
    {
        let upstream = Upstream::builder(self.name.clone())
            .reject(503, self.error_rate)
            .build();
        let db = SimDb::builder("db").fail_rate(self.db_fail_rate).build();
        let offsets = Arrivals::Poisson { rate: self.rps }.offsets_for(self.run_for, limits.seed);
        let requests = offsets.len();
        let arrivals = offsets.clone();
        let (up, database) = (upstream.clone(), db.clone());
        let run = sim::simulate(limits, move || async move {
            let capture = Capture::new();
            let _default = capture.install();
            let outcomes = std::rc::Rc::new(std::cell::RefCell::new(vec![None; offsets.len()]));
            let out = outcomes.clone();
            sim::run_clients(&offsets, move |client| {
                let env = SilentEnv {
                    request: client,
                    id: format!("req-{client}"),
                    upstream: up.clone(),
                    db: database.clone(),
                };
                let handler = std::panic::AssertUnwindSafe(body(env)).catch_unwind();
                let out = out.clone();
                async move {
                    let failure = match handler.await {
                        Ok(o) => o.failure(),
                        Err(p) => Some(format!("panicked: {}", sim::panic_message(&*p))),
                    };
                    if let Some(slot) = out.borrow_mut().get_mut(client as usize) {
                        *slot = Some(failure);
                    }
                }
            })
            .await;
            let outcomes = outcomes.borrow().clone();
            (outcomes, capture.events())
        });
        let scenario = self.scenario(requests);
        let mut findings = harness_findings(&run, limits, &scenario);
        let analysis = run.value.as_ref().map(|(outcomes, events)| {
            let records = self.records(&arrivals, outcomes, &upstream, &db);
            SilentAnalysis::of(records, events.clone())
        });
        let Some(analysis) = analysis else {
            return (
                SeedResult {
                    findings,
                    key_figure: "the run did not complete".into(),
                    ..SeedResult::default()
                },
                None,
            );
        };
        let silent = analysis.silent();
        if !silent.is_empty() {
            findings.insert(0, self.finding(&analysis, &upstream, &db, scenario.clone()));
        }
        if !analysis.uncorrelated.is_empty() {
            findings.push(self.uncorrelated_finding(&analysis, scenario.clone()));
        }
        if analysis.must_log() == 0 && analysis.met_error() == 0 {
            let premise = scenario::premise_finding(
                run.virtual_elapsed,
                analysis.calls(),
                "call to its upstream or database",
            )
            .unwrap_or_else(|| {
                Finding::config(format!(
                    "the scenario's premise never happened: no request met an error or failed ({} calls to the upstream and the database all succeeded), so there was nothing to judge",
                    analysis.calls()
                ))
                .with_fix("raise `error_rate` or `db_fail_rate`, and call the dependencies the handler is handed (`env.upstream()`, `env.db().load(…)`), not clients of its own")
            });
            findings.push(premise.with_scenario(scenario.clone()));
        }
        let result = SeedResult {
            activity: None,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("requests".into(), requests.to_string()),
                ("met an error".into(), analysis.met_error().to_string()),
                ("failed".into(), analysis.failed().to_string()),
                (
                    "swallowed".into(),
                    analysis
                        .requests
                        .iter()
                        .filter(|r| r.swallowed())
                        .count()
                        .to_string(),
                ),
                ("silent".into(), silent.len().to_string()),
                (
                    "warn/error events".into(),
                    analysis.events.len().to_string(),
                ),
                (
                    "without a request id".into(),
                    analysis.uncorrelated.len().to_string(),
                ),
            ],
            charts: vec![self.chart(&analysis)],
            findings,
        };
        (result, Some(analysis))
    }

    /// Each request's calls (from what the upstream and the database recorded) and outcome.
    fn records(
        &self,
        offsets: &[Duration],
        outcomes: &[Option<Option<String>>],
        upstream: &Upstream,
        db: &SimDb,
    ) -> Vec<RequestRecord> {
        let mut records: Vec<RequestRecord> = offsets
            .iter()
            .enumerate()
            .map(|(i, at)| RequestRecord {
                id: format!("req-{i}"),
                at: *at,
                calls: Vec::new(),
                failure: outcomes.get(i).cloned().flatten().unwrap_or(None),
                events: 0,
                correlated: 0,
            })
            .collect();
        let up_name = format!("upstream `{}`", upstream.name());
        upstream.with_arrivals(|arrivals| {
            for a in arrivals {
                let Some(r) = a.client.and_then(|c| records.get_mut(c as usize)) else {
                    continue;
                };
                let error = match a.outcome {
                    Outcome::Failed(e) => Some(e.to_string()),
                    Outcome::CommittedThenFailed => Some("response lost".into()),
                    _ => None,
                };
                r.calls.push(DependencyCall {
                    at: a.at,
                    dependency: up_name.clone(),
                    call: format!("{} {}", a.method, a.path),
                    error,
                });
            }
        });
        let db_name = format!("db `{}`", db.name());
        db.with_loads(|loads| {
            for l in loads {
                let Some(r) = l.client.and_then(|c| records.get_mut(c as usize)) else {
                    continue;
                };
                r.calls.push(DependencyCall {
                    at: l.at,
                    dependency: db_name.clone(),
                    call: format!("load {}", l.key),
                    error: l.failed.then(|| "load failed".to_string()),
                });
            }
        });
        for r in &mut records {
            r.calls.sort_by_key(|c| c.at);
        }
        records
    }

    fn counts(&self, a: &SilentAnalysis) -> String {
        format!(
            "{} requests: {} met a dependency error, {} failed (Err, 5xx or panic), {} swallowed an error and reported success; {} of the {} that had to leave a trace logged with their request id",
            a.requests.len(),
            a.met_error(),
            a.failed(),
            a.requests.iter().filter(|r| r.swallowed()).count(),
            a.traced(),
            a.must_log()
        )
    }

    fn finding(
        &self,
        a: &SilentAnalysis,
        upstream: &Upstream,
        db: &SimDb,
        scenario: String,
    ) -> Finding {
        let silent = a.silent();
        let swallowed = silent.iter().filter(|r| r.failure.is_none()).count();
        let verdict = format!(
            "requests fail without a trace: {}/{} requests that failed or met an error emitted no warn or error event ({} failed silently, {} swallowed the error and reported success)",
            silent.len(),
            a.must_log(),
            silent.len() - swallowed,
            swallowed
        );
        let mut f = Finding::bug(PATTERN, verdict).with_scenario(scenario);
        for r in silent.iter().take(6) {
            f.evidence.push(r.describe());
        }
        if silent.len() > 6 {
            f.evidence
                .push(format!("and {} more silent requests", silent.len() - 6));
        }
        f.evidence.push(self.counts(a));
        f.evidence.push(format!(
            "{} warn/error events in all, {} carrying a request id",
            a.events.len(),
            a.events.len() - a.uncorrelated.len()
        ));
        f.evidence
            .push(format!("{}; {}", upstream.describe(), db.describe()));
        let times: Vec<Duration> = silent.iter().map(|r| r.at).collect();
        f.picture = Some(("silent".into(), histogram(&times, 60)));
        f.fix = "log every error where it is handled, inside a span that carries the request id (`async { … }.instrument(tracing::info_span!(\"request\", request_id = %id))`, then `tracing::error!(error = %e, \"price lookup failed\")`), and answer 5xx or propagate the error (`?`) instead of mapping it to a default value and a 200: structured logging with a correlation id lets whoever is on call find the failed request from its id".into();
        f
    }

    fn uncorrelated_finding(&self, a: &SilentAnalysis, scenario: String) -> Finding {
        let verdict = format!(
            "errors are logged without a correlation id: {}/{} warn/error events carry no request id of their own, so a failure cannot be traced to its request",
            a.uncorrelated.len(),
            a.events.len()
        );
        let mut f = Finding::bug(UNCORRELATED, verdict).with_scenario(scenario);
        // One example per call site, in order of first appearance.
        let mut sites: Vec<(String, usize, usize)> = Vec::new();
        for &i in &a.uncorrelated {
            let e = &a.events[i];
            let site = e
                .location
                .clone()
                .unwrap_or_else(|| "an unknown call site".into());
            match sites.iter_mut().find(|(s, _, _)| *s == site) {
                Some((_, _, n)) => *n += 1,
                None => sites.push((site, i, 1)),
            }
        }
        for (site, i, n) in sites.iter().take(4) {
            let e = &a.events[*i];
            let foreign = a
                .foreign
                .iter()
                .find(|(f, _)| f == i)
                .map(|(_, other)| {
                    format!(
                        "; it carries req-{other}'s id, not its own: a span entered with `span.enter()` and held across an `.await` stays entered while other requests run, so their events carry its id (enter it with `.instrument(span)`)"
                    )
                })
                .unwrap_or_default();
            let who = match e.client {
                Some(c) => format!("in req-{c}'s task"),
                None => "outside any request".into(),
            };
            let spans = if e.spans.is_empty() {
                "no span".to_string()
            } else {
                format!("span {}", e.spans.join(" > "))
            };
            let fields: Vec<String> = e.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            f.evidence.push(format!(
                "{} at {site}, {who}, {spans}: \"{}\"{} ({n} such event(s) without their request's id){foreign}",
                e.level,
                e.message,
                if fields.is_empty() {
                    String::new()
                } else {
                    format!(" {}", fields.join(" "))
                }
            ));
        }
        f.evidence.push(self.counts(a));
        f.fix = "enter a span that carries the request id for the whole request (`handler(env).instrument(tracing::info_span!(\"request\", request_id = %env.request_id()))`), so every event inside it carries the id; or add it to the event (`tracing::error!(request_id = %id, error = %e, …)`)".into();
        f
    }

    fn chart(&self, a: &SilentAnalysis) -> Chart {
        let end = self.run_for;
        let second = Duration::from_secs(1);
        let times = |keep: &dyn Fn(&RequestRecord) -> bool| -> Vec<Duration> {
            a.requests
                .iter()
                .filter(|r| keep(r))
                .map(|r| r.at)
                .collect()
        };
        let traced = times(&|r| (r.failure.is_some() || r.swallowed()) && r.correlated > 0);
        let uncorrelated =
            times(&|r| (r.failure.is_some() || r.swallowed()) && r.events > 0 && r.correlated == 0);
        let silent = times(&|r| r.silent());
        Chart::new(
            "requests that failed or met an error, by the trace they left",
            ChartKind::Bars,
            "virtual time (s)",
            "requests per second",
        )
        .series(
            "logged with the request id",
            time_buckets_to(&traced, second, end, 600),
        )
        .series(
            "logged without the id",
            time_buckets_to(&uncorrelated, second, end, 600),
        )
        .series("silent", time_buckets_to(&silent, second, end, 600))
    }
}

impl<B, Fut, O> Scenario<Arc<B>> for SilentErrorTest
where
    B: Fn(SilentEnv) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + 'static,
    O: RequestOutcome + 'static,
{
    fn label(&self) -> String {
        "silent".into()
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
        p.within("error_rate", self.error_rate, 0.0, 1.0);
        p.within("db_fail_rate", self.db_fail_rate, 0.0, 1.0);
        if self.error_rate == 0.0 && self.db_fail_rate == 0.0 {
            p.push(
                "error_rate",
                self.error_rate,
                "a share above zero for `error_rate` or `db_fail_rate` (both are 0, so no request can meet an error)",
            );
        }
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_with_their_boundaries() {
        assert_eq!(ids_in("req-17", 100), vec![17]);
        assert_eq!(ids_in("\"req-3\" and req-4.", 100), vec![3, 4]);
        assert_eq!(ids_in("req-170", 100), Vec::<u32>::new());
        assert_eq!(ids_in("myreq-1 req-1x req-", 100), Vec::<u32>::new());
        assert_eq!(ids_in("request req-2 failed", 100), vec![2]);
    }

    #[test]
    fn an_event_counts_for_its_own_request_or_is_uncorrelated() {
        let record = |i: u32| RequestRecord {
            id: format!("req-{i}"),
            at: Duration::ZERO,
            calls: Vec::new(),
            failure: Some("answered 503".into()),
            events: 0,
            correlated: 0,
        };
        let event = |client: Option<u32>, field: &str| LoggedEvent {
            level: tracing::Level::ERROR,
            at: Duration::ZERO,
            client,
            message: "failed".into(),
            fields: vec![("request_id", field.into())],
            spans: vec!["request"],
            location: None,
        };
        let a = SilentAnalysis::of(
            vec![record(0), record(1), record(2)],
            vec![
                event(Some(0), "req-0"),
                // Another request's span, still entered: a guard held across an await.
                event(Some(1), "req-0"),
                // A task the handler spawned, no client, but the id.
                event(None, "req-2"),
            ],
        );
        assert_eq!(a.uncorrelated, vec![1]);
        assert_eq!(a.foreign, vec![(1, 0)]);
        let counts: Vec<(usize, usize)> = a
            .requests
            .iter()
            .map(|r| (r.events, r.correlated))
            .collect();
        assert_eq!(counts, vec![(1, 1), (1, 0), (1, 1)]);
        assert!(a.silent().is_empty());
    }

    #[test]
    fn a_retry_that_succeeds_recovers_a_default_value_does_not() {
        let call = |at, error: Option<&str>| DependencyCall {
            at: Duration::from_millis(at),
            dependency: "upstream `u`".into(),
            call: "GET /".into(),
            error: error.map(Into::into),
        };
        let mut r = RequestRecord {
            id: "req-0".into(),
            at: Duration::ZERO,
            calls: vec![call(1, Some("503")), call(2, None)],
            failure: None,
            events: 0,
            correlated: 0,
        };
        assert!(!r.swallowed() && !r.silent());
        r.calls.push(call(3, Some("503")));
        assert!(r.swallowed() && r.silent());
        assert!(r.describe().contains("swallowed"), "{}", r.describe());
    }
}
