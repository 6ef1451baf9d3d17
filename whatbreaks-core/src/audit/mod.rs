//! Ask every question unprompted: describe a service once, and whatbreaks asks each
//! production question that applies to it, with the existing detectors and their defaults.
//!
//! Reviewers catch deployment-level failures rarely when nobody asks and almost always when
//! somebody asks *what happens with 1,000 clients? with two instances?* An [`Audit`] asks. The
//! user gives the service's entry points, each written against a [`World`] of simulated
//! dependencies (upstreams by name, the cache, the database, its large tables, per-instance
//! state):
//! - **handlers**: one request's work, with a request context [`Ctx`] (its key, logical
//!   request id and correlation id);
//! - **jobs**: one instance's scheduler loop, with its [`Instance`];
//! - optionally a **setup** that seeds a fresh world (rows, cache entries) before each run;
//! - or an **HTTP service** (feature `http`): an axum `Router`, or any tower `Service` over
//!   `http` requests, built on the world by [`Audit::router`], and its routes as entry points
//!   ([`Audit::route`]: `GET /products/{key}`, `POST /charge` with a JSON body). The app's
//!   state takes the world's dependencies through the seams production code already speaks:
//!   `world.upstream("payments").url()` for reqwest, the upstream itself for a tower client,
//!   `world.cache().redis()` for redis-rs, `world.db()`. Its users are **principals**
//!   ([`Audit::principal`]: a name and the `Authorization` header its requests carry) owning
//!   **resources** ([`Audit::resource`]: a key, such as an order id, that `{key}` in a route
//!   stands for); a route anyone may read is declared [`Audit::public`].
//!
//! whatbreaks first runs each handler once to see what it touches, then asks each question
//! that applies:
//!
//! | question | applies when the entry point | detector, defaults | oracle |
//! |---|---|---|---|
//! | herd | calls upstream `U` | [`HerdTest`]: 1,000 clients fail at t=0, `U` down 0s..10s | lock-step retry cohorts |
//! | retry storm | calls upstream `U` | [`RetryStormTest`]: `U` degraded under steady traffic | calls per logical request; 4xx not retried |
//! | hang | calls upstream `U` | [`HangTest`]: 20 rps for 60 s, `U` accepts and never answers `10s..40s` | every call into the hang ends within 10 s |
//! | duplicates | writes to upstream `U` (POST, PUT, DELETE) | [`RetryStormTest`] with 20% of writes committing, then losing their response | at most one committed effect per logical request |
//! | stampede, cold, 1 and 2 instances | reads the cache and loads from the database | [`StampedeTest`]: 100 requests within 10 ms on an empty cache | one load per key, across instances |
//! | stampede, expiry | the same | [`StampedeTest`] `expiry`: 100 rps for 10 s, ttl 1 s | one load per key per expiry |
//! | pool | takes a connection from [`World::pool`] | [`PoolTest`]: 100 requests over 10 s, 10 connections, 5% of queries fail, 2% are slow | leaks, deadlock, starvation, connections held across slow work |
//! | leak | is a handler (every one) | [`LeakTest`]: 2,000 requests one after the other on one instance (its [`World::per_instance`] state and statics live across them; database, cache and upstreams are fresh per request: other processes' memory), extrapolated to 1,000,000; needs the counting allocator (`whatbreaks::install!()`), else not applicable | no steady heap growth per request |
//! | silent error | calls upstream `U` or loads from the database | [`SilentErrorTest`]: 20 rps for 30 s, a key per request, `U` fails half its calls with 503 (so retry loops run out of attempts now and then), 10% of database loads fail | every request that met an error it did not recover from logs it at warn or error with its correlation id ([`Ctx::request_id`]) |
//! | n+1 queries | lists a database table ([`SimDb::scan`]) | [`NPlusOneTest`]: each listed table grown to 1, 10 and 100 rows (copies of the setup's rows in it), a fresh database each | queries per request do not grow with the rows listed (under 0.5 per row) |
//! | scale | reads a table ([`World::table`]) | [`ScaleTest`]: the entry point at 1,000, 10,000 and 100,000 rows in each table it reads, on a fresh world each, extrapolated to 500,000,000 rows; needs the counting allocator, else not applicable | peak heap at 500M rows under 1 GiB |
//! | race | writes to the database | [`RaceTest`]: the same request twice at once | the state after both equals the state after the serial order (serializability) |
//! | partial write | writes to the database | [`CancelTest`] `cut = "both"`: the request cut at each of its await points (a disconnect, a `timeout`, a `select!`) and its instance crashed after each write, on the rows the setup leaves | the committed rows equal the state before or after the request |
//! | double execution | is a job | [`DoubleExecutionTest`]: 2 instances, instance 0 pauses 45 s at 90 s, instance 1's clock 2 s ahead | each occurrence committed once across instances |
//! | auth | is an HTTP route with `{key}` in its path or body, and the audit has two principals and a resource (else not applicable, with what to give) | each owner's request on its key, then every other principal's and one without credentials on the same key, each on a fresh world (set up) | another's answer does not carry the owner's key as a whole JSON value (the auth probe's matching), where the owner's own answer does; another's request changes no row the owner's own request changes |
//! | mass assignment | is an HTTP route (POST, PUT, PATCH) with a JSON object body whose valid request stores a JSON record (a database row whose value is a JSON object with the body's fields) | the mass-assignment probe's hostile bodies from the route's body: privileged fields added (`role`, `is_admin`, `owner_id`, `balance`, `price`, …), a field given twice; each on a fresh world as the key's owner | no privileged field stored differently from what the valid body stored (fields matched across camelCase and snake_case) |
//! | validation | the same | the same requests, and nulls, wrong types, unicode edge cases, oversized strings and invalid emails (8 sampled cases per large family, shrunk) | no invalid value stored as given (a string over 10,000 characters, a null, a wrong type, an invalid email); no 5xx and no panic |
//!
//! The trust-boundary questions (auth, mass assignment, validation) need no oracle from the
//! user: what the owner's own request and the valid body did to the world's database is the
//! reference. A request on a key carries its owner's `Authorization` (any other request the
//! first principal's), in every question; a resource whose owner names no principal, or a
//! public route that names no route, is a configuration row. Their seed (the proptest seed
//! of the sampled hostile bodies) is `WHATBREAKS_SEED`, else the audit's [`seed`](Audit::seed),
//! else `0x5eed`, as the mass-assignment probe's.
//!
//! A break's replay line replays just that question of that entry point: it sets
//! `WHATBREAKS_AUDIT_ONLY='question:entry point'` with the seed (`question` alone asks that
//! question of every entry point; a value that names no question is a configuration row).
//!
//! A question whose premise does not hold in this service (the expiry scenario of a cache
//! that stores no TTL) is **not applicable**, with the reason; one that breaks carries its
//! finding with the evidence, the fix and the replay line. The oracles need no invariant from
//! the user.
//!
//! ```
//! use whatbreaks_core::audit::{Audit, Ctx, World};
//!
//! let report = Audit::new("likes")
//!     .handler("toggle_like", |world: World, ctx: Ctx| async move {
//!         // Check, then act: two taps at once both see "not liked".
//!         let db = world.db();
//!         let key = format!("u1:{}", ctx.key());
//!         if db.get("likes", &key).await.is_some() {
//!             db.delete("likes", &key).await;
//!         } else {
//!             let _ = db.insert("likes", &key, "1").await;
//!         }
//!         let n = db.count_table("likes");
//!         db.update("counters", "likes", n.to_string()).await;
//!     })
//!     .seed(1)
//!     .run();
//! assert!(report.breaks("race"), "{report}");
//! ```

use crate::components::cluster::Instance;
use crate::components::pool::{PoolConfig, SimPool};
use crate::components::store::{SimCache, SimDb};
use crate::components::table::Table;
use crate::components::upstream::{Method, Upstream};
use crate::detectors::cancel::{self, CancelEnv, CancelTest};
use crate::detectors::double_execution::{self, DoubleExecutionTest};
use crate::detectors::hang::{self, HangTest};
use crate::detectors::herd::{self, HerdTest};
use crate::detectors::leak::{self, LeakEnv, LeakTest};
use crate::detectors::n_plus_one::{self, NPlusOneTest, QueryEnv};
use crate::detectors::pool::{self, PoolTest};
use crate::detectors::race::{self, RaceTest};
use crate::detectors::scale::{self, ScaleTest};
use crate::detectors::silent::{self, SilentEnv, SilentErrorTest};
use crate::detectors::stampede::{self, StampedeEnv, StampedeTest};
use crate::detectors::storm::{self, RetryStormTest};
use crate::report::{Finding, FindingKind, Report};
use crate::runtime::sim::{self, RunLimits};
use parking_lot::Mutex;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "http")]
mod http_routes;
#[cfg(feature = "http")]
pub use http_routes::REQUEST_ID_HEADER;
#[cfg(feature = "http")]
mod trust;

type Boxed = Pin<Box<dyn Future<Output = ()>>>;
type HandlerFn = Arc<dyn Fn(World, Ctx) -> Boxed + Send + Sync>;
type JobFn = Arc<dyn Fn(World, Instance) -> Boxed + Send + Sync>;
type SetupFn = Arc<dyn Fn(World) -> Boxed + Send + Sync>;

/// A request entry point: a handler, or a route of the router (made a handler when the
/// audit runs, with the principals given by then).
#[derive(Clone)]
enum Entry {
    Handler(HandlerFn),
    #[cfg(feature = "http")]
    Route(Arc<http_routes::RouteSpec>),
}
type States = Arc<Mutex<BTreeMap<(u32, TypeId), Arc<dyn Any + Send + Sync>>>>;

/// The simulated dependencies one instance of the service sees: upstreams by name, the
/// cache, the database, per-instance state. Cheap to clone; every clone is the same world.
#[derive(Clone)]
pub struct World {
    upstreams: Arc<Mutex<BTreeMap<String, Upstream>>>,
    cache: SimCache,
    db: SimDb,
    pool: SimPool,
    states: States,
    tables: Arc<Mutex<TableRows>>,
    instance: u32,
}

/// The size of every [`World::table`] of a world, and the tables asked for.
#[derive(Debug)]
struct TableRows {
    rows: u64,
    read: BTreeSet<String>,
}

impl Default for TableRows {
    fn default() -> Self {
        TableRows {
            rows: TABLE_ROWS,
            read: BTreeSet::new(),
        }
    }
}

/// Rows in each [`World::table`] outside the scale question.
pub const TABLE_ROWS: u64 = 100;

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field(
                "upstreams",
                &self.upstreams.lock().keys().collect::<Vec<_>>(),
            )
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl World {
    /// A fresh world: no upstream yet (each is created healthy on first use), an empty cache,
    /// an empty database.
    pub fn new() -> Self {
        World {
            upstreams: Arc::default(),
            cache: SimCache::new(),
            db: SimDb::new(),
            pool: SimPool::new("db", PoolConfig::default()),
            states: Arc::default(),
            tables: Arc::default(),
            instance: 0,
        }
    }

    /// The upstream called `name`: the one under test when a question targets it, a healthy
    /// one otherwise.
    pub fn upstream(&self, name: &str) -> Upstream {
        self.upstreams
            .lock()
            .entry(name.to_string())
            .or_insert_with(|| Upstream::new(name))
            .clone()
    }

    /// The cache, shared by every instance.
    pub fn cache(&self) -> SimCache {
        self.cache.clone()
    }

    /// The database, shared by every instance.
    pub fn db(&self) -> SimDb {
        self.db.clone()
    }

    /// The database connection pool (10 connections, no acquire timeout, 5 ms queries; the
    /// pool question's faults when it is asked).
    pub fn pool(&self) -> SimPool {
        self.pool.clone()
    }

    /// A table of the service's data that grows in production (orders, events, an audit
    /// log), read with a cursor ([`Table::rows`], [`Table::batches`]) or all at once
    /// ([`Table::fetch_all`]): row `i` is `generate(i)`, the same every time. It holds
    /// [`TABLE_ROWS`] rows for every question but the scale question, which measures the
    /// entry point at 1,000, 10,000 and 100,000 rows and extrapolates to 500,000,000.
    pub fn table<R>(
        &self,
        name: &str,
        generate: impl Fn(u64) -> R + Send + Sync + 'static,
    ) -> Table<R> {
        let rows = {
            let mut t = self.tables.lock();
            t.read.insert(name.to_string());
            t.rows
        };
        Table::generated(rows, generate)
    }

    /// The instance this code runs on, `0..instances`.
    pub fn instance(&self) -> u32 {
        self.instance
    }

    /// One `T` per instance of the service: in-process state (a mutex, a singleflight table,
    /// an in-memory cache), built by `init` on first use.
    pub fn per_instance<T: Send + Sync + 'static>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let id = (self.instance, TypeId::of::<T>());
        let existing = self.states.lock().get(&id).cloned();
        if let Some(v) = existing.and_then(|v| v.downcast::<T>().ok()) {
            return v;
        }
        let made: Arc<T> = Arc::new(init());
        self.states.lock().insert(id, made.clone());
        made
    }

    fn on_instance(&self, instance: u32) -> World {
        World {
            instance,
            ..self.clone()
        }
    }

    fn with_upstream(self, name: &str, upstream: Upstream) -> World {
        self.upstreams.lock().insert(name.to_string(), upstream);
        self
    }

    /// What the world holds now, for the race oracle: database rows, live cache entries and
    /// committed upstream effects per upstream.
    fn state(&self) -> State {
        State {
            rows: self.db.rows(),
            cache: self.cache.entries(),
            effects: self
                .upstreams
                .lock()
                .iter()
                .map(|(name, u)| (name.clone(), u.effects().values().sum()))
                .filter(|(_, n): &(String, u32)| *n > 0)
                .collect(),
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    rows: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    cache: BTreeMap<String, String>,
    effects: BTreeMap<String, u32>,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (table, rows) in &self.rows {
            for (key, values) in rows {
                parts.push(format!("{table}[{key}] = {}", values.join(" | ")));
            }
        }
        for (k, v) in &self.cache {
            parts.push(format!("cache[{k}] = {v}"));
        }
        for (u, n) in &self.effects {
            parts.push(format!("{u}: {n} effect(s)"));
        }
        if parts.is_empty() {
            return f.write_str("(empty)");
        }
        f.write_str(&parts.join(", "))
    }
}

/// One request's context: the key it asks for, its logical request id and its correlation
/// id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctx {
    key: String,
    request: u64,
    id: String,
}

impl Ctx {
    /// A context for `key`.
    pub fn new(key: impl Into<String>) -> Self {
        let request = sim::current_request().unwrap_or(0);
        Ctx {
            key: key.into(),
            request,
            id: format!("req-{request}"),
        }
    }

    /// The request's correlation id, `req-17`: what production code reads from an
    /// `x-request-id` header (an HTTP route's request carries it there,
    /// `REQUEST_ID_HEADER`). Log it, as a span field around the request, so an operator can
    /// find a failed request: the silent-error question looks for it.
    pub fn request_id(&self) -> &str {
        &self.id
    }

    /// The key this request asks for (a product id, a post id): `"1"` unless the question
    /// spreads requests over several keys.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The logical request id: retries of one request share it.
    pub fn request(&self) -> u64 {
        self.request
    }
}

/// The verdict of one question.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The property held; the key figure says what was measured.
    Holds,
    /// The property broke; the report holds the finding.
    Breaks,
    /// The question does not apply to this entry point, and why.
    NotApplicable(String),
}

/// One question asked of one entry point, and its answer.
#[derive(Clone, Debug)]
pub struct Row {
    /// The question's short name (`herd`, `retry storm`, `stampede`, …).
    pub question: &'static str,
    /// The question in words.
    pub text: String,
    /// The entry point it was asked of.
    pub entry: String,
    /// The answer.
    pub verdict: Verdict,
    /// The key figure of the run (empty when not applicable).
    pub key_figure: String,
    /// The detector's report (its findings carry evidence, fix and replay line).
    pub report: Option<Report>,
}

/// The answer of an audit: one row per question.
#[derive(Clone, Debug)]
pub struct AuditReport {
    /// The service's name.
    pub service: String,
    /// One row per question, in the order asked.
    pub rows: Vec<Row>,
    /// Wall time of the whole audit.
    pub wall_time: Duration,
}

impl AuditReport {
    /// True when no question broke.
    pub fn holds(&self) -> bool {
        !self.rows.iter().any(|r| r.verdict == Verdict::Breaks)
    }

    /// True when the question named `question` broke for some entry point.
    pub fn breaks(&self, question: &str) -> bool {
        self.rows
            .iter()
            .any(|r| r.question == question && r.verdict == Verdict::Breaks)
    }

    /// The row of `question` for `entry`, if it was asked.
    pub fn row(&self, question: &str, entry: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.question == question && r.entry == entry)
    }

    /// The table, one line per question.
    pub fn table(&self) -> String {
        let w_q = self
            .rows
            .iter()
            .map(|r| r.text.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let w_e = self
            .rows
            .iter()
            .map(|r| r.entry.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!(
            "whatbreaks: audit of {}: {} question(s), {} break(s), {:.1?}\n  {:<w_q$}  {:<w_e$}  {:<14}  {}\n",
            self.service,
            self.rows.len(),
            self.rows
                .iter()
                .filter(|r| r.verdict == Verdict::Breaks)
                .count(),
            self.wall_time,
            "question",
            "entry",
            "answer",
            "figure"
        );
        for r in &self.rows {
            let (answer, figure) = match &r.verdict {
                Verdict::Holds => ("holds", r.key_figure.clone()),
                Verdict::Breaks => ("BREAKS", r.key_figure.clone()),
                Verdict::NotApplicable(why) => ("not applicable", why.clone()),
            };
            out.push_str(&format!(
                "  {:<w_q$}  {:<w_e$}  {answer:<14}  {figure}\n",
                r.text, r.entry
            ));
        }
        out
    }

    /// The HTML page of the audit: the table (each break links to its section), then every
    /// break's findings and charts, self-contained like every report page.
    pub fn html(&self) -> String {
        use crate::report::html::{self, Cell, Section};
        let breaks: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Breaks)
            .collect();
        let mut k = 0;
        let cells: Vec<Vec<Cell>> = self
            .rows
            .iter()
            .map(|r| {
                let answer = match &r.verdict {
                    Verdict::Holds => Cell::new("holds").class("clean"),
                    Verdict::Breaks => {
                        k += 1;
                        Cell::new("BREAKS")
                            .class("flagged")
                            .link(format!("#{}", html::section_anchor(k - 1)))
                    }
                    Verdict::NotApplicable(_) => Cell::new("not applicable"),
                };
                let figure = match &r.verdict {
                    Verdict::NotApplicable(why) => why.clone(),
                    _ => r.key_figure.clone(),
                };
                vec![
                    Cell::new(&r.text),
                    Cell::new(&r.entry),
                    answer,
                    Cell::new(figure),
                ]
            })
            .collect();
        let table = html::table(&["question", "entry point", "answer", "figure"], &cells);
        let sections: Vec<Section> = breaks
            .iter()
            .map(|r| {
                let heading = format!("{}: {}", r.entry, r.text);
                match &r.report {
                    Some(report) => Section::of(heading, report),
                    None => Section::charts(heading, r.key_figure.clone(), Vec::new()),
                }
            })
            .collect();
        html::render_page_with_table(
            &format!(
                "whatbreaks: audit of {}: {} question(s), {} break(s)",
                self.service,
                self.rows.len(),
                breaks.len()
            ),
            &[(crate::report::index::PAGE, "all reports")],
            &table,
            &sections,
        )
    }

    /// The audit as one report, for the index: its breaks' findings, the counts as key
    /// figure.
    fn summary(&self) -> Report {
        let mut report = Report::new(format!("audit of {}", self.service));
        for r in self.rows.iter().filter(|r| r.verdict == Verdict::Breaks) {
            if let Some(f) = r.report.as_ref().and_then(|rep| rep.findings.first()) {
                let mut f = f.clone();
                f.verdict = format!("{} ({}): {}", r.question, r.entry, f.verdict);
                report.findings.push(f);
            }
        }
        report.key_figure = format!(
            "{} question(s), {} break(s)",
            self.rows.len(),
            report.findings.len()
        );
        report.wall_time = self.wall_time;
        report
    }

    /// Writes [`html`](Self::html) to `dir` as `<test binary>.<test path>.audit.<service>.html`
    /// and lists it on the index in `dir`; returns the page's path. [`Audit::run`] calls it
    /// with the report directory under `WHATBREAKS_REPORT=1`.
    pub fn write_page(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        let (name, source) = crate::report::html::page_of(&self.page_label());
        crate::report::html::write_listed(
            dir,
            &crate::scenario::config::run_id(),
            &name,
            &source,
            &self.html(),
            &self.summary(),
        )
    }

    fn page_label(&self) -> String {
        format!("audit.{}", self.service)
    }

    /// Panics with the table and every break's findings unless every question holds or does
    /// not apply: what `#[whatbreaks::audit]` ends with.
    #[track_caller]
    pub fn assert_holds(&self) {
        if !self.holds() {
            panic!("\n{self}\n");
        }
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())?;
        for r in self.rows.iter().filter(|r| r.verdict == Verdict::Breaks) {
            if let Some(report) = &r.report {
                write!(f, "\n[{}: {}]\n{}\n", r.entry, r.text, report.render())?;
            }
        }
        Ok(())
    }
}

/// A service to audit (builder). See the module docs.
#[derive(Clone)]
pub struct Audit {
    service: String,
    handlers: Vec<(String, Entry)>,
    /// Principals, their resources and the public routes, for the trust-boundary questions.
    #[cfg(feature = "http")]
    principals: http_routes::Principals,
    /// Routes given before any router (`route` without `router`): a configuration error.
    #[cfg(feature = "http")]
    routes_without_router: Vec<String>,
    #[cfg(feature = "http")]
    router: Option<http_routes::RouterFn>,
    jobs: Vec<(String, JobFn)>,
    setup: Option<SetupFn>,
    seed: Option<u64>,
    seeds: u32,
}

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Audit");
        d.field("service", &self.service)
            .field(
                "handlers",
                &self.handlers.iter().map(|h| &h.0).collect::<Vec<_>>(),
            )
            .field("jobs", &self.jobs.iter().map(|j| &j.0).collect::<Vec<_>>());
        #[cfg(feature = "http")]
        d.field(
            "principals",
            &self
                .principals
                .names
                .iter()
                .map(|p| &p.0)
                .collect::<Vec<_>>(),
        )
        .field("resources", &self.principals.resources)
        .field("public", &self.principals.public);
        d.field("seed", &self.seed)
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

impl Audit {
    /// An audit of the service called `service`, with no entry point yet.
    pub fn new(service: impl Into<String>) -> Self {
        Audit {
            service: service.into(),
            handlers: Vec::new(),
            #[cfg(feature = "http")]
            principals: http_routes::Principals::default(),
            #[cfg(feature = "http")]
            routes_without_router: Vec::new(),
            #[cfg(feature = "http")]
            router: None,
            jobs: Vec::new(),
            setup: None,
            seed: None,
            seeds: 1,
        }
    }

    /// A request handler: one request's work against the world.
    pub fn handler<F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(World, Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let f: HandlerFn = Arc::new(move |w, c| Box::pin(handler(w, c)));
        self.handlers.push((name.into(), Entry::Handler(f)));
        self
    }

    /// A background job: one instance's scheduler loop (it may run forever).
    pub fn job<F, Fut>(mut self, name: impl Into<String>, job: F) -> Self
    where
        F: Fn(World, Instance) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let f: JobFn = Arc::new(move |w, i| Box::pin(job(w, i)));
        self.jobs.push((name.into(), f));
        self
    }

    /// Seeds every fresh world before a run (rows, cache entries).
    pub fn setup<F, Fut>(mut self, setup: F) -> Self
    where
        F: Fn(World) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.setup = Some(Arc::new(move |w| Box::pin(setup(w))));
        self
    }

    /// The first seed of every question (default: a fresh one per question; each run prints
    /// its seed, and a finding's replay line replays just that question).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Seeds per question (default 1; `WHATBREAKS_SEEDS` overrides, as everywhere).
    pub fn seeds(mut self, seeds: u32) -> Self {
        self.seeds = seeds;
        self
    }

    fn settle<T: SeedSettings>(&self, t: T) -> T {
        let t = t.seeds_n(self.seeds);
        match self.seed {
            Some(s) => t.seed_n(s),
            None => t,
        }
    }

    /// Asks every question that applies and returns the table; never panics. Under
    /// `WHATBREAKS_REPORT=1` it writes one HTML page, the table and every break's findings
    /// and charts ([`AuditReport::html`]), listed on the report index (the questions write
    /// no page of their own).
    pub fn run(&self) -> AuditReport {
        let started = Instant::now();
        let rows = crate::scenario::without_pages(|| self.ask());
        let report = AuditReport {
            service: self.service.clone(),
            rows,
            wall_time: started.elapsed(),
        };
        if crate::scenario::config::EnvOverrides::from_env().is_ok_and(|e| e.report) {
            let written = report.write_page(&crate::scenario::config::report_dir());
            crate::report::html::announce(written, &report.page_label());
        }
        report
    }

    fn ask(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        #[cfg(feature = "http")]
        if !self.routes_without_router.is_empty() {
            rows.push(http_routes::no_router_row(&self.routes_without_router));
        }
        #[cfg(feature = "http")]
        {
            let entries: Vec<&str> = self.handlers.iter().map(|h| h.0.as_str()).collect();
            rows.extend(self.principals.config_rows(&entries));
        }
        let only = Only::from_env();
        #[cfg(feature = "http")]
        let principals = Arc::new(self.principals.clone());
        for (name, entry) in &self.handlers {
            if !only.entry(name) {
                continue;
            }
            let handler = match entry {
                Entry::Handler(h) => h.clone(),
                #[cfg(feature = "http")]
                Entry::Route(spec) => spec.handler(principals.clone()),
            };
            let touched = self.probe(&handler);
            self.handler_questions(name, &handler, &touched, &only, &mut rows);
            #[cfg(feature = "http")]
            if let Entry::Route(spec) = entry {
                self.trust_questions(name, spec, &only, &mut rows);
            }
        }
        for (name, job) in &self.jobs {
            if only.asks("double execution", name) {
                rows.push(self.double_execution(name, job));
            }
        }
        if only.0.is_some() {
            rows.retain(|r| r.question == "configuration" || only.asks(r.question, &r.entry));
            if rows.is_empty() {
                rows.push(only.matched_nothing(self));
            }
        }
        rows
    }

    /// Runs `handler` once on a fresh world and says what it touched.
    fn probe(&self, handler: &HandlerFn) -> Touched {
        let (h, setup) = (handler.clone(), self.setup.clone());
        let run = sim::simulate(
            &RunLimits::new(self.seed.unwrap_or(1)),
            move || async move {
                let world = World {
                    db: SimDb::builder("db").record_statements().build(),
                    ..World::new()
                };
                if let Some(s) = &setup {
                    s(world.clone()).await;
                }
                let rows_before = world.db.rows();
                let statements_before = world.db.statements().len();
                let (ops_before, loads_before) = (world.cache.ops(), world.db.loads().len());
                let acquires_before = world.pool.stats().acquires;
                h(world.clone(), Ctx::new("1")).await;
                let upstreams = world
                    .upstreams
                    .lock()
                    .iter()
                    .filter(|(_, u)| !u.arrivals().is_empty())
                    .map(|(name, u)| {
                        let writes = u.arrivals().iter().any(|a| a.method != Method::Get);
                        (name.clone(), writes)
                    })
                    .collect();
                Touched {
                    upstreams,
                    cache: world.cache.ops() > ops_before,
                    loads: world.db.loads().len() > loads_before,
                    db_writes: world.db.rows() != rows_before,
                    pool: world.pool.stats().acquires > acquires_before,
                    tables: world.tables.lock().read.iter().cloned().collect(),
                    setup_rows: rows_before,
                    scanned: world.db.statements()[statements_before..]
                        .iter()
                        .filter_map(|st| st.sql.strip_prefix("SELECT * FROM "))
                        .map(str::to_string)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                }
            },
        );
        run.value.unwrap_or_default()
    }

    fn handler_questions(
        &self,
        entry: &str,
        handler: &HandlerFn,
        touched: &Touched,
        only: &Only,
        rows: &mut Vec<Row>,
    ) {
        let asks = |question: &str| only.asks(question, entry);
        for (upstream, writes) in &touched.upstreams {
            if asks("herd") {
                rows.push(self.herd(entry, handler, upstream));
            }
            if asks("retry storm") {
                rows.push(self.storm(entry, handler, upstream));
            }
            if asks("hang") {
                rows.push(self.hang(entry, handler, upstream));
            }
            if *writes {
                if asks("duplicates") {
                    rows.push(self.duplicates(entry, handler, upstream));
                }
            } else {
                rows.push(not_applicable(
                    "duplicates",
                    format!("a response to a write to `{upstream}` is lost"),
                    entry,
                    format!("the handler only reads from `{upstream}` (GET)"),
                ));
            }
        }
        if touched.upstreams.is_empty() {
            rows.push(not_applicable(
                "herd",
                "1,000 clients retry after an upstream outage".into(),
                entry,
                "the handler calls no upstream".into(),
            ));
        }
        if touched.upstreams.is_empty() && !touched.loads {
            rows.push(not_applicable(
                "silent error",
                SILENT_QUESTION.into(),
                entry,
                "the handler calls no upstream and loads nothing from the database".into(),
            ));
        } else if asks("silent error") {
            let upstreams: Vec<Option<&str>> = if touched.upstreams.is_empty() {
                vec![None]
            } else {
                touched.upstreams.keys().map(|u| Some(u.as_str())).collect()
            };
            for upstream in upstreams {
                rows.push(self.silent(entry, handler, upstream));
            }
        }
        let caches = touched.cache && touched.loads;
        for (scenario, instances) in [("cold", 1), ("cold", 2), ("expiry", 1)] {
            let text = format!(
                "a hot key is {} on {instances} instance(s)",
                if scenario == "cold" {
                    "cold"
                } else {
                    "expiring under load"
                }
            );
            if caches {
                if asks("stampede") {
                    rows.push(self.stampede(entry, handler, scenario, instances, text));
                }
            } else {
                rows.push(not_applicable(
                    "stampede",
                    text,
                    entry,
                    if touched.cache {
                        "the handler never loads from the database".into()
                    } else {
                        "the handler touches no cache".into()
                    },
                ));
            }
        }
        if touched.pool {
            if asks("pool") {
                rows.push(self.pool(entry, handler));
            }
        } else {
            rows.push(not_applicable(
                "pool",
                POOL_QUESTION.into(),
                entry,
                "the handler takes no connection from the pool".into(),
            ));
        }
        if asks("leak") {
            rows.push(self.leak(entry, handler));
        }
        if touched.scanned.is_empty() {
            rows.push(not_applicable(
                "n+1 queries",
                N_PLUS_ONE_QUESTION.into(),
                entry,
                "the handler lists no database table (`SimDb::scan`)".into(),
            ));
        } else if asks("n+1 queries") {
            rows.push(self.n_plus_one(entry, handler, &touched.scanned, &touched.setup_rows));
        }
        if touched.tables.is_empty() {
            rows.push(not_applicable(
                "scale",
                SCALE_QUESTION.into(),
                entry,
                "the handler reads no table (`World::table`)".into(),
            ));
        } else if asks("scale") {
            rows.push(self.scale(entry, handler, &touched.tables));
        }
        if touched.db_writes {
            if asks("race") {
                rows.push(self.race(entry, handler));
            }
            if asks("partial write") {
                rows.push(self.partial_write(entry, handler, &touched.setup_rows));
            }
        } else {
            for (question, text) in [
                ("race", "the same request twice at once"),
                ("partial write", CANCEL_QUESTION),
            ] {
                rows.push(not_applicable(
                    question,
                    text.into(),
                    entry,
                    "the handler writes nothing to the database".into(),
                ));
            }
        }
    }

    /// The body of an upstream question: the handler on the run's world, with the scenario's
    /// upstream as `upstream`.
    fn through_upstream(
        &self,
        handler: &HandlerFn,
        upstream: &str,
    ) -> impl Fn(Upstream) -> Boxed + Send + Sync + 'static {
        let (h, setup, name) = (handler.clone(), self.setup.clone(), upstream.to_string());
        move |up: Upstream| {
            let (h, setup, name) = (h.clone(), setup.clone(), name.clone());
            Box::pin(async move {
                let world = run_world(&setup, None).await.with_upstream(&name, up);
                h(world, Ctx::new("1")).await;
            })
        }
    }

    fn herd(&self, entry: &str, handler: &HandlerFn, upstream: &str) -> Row {
        let test = self.settle(HerdTest::new().name(upstream));
        let report = test.run(self.through_upstream(handler, upstream));
        row(
            "herd",
            format!("1,000 clients retry after `{upstream}` fails at once"),
            entry,
            report,
            &[herd::PATTERN],
        )
    }

    fn storm(&self, entry: &str, handler: &HandlerFn, upstream: &str) -> Row {
        let test = self.settle(RetryStormTest::new().name(upstream));
        let report = test.run(self.through_upstream(handler, upstream));
        row(
            "retry storm",
            format!("`{upstream}` is degraded for a minute under steady traffic"),
            entry,
            report,
            &[storm::PATTERN, storm::CLASSIFICATION_PATTERN],
        )
    }

    fn hang(&self, entry: &str, handler: &HandlerFn, upstream: &str) -> Row {
        let test = self.settle(HangTest::new().name(upstream));
        let report = test.run(self.through_upstream(handler, upstream));
        row(
            "hang",
            format!("`{upstream}` accepts calls and never answers for 30 s"),
            entry,
            report,
            &[hang::PATTERN],
        )
    }

    /// Requests under failing dependencies: `upstream` (when the handler calls one) fails
    /// half its calls with 503, 10% of database loads fail; every request that met an error
    /// it did not recover from must log it at warn or error with its correlation id.
    fn silent(&self, entry: &str, handler: &HandlerFn, upstream: Option<&str>) -> Row {
        let (h, setup) = (handler.clone(), self.setup.clone());
        // Half the calls fail: enough that a retry loop runs out of attempts now and then,
        // so what it does with its last error shows.
        let mut test = SilentErrorTest::new().error_rate(0.5);
        if let Some(u) = upstream {
            test = test.name(u);
        } else {
            test = test.error_rate(0.0);
        }
        let test = self.settle(test);
        let name = upstream.map(str::to_string);
        let report = test.run(move |env: SilentEnv| {
            let (h, setup, name) = (h.clone(), setup.clone(), name.clone());
            async move {
                let mut world = run_world_with(&setup, None, Some(env.db().clone())).await;
                if let Some(name) = &name {
                    world = world.with_upstream(name, env.upstream().clone());
                }
                // A key per request: a cache in front of the database still loads, so the
                // failing loads reach the handler.
                let ctx = Ctx {
                    key: (env.request() + 1).to_string(),
                    request: u64::from(env.request()),
                    id: env.request_id().to_string(),
                };
                h(world, ctx).await;
            }
        });
        let text = match upstream {
            Some(u) => format!("`{u}` fails half its calls and 10% of database loads fail"),
            None => SILENT_QUESTION.into(),
        };
        row(
            "silent error",
            text,
            entry,
            report,
            &[silent::PATTERN, silent::UNCORRELATED],
        )
    }

    fn duplicates(&self, entry: &str, handler: &HandlerFn, upstream: &str) -> Row {
        let test = self.settle(
            RetryStormTest::new()
                .name(upstream)
                .ambiguous(0.2)
                .max_amplification(f64::MAX)
                .bad_requests(0.0),
        );
        let report = test.run(self.through_upstream(handler, upstream));
        row(
            "duplicates",
            format!("a write to `{upstream}` commits, then its response is lost"),
            entry,
            report,
            &[storm::DUPLICATE_PATTERN],
        )
    }

    fn stampede(
        &self,
        entry: &str,
        handler: &HandlerFn,
        scenario: &str,
        instances: u32,
        text: String,
    ) -> Row {
        let (h, setup) = (handler.clone(), self.setup.clone());
        let test = self.settle(StampedeTest::new().scenario(scenario).instances(instances));
        let report = test.run(move |env: StampedeEnv| {
            let (h, setup) = (h.clone(), setup.clone());
            async move {
                let world = run_world(&setup, Some(&env)).await;
                h(world.on_instance(env.instance()), Ctx::new(env.key())).await;
            }
        });
        row("stampede", text, entry, report, &[stampede::PATTERN])
    }

    fn pool(&self, entry: &str, handler: &HandlerFn) -> Row {
        let (h, setup) = (handler.clone(), self.setup.clone());
        let test = self.settle(PoolTest::new().error_rate(0.05).slow_rate(0.02));
        let report = test.run(move |pool: SimPool| {
            let (h, setup) = (h.clone(), setup.clone());
            async move {
                let mut world = run_world(&setup, None).await;
                world.pool = pool;
                h(world, Ctx::new("1")).await;
            }
        });
        row(
            "pool",
            POOL_QUESTION.into(),
            entry,
            report,
            &[
                pool::LEAK,
                pool::STARVATION,
                pool::DEADLOCK,
                pool::WAITS_FOREVER,
                pool::HELD_ACROSS_SLOW_WORK,
            ],
        )
    }

    /// Two thousand requests, one after the other, on one instance: its in-process state
    /// ([`World::per_instance`], statics) lives across them; the database, cache and
    /// upstreams are other processes, so each request gets fresh ones (their memory is not
    /// the service's).
    fn leak(&self, entry: &str, handler: &HandlerFn) -> Row {
        let (h, setup) = (handler.clone(), self.setup.clone());
        let test = self.settle(LeakTest::new().iterations(2_000).unit("request"));
        let report = test.run(move |env: LeakEnv| {
            let (h, setup) = (h.clone(), setup.clone());
            async move {
                let states = env.shared(States::default);
                let world = World {
                    states: States::clone(&states),
                    ..World::new()
                };
                if let Some(s) = &setup {
                    s(world.clone()).await;
                }
                h(world, Ctx::new("1")).await;
            }
        });
        row(
            "leak",
            "a million requests come and go on one instance".into(),
            entry,
            report,
            &[leak::PATTERN],
        )
    }

    /// The entry point at 1,000, 10,000 and 100,000 rows in every table it reads, on a fresh
    /// world each time, its peak heap extrapolated to 500,000,000 rows.
    fn scale(&self, entry: &str, handler: &HandlerFn, tables: &[String]) -> Row {
        let (h, setup) = (handler.clone(), self.setup.clone());
        let test = self.settle(ScaleTest::new());
        let report = test.run(move |n: u64| {
            let (h, setup) = (h.clone(), setup.clone());
            async move {
                let world = World::new();
                world.tables.lock().rows = n;
                if let Some(s) = &setup {
                    s(world.clone()).await;
                }
                h(world, Ctx::new("1")).await;
            }
        });
        row(
            "scale",
            format!("{SCALE_QUESTION} (`{}`)", tables.join("`, `")),
            entry,
            report,
            &[scale::PATTERN],
        )
    }

    /// The entry point with every table it lists grown to 1, 10 and 100 rows (copies of the
    /// rows the setup leaves in it, under new keys), on a fresh database each time: its
    /// query count must not grow with the result.
    fn n_plus_one(
        &self,
        entry: &str,
        handler: &HandlerFn,
        scanned: &[String],
        setup_rows: &Rows,
    ) -> Row {
        let (h, rows, scanned) = (handler.clone(), setup_rows.clone(), scanned.to_vec());
        let listed = format!("`{}`", scanned.join("`, `"));
        let test = self.settle(NPlusOneTest::new());
        let report = test.run(move |env: QueryEnv| {
            let (h, rows, scanned) = (h.clone(), rows.clone(), scanned.clone());
            async move {
                let db = env.db();
                seed_rows(&db, &rows);
                for table in &scanned {
                    let templates: Vec<(String, String)> = rows
                        .get(table)
                        .into_iter()
                        .flatten()
                        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                        .collect();
                    for i in 0..env.size() as usize {
                        let (key, value) = templates
                            .get(i % templates.len().max(1))
                            .cloned()
                            .unwrap_or_else(|| ("row".into(), "row".into()));
                        db.seed(table, &format!("{key}~{i}"), value);
                    }
                }
                let world = World { db, ..World::new() };
                h(world, Ctx::new("1")).await;
            }
        });
        row(
            "n+1 queries",
            format!("{N_PLUS_ONE_QUESTION} ({listed})"),
            entry,
            report,
            &[n_plus_one::PATTERN],
        )
    }

    /// One request cut at each of its await points (a disconnect, a `timeout`, a `select!`)
    /// and crashed after each of its writes, on the database the setup leaves: its writes
    /// must land all or not at all.
    fn partial_write(&self, entry: &str, handler: &HandlerFn, setup_rows: &Rows) -> Row {
        let h = handler.clone();
        let rows = setup_rows.clone();
        let test = self.settle(
            CancelTest::new()
                .cut("both")
                .setup(move |db: &SimDb| seed_rows(db, &rows)),
        );
        let report = test.run(move |env: CancelEnv| {
            let h = h.clone();
            async move {
                let world = World {
                    db: env.db(),
                    ..World::new()
                };
                h(world, Ctx::new("1")).await;
            }
        });
        row(
            "partial write",
            CANCEL_QUESTION.into(),
            entry,
            report,
            &[cancel::PATTERN],
        )
    }

    fn race(&self, entry: &str, handler: &HandlerFn) -> Row {
        let (h, setup) = (handler.clone(), self.setup.clone());
        let test = self.settle(RaceTest::new().iterations(200));
        let report = test.run(move || {
            let (h, setup) = (h.clone(), setup.clone());
            async move {
                let together = World::new();
                let alone = World::new();
                if let Some(s) = &setup {
                    s(together.clone()).await;
                    s(alone.clone()).await;
                }
                let before = together.state();
                crate::join!(
                    h(together.clone(), Ctx::new("1")),
                    h(together.clone(), Ctx::new("1"))
                );
                h(alone.clone(), Ctx::new("1")).await;
                h(alone.clone(), Ctx::new("1")).await;
                let (concurrent, serial) = (together.state(), alone.state());
                assert!(
                    concurrent == serial,
                    "two identical requests at once left a state no serial order leaves\n  before:     {before}\n  concurrent: {concurrent}\n  serial:     {serial}"
                );
            }
        });
        row(
            "race",
            "the same request twice at once".into(),
            entry,
            report,
            &[race::PATTERN],
        )
    }

    fn double_execution(&self, entry: &str, job: &JobFn) -> Row {
        let (j, setup) = (job.clone(), self.setup.clone());
        let test = self.settle(
            DoubleExecutionTest::new()
                .instances(2)
                .pause("0@90s+45s")
                .skew("1:+2s"),
        );
        let report = test.run(move |instance: Instance| {
            let (j, setup) = (j.clone(), setup.clone());
            async move {
                let world = run_world(&setup, None).await.on_instance(instance.id());
                j(world, instance).await;
            }
        });
        row(
            "double execution",
            "two instances run the job; one pauses past a lease, one's clock skews".into(),
            entry,
            report,
            &[double_execution::PATTERN, double_execution::MISSED],
        )
    }
}

const SCALE_QUESTION: &str = "its tables hold 500,000,000 rows";

const SILENT_QUESTION: &str = "10% of database loads fail";

const N_PLUS_ONE_QUESTION: &str = "the list it reads holds 1, 10, 100 rows";

const CANCEL_QUESTION: &str =
    "the request is cancelled at an await, or its instance crashes between two writes";

const POOL_QUESTION: &str =
    "100 overlapping requests share the pool; 5% of queries fail, 2% are slow";

/// What a handler touched in its probe run.
#[derive(Debug, Default)]
struct Touched {
    /// Upstreams it called, and whether it wrote to them.
    upstreams: BTreeMap<String, bool>,
    cache: bool,
    loads: bool,
    db_writes: bool,
    pool: bool,
    /// The [`World::table`]s it read.
    tables: Vec<String>,
    /// The database rows the setup leaves.
    setup_rows: Rows,
    /// The database tables it listed (`SimDb::scan`).
    scanned: Vec<String>,
}

/// Database rows: table, key, values.
type Rows = BTreeMap<String, BTreeMap<String, Vec<String>>>;

thread_local! {
    /// The world of the simulation running on this thread: every client of one run shares
    /// it (each run has its own thread, so each run starts with a fresh one).
    static RUN_WORLD: RefCell<Option<Rc<tokio::sync::OnceCell<World>>>> = const { RefCell::new(None) };
}

/// The world of the current run, built (and set up) by the first request of the run. In a
/// stampede run it wraps the scenario's cache and database.
async fn run_world(setup: &Option<SetupFn>, env: Option<&StampedeEnv>) -> World {
    run_world_with(setup, env.map(StampedeEnv::cache), env.map(StampedeEnv::db)).await
}

/// [`run_world`] around a scenario's own cache and database, where it has them.
async fn run_world_with(
    setup: &Option<SetupFn>,
    cache: Option<SimCache>,
    db: Option<SimDb>,
) -> World {
    let cell = RUN_WORLD.with(|w| {
        w.borrow_mut()
            .get_or_insert_with(|| Rc::new(tokio::sync::OnceCell::new()))
            .clone()
    });
    cell.get_or_init(|| async {
        let mut world = World::new();
        if let Some(cache) = cache {
            world.cache = cache;
        }
        if let Some(db) = db {
            world.db = db;
        }
        if let Some(s) = setup {
            s(world.clone()).await;
        }
        world
    })
    .await
    .clone()
}

/// Seeds `rows` into `db` (not counted as the request's statements).
fn seed_rows(db: &SimDb, rows: &Rows) {
    for (table, keyed) in rows {
        for (key, values) in keyed {
            for value in values {
                db.seed(table, key, value.clone());
            }
        }
    }
}

fn not_applicable(question: &'static str, text: String, entry: &str, why: String) -> Row {
    Row {
        question,
        text,
        entry: entry.to_string(),
        verdict: Verdict::NotApplicable(why),
        key_figure: String::new(),
        report: None,
    }
}

/// The row of a question from its detector's report: a finding of one of `patterns` (or a
/// harness finding) breaks it; configuration findings alone mean its premise did not hold
/// here (not applicable, with the finding's verdict as the reason).
fn row(
    question: &'static str,
    text: String,
    entry: &str,
    mut report: Report,
    patterns: &[&str],
) -> Row {
    // A replay runs just this question of this entry point.
    let only = shell_quote(&format!("{question}:{entry}"));
    for f in report.findings.iter_mut().filter(|f| !f.replay.is_empty()) {
        f.replay = format!("WHATBREAKS_AUDIT_ONLY={only} {}", f.replay);
    }
    let breaks = report.findings.iter().any(|f| {
        f.kind == FindingKind::Harness
            || (f.kind == FindingKind::Bug && patterns.contains(&f.pattern))
    });
    let config: Option<&Finding> = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Config);
    let verdict = if breaks {
        Verdict::Breaks
    } else if let Some(f) = config {
        Verdict::NotApplicable(f.verdict.clone())
    } else {
        Verdict::Holds
    };
    Row {
        question,
        text,
        entry: entry.to_string(),
        verdict,
        key_figure: report.key_figure.clone(),
        report: Some(report),
    }
}

/// `text` as one shell word: bare when it is plain, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:/,@%+=".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The question names an audit asks, for the message of a filter that matched none.
const QUESTIONS: &[&str] = &[
    "herd",
    "retry storm",
    "hang",
    "duplicates",
    "stampede",
    "pool",
    "leak",
    "n+1 queries",
    "scale",
    "silent error",
    "race",
    "partial write",
    "double execution",
    "auth",
    "mass assignment",
    "validation",
];

/// Which questions a run asks: every one, or what `WHATBREAKS_AUDIT_ONLY` names (a break's
/// replay line sets it, so a replay runs just that question).
struct Only(Option<(String, Option<String>)>);

impl Only {
    fn from_env() -> Only {
        // A bad value is reported by every question's own run (the same variables, one
        // policy); here it asks everything.
        Only(
            crate::scenario::config::EnvOverrides::from_env()
                .ok()
                .and_then(|e| e.audit_only),
        )
    }

    /// True when some question of `entry` may be asked.
    fn entry(&self, entry: &str) -> bool {
        match &self.0 {
            Some((_, Some(e))) => e == entry,
            _ => true,
        }
    }

    fn asks(&self, question: &str, entry: &str) -> bool {
        match &self.0 {
            None => true,
            Some((q, e)) => q == question && e.as_deref().is_none_or(|e| e == entry),
        }
    }

    /// The configuration row for a filter that names no question of `audit`.
    fn matched_nothing(&self, audit: &Audit) -> Row {
        let (q, e) = self.0.clone().unwrap_or_default();
        let entries: Vec<&str> = audit
            .handlers
            .iter()
            .map(|h| h.0.as_str())
            .chain(audit.jobs.iter().map(|j| j.0.as_str()))
            .collect();
        let named = match &e {
            Some(e) => format!("{q}:{e}"),
            None => q.clone(),
        };
        let finding = Finding::config(format!(
            "WHATBREAKS_AUDIT_ONLY=`{named}` names no question this audit asks"
        ))
        .with_fix(format!(
            "set WHATBREAKS_AUDIT_ONLY to `question` or `question:entry point` (questions: {}; entry points: {}), or unset it",
            QUESTIONS.join(", "),
            entries.join(", ")
        ));
        Row {
            question: "configuration",
            text: "WHATBREAKS_AUDIT_ONLY".into(),
            entry: e.unwrap_or_default(),
            verdict: Verdict::Breaks,
            key_figure: String::new(),
            report: Some(Report::stopped("audit", finding)),
        }
    }
}

/// The common settings every question's builder takes from the audit.
trait SeedSettings: Sized {
    fn seed_n(self, seed: u64) -> Self;
    fn seeds_n(self, seeds: u32) -> Self;
}

macro_rules! seed_settings {
    ($($t:ty),*) => {$(
        impl SeedSettings for $t {
            fn seed_n(self, seed: u64) -> Self {
                self.seed(seed)
            }
            fn seeds_n(self, seeds: u32) -> Self {
                self.seeds(seeds)
            }
        }
    )*};
}

seed_settings!(
    HerdTest,
    RetryStormTest,
    StampedeTest,
    RaceTest,
    DoubleExecutionTest,
    PoolTest,
    HangTest,
    LeakTest,
    ScaleTest,
    SilentErrorTest,
    CancelTest,
    NPlusOneTest
);
