//! Double execution: does each scheduled occurrence commit exactly once across instances?
//!
//! # The scenario
//! The body is one instance's main: it starts the scheduler under test and runs until it is
//! cancelled. `instances` copies (default 2) run concurrently on a [`Cluster`] for `run_for`
//! of virtual time (default 10 min), under the fault schedule (pauses, crashes, clock skew and
//! jumps, lease-store partitions; see [`crate::components::cluster`]), then every instance is cancelled.
//! Each instance reports what it committed with [`Instance::effect`] (or
//! [`Instance::fenced_effect`]), naming the job and the occurrence (its scheduled wall time).
//!
//! # The properties
//! - **double execution**: no occurrence (a `(kind, occurrence)` pair) has more than one
//!   *committed* effect, across all instances and incarnations. Writes rejected by the sink
//!   for a stale fencing token are not committed.
//! - **missed execution** (with `every`): every occurrence `k · every` after the epoch
//!   (`k ≥ 1`, cron-style alignment) whose period `[slot, slot + every)` ends within
//!   `run_for` has a committed effect of every kind seen, unless no instance was healthy
//!   (running, not paused, not cut off from the lease store) at the slot's time.
//!
//! The finding lists the doubled and missing occurrences with which instance committed what
//! and when, the faults and lease hand-overs, a timeline per instance, and the fix.
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks_core::detectors::double_execution::DoubleExecutionTest;
//! use whatbreaks_core::Instance;
//!
//! // Every instance runs its own copy of the schedule: every occurrence runs twice.
//! let report = DoubleExecutionTest::new().every(Duration::from_secs(60)).seed(1).run(
//!     |instance: Instance| async move {
//!         let clock = instance.clock();
//!         let mut slot = clock.now() + Duration::from_secs(60);
//!         loop {
//!             clock.sleep_until(slot).await;
//!             instance.effect("daily_report", slot);
//!             slot += Duration::from_secs(60);
//!         }
//!     },
//! );
//! assert!(report.flagged("double execution"));
//! ```

use crate::components::cluster::{
    Cluster, Effect, Faults, Instance, LeaseGrant, Ledger, Occurrence, Window,
};
use crate::report::{Finding, Report};
use crate::runtime::sim::{self, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Activity, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of double-execution findings.
pub const PATTERN: &str = "double execution";

/// The pattern name of missed-execution findings.
pub const MISSED: &str = "missed execution";

/// A double-execution scenario (builder). `#[double_execution_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct DoubleExecutionTest {
    settings: Settings,
    instances: u32,
    run_for: Duration,
    every: Option<Duration>,
    faults: Faults,
    errors: Vec<(&'static str, String, String)>,
}

crate::scenario::impl_common_settings!(DoubleExecutionTest);

impl Default for DoubleExecutionTest {
    fn default() -> Self {
        Self::new()
    }
}

/// A job and one of its occurrences.
pub type Slot = (String, Occurrence);

/// The analysis of one run's effects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// Committed (accepted) effects per occurrence.
    pub commits: BTreeMap<Slot, Vec<Effect>>,
    /// Occurrences with more than one committed effect.
    pub doubled: Vec<Slot>,
    /// Expected occurrences with no committed effect.
    pub missing: Vec<Slot>,
    /// Writes the sink rejected (stale fencing tokens).
    pub rejected: Vec<Effect>,
    /// Expected occurrences that were checked for missing ones (per kind).
    pub expected: usize,
}

impl Analysis {
    /// Groups `effects` by occurrence and checks both properties; `expected` are the
    /// occurrences every kind must have (empty: no missed-execution check).
    ///
    /// Works on any list of effects, including one collected from a real-time run.
    pub fn of(effects: &[Effect], expected: &[Occurrence]) -> Self {
        let mut commits: BTreeMap<Slot, Vec<Effect>> = BTreeMap::new();
        let mut rejected = Vec::new();
        let mut kinds = BTreeSet::new();
        for e in effects {
            kinds.insert(e.kind.clone());
            if e.accepted {
                commits
                    .entry((e.kind.clone(), e.occurrence.clone()))
                    .or_default()
                    .push(e.clone());
            } else {
                rejected.push(e.clone());
            }
        }
        let doubled = commits
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, _)| k.clone())
            .collect();
        if kinds.is_empty() && !expected.is_empty() {
            kinds.insert("(any job)".to_string());
        }
        let mut missing = Vec::new();
        for kind in &kinds {
            for occ in expected {
                let slot = (kind.clone(), occ.clone());
                if !commits.contains_key(&slot) {
                    missing.push(slot);
                }
            }
        }
        Analysis {
            commits,
            doubled,
            missing,
            rejected,
            expected: expected.len() * kinds.len(),
        }
    }

    /// The headline number, e.g. `9/9 occurrences doubled (up to 2×)`.
    pub fn key_figure(&self) -> String {
        if !self.doubled.is_empty() {
            let worst = self.commits.values().map(Vec::len).max().unwrap_or(0);
            format!(
                "{}/{} occurrences doubled (up to {worst}×)",
                self.doubled.len(),
                self.commits.len()
            )
        } else if !self.missing.is_empty() {
            format!(
                "{}/{} occurrences missed",
                self.missing.len(),
                self.expected
            )
        } else {
            let rejected = if self.rejected.is_empty() {
                String::new()
            } else {
                format!(", {} stale write(s) rejected", self.rejected.len())
            };
            if self.expected > 0 {
                let noun = if rejected.is_empty() {
                    " occurrences"
                } else {
                    ""
                };
                format!(
                    "{}/{}{noun} exactly once{rejected}",
                    self.expected, self.expected
                )
            } else {
                format!(
                    "{} occurrences, each committed once{rejected}",
                    self.commits.len()
                )
            }
        }
    }
}

impl DoubleExecutionTest {
    /// 2 instances, 10 minutes, no missed-execution check, no faults.
    pub fn new() -> Self {
        DoubleExecutionTest {
            settings: Settings::default(),
            instances: 2,
            run_for: Duration::from_secs(600),
            every: None,
            faults: Faults::default(),
            errors: Vec::new(),
        }
    }

    /// Number of instances (default 2).
    pub fn instances(mut self, instances: u32) -> Self {
        self.instances = instances;
        self
    }

    /// Virtual time the instances run before they are cancelled (default 10 min).
    pub fn run_for(mut self, run_for: Duration) -> Self {
        self.run_for = run_for;
        self
    }

    /// The schedule's period: turns on the missed-execution check (occurrences at
    /// `k · every` after the epoch) and is handed to instances as [`Instance::every`].
    pub fn every(mut self, every: Duration) -> Self {
        self.every = Some(every);
        self
    }

    fn add(
        mut self,
        name: &'static str,
        text: &str,
        f: fn(&mut Faults, &str) -> Result<(), String>,
    ) -> Self {
        if let Err(e) = f(&mut self.faults, text) {
            self.errors.push((name, text.to_string(), e));
        }
        self
    }

    /// Stop-the-world pauses: `"1@90s+45s"` (instance 1 at 90 s for 45 s), comma-separated.
    pub fn pause(self, text: &str) -> Self {
        self.add("pause", text, Faults::add_pauses)
    }

    /// Crashes: `"0@5m"` (stays down) or `"0@5m+30s"` (restarts 30 s later), comma-separated.
    pub fn crash(self, text: &str) -> Self {
        self.add("crash", text, Faults::add_crashes)
    }

    /// Constant clock skew: `"1:+2s"` (instance 1's clock runs 2 s ahead), comma-separated.
    pub fn skew(self, text: &str) -> Self {
        self.add("skew", text, Faults::add_skews)
    }

    /// Clock jumps: `"0@4m+1h"` (instance 0's clock jumps 1 h ahead at 4 min), comma-separated.
    pub fn jump(self, text: &str) -> Self {
        self.add("jump", text, Faults::add_jumps)
    }

    /// Lost contact with the lease store: `"1@3m+1m"`, comma-separated.
    pub fn partition(self, text: &str) -> Self {
        self.add("partition", text, Faults::add_partitions)
    }

    /// The fault schedule parsed so far.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Whether `instance` is running, not paused and not cut off from the lease store at `t`.
    pub fn healthy(&self, instance: u32, t: Duration) -> bool {
        !self
            .faults
            .unhealthy(instance)
            .iter()
            .any(|w| w.start <= t && w.end.is_none_or(|e| e > t))
    }

    /// The occurrences the missed-execution check expects, and those it excuses because no
    /// instance was healthy at their time.
    pub fn expected(&self) -> (Vec<Occurrence>, Vec<Occurrence>) {
        let Some(every) = self.every.filter(|e| !e.is_zero()) else {
            return (Vec::new(), Vec::new());
        };
        let (mut expected, mut excused) = (Vec::new(), Vec::new());
        let mut slot = every;
        while slot + every <= self.run_for {
            let occ = Occurrence::At(crate::runtime::clock::epoch() + slot);
            let somebody_healthy = (0..self.instances).any(|i| self.healthy(i, slot));
            if somebody_healthy {
                expected.push(occ);
            } else {
                excused.push(occ);
            }
            slot += every;
        }
        (expected, excused)
    }

    fn scenario(&self) -> String {
        let mut s = format!(
            "{} instance(s) for {}",
            self.instances,
            format_duration(self.run_for)
        );
        if let Some(e) = self.every {
            s.push_str(&format!(", every {}", format_duration(e)));
        }
        let faults = self.faults.describe();
        if faults.is_empty() {
            s.push_str(", no faults");
        } else {
            s.push_str(&format!(", {}", faults.join(", ")));
        }
        s
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one instance's main; it runs until the harness cancels it.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(Instance) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the ledger (for its effects and trace hash).
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, Ledger)
    where
        B: Fn(Instance) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let cluster = Cluster::new(self.instances, self.faults.clone(), self.every);
        let mut limits = limits.clone();
        limits.time_limit = limits
            .time_limit
            .max(self.run_for + Duration::from_secs(60));
        let run_for = self.run_for;
        let c = cluster.clone();
        let run = sim::simulate(&limits, move || async move {
            c.run(run_for, move |i| body(i)).await;
        });
        let scenario = self.scenario();
        let mut findings = harness_findings(&run, &limits, &scenario);
        let panics = cluster.panics();
        if !panics.is_empty() {
            let mut f = Finding::harness(
                "instance panic",
                format!("{} instance task(s) panicked", panics.len()),
            )
            .with_scenario(scenario.clone());
            f.evidence = panics
                .iter()
                .map(|p| {
                    format!(
                        "instance #{} at t={}: {}",
                        p.instance,
                        format_duration(p.at),
                        p.message
                    )
                })
                .collect();
            f.fix = "a panic inside the code under test: see the first message".into();
            findings.push(f);
        }
        let ledger = cluster.ledger();
        let effects = ledger.effects();
        let activity = Activity {
            virtual_elapsed: run.virtual_elapsed,
            count: effects.len(),
            what: "effect (`instance.effect(..)`)",
        };
        let (expected, excused) = self.expected();
        let analysis = Analysis::of(&effects, &expected);
        let grants = cluster.lease_store().grants();
        let mut bugs = Vec::new();
        if !analysis.doubled.is_empty() {
            bugs.push(self.doubled_finding(&analysis, &effects, &grants, &scenario));
        }
        // No effect at all is not a missed schedule but a premise that never happened: the
        // run path reports it as a configuration finding (see `scenario::premise_finding`).
        if !analysis.missing.is_empty() && !effects.is_empty() {
            bugs.push(self.missed_finding(&analysis, &effects, &scenario));
        }
        findings.splice(0..0, bugs);
        let committed: usize = analysis.commits.values().map(Vec::len).sum();
        let result = SeedResult {
            activity: Some(activity),
            findings,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("committed".into(), committed.to_string()),
                ("occurrences".into(), analysis.commits.len().to_string()),
                ("doubled".into(), analysis.doubled.len().to_string()),
                ("missing".into(), analysis.missing.len().to_string()),
                ("excused".into(), excused.len().to_string()),
                ("rejected".into(), analysis.rejected.len().to_string()),
                ("lease grants".into(), grants.len().to_string()),
                (
                    "trace hash".into(),
                    format!("{:#018x}", ledger.trace_hash()),
                ),
            ],
            charts: vec![timeline_chart(&effects, &analysis)],
        };
        (result, ledger)
    }

    fn fault_lines(&self) -> Vec<String> {
        let f = &self.faults;
        let mut out = Vec::new();
        for p in &f.pauses {
            let end = p.end.unwrap_or(self.run_for);
            out.push(format!(
                "#{} paused {}..{} ({}): no progress, its timers fired late",
                p.instance,
                format_duration(p.start),
                format_duration(end),
                format_duration(end - p.start)
            ));
        }
        for c in &f.crashes {
            out.push(match c.end {
                Some(e) => format!(
                    "#{} crashed at {}, restarted at {}",
                    c.instance,
                    format_duration(c.start),
                    format_duration(e)
                ),
                None => format!(
                    "#{} crashed at {} and stayed down",
                    c.instance,
                    format_duration(c.start)
                ),
            });
        }
        for p in &f.partitions {
            out.push(format!(
                "#{} could not reach the lease store {}..{}",
                p.instance,
                format_duration(p.start),
                format_duration(p.end.unwrap_or(self.run_for))
            ));
        }
        for (i, ms) in &f.skews {
            out.push(format!("#{i}'s clock is off by {ms:+} ms"));
        }
        for (i, at, ms) in &f.jumps {
            out.push(format!(
                "#{i}'s clock jumped {ms:+} ms at {}",
                format_duration(*at)
            ));
        }
        out
    }

    fn doubled_finding(
        &self,
        a: &Analysis,
        effects: &[Effect],
        grants: &[LeaseGrant],
        scenario: &str,
    ) -> Finding {
        let mut f = Finding::bug(
            PATTERN,
            format!(
                "{} of {} occurrences committed more than once across instances",
                a.doubled.len(),
                a.commits.len()
            ),
        );
        f.scenario = scenario.to_string();
        const SHOWN: usize = 5;
        for slot in a.doubled.iter().take(SHOWN) {
            let commits = &a.commits[slot];
            let who: Vec<String> = commits.iter().map(describe_commit).collect();
            f.evidence.push(format!(
                "`{}` {}: {} commits: {}",
                slot.0,
                slot.1,
                commits.len(),
                who.join(", ")
            ));
        }
        if a.doubled.len() > SHOWN {
            f.evidence.push(format!(
                "… and {} more doubled occurrences",
                a.doubled.len() - SHOWN
            ));
        }
        f.evidence.extend(self.fault_lines());
        f.evidence.extend(handovers(grants).into_iter().take(3));
        if !a.rejected.is_empty() {
            f.evidence.push(format!(
                "{} stale write(s) rejected by the sink",
                a.rejected.len()
            ));
        }
        let doubled: BTreeSet<&Slot> = a.doubled.iter().collect();
        f.picture = Some((
            "timeline".into(),
            timeline(
                self.instances,
                self.run_for,
                &self.faults,
                effects,
                &doubled,
                &[],
            ),
        ));
        let fenced = a
            .doubled
            .iter()
            .all(|s| a.commits[s].iter().all(|e| e.token.is_some()));
        f.fix = if fenced {
            "every write carried a fencing token, yet a newer holder re-ran an occurrence that was already committed: make the write itself idempotent per occurrence (insert-if-absent keyed by job and slot, in the same transaction as the effect)".into()
        } else if !grants.is_empty() {
            let lease = self.lease_gap_hint(grants);
            format!(
                "a lease alone cannot stop a holder that pauses past it{lease}: the lease expired, another instance took over, and the old holder woke up and committed anyway. Pass the lease's fencing token with the write and reject stale tokens where the effect lands (`instance.fenced_effect(kind, slot, lease.token)`), or claim each occurrence in the shared store (insert-if-absent keyed by job and slot)"
            )
        } else {
            "every instance runs its own copy of the schedule, and an in-process lock (a Mutex) cannot see the other instances: claim each occurrence in the shared store (insert-if-absent keyed by job and slot, in the same transaction as the effect), or elect one runner with a lease and check its fencing token where the effect lands".into()
        };
        f
    }

    fn lease_gap_hint(&self, grants: &[LeaseGrant]) -> String {
        let ttl = grants.iter().map(|g| g.ttl).max().unwrap_or_default();
        let pause = self
            .faults
            .pauses
            .iter()
            .filter_map(|p| p.end.map(|e| e - p.start))
            .max();
        match pause {
            Some(p) if p > ttl => format!(
                " (a {} pause, a {} lease)",
                format_duration(p),
                format_duration(ttl)
            ),
            _ => String::new(),
        }
    }

    fn missed_finding(&self, a: &Analysis, effects: &[Effect], scenario: &str) -> Finding {
        let mut f = Finding::bug(
            MISSED,
            format!(
                "{} of {} scheduled occurrences never committed while an instance was healthy",
                a.missing.len(),
                a.expected
            ),
        );
        f.scenario = scenario.to_string();
        const SHOWN: usize = 6;
        for (kind, occ) in a.missing.iter().take(SHOWN) {
            let at = match occ {
                Occurrence::At(t) => crate::runtime::clock::since_epoch(*t).unwrap_or_default(),
                Occurrence::Key(_) => Duration::ZERO,
            };
            let healthy: Vec<String> = (0..self.instances)
                .filter(|i| self.healthy(*i, at))
                .map(|i| format!("#{i}"))
                .collect();
            f.evidence.push(format!(
                "`{kind}` {occ}: no commit; healthy at that time: {}",
                healthy.join(", ")
            ));
        }
        if a.missing.len() > SHOWN {
            f.evidence.push(format!(
                "… and {} more missing occurrences",
                a.missing.len() - SHOWN
            ));
        }
        f.evidence.extend(self.fault_lines());
        f.picture = Some((
            "timeline".into(),
            timeline(
                self.instances,
                self.run_for,
                &self.faults,
                effects,
                &BTreeSet::new(),
                &a.missing,
            ),
        ));
        f.fix = "the occurrences stayed with an instance that was paused, down or cut off: let any healthy instance take an occurrence over (each instance tries every occurrence and claims it in the shared store, insert-if-absent keyed by job and slot) instead of pinning the schedule to one instance; and key occurrences by their scheduled slot (`k · every`), not by when a timer happened to fire".into();
        f
    }
}

fn describe_commit(e: &Effect) -> String {
    let mut s = format!("#{} at {}", e.instance, format_duration(e.at));
    if e.incarnation > 0 {
        s.push_str(&format!(" (after restart {})", e.incarnation));
    }
    if let Some(t) = e.token {
        s.push_str(&format!(" (token {t})"));
    }
    s
}

/// Lease grants that moved a key to another instance.
fn handovers(grants: &[LeaseGrant]) -> Vec<String> {
    let mut last: BTreeMap<&str, &LeaseGrant> = BTreeMap::new();
    let mut out = Vec::new();
    for g in grants {
        if let Some(prev) = last.get(g.key.as_str())
            && prev.owner != g.owner
        {
            out.push(format!(
                "lease `{}` went from #{} (token {}, {} lease, expired at {}) to #{} (token {}) at {}",
                g.key,
                prev.owner,
                prev.token,
                format_duration(prev.ttl),
                format_duration(prev.expires),
                g.owner,
                g.token,
                format_duration(g.at)
            ));
        }
        last.insert(&g.key, g);
    }
    out
}

/// A text timeline, one row per instance (commits, pauses, downtime), and a row marking the
/// slots of `missing` occurrences when there are any.
pub fn timeline(
    instances: u32,
    run_for: Duration,
    faults: &Faults,
    effects: &[Effect],
    doubled: &BTreeSet<&Slot>,
    missing: &[Slot],
) -> String {
    const WIDTHS_S: [u64; 14] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 86_400,
    ];
    let span = run_for.as_secs().max(1);
    let width = WIDTHS_S
        .iter()
        .copied()
        .find(|w| span.div_ceil(*w) <= 60)
        .unwrap_or(span.div_ceil(60));
    let columns = span.div_ceil(width) as usize;
    let mut out = format!(
        "0s..{}, {} per column\n",
        format_duration(run_for),
        format_duration(Duration::from_secs(width))
    );
    let rank = |c: char| " ·~PXreD".chars().position(|x| x == c).unwrap_or(0);
    for i in 0..instances {
        let mut row: Vec<char> = vec!['·'; columns];
        for (col, cell) in row.iter_mut().enumerate() {
            let t = Duration::from_secs(col as u64 * width);
            let t_end = t + Duration::from_secs(width);
            let any = |ws: &[Window]| {
                ws.iter()
                    .any(|w| w.instance == i && w.start < t_end && w.end.is_none_or(|e| e > t))
            };
            if any(&faults.crashes) {
                *cell = 'X';
            } else if any(&faults.pauses) {
                *cell = 'P';
            } else if any(&faults.partitions) {
                *cell = '~';
            }
        }
        for e in effects.iter().filter(|e| e.instance == i) {
            let col = ((e.at.as_secs() / width) as usize).min(columns - 1);
            let c = if !e.accepted {
                'r'
            } else if doubled.contains(&(e.kind.clone(), e.occurrence.clone())) {
                'D'
            } else {
                'e'
            };
            if rank(c) > rank(row[col]) {
                row[col] = c;
            }
        }
        out.push_str(&format!(
            "#{i:<3} {}\n",
            row.into_iter().collect::<String>()
        ));
    }
    let mut legend = "e commit  D commit of a doubled occurrence  r rejected write  P paused  X down  ~ lease store unreachable".to_string();
    let slots: Vec<usize> = missing
        .iter()
        .filter_map(|(_, occ)| match occ {
            Occurrence::At(t) => crate::runtime::clock::since_epoch(*t),
            Occurrence::Key(_) => None,
        })
        .map(|d| ((d.as_secs() / width) as usize).min(columns - 1))
        .collect();
    if !slots.is_empty() {
        let row: String = (0..columns)
            .map(|c| if slots.contains(&c) { '!' } else { ' ' })
            .collect();
        out.push_str(&format!("miss {}\n", row.trim_end()));
        legend.push_str("  ! missed slot");
    }
    out.push_str(&legend);
    out
}

/// Every effect as a mark at (virtual time, instance): committed ones per instance, the
/// second and later commits of an occurrence (the double executions), and rejected writes.
fn timeline_chart(effects: &[Effect], analysis: &Analysis) -> crate::report::Chart {
    use crate::report::{Chart, ChartKind};
    let mut per_instance: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    let mut rejected = Vec::new();
    for e in effects {
        let point = (e.at.as_secs_f64(), f64::from(e.instance));
        if e.accepted {
            per_instance.entry(e.instance).or_default().push(point);
        } else {
            rejected.push(point);
        }
    }
    let doubled: Vec<(f64, f64)> = analysis
        .doubled
        .iter()
        .filter_map(|slot| analysis.commits.get(slot))
        .flat_map(|commits| commits.iter().skip(1))
        .map(|e| (e.at.as_secs_f64(), f64::from(e.instance)))
        .collect();
    let mut chart = Chart::new(
        "effects per instance over virtual time",
        ChartKind::Scatter,
        "virtual time (s)",
        "instance",
    );
    for (instance, points) in per_instance {
        chart = chart.series(format!("instance #{instance}"), points);
    }
    if !doubled.is_empty() {
        chart = chart.series("double execution (2nd+ commit)", doubled);
    }
    if !rejected.is_empty() {
        chart = chart.series("rejected (stale token)", rejected);
    }
    chart
}

impl<B, Fut> Scenario<Arc<B>> for DoubleExecutionTest
where
    B: Fn(Instance) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "double execution".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario()
    }
    fn check(&self, p: &mut Problems) {
        for (knob, text, problem) in &self.errors {
            p.invalid(knob, text, problem.clone());
        }
        p.at_least("instances", self.instances.into(), 1);
        if let Some(max) = self.faults.max_instance()
            && max >= self.instances
            && self.instances > 0
        {
            p.invalid(
                "instances",
                self.instances,
                format!(
                    "a fault names instance {max}, but instance ids run 0..{}",
                    self.instances
                ),
            );
        }
        p.positive("run_for", self.run_for);
        if let Some(every) = self.every {
            p.positive("every", every);
            // The expected occurrences are listed up front, one per period: bound them.
            const MAX_OCCURRENCES: u128 = 1_000_000;
            let slots = self.run_for.as_nanos() / every.as_nanos().max(1);
            if !every.is_zero() && slots > MAX_OCCURRENCES {
                p.invalid(
                    "every",
                    every,
                    format!(
                        "at most {MAX_OCCURRENCES} occurrences in `run_for` ({} / {} = {slots}): a longer period or a shorter `run_for`",
                        format_duration(self.run_for),
                        format_duration(every)
                    ),
                );
            }
        }
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FindingKind;

    fn effect(instance: u32, slot_s: u64, at_s: u64, token: Option<u64>, accepted: bool) -> Effect {
        Effect {
            kind: "job".into(),
            occurrence: Occurrence::At(
                crate::runtime::clock::epoch() + Duration::from_secs(slot_s),
            ),
            instance,
            incarnation: 0,
            at: Duration::from_secs(at_s),
            wall: crate::runtime::clock::epoch() + Duration::from_secs(at_s),
            token,
            accepted,
        }
    }

    #[test]
    fn doubles_and_misses_are_counted_per_occurrence() {
        let e = vec![
            effect(0, 60, 60, None, true),
            effect(1, 60, 61, None, true),
            effect(0, 120, 120, Some(1), false),
        ];
        let expected: Vec<Occurrence> = [60, 120]
            .iter()
            .map(|s| Occurrence::At(crate::runtime::clock::epoch() + Duration::from_secs(*s)))
            .collect();
        let a = Analysis::of(&e, &expected);
        assert_eq!(a.doubled.len(), 1);
        assert_eq!(a.missing.len(), 1, "a rejected write commits nothing");
        assert_eq!(a.rejected.len(), 1);
        assert_eq!(a.key_figure(), "1/1 occurrences doubled (up to 2×)");
        let clean = Analysis::of(&e[..1], &expected[..1]);
        assert_eq!(clean.key_figure(), "1/1 occurrences exactly once");
    }

    #[test]
    fn occurrences_are_excused_only_when_no_instance_is_healthy() {
        let t = DoubleExecutionTest::new()
            .every(Duration::from_secs(60))
            .run_for(Duration::from_secs(300))
            .crash("0@0s")
            .pause("1@60s+70s");
        let (expected, excused) = t.expected();
        assert_eq!(expected.len(), 2, "slots 3m and 4m: #1 is healthy");
        assert_eq!(excused.len(), 2, "slots 1m and 2m: #0 down, #1 paused");
    }

    #[test]
    fn bad_faults_are_a_configuration_finding() {
        let r = DoubleExecutionTest::new()
            .pause("1@90s")
            .crash("5@1m")
            .run(|_i: Instance| async {});
        assert_eq!(r.findings[0].kind, FindingKind::Config);
        assert!(
            r.findings[0]
                .verdict
                .contains("`pause` = \"1@90s\" cannot be used"),
            "{r}"
        );
        assert!(r.findings[0].verdict.contains("instance 5"), "{r}");
    }

    #[test]
    fn the_timeline_marks_commits_and_faults() {
        let mut faults = Faults::default();
        faults.add_pauses("0@60s+30s").unwrap();
        let e = vec![effect(1, 60, 60, None, true), effect(1, 60, 61, None, true)];
        let slot = ("job".to_string(), e[0].occurrence.clone());
        let doubled: BTreeSet<&Slot> = [&slot].into_iter().collect();
        let t = timeline(2, Duration::from_secs(180), &faults, &e, &doubled, &[]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "0s..3m, 5s per column");
        assert!(lines[1].contains("PPPPPP"), "{t}");
        assert_eq!(lines[2].chars().filter(|c| *c == 'D').count(), 1, "{t}");
    }
}
