//! Partial writes and cancellation at await points: is a request's work all or nothing when
//! its future is dropped half-way, or its instance crashes between two writes?
//!
//! In async Rust the crash between two writes has a daily form: a future dropped at an
//! `.await` (a client disconnect, a `timeout`, a `select!` that picked another branch) runs
//! half of a handler. Nothing panics, nothing is logged; the inventory is decremented and the
//! shipment never inserted.
//!
//! # The scenario
//! The body is one request; it gets a [`CancelEnv`] with a fresh [`SimDb`] (`env.db()`),
//! seeded by the builder's [`setup`](CancelTest::setup) (or by the body with
//! [`SimDb::seed`] before its first `.await`). Every table statement takes `latency`
//! (default 10 ms) plus a seeded jitter of up to `jitter` (default 2 ms): the seed drives the
//! timing, and the database records each statement with the `file:line` that sent it
//! ([`SimDb::statements`]). Per seed:
//! 1. a **reference run**: the state when the body first awaits is "before"; the body runs to
//!    its end, the runtime settles for `settle` (default 10 s: tasks the body spawned finish),
//!    and the state is "after". The await points are counted: each time the body's future
//!    returned `Pending`.
//! 2. `cut = "cancel"` (the default): one run per await point *k*, on a fresh database; the
//!    body's future is dropped right after its *k*-th `Pending` (what a disconnect, a
//!    `timeout` or a `select!` does), tasks it spawned keep running, the runtime settles.
//! 3. `cut = "crash"`: the instance dies right after each write that lands, in the reference
//!    run (a write outside a transaction, or a `COMMIT`): nothing after it lands, not even a
//!    task the handler spawned. Only a transaction survives that. `cut = "both"` does both.
//!
//! # The property: all or nothing
//! After every cut the committed rows must equal "before" or "after", and every
//! [`invariant`](CancelTest::invariant) must hold. The code is **flagged** (`partial write`)
//! when a cut leaves a state that is neither: the finding names the cut (the await point, the
//! last statement sent with its `file:line`, the next one that never ran), the writes that
//! landed and those that did not, and how many cuts left a partial state.
//!
//! It is flagged too when the request cuts *itself*: in the reference run a write outside a
//! transaction (or a `COMMIT`) was dropped in flight while another write of the request
//! landed: a `tokio::select!` or `timeout` around several writes fired between them. (The
//! oracle is the database's: a statement whose future was dropped before it completed. A
//! timeout that fires at an await outside the database, a sleep or a real HTTP call between
//! two writes, is not seen by this check; the cut runs judge such a handler against the
//! state its reference run leaves.)
//!
//! The fixes: a transaction (`db.begin()` … `commit()`: a dropped [`Transaction`] rolls
//! back), a guard that undoes the work on drop, or moving the writes into a task that owns
//! them (`tokio::spawn`): it survives a cancellation, **not** a crash, so `cut = "crash"`
//! flags it unless the task uses a transaction too.
//!
//! A body that never awaits, or sends no write to `env.db()`, is a configuration finding
//! ("nothing was cut"), never a silent pass.
//!
//! ```
//! use whatbreaks_core::detectors::cancel::{CancelEnv, CancelTest};
//! use whatbreaks_core::components::store::SimDb;
//!
//! let test = CancelTest::new().seed(1).setup(|db: &SimDb| {
//!     db.seed("inventory", "sku-1", "10");
//! });
//! // Two writes without a transaction: a cut between them decrements the stock and ships
//! // nothing.
//! let report = test.run(|env: CancelEnv| async move {
//!     let db = env.db();
//!     db.update("inventory", "sku-1", "9").await;
//!     let _ = db.insert("shipments", "o1", "sku-1").await;
//! });
//! assert!(report.flagged("partial write"), "{report}");
//! // The same in a transaction: all or nothing.
//! let report = test.run(|env: CancelEnv| async move {
//!     let db = env.db();
//!     let mut tx = db.begin().await;
//!     tx.update("inventory", "sku-1", "9").await;
//!     tx.insert("shipments", "o1", "sku-1").await;
//!     let _ = tx.commit().await;
//! });
//! assert!(report.is_clean(), "{report}");
//! ```
//!
//! [`Transaction`]: crate::components::store::Transaction

use crate::components::store::{Progress, Rows, SimDb, Statement};
use crate::report::{Chart, ChartKind, Finding, Report};
use crate::runtime::sim::{self, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// The pattern name of partial-write findings.
pub const PATTERN: &str = "partial write";

/// What one request gets: the database it writes (fresh for every run).
#[derive(Clone, Debug)]
pub struct CancelEnv {
    db: SimDb,
}

impl CancelEnv {
    /// The database of this run, seeded by the builder's `setup`; it records every statement
    /// with its call site.
    pub fn db(&self) -> SimDb {
        self.db.clone()
    }
}

/// How a request is cut (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// The body's future is dropped at each await point; spawned tasks keep running.
    Cancel,
    /// The instance dies right after each write that lands; spawned tasks die too.
    Crash,
    /// Both.
    Both,
}

impl CutMode {
    /// Parses `"cancel"`, `"crash"` or `"both"`.
    pub fn parse(name: &str) -> Option<CutMode> {
        match name {
            "cancel" => Some(CutMode::Cancel),
            "crash" => Some(CutMode::Crash),
            "both" => Some(CutMode::Both),
            _ => None,
        }
    }

    /// The name the builder takes.
    pub fn name(self) -> &'static str {
        match self {
            CutMode::Cancel => "cancel",
            CutMode::Crash => "crash",
            CutMode::Both => "both",
        }
    }

    fn cancels(self) -> bool {
        self != CutMode::Crash
    }

    fn crashes(self) -> bool {
        self != CutMode::Cancel
    }
}

type Setup = Arc<dyn Fn(&SimDb) + Send + Sync>;
type Invariant = Arc<dyn Fn(&SimDb) -> Result<(), String> + Send + Sync>;

/// A partial-write scenario (builder).
#[derive(Clone)]
pub struct CancelTest {
    settings: Settings,
    /// The mode, or the unknown name given (reported by `check`).
    cut: Result<CutMode, String>,
    settle: Duration,
    latency: Duration,
    jitter: Duration,
    setup: Option<Setup>,
    invariants: Vec<Invariant>,
}

crate::scenario::impl_common_settings!(CancelTest);

impl fmt::Debug for CancelTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelTest")
            .field("settings", &self.settings)
            .field("cut", &self.cut)
            .field("settle", &self.settle)
            .field("latency", &self.latency)
            .field("jitter", &self.jitter)
            .field("setup", &self.setup.is_some())
            .field("invariants", &self.invariants.len())
            .finish()
    }
}

impl Default for CancelTest {
    fn default() -> Self {
        Self::new()
    }
}

/// How the state after one cut compares with "before" and "after".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// `"cancel"`, `"crash"`, or `"self"` (the request's own timeout dropped a write).
    pub mode: &'static str,
    /// Cancel: the await point (1-based) after which the future was dropped. Crash: the
    /// write (1-based) right after which the instance died.
    pub point: usize,
    /// How many await points (cancel) or writes (crash) the reference run had.
    pub of: usize,
    /// Virtual time of the cut, since the run started.
    pub at: Duration,
    /// Where the cut fell: `after `UPDATE …` at file:line, before `INSERT …` at file:line`.
    pub place: String,
    /// Rows (`table[key]`) that changed as in "after": the writes that landed.
    pub landed: Vec<String>,
    /// Rows still as in "before" that "after" changes: the writes that did not land.
    pub missing: Vec<String>,
    /// Rows equal to neither.
    pub other: Vec<String>,
    /// Invariants that did not hold after the cut, with their messages.
    pub broken: Vec<String>,
    /// The statements of the reference run, marked as of the cut.
    pub picture: String,
}

impl Cut {
    /// True when the state is neither "before" nor "after".
    pub fn partial(&self) -> bool {
        !self.other.is_empty() || (!self.landed.is_empty() && !self.missing.is_empty())
    }

    /// True when the cut broke something.
    pub fn failed(&self) -> bool {
        self.partial() || !self.broken.is_empty()
    }
}

/// What the runs of one seed found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelAnalysis {
    /// Await points of the reference run (each `Pending` of the body's future).
    pub await_points: usize,
    /// Write statements the reference run sent (inside transactions or not, spawned tasks
    /// included).
    pub writes: usize,
    /// Rows the request changes (before against after).
    pub changed: usize,
    /// The request cut itself: the statement dropped in flight, with the writes that landed.
    pub self_cut: Option<Cut>,
    /// Every cut judged, in order (cancel cuts first).
    pub cuts: Vec<Cut>,
}

impl CancelAnalysis {
    /// The failed cuts of `mode`.
    pub fn failed(&self, mode: &str) -> Vec<&Cut> {
        self.cuts
            .iter()
            .filter(|c| c.mode == mode && c.failed())
            .collect()
    }

    /// True when something broke.
    pub fn flagged(&self) -> bool {
        self.self_cut.is_some() || self.cuts.iter().any(Cut::failed)
    }

    /// The headline number.
    pub fn key_figure(&self) -> String {
        if let Some(c) = &self.self_cut {
            return format!(
                "the request's own timeout dropped a write: {} landed, {} did not",
                c.landed.len(),
                c.missing.len().max(1)
            );
        }
        if let Some(c) = self.cuts.iter().find(|c| c.failed()) {
            let failed = self.failed(c.mode).len();
            let total = self.cuts.iter().filter(|x| x.mode == c.mode).count();
            return if c.partial() {
                format!(
                    "{failed}/{total} {} cuts left a partial state ({} of {} rows changed)",
                    c.mode,
                    c.landed.len() + c.other.len(),
                    self.changed
                )
            } else {
                format!("{failed}/{total} {} cuts broke an invariant", c.mode)
            };
        }
        let crashes = self.cuts.iter().filter(|c| c.mode == "crash").count();
        format!(
            "{} cut(s){}, every state all or nothing ({} await point(s), {} write(s))",
            self.cuts.len(),
            if crashes > 0 {
                format!(" ({crashes} after a write)")
            } else {
                String::new()
            },
            self.await_points,
            self.writes
        )
    }
}

impl CancelTest {
    /// Cancels at every await point (`cut = "cancel"`), statements of 10 ms plus up to 2 ms
    /// of seeded jitter, 10 s of settling after each cut, no set-up, no invariant.
    pub fn new() -> Self {
        CancelTest {
            settings: Settings::default(),
            cut: Ok(CutMode::Cancel),
            settle: Duration::from_secs(10),
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(2),
            setup: None,
            invariants: Vec::new(),
        }
    }

    /// How requests are cut: `"cancel"` (default: the future dropped at each await point,
    /// spawned tasks keep running), `"crash"` (the instance dies after each write, spawned
    /// tasks die too) or `"both"`.
    pub fn cut(mut self, mode: &str) -> Self {
        self.cut = CutMode::parse(mode).ok_or_else(|| mode.to_string());
        self
    }

    /// How long the runtime runs on after a cut or the end of the request, so tasks the body
    /// spawned finish (default 10 s of virtual time).
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The fixed latency of every table statement (default 10 ms).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The largest seeded latency added to each statement (default 2 ms).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds each run's fresh database before the body runs (rows with [`SimDb::seed`],
    /// constraints with [`SimDb::unique`]).
    pub fn setup(mut self, setup: impl Fn(&SimDb) + Send + Sync + 'static) -> Self {
        self.setup = Some(Arc::new(setup));
        self
    }

    /// A property of the committed rows that must hold after every cut (and before and after
    /// the request): `Err` says what is wrong. Add as many as needed.
    pub fn invariant(
        mut self,
        check: impl Fn(&SimDb) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.invariants.push(Arc::new(check));
        self
    }

    fn scenario(&self) -> String {
        let mode = match &self.cut {
            Ok(CutMode::Cancel) => "cancelled at every await point".to_string(),
            Ok(CutMode::Crash) => "crashed after every write".to_string(),
            Ok(CutMode::Both) => {
                "cancelled at every await point and crashed after every write".to_string()
            }
            Err(name) => format!("cut {name:?}"),
        };
        format!(
            "one request {mode}, statements {}+{} jitter, settle {}{}",
            format_duration(self.latency),
            format_duration(self.jitter),
            format_duration(self.settle),
            match self.invariants.len() {
                0 => String::new(),
                n => format!(", {n} invariant(s)"),
            }
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one request's work; it gets the run's [`CancelEnv`].
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(CancelEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// One run: fresh database, set-up, the body cut after its `cut_at`-th `Pending` (or run
    /// to its end), then settling.
    fn one_run<B, Fut>(
        &self,
        limits: &RunLimits,
        body: &Arc<B>,
        cut_at: Option<usize>,
    ) -> sim::Run<RunOut>
    where
        B: Fn(CancelEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let body = body.clone();
        let setup = self.setup.clone();
        let (latency, jitter, settle) = (self.latency, self.jitter, self.settle);
        sim::simulate(limits, move || async move {
            let db = SimDb::builder("db")
                .statement_latency(latency)
                .table_latency(jitter)
                .record_statements()
                .build();
            if let Some(setup) = &setup {
                setup(&db);
            }
            let mut fut = Box::pin(body(CancelEnv { db: db.clone() }));
            let mut pendings = 0usize;
            let mut before = None;
            let completed = std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(true),
                Poll::Pending => {
                    pendings += 1;
                    if before.is_none() {
                        before = Some(db.rows());
                    }
                    if Some(pendings) == cut_at {
                        Poll::Ready(false)
                    } else {
                        Poll::Pending
                    }
                }
            })
            .await;
            let before = before.unwrap_or_else(|| db.rows());
            let cut = (!completed).then(|| (sim::now(), db.statements()));
            drop(fut);
            tokio::time::sleep(settle).await;
            RunOut {
                pendings,
                before,
                after: db.rows(),
                cut,
                statements: db.statements(),
                committed: db.committed_states(),
            }
        })
    }

    /// Runs one seed; returns the result and the analysis.
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, CancelAnalysis)
    where
        B: Fn(CancelEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let scenario = self.scenario();
        let mode = self.cut.clone().unwrap_or(CutMode::Cancel);
        let mut analysis = CancelAnalysis::default();
        let mut hash = Fnv::default();
        let reference = self.one_run(limits, &body, None);
        let mut findings = harness_findings(&reference, limits, &scenario);
        let Some(r) = reference.value.filter(|_| findings.is_empty()) else {
            return (self.result(findings, &analysis, &hash), analysis);
        };
        hash.run(&r);
        let writes: Vec<&Statement> = r.statements.iter().filter(|s| is_write(s)).collect();
        analysis.await_points = r.pendings;
        analysis.writes = writes.len();
        analysis.changed = diff(&r.before, &r.after, &r.after).landed.len();
        if r.pendings == 0 || writes.is_empty() {
            let why = if r.pendings == 0 {
                "the body never awaited, so it has no await point to cut".to_string()
            } else {
                format!(
                    "the body sent no write to the database it was handed ({} statement(s), none an INSERT, UPDATE or DELETE)",
                    r.statements.len()
                )
            };
            findings.push(
                Finding::config(format!("nothing was cut: {why}"))
                    .with_scenario(scenario.clone())
                    .with_fix("write through `env.db()` (the database the scenario hands the body, which it can cut and inspect) from an async body; seed the rows the request reads with `setup`"),
            );
            return (self.result(findings, &analysis, &hash), analysis);
        }
        let check = |rows: &Rows| self.broken(rows);
        if let Some(broken) = check(&r.before).first() {
            findings.push(
                Finding::config(format!(
                    "an invariant does not hold before the request runs: {broken}"
                ))
                .with_scenario(scenario.clone())
                .with_fix("seed a state the invariant accepts with `setup`, or fix the invariant"),
            );
            return (self.result(findings, &analysis, &hash), analysis);
        }
        let judge = |mode: &'static str, point, of, at, rows: &Rows, place: String, picture| {
            let d = diff(&r.before, &r.after, rows);
            Cut {
                mode,
                point,
                of,
                at,
                place,
                landed: d.landed,
                missing: d.missing,
                other: d.other,
                broken: check(rows),
                picture,
            }
        };
        // The request cut itself: a write dropped in flight while another landed.
        let dropped = r
            .statements
            .iter()
            .position(|s| s.commits && s.progress == Progress::Dropped);
        let landed = r
            .statements
            .iter()
            .any(|s| s.commits && s.progress == Progress::Done);
        if let (Some(i), true) = (dropped, landed) {
            let s = &r.statements[i];
            let place = format!(
                "dropped in flight: `{}` at {} (sent at t={}), after {}",
                s.sql,
                s.place(),
                format_duration(s.at),
                describe_landed(&r.statements[..i])
            );
            let picture = picture(&r.statements, &r.statements, r.statements.len());
            let mut cut = judge("self", 0, 0, s.at, &r.after, place, picture);
            cut.missing.push(format!("`{}` ({})", s.sql, s.place()));
            analysis.self_cut = Some(cut);
        }
        // The request itself must keep the invariants.
        let after_broken = check(&r.after);
        if mode.cancels() {
            for k in 1..=r.pendings {
                let run = self.one_run(limits, &body, Some(k));
                let mut harness = harness_findings(&run, limits, &scenario);
                let Some(c) = run.value.filter(|_| harness.is_empty()) else {
                    findings.append(&mut harness);
                    return (self.result(findings, &analysis, &hash), analysis);
                };
                hash.run(&c);
                let (at, at_cut) = c.cut.clone().unwrap_or_default();
                let place = describe_cut(&at_cut, &r.statements);
                let picture = picture(&r.statements, &at_cut, at_cut.len());
                analysis
                    .cuts
                    .push(judge("cancel", k, r.pendings, at, &c.after, place, picture));
            }
        }
        if mode.crashes() {
            let of = r.committed.len();
            for (j, (index, rows)) in r.committed.iter().enumerate() {
                let s = &r.statements[*index];
                let next = r.statements[index + 1..].iter().find(|s| s.commits);
                let place = format!(
                    "right after `{}` at {} landed, {}",
                    s.sql,
                    s.place(),
                    match next {
                        Some(n) => format!("before `{}` at {}", n.sql, n.place()),
                        None => "the last write".into(),
                    }
                );
                let shown: Vec<Statement> = r.statements[..=*index].to_vec();
                let picture = picture(&r.statements, &shown, shown.len());
                analysis
                    .cuts
                    .push(judge("crash", j + 1, of, s.at, rows, place, picture));
            }
        }
        if let Some(c) = &analysis.self_cut {
            findings.push(self.self_cut_finding(c, &scenario));
        } else if analysis.cuts.is_empty() {
            findings.push(
                Finding::config(
                    "nothing was cut: no write of the request landed (nothing was committed), so there was no write to crash after",
                )
                .with_scenario(scenario.clone())
                .with_fix("with `cut = \"crash\"` the request must commit something: check that it reaches its writes (a deadline that always fires rolls everything back), or cut with `\"cancel\"` or `\"both\"`"),
            );
        } else if !after_broken.is_empty() {
            let mut f = Finding::bug(
                PATTERN,
                format!(
                    "the request breaks an invariant even when nothing cuts it: {}",
                    after_broken[0]
                ),
            )
            .with_scenario(scenario.clone());
            f.evidence = after_broken.clone();
            f.fix = "the handler's own logic breaks the invariant: fix it before looking at cuts"
                .into();
            findings.push(f);
        } else if let Some(c) = analysis.cuts.iter().find(|c| c.failed()) {
            findings.push(self.cut_finding(c, &analysis, &scenario));
        }
        (self.result(findings, &analysis, &hash), analysis)
    }

    /// The invariants that do not hold on `rows`, with their messages.
    fn broken(&self, rows: &Rows) -> Vec<String> {
        if self.invariants.is_empty() {
            return Vec::new();
        }
        let db = SimDb::new();
        for (table, keys) in rows {
            for (key, values) in keys {
                for v in values {
                    db.seed(table, key, v.clone());
                }
            }
        }
        self.invariants
            .iter()
            .enumerate()
            .filter_map(|(i, inv)| {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inv(&db))) {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("invariant #{}: {e}", i + 1)),
                    Err(p) => Some(format!(
                        "invariant #{} panicked: {}",
                        i + 1,
                        sim::panic_message(&*p)
                    )),
                }
            })
            .collect()
    }

    fn self_cut_finding(&self, c: &Cut, scenario: &str) -> Finding {
        let mut f = Finding::bug(
            PATTERN,
            format!(
                "the request cut itself: its own timeout or `select!` dropped a write in flight after {} write(s) had landed, leaving half its work",
                c.landed.len() + c.other.len()
            ),
        )
        .with_scenario(scenario)
        .with_picture("cut", c.picture.clone());
        f.evidence.push(c.place.clone());
        f.evidence.extend(rows_evidence(c));
        f.evidence
            .extend(c.broken.iter().map(|b| format!("broken {b}")));
        f.fix = "a timeout around several writes cancels between them: put the writes in a transaction (`let mut tx = db.begin().await; …; tx.commit().await`) so the dropped future rolls back, or spawn them into a task that owns them (`tokio::spawn`) and time out the wait for the answer, not the work".into();
        f
    }

    fn cut_finding(&self, c: &Cut, a: &CancelAnalysis, scenario: &str) -> Finding {
        let failed = a.failed(c.mode);
        let total = a.cuts.iter().filter(|x| x.mode == c.mode).count();
        let what = if c.mode == "cancel" {
            format!(
                "cancelled at await point {} of {} (t={})",
                c.point,
                c.of,
                format_duration(c.at)
            )
        } else {
            format!(
                "crashed after write {} of {} (t={})",
                c.point,
                c.of,
                format_duration(c.at)
            )
        };
        let verdict = if c.partial() {
            format!(
                "{what}, the request left a partial state: {} row(s) changed, {} not",
                c.landed.len() + c.other.len(),
                c.missing.len()
            )
        } else {
            format!("{what}, the request broke an invariant: {}", c.broken[0])
        };
        let mut f = Finding::bug(PATTERN, verdict)
            .with_scenario(scenario)
            .with_picture("cut", c.picture.clone());
        f.evidence.push(format!("cut {}", c.place));
        f.evidence.extend(rows_evidence(c));
        f.evidence
            .extend(c.broken.iter().map(|b| format!("broken {b}")));
        let points: Vec<String> = failed
            .iter()
            .take(10)
            .map(|c| c.point.to_string())
            .collect();
        f.evidence.push(format!(
            "{}/{total} {} cuts failed ({} {})",
            failed.len(),
            c.mode,
            if c.mode == "cancel" {
                "await points"
            } else {
                "after writes"
            },
            points.join(", ")
        ));
        for other in ["cancel", "crash"] {
            let n = a.failed(other).len();
            if other != c.mode && n > 0 {
                f.evidence
                    .push(format!("{n} {other} cut(s) failed as well"));
            }
        }
        f.fix = if c.mode == "cancel" {
            "make the request's writes all or nothing when its future is dropped: put them in one transaction (`let mut tx = db.begin().await; …; tx.commit().await`: a dropped transaction rolls back), keep a guard that undoes the work in its `Drop`, or move the writes into a task that owns them (`tokio::spawn`), which a disconnect or a timeout does not cancel".into()
        } else {
            "an instance can die between any two writes, and a spawned task dies with it: only a transaction makes them all or nothing (`db.begin()` … `commit()`); for work that must outlive the instance, write an outbox row in the same transaction and finish the work from it".into()
        };
        f
    }

    fn result(&self, findings: Vec<Finding>, a: &CancelAnalysis, hash: &Fnv) -> SeedResult {
        let mut charts = Vec::new();
        for mode in ["cancel", "crash"] {
            let cuts: Vec<&Cut> = a.cuts.iter().filter(|c| c.mode == mode).collect();
            if cuts.is_empty() {
                continue;
            }
            let x_label = if mode == "cancel" {
                "await point of the request"
            } else {
                "write after which the instance died"
            };
            let mut chart = Chart::new(
                format!("rows changed at each {mode} cut (of {})", a.changed),
                ChartKind::Bars,
                x_label,
                "rows",
            )
            .series(
                "rows as after",
                cuts.iter()
                    .map(|c| (c.point as f64, c.landed.len() as f64))
                    .collect(),
            )
            .series(
                "rows still as before",
                cuts.iter()
                    .map(|c| (c.point as f64, c.missing.len() as f64))
                    .collect(),
            );
            for c in cuts.iter().filter(|c| c.failed()) {
                chart = chart.mark(c.point as f64, "partial");
            }
            charts.push(chart);
        }
        let failed = a.cuts.iter().filter(|c| c.failed()).count();
        SeedResult {
            findings,
            key_figure: a.key_figure(),
            figures: vec![
                ("await points".into(), a.await_points.to_string()),
                ("writes".into(), a.writes.to_string()),
                ("cuts".into(), a.cuts.len().to_string()),
                ("partial cuts".into(), failed.to_string()),
                ("trace hash".into(), format!("{:#018x}", hash.0)),
            ],
            charts,
            activity: None,
        }
    }
}

/// What one run saw.
#[derive(Debug)]
struct RunOut {
    pendings: usize,
    before: Rows,
    after: Rows,
    /// When and with which statements the body was cut (`None`: it ran to its end).
    cut: Option<(Duration, Vec<Statement>)>,
    statements: Vec<Statement>,
    committed: Vec<(usize, Rows)>,
}

/// A statement that writes (inside a transaction or not).
fn is_write(s: &Statement) -> bool {
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .any(|w| s.sql.starts_with(w))
}

/// The rows of a cut state against before and after.
#[derive(Default)]
struct Diff {
    landed: Vec<String>,
    missing: Vec<String>,
    other: Vec<String>,
}

fn flat(rows: &Rows) -> BTreeMap<(String, String), Vec<String>> {
    rows.iter()
        .flat_map(|(t, keys)| {
            keys.iter()
                .filter(|(_, v)| !v.is_empty())
                .map(move |(k, v)| ((t.clone(), k.clone()), v.clone()))
        })
        .collect()
}

fn value(v: Option<&Vec<String>>) -> String {
    match v.map(Vec::as_slice) {
        None | Some([]) => "none".into(),
        Some([one]) => format!("{one:?}"),
        Some(many) => format!("{many:?}"),
    }
}

fn diff(before: &Rows, after: &Rows, cut: &Rows) -> Diff {
    let (b, a, c) = (flat(before), flat(after), flat(cut));
    let mut keys: Vec<&(String, String)> = b.keys().chain(a.keys()).chain(c.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut d = Diff::default();
    for key in keys {
        let (vb, va, vc) = (b.get(key), a.get(key), c.get(key));
        let row = format!("{}[{}]", key.0, key.1);
        if vc == va && va != vb {
            d.landed
                .push(format!("{row}: {} -> {}", value(vb), value(va)));
        } else if vc == vb && va != vb {
            d.missing
                .push(format!("{row}: {} -> {}", value(vb), value(va)));
        } else if vc != va && vc != vb {
            d.other.push(format!(
                "{row}: {} (before {}, after {})",
                value(vc),
                value(vb),
                value(va)
            ));
        }
    }
    d
}

fn rows_evidence(c: &Cut) -> Vec<String> {
    let list = |v: &[String]| {
        let mut s = v.iter().take(6).cloned().collect::<Vec<_>>().join("; ");
        if v.len() > 6 {
            s.push_str(&format!("; and {} more", v.len() - 6));
        }
        s
    };
    let mut out = Vec::new();
    if !c.landed.is_empty() {
        out.push(format!("landed {}", list(&c.landed)));
    }
    if !c.missing.is_empty() {
        out.push(format!("not landed {}", list(&c.missing)));
    }
    if !c.other.is_empty() {
        out.push(format!("neither {}", list(&c.other)));
    }
    out
}

fn describe_landed(statements: &[Statement]) -> String {
    match statements
        .iter()
        .rev()
        .find(|s| s.commits && s.progress == Progress::Done)
    {
        Some(s) => format!("`{}` at {} landed", s.sql, s.place()),
        None => "no write had landed".into(),
    }
}

/// Where a cut fell, from the statements sent by then and those of the reference run.
fn describe_cut(at_cut: &[Statement], reference: &[Statement]) -> String {
    let next = reference.get(at_cut.len());
    let before_next = match next {
        Some(n) => format!("before `{}` at {}", n.sql, n.place()),
        None => "after the last statement".into(),
    };
    match at_cut.last() {
        None => format!("before the first statement: {before_next}"),
        Some(s) if s.progress == Progress::InFlight => format!(
            "during `{}` at {} (sent, never applied){}",
            s.sql,
            s.place(),
            match next {
                Some(n) => format!(", before `{}` at {}", n.sql, n.place()),
                None => String::new(),
            }
        ),
        Some(s) => format!("after `{}` at {}, {before_next}", s.sql, s.place()),
    }
}

/// The reference run's statements, marked as of a cut: `✓` done, `✂` in flight or dropped
/// at the cut, `·` never sent (at most 12 lines).
fn picture(reference: &[Statement], at_cut: &[Statement], sent: usize) -> String {
    let width = reference
        .iter()
        .take(12)
        .map(|s| s.sql.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for (i, s) in reference.iter().enumerate().take(12) {
        let mark = match at_cut.get(i).map(|s| s.progress) {
            Some(Progress::Done) if i < sent => "✓",
            Some(_) if i < sent => "✂",
            _ => "·",
        };
        lines.push(format!(
            "{mark} {:<width$}  {}",
            s.sql,
            s.place(),
            width = width
        ));
        if i + 1 == sent && i + 1 < reference.len() {
            lines.push("── cut ──".into());
        }
    }
    if reference.len() > 12 {
        lines.push(format!("… {} more statement(s)", reference.len() - 12));
    }
    lines.join("\n")
}

/// A hash of every run's statements (text, site, time, progress): equal for equal runs.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn eat(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn run(&mut self, r: &RunOut) {
        self.eat(&(r.pendings as u64).to_le_bytes());
        for s in &r.statements {
            self.eat(s.sql.as_bytes());
            self.eat(s.place().as_bytes());
            self.eat(&(s.at.as_micros() as u64).to_le_bytes());
            self.eat(&[s.progress as u8]);
        }
    }
}

impl<B, Fut> Scenario<Arc<B>> for CancelTest
where
    B: Fn(CancelEnv) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "cancel".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario()
    }
    fn check(&self, p: &mut Problems) {
        if let Err(name) = &self.cut {
            p.push("cut", name, "\"cancel\", \"crash\" or \"both\"");
        }
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str, &str)]) -> Rows {
        let mut r = Rows::new();
        for (t, k, v) in pairs {
            r.entry(t.to_string())
                .or_default()
                .entry(k.to_string())
                .or_default()
                .push(v.to_string());
        }
        r
    }

    #[test]
    fn a_state_between_before_and_after_is_partial() {
        let before = rows(&[("inventory", "sku-1", "10")]);
        let after = rows(&[("inventory", "sku-1", "9"), ("shipments", "o1", "sku-1")]);
        let half = rows(&[("inventory", "sku-1", "9")]);
        let d = diff(&before, &after, &half);
        assert_eq!(d.landed, vec![r#"inventory[sku-1]: "10" -> "9""#]);
        assert_eq!(d.missing, vec![r#"shipments[o1]: none -> "sku-1""#]);
        assert!(d.other.is_empty());
        for whole in [&before, &after] {
            let d = diff(&before, &after, whole);
            assert!(d.landed.is_empty() || d.missing.is_empty());
            assert!(d.other.is_empty());
        }
    }

    #[test]
    fn a_bad_cut_mode_is_a_configuration_finding() {
        let r = CancelTest::new()
            .cut("sometimes")
            .run(|_env: CancelEnv| async {});
        assert_eq!(r.findings[0].kind, crate::report::FindingKind::Config);
        assert!(r.findings[0].verdict.contains("`cut`"), "{r}");
    }
}
