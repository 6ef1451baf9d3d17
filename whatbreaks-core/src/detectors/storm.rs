//! Retry storms and duplicate side effects: what do retries do to a degraded upstream, and to
//! the effects it commits?
//!
//! # The scenario
//! Logical requests arrive open-loop (a seeded Poisson process) at `rps` per second for
//! `duration` (default 100/s for 60 s). Each arrival runs the body once, as its own client,
//! with its own logical request id: every upstream call the body makes, retries included, is
//! recorded against that request with its attempt number. Inside `degraded` (default
//! `10s..40s`) the upstream fails calls: by default all of them, at once (connection refused);
//! with `error_rate` below 1 a share of them, answered 503 after the latency; with
//! `degraded_latency` every call in the window is slow (clients that time out abandon it, and
//! a `POST` they abandon has committed its effect all the same). Outside the window it serves
//! normally. Two more faults run over the whole run:
//! - `ambiguous`: this share of effect-committing calls (`POST`, `PUT`, `DELETE`) commits its
//!   effect and then loses the response, so the client sees a failure (default 0);
//! - `bad_requests`: this share of calls is answered 400 Bad Request (default 1%), to see
//!   whether the code retries an error that cannot succeed on retry.
//!
//! # The three properties
//! 1. **Amplification** (pattern [`PATTERN`], `retry storm`): upstream calls divided by the
//!    logical requests that called, over the whole run, must not exceed `max_amplification`
//!    (default 1.5). The body should make one upstream call per logical request plus its
//!    retries. The finding shows calls per request overall and inside the degraded window,
//!    the worst second, how soon the load came back down after the degradation ended (load
//!    that keeps coming after the cause is gone is metastable overload) and the median gap
//!    between a failure and its retry.
//! 2. **Duplicate effects** (pattern [`DUPLICATE_PATTERN`]): no logical request commits an
//!    effect more than once. A `POST` without an idempotency key, retried after an ambiguous
//!    failure (lost response, or a timeout on a slow call), commits twice; with a key that
//!    stays the same across the retries of one request, the upstream deduplicates.
//! 3. **Classification** (pattern [`CLASSIFICATION_PATTERN`]): a call answered with a
//!    non-retryable status (4xx other than 408 and 429, see
//!    [`UpstreamError::is_retryable`](crate::components::upstream::UpstreamError::is_retryable)) is never
//!    followed by another attempt of the same logical request.
//!
//! A budget of retries under 10-20% of requests (Google SRE's per-client retry ratio, tower's
//! `TpsBudget`) bounds amplification at about 1.1-1.2x however long the outage lasts; three
//! immediate retries make it 4x for as long as the outage lasts.
//!
//! ```
//! use whatbreaks_core::detectors::storm::RetryStormTest;
//! use whatbreaks_core::components::upstream::{Request, Upstream};
//!
//! // Three immediate retries of every failure.
//! let report = RetryStormTest::new().rps(20.0).seed(1).run(|up: Upstream| async move {
//!     for _ in 0..4 {
//!         if up.call(Request::get("/price")).await.is_ok() { return; }
//!     }
//! });
//! assert!(report.flagged("retry storm"));
//! ```

use crate::components::upstream::{Arrival, Degradation, Outcome, Upstream, UpstreamError};
use crate::report::{Finding, Report, arrivals_chart, histogram};
use crate::runtime::sim::{self, Arrivals, ClientId, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Activity, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of amplification findings.
pub const PATTERN: &str = "retry storm";
/// The pattern name of findings about effects committed more than once.
pub const DUPLICATE_PATTERN: &str = "duplicate side effects";
/// The pattern name of findings about retried non-retryable errors.
pub const CLASSIFICATION_PATTERN: &str = "non-retryable error retried";

/// A retry-storm scenario (builder). `#[retry_storm_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct RetryStormTest {
    settings: Settings,
    rps: f64,
    duration: Duration,
    degraded: Range<Duration>,
    error_rate: f64,
    degraded_latency: Option<Duration>,
    latency: Duration,
    max_amplification: f64,
    ambiguous: f64,
    bad_requests: f64,
    upstream_name: String,
}

crate::scenario::impl_common_settings!(RetryStormTest);

impl Default for RetryStormTest {
    fn default() -> Self {
        Self::new()
    }
}

/// One logical request that committed its effect more than once.
#[derive(Clone, Debug, PartialEq)]
pub struct Duplicate {
    /// The client (one per arrival) that made the request.
    pub client: Option<ClientId>,
    /// Effects committed.
    pub effects: u32,
    /// Its calls: `(attempt, time, outcome, idempotency key)`.
    pub calls: Vec<(u32, Duration, Outcome, Option<String>)>,
}

/// A non-retryable error that was retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetriedError {
    /// The client (one per arrival) that made the request.
    pub client: Option<ClientId>,
    /// The status of the failed call.
    pub status: u16,
    /// Its attempt number.
    pub attempt: u32,
    /// When it failed (arrival time of the failed call).
    pub at: Duration,
    /// When the next attempt arrived.
    pub retried_at: Duration,
}

/// The analysis of one run's arrivals.
#[derive(Clone, Debug, PartialEq)]
pub struct StormAnalysis {
    /// Upstream calls.
    pub calls: usize,
    /// Logical requests that called the upstream.
    pub requests: usize,
    /// `calls / requests`.
    pub amplification: f64,
    /// Calls and logical requests whose first call arrived inside the degraded window.
    pub degraded_calls: usize,
    /// Logical requests that started inside the degraded window.
    pub degraded_requests: usize,
    /// The second with the most calls: `(second, calls, new requests)`.
    pub worst_second: (u64, usize, usize),
    /// How long after the degradation ended calls per second came back under
    /// `max_amplification` times the new requests; `None` if they never did before the run
    /// ended (or the degradation lasted the whole run).
    pub recovered_after: Option<Duration>,
    /// Median gap between a failed call and the next attempt of the same request.
    pub median_retry_gap: Option<Duration>,
    /// Logical requests that committed their effect more than once.
    pub duplicates: Vec<Duplicate>,
    /// Requests whose idempotency key changed between attempts.
    pub changing_keys: usize,
    /// Non-retryable errors that were retried (at most one per request).
    pub retried_errors: Vec<RetriedError>,
    /// Non-retryable answers in all.
    pub non_retryable: usize,
    /// Whether the amplification exceeds the limit.
    pub amplified: bool,
    /// The limit it was judged against.
    pub max_amplification: f64,
}

type RequestKey = (Option<ClientId>, Option<u64>);

/// Indices of `arrivals` sorted by `(client, request, index)`, and where each logical
/// request's run of indices ends in that order.
///
/// Client ids are dense, so a counting sort by client (stable: arrival order kept within each
/// client) does most of the work in linear time. The same pass notes which clients made more
/// than one logical request, and whether out of order: only those clients' runs are sorted
/// by request and split; a client with one request is one run without looking again.
fn group_order(arrivals: &[Arrival]) -> (Vec<u32>, Vec<u32>) {
    let slot = |a: &Arrival| a.client.map_or(0, |c| c as usize + 1);
    let key = |i: u32| {
        let a = &arrivals[i as usize];
        (a.client, a.request)
    };
    let slots = arrivals.iter().map(slot).max().map_or(0, |m| m + 1);
    if slots > 4 * arrivals.len() + 16 {
        // Sparse ids: a plain sort.
        let mut order: Vec<u32> = (0..arrivals.len() as u32).collect();
        order.sort_by_key(|&i| (key(i), i));
        let ends = run_ends(&order, |x, y| key(x) == key(y), 0);
        return (order, ends);
    }
    /// Per client: its last request so far, whether it made several, whether out of order.
    #[derive(Clone, Copy, Default)]
    struct Seen {
        count: u32,
        last: Option<u64>,
        several: bool,
        unordered: bool,
    }
    let mut seen = vec![Seen::default(); slots];
    for a in arrivals {
        let s = &mut seen[slot(a)];
        if s.count > 0 && a.request != s.last {
            s.several = true;
            s.unordered |= a.request < s.last;
        }
        s.count += 1;
        s.last = a.request;
    }
    let mut starts = Vec::with_capacity(slots + 1);
    let mut total = 0u32;
    for s in &seen {
        starts.push(total);
        total += s.count;
    }
    starts.push(total);
    let mut next = starts.clone();
    let mut order = vec![0u32; arrivals.len()];
    for (i, a) in arrivals.iter().enumerate() {
        let n = &mut next[slot(a)];
        order[*n as usize] = i as u32;
        *n += 1;
    }
    let mut ends = Vec::with_capacity(slots);
    for (k, s) in seen.iter().enumerate() {
        let (from, to) = (starts[k], starts[k + 1]);
        if s.count == 0 {
            continue;
        }
        if !s.several {
            ends.push(to);
            continue;
        }
        let run = &mut order[from as usize..to as usize];
        if s.unordered {
            // Stable: equal requests keep arrival order.
            run.sort_by_key(|&i| arrivals[i as usize].request);
        }
        ends.extend(run_ends(run, |x, y| key(x) == key(y), from));
    }
    (order, ends)
}

/// Ends (exclusive, offset by `base`) of the runs of equal neighbours in `order`.
fn run_ends(order: &[u32], same: impl Fn(u32, u32) -> bool, base: u32) -> Vec<u32> {
    let mut ends = Vec::new();
    for (k, w) in order.windows(2).enumerate() {
        if !same(w[0], w[1]) {
            ends.push(base + k as u32 + 1);
        }
    }
    if !order.is_empty() {
        ends.push(base + order.len() as u32);
    }
    ends
}

impl StormAnalysis {
    /// Measures amplification, duplicate effects and retried non-retryable errors (see the
    /// module docs). `effects` is the upstream's effects per logical request.
    pub fn of(
        arrivals: &[Arrival],
        effects: &BTreeMap<RequestKey, u32>,
        degraded: &Range<Duration>,
        max_amplification: f64,
    ) -> Self {
        // Arrivals grouped by logical request, in arrival order within each: an index sorted
        // by (client, request, arrival), cheaper than a map of vectors at 100k requests.
        let (order, ends) = group_order(arrivals);
        let mut groups: Vec<&[u32]> = Vec::with_capacity(ends.len());
        let mut from = 0;
        for &end in &ends {
            groups.push(&order[from..end as usize]);
            from = end as usize;
        }
        let seconds = arrivals
            .iter()
            .map(|a| a.at.as_secs())
            .max()
            .map_or(0, |s| s + 1);
        let mut per_second: Vec<(usize, usize)> = vec![(0, 0); seconds as usize];
        for a in arrivals {
            let s = &mut per_second[a.at.as_secs() as usize];
            s.0 += 1;
            if a.attempt == 0 {
                s.1 += 1;
            }
        }
        let calls = arrivals.len();
        let requests = groups.len();
        let amplification = if requests == 0 {
            0.0
        } else {
            calls as f64 / requests as f64
        };
        let mut degraded_calls = 0;
        let mut degraded_requests = 0;
        let mut gaps = Vec::new();
        let mut retried_errors = Vec::new();
        let mut changing_keys = 0;
        let mut non_retryable = 0;
        for group in &groups {
            let call = |k: usize| &arrivals[group[k] as usize];
            if degraded.contains(&call(0).at) {
                degraded_requests += 1;
                degraded_calls += group.len();
            }
            // The key changed between some two consecutive attempts.
            if group
                .windows(2)
                .any(|w| arrivals[w[0] as usize].key != arrivals[w[1] as usize].key)
            {
                changing_keys += 1;
            }
            let mut reported = false;
            for pair in group.windows(2) {
                let (failed, next) = (&arrivals[pair[0] as usize], &arrivals[pair[1] as usize]);
                let error = match failed.outcome {
                    Outcome::Failed(e) => Some(e),
                    Outcome::CommittedThenFailed | Outcome::Abandoned => {
                        Some(UpstreamError::Unavailable)
                    }
                    _ => None,
                };
                if error.is_some() {
                    gaps.push(next.at.saturating_sub(failed.at));
                }
                if let Some(UpstreamError::Status(status)) = error {
                    if !UpstreamError::Status(status).is_retryable() && !reported {
                        reported = true;
                        retried_errors.push(RetriedError {
                            client: failed.client,
                            status,
                            attempt: failed.attempt,
                            at: failed.at,
                            retried_at: next.at,
                        });
                    }
                }
            }
            non_retryable += group
                .iter()
                .filter(|&&i| {
                    matches!(arrivals[i as usize].outcome, Outcome::Failed(e) if !e.is_retryable())
                })
                .count();
        }
        // The value at the middle of the sorted gaps, found without sorting them all.
        let middle = gaps.len() / 2;
        let median_retry_gap = (middle < gaps.len()).then(|| *gaps.select_nth_unstable(middle).1);
        let worst_second = per_second
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(&a.0)))
            .map(|(s, (c, n))| (s as u64, *c, *n))
            .unwrap_or_default();
        let last_second = seconds.saturating_sub(1);
        let end = degraded.end.as_secs_f64().ceil() as u64;
        let recovered_after = (end..=last_second)
            .find(|s| {
                let (c, n) = per_second.get(*s as usize).copied().unwrap_or_default();
                c as f64 <= max_amplification * n.max(1) as f64
            })
            .map(|s| Duration::from_secs(s).saturating_sub(degraded.end));
        let duplicates = effects
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(key, n)| Duplicate {
                client: key.0,
                effects: *n,
                calls: groups
                    .binary_search_by_key(key, |g| {
                        let a = &arrivals[g[0] as usize];
                        (a.client, a.request)
                    })
                    .map(|g| {
                        groups[g]
                            .iter()
                            .map(|&i| {
                                let a = &arrivals[i as usize];
                                (a.attempt, a.at, a.outcome, a.key.clone())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        StormAnalysis {
            calls,
            requests,
            amplification,
            degraded_calls,
            degraded_requests,
            worst_second,
            recovered_after,
            median_retry_gap,
            duplicates,
            changing_keys,
            retried_errors,
            non_retryable,
            amplified: amplification > max_amplification,
            max_amplification,
        }
    }

    /// Calls per request among requests that started inside the degraded window.
    pub fn degraded_amplification(&self) -> f64 {
        self.degraded_calls as f64 / self.degraded_requests.max(1) as f64
    }

    /// Whether any property fails.
    pub fn flagged(&self) -> bool {
        self.amplified || !self.duplicates.is_empty() || !self.retried_errors.is_empty()
    }

    /// The headline number, e.g. `3.97 calls per logical request (limit 1.5)`.
    pub fn key_figure(&self) -> String {
        if self.amplified {
            format!(
                "{:.2} calls per logical request (limit {})",
                self.amplification, self.max_amplification
            )
        } else if !self.duplicates.is_empty() {
            format!(
                "{}/{} requests committed twice or more",
                self.duplicates.len(),
                self.requests
            )
        } else if !self.retried_errors.is_empty() {
            format!(
                "{}/{} non-retryable errors retried",
                self.retried_errors.len(),
                self.non_retryable
            )
        } else {
            format!(
                "{:.2} calls per request, no duplicate effects",
                self.amplification
            )
        }
    }
}

impl RetryStormTest {
    /// 100 requests/s for 60 s, upstream failing every call `10s..40s`,
    /// `max_amplification` 1.5, 1% of calls answered 400, no ambiguous failures.
    pub fn new() -> Self {
        RetryStormTest {
            settings: Settings::default(),
            rps: 100.0,
            duration: Duration::from_secs(60),
            degraded: Duration::from_secs(10)..Duration::from_secs(40),
            error_rate: 1.0,
            degraded_latency: None,
            latency: Duration::from_millis(20),
            max_amplification: 1.5,
            ambiguous: 0.0,
            bad_requests: 0.01,
            upstream_name: "upstream".into(),
        }
    }

    /// Logical requests per second (default 100), arriving as a seeded Poisson process.
    pub fn rps(mut self, rps: f64) -> Self {
        self.rps = rps;
        self
    }

    /// How long requests keep arriving (default 60 s).
    pub fn run_for(mut self, run_for: Duration) -> Self {
        self.duration = run_for;
        self
    }

    /// Old name of [`run_for`](Self::run_for) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `run_for`")]
    pub fn duration(self, duration: Duration) -> Self {
        self.run_for(duration)
    }

    /// When the upstream is degraded (default `10s..40s`; an empty range for none).
    pub fn outage(mut self, window: Range<Duration>) -> Self {
        self.degraded = window;
        self
    }

    /// Old name of [`outage`](Self::outage) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `outage`")]
    pub fn degraded(self, window: Range<Duration>) -> Self {
        self.outage(window)
    }

    /// Share of calls that fail inside the degraded window (default 1: all of them, at once;
    /// below 1 they are answered 503 after the latency).
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate;
        self
    }

    /// Latency of every call inside the outage window (default: none, failures are fast).
    /// Slow responses make clients with a timeout give up and retry.
    pub fn outage_latency(mut self, latency: Duration) -> Self {
        self.degraded_latency = Some(latency);
        self
    }

    /// Old name of [`outage_latency`](Self::outage_latency) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `outage_latency`")]
    pub fn degraded_latency(self, latency: Duration) -> Self {
        self.outage_latency(latency)
    }

    /// Latency of a served call (default 20 ms).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Upstream calls per logical request allowed over the run (default 1.5).
    pub fn max_amplification(mut self, limit: f64) -> Self {
        self.max_amplification = limit;
        self
    }

    /// Share of effect-committing calls (`POST`, `PUT`, `DELETE`) that commit, then lose
    /// their response (default 0).
    pub fn ambiguous(mut self, share: f64) -> Self {
        self.ambiguous = share;
        self
    }

    /// Share of calls answered 400 Bad Request (default 0.01).
    pub fn bad_requests(mut self, share: f64) -> Self {
        self.bad_requests = share;
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
        let mut b = Upstream::builder(self.upstream_name.clone()).latency(self.latency);
        let w = self.degraded.clone();
        if !w.is_empty() && (self.error_rate > 0.0 || self.degraded_latency.is_some()) {
            if self.error_rate >= 1.0 && self.degraded_latency.is_none() {
                b = b.outage(w);
            } else {
                let mut d = Degradation::failing(w).error_rate(self.error_rate);
                if let Some(l) = self.degraded_latency {
                    d = d.latency(l);
                }
                b = b.degraded(d);
            }
        }
        if self.ambiguous > 0.0 {
            b = b.commit_then_fail(self.ambiguous);
        }
        if self.bad_requests > 0.0 {
            b = b.reject(400, self.bad_requests);
        }
        b.build()
    }

    fn scenario(&self, upstream: &Upstream, requests: usize) -> String {
        format!(
            "{} requests/s for {} ({requests} logical requests), {}",
            self.rps,
            format_duration(self.duration),
            upstream.describe()
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one logical request's work (retries included); it gets a handle to the
    /// shared upstream.
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
        let offsets = Arrivals::Poisson { rate: self.rps }.offsets_for(self.duration, limits.seed);
        let requests = offsets.len();
        let up = upstream.clone();
        let run = sim::simulate(limits, move || async move {
            sim::run_clients(&offsets, move |_| {
                let fut = body(up.clone());
                // Each arrival is one logical request: its retries share this id, begun at the
                // first poll. (A combinator, not an `async` block: that would store the body
                // twice.)
                futures::FutureExt::then(futures::future::lazy(|_| sim::begin_request()), |_| fut)
            })
            .await;
        });
        let scenario = self.scenario(&upstream, requests);
        let mut findings = harness_findings(&run, limits, &scenario);
        let effects = upstream.effects();
        let activity = Activity {
            virtual_elapsed: run.virtual_elapsed,
            count: upstream.with_arrivals(|a| a.len()),
            what: "upstream call",
        };
        let analysis = upstream.with_arrivals(|a| {
            StormAnalysis::of(a, &effects, &self.degraded, self.max_amplification)
        });
        let mut bugs = Vec::new();
        if analysis.amplified {
            bugs.push(self.amplification_finding(&analysis, &upstream, scenario.clone()));
        }
        if !analysis.duplicates.is_empty() {
            bugs.push(duplicate_finding(&analysis, scenario.clone()));
        }
        if !analysis.retried_errors.is_empty() {
            bugs.push(classification_finding(&analysis, scenario));
        }
        bugs.append(&mut findings);
        let result = SeedResult {
            activity: Some(activity),
            findings: bugs,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("calls".into(), analysis.calls.to_string()),
                ("logical requests".into(), analysis.requests.to_string()),
                (
                    "amplification".into(),
                    format!("{:.3}", analysis.amplification),
                ),
                (
                    "degraded amplification".into(),
                    format!("{:.3}", analysis.degraded_amplification()),
                ),
                (
                    "duplicated requests".into(),
                    analysis.duplicates.len().to_string(),
                ),
                (
                    "retried non-retryable errors".into(),
                    analysis.retried_errors.len().to_string(),
                ),
                (
                    "trace hash".into(),
                    format!("{:#018x}", upstream.trace_hash()),
                ),
            ],
            charts: vec![arrivals_chart(
                &upstream.arrival_times(false),
                "upstream",
                "calls",
            )],
        };
        (result, upstream)
    }

    fn amplification_finding(
        &self,
        a: &StormAnalysis,
        upstream: &Upstream,
        scenario: String,
    ) -> Finding {
        let mut f = Finding::bug(
            PATTERN,
            format!(
                "retries amplify load {:.2}x (limit {}x)",
                a.amplification, a.max_amplification
            ),
        );
        f.scenario = scenario;
        f.evidence.push(format!(
            "{} upstream calls for {} logical requests: {:.2} calls per request",
            a.calls, a.requests, a.amplification
        ));
        if !self.degraded.is_empty() {
            f.evidence.push(format!(
                "requests that started in the degradation {}..{}: {} calls for {} requests ({:.2} per request)",
                format_duration(self.degraded.start),
                format_duration(self.degraded.end),
                a.degraded_calls,
                a.degraded_requests,
                a.degraded_amplification()
            ));
        }
        let (s, calls, new) = a.worst_second;
        f.evidence.push(format!(
            "worst second t={s}s..{}s: {calls} calls for {new} new requests",
            s + 1
        ));
        if !self.degraded.is_empty() && self.degraded.end < self.duration {
            f.evidence.push(match a.recovered_after {
                Some(d) if d <= Duration::from_secs(1) => format!(
                    "after the degradation ended (t={}), load fell back within {}",
                    format_duration(self.degraded.end),
                    format_duration(d.max(Duration::from_secs(1)))
                ),
                Some(d) => format!(
                    "load kept coming after the degradation ended (t={}): back under {}x new requests only {} later (metastable overload)",
                    format_duration(self.degraded.end),
                    a.max_amplification,
                    format_duration(d)
                ),
                None => format!(
                    "load kept coming after the degradation ended (t={}) until the run ended: metastable overload",
                    format_duration(self.degraded.end)
                ),
            });
        }
        if let Some(gap) = a.median_retry_gap {
            f.evidence.push(format!(
                "median gap between a failure and its retry: {}",
                format_duration(gap)
            ));
        }
        let times: Vec<Duration> = upstream.with_arrivals(|a| a.iter().map(|a| a.at).collect());
        f.picture = Some(("calls".into(), histogram(&times, 60)));
        let immediate = a
            .median_retry_gap
            .is_some_and(|g| g < Duration::from_millis(10));
        f.fix = if immediate {
            "retries are immediate: back off with jitter between attempts, and cap them with a retry budget (a token bucket that each request fills by ~0.1 and each retry drains by 1, as in Google SRE or tower's TpsBudget)".into()
        } else {
            "cap retries with a retry budget: a token bucket that each request fills by ~0.1 and each retry drains by 1 (Google SRE, tower's TpsBudget), so retries stay under ~10% of requests however long the outage lasts".into()
        };
        f
    }
}

fn client_name(c: Option<ClientId>) -> String {
    c.map_or_else(|| "?".into(), |c| format!("#{c}"))
}

fn outcome_name(o: Outcome) -> String {
    match o {
        Outcome::InFlight => "still in flight".into(),
        Outcome::Ok => "committed".into(),
        Outcome::Deduplicated => "deduplicated".into(),
        Outcome::Failed(e) => format!("failed ({e})"),
        Outcome::CommittedThenFailed => "committed, response lost".into(),
        Outcome::Abandoned => "abandoned by the client".into(),
    }
}

fn duplicate_finding(a: &StormAnalysis, scenario: String) -> Finding {
    let mut f = Finding::bug(
        DUPLICATE_PATTERN,
        format!(
            "{} logical request(s) committed their effect more than once",
            a.duplicates.len()
        ),
    );
    f.scenario = scenario;
    f.evidence.push(format!(
        "{}/{} logical requests committed 2 or more effects ({} effects in excess)",
        a.duplicates.len(),
        a.requests,
        a.duplicates
            .iter()
            .map(|d| u64::from(d.effects - 1))
            .sum::<u64>()
    ));
    for d in a.duplicates.iter().take(5) {
        let calls: Vec<String> = d
            .calls
            .iter()
            .map(|(attempt, at, outcome, key)| {
                format!(
                    "attempt {attempt} at t={} {}{}",
                    format_duration(*at),
                    outcome_name(*outcome),
                    match key {
                        Some(k) => format!(" [key {k}]"),
                        None => " [no key]".into(),
                    }
                )
            })
            .collect();
        f.evidence.push(format!(
            "request of client {}: {} effects: {}",
            client_name(d.client),
            d.effects,
            calls.join("; ")
        ));
    }
    f.fix = if a.changing_keys > 0 {
        format!(
            "the idempotency key changes between attempts ({} request(s)): make it once per logical request, before the first attempt, and send the same key on every retry",
            a.changing_keys
        )
    } else {
        "send an idempotency key made once per logical request (e.g. a UUID created before the first attempt) and reuse it on every retry; without one, do not retry a POST after an ambiguous failure".into()
    };
    f
}

fn classification_finding(a: &StormAnalysis, scenario: String) -> Finding {
    let mut f = Finding::bug(
        CLASSIFICATION_PATTERN,
        format!(
            "{} non-retryable error(s) were retried",
            a.retried_errors.len()
        ),
    );
    f.scenario = scenario;
    f.evidence.push(format!(
        "{}/{} non-retryable answers were followed by another attempt of the same request",
        a.retried_errors.len(),
        a.non_retryable
    ));
    for e in a.retried_errors.iter().take(5) {
        f.evidence.push(format!(
            "client {}: attempt {} answered {} at t={}, retried at t={}",
            client_name(e.client),
            e.attempt,
            e.status,
            format_duration(e.at),
            format_duration(e.retried_at)
        ));
    }
    f.fix = "retry only errors that a retry can fix: connection failures, 5xx, 408 and 429 (`UpstreamError::is_retryable`); a 400 means the request itself is wrong and fails the same way every time".into();
    f
}

impl<B, Fut> Scenario<Arc<B>> for RetryStormTest
where
    B: Fn(Upstream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "retry storm".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        format!(
            "{} requests/s for {}, upstream `{}`",
            self.rps,
            format_duration(self.duration),
            self.upstream_name
        )
    }
    fn check(&self, p: &mut Problems) {
        p.require(
            self.rps.is_finite() && self.rps > 0.0 && self.rps <= 1e6,
            "rps",
            self.rps,
            "requests per second greater than 0 and at most 1000000",
        );
        p.positive("run_for", self.duration);
        p.require(
            self.degraded.start <= self.degraded.end,
            "outage",
            &self.degraded,
            format!(
                "a window that does not end before it starts: {}",
                crate::spec::WINDOW_FORM
            ),
        );
        p.within("error_rate", self.error_rate, 0.0, 1.0);
        p.within("ambiguous", self.ambiguous, 0.0, 1.0);
        p.within("bad_requests", self.bad_requests, 0.0, 1.0);
        p.require(
            self.max_amplification.is_finite() && self.max_amplification > 0.0,
            "max_amplification",
            self.max_amplification,
            "calls per request greater than 0, e.g. 1.5",
        );
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::upstream::Method;

    fn arrival(at_ms: u64, client: u32, attempt: u32, outcome: Outcome) -> Arrival {
        Arrival {
            at: Duration::from_millis(at_ms),
            client: Some(client),
            request: Some(u64::from(client)),
            attempt,
            method: Method::Post,
            path: "/charge".into(),
            key: None,
            outcome,
            in_flight: 1,
        }
    }

    const FAIL: Outcome = Outcome::Failed(UpstreamError::Unavailable);

    #[test]
    fn grouping_matches_a_plain_sort() {
        // Clients with one request, several in order, several out of order, none; sparse ids.
        let plain = |arrivals: &[Arrival]| {
            let mut order: Vec<u32> = (0..arrivals.len() as u32).collect();
            order.sort_by_key(|&i| {
                let a = &arrivals[i as usize];
                (a.client, a.request, i)
            });
            let sizes: Vec<usize> = order
                .chunk_by(|&x, &y| {
                    let (a, b) = (&arrivals[x as usize], &arrivals[y as usize]);
                    (a.client, a.request) == (b.client, b.request)
                })
                .map(<[u32]>::len)
                .collect();
            (order, sizes)
        };
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = crate::scenario::config::splitmix64(state);
            state % n
        };
        for ids in [5u64, 1_000_000_000] {
            let arrivals: Vec<Arrival> = (0..300)
                .map(|i| {
                    let mut a = arrival(i, 0, 0, FAIL);
                    a.client = (next(6) > 0).then(|| (next(5) * ids / 5) as u32);
                    a.request = (next(8) > 0).then(|| next(4));
                    a
                })
                .collect();
            let (order, ends) = group_order(&arrivals);
            let sizes: Vec<usize> = std::iter::once(0)
                .chain(ends.iter().map(|e| *e as usize))
                .collect::<Vec<_>>()
                .windows(2)
                .map(|w| w[1] - w[0])
                .collect();
            assert_eq!((order, sizes), plain(&arrivals), "ids up to {ids}");
        }
    }

    #[test]
    fn amplification_is_calls_per_request() {
        let mut a = Vec::new();
        for c in 0..10 {
            a.push(arrival(c as u64 * 100, c, 0, FAIL));
            a.push(arrival(c as u64 * 100 + 1, c, 1, FAIL));
            a.push(arrival(c as u64 * 100 + 2, c, 2, Outcome::Ok));
        }
        let window = Duration::ZERO..Duration::from_secs(10);
        let s = StormAnalysis::of(&a, &BTreeMap::new(), &window, 1.5);
        assert_eq!((s.calls, s.requests), (30, 10));
        assert!(s.amplified);
        assert!((s.degraded_amplification() - 3.0).abs() < 1e-9);
        assert_eq!(s.median_retry_gap, Some(Duration::from_millis(1)));
        assert_eq!(s.worst_second, (0, 30, 10));
        assert_eq!(s.key_figure(), "3.00 calls per logical request (limit 1.5)");
        let s = StormAnalysis::of(&a, &BTreeMap::new(), &window, 3.0);
        assert!(!s.flagged());
    }

    #[test]
    fn retried_400s_and_duplicates_are_found() {
        let a = vec![
            arrival(0, 1, 0, Outcome::Failed(UpstreamError::Status(400))),
            arrival(5, 1, 1, Outcome::Failed(UpstreamError::Status(400))),
            arrival(9, 1, 2, Outcome::Ok),
            arrival(0, 2, 0, Outcome::Failed(UpstreamError::Status(429))),
            arrival(5, 2, 1, Outcome::Ok),
            arrival(0, 3, 0, Outcome::CommittedThenFailed),
            arrival(1, 3, 1, Outcome::Ok),
        ];
        let mut effects = BTreeMap::new();
        effects.insert((Some(3), Some(3)), 2);
        effects.insert((Some(2), Some(2)), 1);
        let s = StormAnalysis::of(&a, &effects, &(Duration::ZERO..Duration::ZERO), 10.0);
        assert_eq!(s.retried_errors.len(), 1, "one per request");
        assert_eq!(s.retried_errors[0].client, Some(1));
        assert_eq!(s.non_retryable, 2);
        assert_eq!(s.duplicates.len(), 1);
        assert_eq!(s.duplicates[0].calls.len(), 2);
        assert!(s.flagged() && !s.amplified);
    }

    #[test]
    fn metastable_load_is_measured() {
        let mut a = Vec::new();
        // One new request per second; after the window ends at 5 s, 4 calls per second go on
        // until t=8 s.
        for s in 0..10u32 {
            a.push(arrival(u64::from(s) * 1000, s, 0, FAIL));
            if (5..8).contains(&s) {
                for r in 1..4 {
                    a.push(arrival(u64::from(s) * 1000 + 10, 100 + s, r, FAIL));
                }
            }
        }
        let s = StormAnalysis::of(
            &a,
            &BTreeMap::new(),
            &(Duration::ZERO..Duration::from_secs(5)),
            1.5,
        );
        assert_eq!(s.recovered_after, Some(Duration::from_secs(3)));
    }
}
