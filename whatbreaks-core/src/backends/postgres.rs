//! Real PostgreSQL (feature `postgres`): a race harness on real connections, the pool-leak
//! watch on a real deadpool-postgres pool, and advisory locks as a lease backend.
//!
//! Everything here runs in real time ([`crate::backends::realtime`]). The server is named by
//! `WHATBREAKS_PG_URL` (default [`DEFAULT_URL`]: PostgreSQL on 127.0.0.1:5432, database
//! `test`, user `postgres`, trust auth). When it does not answer, harnesses return one
//! finding, and [`require`] panics with one line, naming the service, the URL (its password
//! redacted, as everywhere: [`SecretUrl`]) and what to do: start the service, or set the
//! variable ([`crate::backends::realtime::Unreachable`]).
//!
//! # The race harness ([`PgRaceTest`])
//! Each run creates a **temporary schema** (`wb_<pid>_<n>`), runs the `setup` SQL in it, opens
//! `connections` real connections whose `search_path` is that schema, and then, for each of
//! `trials` trials: runs `reset`, lets every connection run the body at once (a start
//! barrier, then the bodies are polled together, so their queries are in flight together on
//! the server), and runs the `invariant` query. The invariant query returns **one row per
//! violation** (no rows: the invariant holds); its rows are shown as evidence. The schema is
//! dropped at the end, and also when the run panics or is cut off ([`TempSchema`] drops it
//! from its `Drop`).
//!
//! Each body **owns its connection** for the trial ([`PgConn`], `DerefMut` to the
//! `tokio_postgres::Client`), so code written with `client.transaction()` runs as it is.
//! Between trials the harness rolls back whatever a body left open and resets the session
//! (`ROLLBACK; RESET ALL`, advisory locks released, temporary tables dropped); a connection a
//! body kept or broke is replaced. Bodies fail with `tokio_postgres::Error` ([`PgRaceTest::run`])
//! or the application's own error type ([`PgRaceTest::run_app`]). [`PgRaceTest::results`]
//! checks what every body of a trial returned, for properties the tables do not show
//! ("exactly one of two sign-ups with one email succeeded").
//!
//! Verdict: [`crate::detectors::race::PATTERN`] (check-then-act race) when any trial broke the
//! invariant or the results check, or (without a results check) a body failed with an error;
//! the key figure is the share of broken trials.
//!
//! # The pool watch ([`PgPoolWatch`])
//! `clients` real-time clients each run the handler once against a
//! [`WatchedDeadpool`] over a real deadpool-postgres pool; a guard never dropped after its
//! client finished is a [`crate::detectors::pool::LEAK`], reported with its checkout site and the pool's
//! own status ([`crate::detectors::pool::watch`]).
//!
//! # Advisory locks ([`AdvisoryLock`])
//! `pg_try_advisory_lock` on a dedicated session: held until unlocked or the session ends,
//! so a leader that loses its connection loses the lock.

use crate::backends::realtime::{self, SecretUrl, Unreachable, unreachable_report};
use crate::detectors::pool::LEAK;
use crate::detectors::pool::watch::{PoolWatch, WatchedDeadpool, WatchedPool};
use crate::detectors::race;
use crate::report::{Finding, Report};
use crate::runtime::sim;
use crate::spec::format_duration;
pub use ::deadpool_postgres;
pub use ::tokio_postgres;
use ::tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The variable that names the server.
pub const URL_VAR: &str = "WHATBREAKS_PG_URL";
/// The server used when `WHATBREAKS_PG_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server's URL: `WHATBREAKS_PG_URL`, or [`DEFAULT_URL`].
pub fn url() -> String {
    // A value that is not UTF-8 is used as it reads (lossily): the connection then fails
    // with a finding that shows it, instead of reaching the default server (the harnesses
    // report such a value as a configuration finding naming the variable, `server_url`).
    crate::scenario::config::backend_url(URL_VAR, DEFAULT_URL).unwrap_or_else(|e| e.value)
}

fn unreachable(url: &str, error: impl std::error::Error) -> Unreachable {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    Unreachable::new("PostgreSQL", url, URL_VAR, &text)
}

/// Opens one connection (3 s connect timeout) and drives it on a spawned task.
pub async fn connect(url: &str) -> Result<Client, Unreachable> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| unreachable(url, e))?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| unreachable(url, e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Checks that the server answers `SELECT 1`; panics with one line if it does not.
#[track_caller]
pub fn require() {
    let url = url();
    let u = url.clone();
    let r = realtime::block_on(Duration::from_secs(10), || async move {
        let c = connect(&u).await?;
        c.simple_query("SELECT 1")
            .await
            .map_err(|e| unreachable(&u, e))?;
        Ok::<(), Unreachable>(())
    });
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("{}", unreachable(&url, e)),
    }
}

/// A schema created for one test and dropped at its end, even when the test fails.
///
/// Sessions that work in it ([`add_session`](TempSchema::add_session)) are terminated
/// (`pg_terminate_backend`) before the `DROP SCHEMA`: a body that panicked inside an open
/// transaction leaves its locks behind, and the drop would wait for them (10 s and more, or
/// fail with `lock_timeout` and leave the schema behind) while the session stays open.
#[derive(Debug)]
pub struct TempSchema {
    name: String,
    url: SecretUrl,
    sessions: parking_lot::Mutex<Vec<i32>>,
    dropped: bool,
}

/// Terminates `sessions` (server process ids) and drops `schema`, through `client`.
async fn terminate_and_drop(
    client: &Client,
    schema: &str,
    sessions: &[i32],
) -> Result<(), tokio_postgres::Error> {
    if !sessions.is_empty() {
        // Ends their transactions (and locks) at once; an ended session is simply not found.
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int4[]) AS pid WHERE pid <> pg_backend_pid()",
                &[&sessions],
            )
            .await?;
    }
    client
        .batch_execute(&format!(
            "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
        ))
        .await
}

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

impl TempSchema {
    /// Creates a fresh schema through `client`.
    pub async fn create(client: &Client, url: &str) -> Result<Self, tokio_postgres::Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "wb_{}_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000
        );
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await?;
        Ok(TempSchema {
            name,
            url: SecretUrl::new(url),
            sessions: parking_lot::Mutex::new(Vec::new()),
            dropped: false,
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A session (its server process id, `SELECT pg_backend_pid()`) that works in the
    /// schema: it is terminated before the schema is dropped.
    pub fn add_session(&self, pid: i32) {
        self.sessions.lock().push(pid);
    }

    /// Terminates the schema's sessions and drops it now, through `client` (a session of its
    /// own, not one of those added).
    pub async fn drop_with(mut self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let sessions = self.sessions.lock().clone();
        terminate_and_drop(client, &self.name, &sessions).await?;
        self.dropped = true;
        Ok(())
    }
}

impl Drop for TempSchema {
    /// Not dropped yet (a panic, a cut-off run): drops it from a thread of its own, on a
    /// connection of its own, since the runtime that made it may be gone.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (name, url) = (self.name.clone(), self.url.clone());
        let sessions = self.sessions.lock().clone();
        let _ = realtime::block_on(Duration::from_secs(10), || async move {
            if let Ok(c) = connect(url.expose()).await {
                let _ = terminate_and_drop(&c, &name, &sessions).await;
            }
        });
    }
}

/// True when a schema of that name exists (for tests of the cleanup).
pub async fn schema_exists(client: &Client, name: &str) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
            &[&name],
        )
        .await?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// One connection of a [`PgRaceTest`], in one trial: the body owns it for the trial, as
/// production code owns a pooled connection. Derefs to the `tokio_postgres::Client`, mutably
/// too, so `conn.transaction()` works (bind it `mut conn`). When the body drops it (at its
/// end, or in a task it was moved into), the connection goes back to the harness, which rolls
/// back whatever the body left open and resets the session before the next trial.
pub struct PgConn {
    client: Option<Client>,
    home: Arc<parking_lot::Mutex<Option<Client>>>,
    worker: usize,
    trial: u32,
    schema: String,
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConn")
            .field("worker", &self.worker)
            .field("trial", &self.trial)
            .field("schema", &self.schema)
            .finish()
    }
}

impl Deref for PgConn {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a PgConn holds its client until dropped")
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a PgConn holds its client until dropped")
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        *self.home.lock() = self.client.take();
    }
}

impl PgConn {
    /// Which connection (0..connections).
    pub fn worker(&self) -> usize {
        self.worker
    }
    /// Which trial (0..trials).
    pub fn trial(&self) -> u32 {
        self.trial
    }
    /// The temporary schema (already the connection's `search_path`).
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// The outcome of one body in one trial: `Ok(())`, or its error as text (a PostgreSQL error
/// with the server's message).
pub type BodyResult = Result<(), String>;

/// A check of every body's outcome in one trial, in connection order.
type ResultsCheck = Arc<dyn Fn(&[BodyResult]) -> Result<(), String> + Send + Sync>;

/// The text of a body's error: the server's message for a PostgreSQL error, else the error's
/// `Display` (alternate form, so `anyhow`-style errors show their causes).
fn describe_body_error<E: fmt::Display + 'static>(e: &E) -> String {
    match (e as &dyn std::any::Any).downcast_ref::<tokio_postgres::Error>() {
        Some(pg) => describe_pg_error(pg),
        None => format!("{e:#}"),
    }
}

/// Concurrent bodies on real PostgreSQL connections, checked by an SQL invariant and, if
/// given, a check of every body's outcome (builder).
#[derive(Clone)]
pub struct PgRaceTest {
    connections: usize,
    trials: u32,
    setup: String,
    reset: String,
    invariant: String,
    results: Option<ResultsCheck>,
    limit: Duration,
    url: Option<SecretUrl>,
}

impl fmt::Debug for PgRaceTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRaceTest")
            .field("connections", &self.connections)
            .field("trials", &self.trials)
            .field("setup", &self.setup)
            .field("reset", &self.reset)
            .field("invariant", &self.invariant)
            .field("results", &self.results.is_some())
            .field("limit", &self.limit)
            .field("url", &self.url)
            .finish()
    }
}

impl Default for PgRaceTest {
    fn default() -> Self {
        Self::new()
    }
}

impl PgRaceTest {
    /// 2 connections (a double tap), 20 trials, 20 s limit, no SQL.
    pub fn new() -> Self {
        PgRaceTest {
            connections: 2,
            trials: 20,
            setup: String::new(),
            reset: String::new(),
            invariant: String::new(),
            results: None,
            limit: realtime::DEFAULT_LIMIT,
            url: None,
        }
    }

    /// Connections running the body at once.
    pub fn connections(mut self, k: usize) -> Self {
        self.connections = k.max(1);
        self
    }

    /// Trials.
    pub fn trials(mut self, t: u32) -> Self {
        self.trials = t.max(1);
        self
    }

    /// SQL run once in the temporary schema (tables, constraints).
    pub fn setup(mut self, sql: &str) -> Self {
        self.setup = sql.to_string();
        self
    }

    /// SQL run before each trial (truncate, seed rows).
    pub fn reset(mut self, sql: &str) -> Self {
        self.reset = sql.to_string();
        self
    }

    /// A query returning one row per violation; no rows: the invariant holds.
    pub fn invariant(mut self, sql: &str) -> Self {
        self.invariant = sql.to_string();
        self
    }

    /// A check of what the bodies of one trial returned, in connection order (`Ok(())` or
    /// the error's text): `Err(why)` is a violation, shown as evidence. For properties the
    /// tables alone do not show, e.g. "exactly one of two sign-ups with the same email
    /// succeeded". With a check, a body's error is an outcome it judges, not a finding of
    /// its own.
    pub fn results(
        mut self,
        check: impl Fn(&[BodyResult]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.results = Some(Arc::new(check));
        self
    }

    /// Wall-clock limit of the whole run.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The server, instead of `WHATBREAKS_PG_URL` (its password never shows: see
    /// [`SecretUrl`]).
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(SecretUrl::new(url));
        self
    }

    fn scenario(&self) -> String {
        format!(
            "{} real connections at once, {} trials, real PostgreSQL, real time (no seed)",
            self.connections, self.trials
        )
    }

    /// Runs every trial and checks the invariant after each; never panics.
    ///
    /// The body owns its connection for the trial ([`PgConn`]: `conn.transaction()` works)
    /// and fails with a `tokio_postgres::Error` (so `?` and `Ok(())` need no annotation); for
    /// code that returns its own error type, use [`run_app`](Self::run_app).
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(PgConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), tokio_postgres::Error>> + 'static,
    {
        self.run_app(body)
    }

    /// [`run`](Self::run) for bodies that fail with the application's own error type, any
    /// that displays (an error enum, `anyhow::Error`: shown in its alternate form, with its
    /// causes).
    pub fn run_app<B, Fut, E>(&self, body: B) -> Report
    where
        B: Fn(PgConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: fmt::Display + 'static,
    {
        let began = Instant::now();
        let scenario = self.scenario();
        let url = match realtime::server_url(self.url.as_ref(), URL_VAR, DEFAULT_URL, &scenario) {
            Ok(url) => url,
            Err(report) => return *report,
        };
        let u = url.clone();
        let this = self.clone();
        let result =
            realtime::block_on(
                self.limit,
                move || async move { this.trials_on(u, body).await },
            );
        let outcome = match result {
            Ok(Ok(o)) => o,
            Ok(Err(Failure::Unreachable(e))) => return unreachable_report(&e, &scenario),
            Ok(Err(Failure::Setup(e))) => {
                let mut f = Finding::harness("real-time harness", format!("setup failed: {e}"));
                f.scenario = scenario.clone();
                f.fix = "fix the setup/reset/invariant SQL".into();
                return Report::stopped(scenario, f);
            }
            Err(e) => {
                return Report::stopped(scenario.clone(), e.finding(&scenario));
            }
        };
        let broken = outcome.violations.len() as u32;
        let mut findings = Vec::new();
        if broken > 0 || !outcome.errors.is_empty() {
            let mut f = Finding::bug(
                race::PATTERN,
                if broken > 0 {
                    format!(
                        "{broken}/{} trials broke the {} on the real server",
                        outcome.trials,
                        if self.invariant.is_empty() {
                            "results check"
                        } else {
                            "invariant"
                        }
                    )
                } else {
                    format!(
                        "{} concurrent bodies failed with errors on the real server",
                        outcome.errors.len()
                    )
                },
            );
            f.scenario = scenario.clone();
            for (trial, rows) in outcome.violations.iter().take(6) {
                f.evidence
                    .push(format!("trial {trial}: {}", rows.join("; ")));
            }
            for e in outcome.errors.iter().take(4) {
                f.evidence.push(e.clone());
            }
            if !self.invariant.is_empty() {
                f.evidence.push(format!(
                    "invariant (rows are violations): {}",
                    self.invariant
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            if self.results.is_some() {
                f.evidence
                    .push("the results check judged what each body returned".into());
            }
            f.fix = "do the check and the act in one transaction that locks what it read (`SELECT … FOR UPDATE`), and let a unique constraint decide (`INSERT … ON CONFLICT DO NOTHING`)".into();
            findings.push(f);
        }
        Report {
            charts: Vec::new(),
            scenario: format!("race (real PostgreSQL): {scenario}"),
            seeds: Vec::new(),
            findings,
            key_figure: format!(
                "{broken}/{} trials broke the invariant, {} error(s)",
                outcome.trials,
                outcome.errors.len()
            ),
            figures: vec![
                ("trials".into(), outcome.trials.to_string()),
                ("broken".into(), broken.to_string()),
                ("errors".into(), outcome.errors.len().to_string()),
            ],
            wall_time: began.elapsed(),
        }
    }

    async fn trials_on<B, Fut, E>(&self, url: String, body: B) -> Result<Outcome, Failure>
    where
        B: Fn(PgConn) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display + 'static,
    {
        let admin = connect(&url).await.map_err(Failure::Unreachable)?;
        let schema = TempSchema::create(&admin, &url)
            .await
            .map_err(|e| Failure::Setup(e.to_string()))?;
        let outcome = self.trials_in(&url, &admin, &schema, body).await;
        let dropped = schema.drop_with(&admin).await;
        let outcome = outcome?;
        dropped.map_err(|e| Failure::Setup(format!("dropping the schema: {e}")))?;
        Ok(outcome)
    }

    async fn trials_in<B, Fut, E>(
        &self,
        url: &str,
        admin: &Client,
        temp: &TempSchema,
        body: B,
    ) -> Result<Outcome, Failure>
    where
        B: Fn(PgConn) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display + 'static,
    {
        let setup_err = |what: &str, e: tokio_postgres::Error| {
            Failure::Setup(format!("{what}: {}", describe_pg_error(&e)))
        };
        let schema = temp.name();
        let path = format!("SET search_path TO {schema}");
        admin
            .batch_execute(&path)
            .await
            .map_err(|e| setup_err("search_path", e))?;
        if !self.setup.is_empty() {
            admin
                .batch_execute(&self.setup)
                .await
                .map_err(|e| setup_err("setup", e))?;
        }
        let path = &path;
        let session = |c: Client| async move {
            c.batch_execute(path)
                .await
                .map_err(|e| setup_err("search_path", e))?;
            let pid: i32 = c
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .map_err(|e| setup_err("pg_backend_pid", e))?
                .get(0);
            temp.add_session(pid);
            Ok::<Client, Failure>(c)
        };
        let mut homes = Vec::new();
        for _ in 0..self.connections {
            let c = connect(url).await.map_err(Failure::Unreachable)?;
            let c = session(c).await?;
            homes.push(Arc::new(parking_lot::Mutex::new(Some(c))));
        }
        let mut outcome = Outcome {
            trials: self.trials,
            ..Outcome::default()
        };
        for trial in 0..self.trials {
            // Each connection back from the last trial, rolled back and reset; one the body
            // kept (moved into a task still running) or broke is replaced.
            for home in &homes {
                let back = home.lock().take();
                let reset = match back {
                    Some(c) if !c.is_closed() => match c.batch_execute(RESET_SESSION).await {
                        Ok(()) => Some(c),
                        Err(_) => None,
                    },
                    _ => None,
                };
                let c = match reset {
                    Some(c) => c,
                    None => session(connect(url).await.map_err(Failure::Unreachable)?).await?,
                };
                c.batch_execute(path)
                    .await
                    .map_err(|e| setup_err("search_path", e))?;
                *home.lock() = Some(c);
            }
            if !self.reset.is_empty() {
                admin
                    .batch_execute(&self.reset)
                    .await
                    .map_err(|e| setup_err("reset", e))?;
            }
            let barrier = tokio::sync::Barrier::new(homes.len());
            let runs = homes.iter().enumerate().map(|(worker, home)| {
                let conn = PgConn {
                    client: home.lock().take(),
                    home: home.clone(),
                    worker,
                    trial,
                    schema: schema.to_string(),
                };
                let barrier = &barrier;
                let body = &body;
                async move {
                    barrier.wait().await;
                    body(conn).await.map_err(|e| describe_body_error(&e))
                }
            });
            let results: Vec<BodyResult> = futures::future::join_all(runs).await;
            match &self.results {
                Some(check) => {
                    if let Err(why) = check(&results) {
                        let shown = results
                            .iter()
                            .enumerate()
                            .map(|(w, r)| match r {
                                Ok(()) => format!("connection {w}: ok"),
                                Err(e) => format!("connection {w}: {e}"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        outcome
                            .violations
                            .push((trial, vec![format!("{why} ({shown})")]));
                    }
                }
                None => {
                    for (worker, r) in results.iter().enumerate() {
                        if let Err(e) = r {
                            outcome
                                .errors
                                .push(format!("trial {trial}, connection {worker}: {e}"));
                        }
                    }
                }
            }
            if !self.invariant.is_empty() {
                let rows = admin
                    .simple_query(&self.invariant)
                    .await
                    .map_err(|e| setup_err("invariant", e))?;
                let shown: Vec<String> = rows
                    .iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(
                            (0..r.len())
                                .map(|i| {
                                    format!(
                                        "{}={}",
                                        r.columns()[i].name(),
                                        r.get(i).unwrap_or("NULL")
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        _ => None,
                    })
                    .collect();
                if !shown.is_empty() {
                    outcome.violations.push((trial, shown));
                }
            }
        }
        Ok(outcome)
    }
}

/// What the harness runs on a connection a body gave back: whatever it left open rolled back,
/// its session settings, advisory locks and temporary tables gone (the schema is set again).
const RESET_SESSION: &str = "ROLLBACK; RESET ALL; SELECT pg_advisory_unlock_all(); DISCARD TEMP";

#[derive(Debug, Default)]
struct Outcome {
    trials: u32,
    violations: Vec<(u32, Vec<String>)>,
    errors: Vec<String>,
}

enum Failure {
    Unreachable(Unreachable),
    Setup(String),
}

/// A database error with the server's message, not only "db error".
pub fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// The pool type the watch uses: a deadpool-postgres pool behind a [`PoolWatch`].
pub type WatchedPgPool = WatchedDeadpool<deadpool_postgres::Manager>;

/// Builds a deadpool-postgres pool of at most `max_size` connections to `url`, with a wait
/// timeout (a leaked pool then fails acquires instead of hanging them).
pub fn pool(
    url: &str,
    max_size: usize,
    wait: Duration,
) -> Result<deadpool_postgres::Pool, Unreachable> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| unreachable(url, e))?;
    let manager = deadpool_postgres::Manager::new(config, NoTls);
    deadpool_postgres::Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(Duration::from_secs(3)))
        .build()
        .map_err(|e| unreachable(url, e))
}

/// Real-time clients against a real deadpool-postgres pool, watched for leaks (builder).
#[derive(Clone, Debug)]
pub struct PgPoolWatch {
    clients: u32,
    max_size: usize,
    wait: Duration,
    limit: Duration,
    url: Option<SecretUrl>,
}

impl Default for PgPoolWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl PgPoolWatch {
    /// 8 clients, pool of 4, 500 ms wait timeout, 20 s limit.
    pub fn new() -> Self {
        PgPoolWatch {
            clients: 8,
            max_size: 4,
            wait: Duration::from_millis(500),
            limit: realtime::DEFAULT_LIMIT,
            url: None,
        }
    }

    /// Clients, each running the handler once, all at once.
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients;
        self
    }

    /// The pool's largest size.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size.max(1);
        self
    }

    /// How long an acquire waits before failing.
    pub fn wait_timeout(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Wall-clock limit.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The server, instead of `WHATBREAKS_PG_URL` (its password never shows: see
    /// [`SecretUrl`]).
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(SecretUrl::new(url));
        self
    }

    /// Runs the clients and reports leaked guards; never panics.
    pub fn run<B, Fut>(&self, handler: B) -> Report
    where
        B: Fn(WatchedPgPool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let began = Instant::now();
        let scenario = format!(
            "{} real-time clients at once, deadpool-postgres pool of max size {}, wait timeout {}, real time (no seed)",
            self.clients,
            self.max_size,
            format_duration(self.wait)
        );
        let url = match realtime::server_url(self.url.as_ref(), URL_VAR, DEFAULT_URL, &scenario) {
            Ok(url) => url,
            Err(report) => return *report,
        };
        let u = url.clone();
        let sc = scenario.clone();
        let this = self.clone();
        let r = realtime::block_on(self.limit, move || async move {
            // Fail fast, in one line, when the server is not there.
            connect(&u).await?;
            let pool = WatchedDeadpool::new(pool(&u, this.max_size, this.wait)?);
            let clients = (0..this.clients).map(|id| {
                let pool = pool.clone();
                let h = &handler;
                async move {
                    sim::as_client(id, 0, h(pool.clone())).await;
                    pool.watch().client_done(id);
                }
            });
            // The clients are bounded by the pool's wait timeout; this bounds the rest.
            let _ = tokio::time::timeout(
                this.limit.saturating_sub(Duration::from_secs(1)),
                futures::future::join_all(clients),
            )
            .await;
            let watch: &PoolWatch = pool.watch();
            watch.freeze();
            let status = pool.status();
            Ok::<_, Unreachable>((watch.findings(&status, &sc), watch.checkouts(), status))
        });
        let (findings, checkouts, status) = match r {
            Ok(Ok(v)) => v,
            Ok(Err(u)) => return unreachable_report(&u, &scenario),
            Err(e) => {
                return Report::stopped(scenario.clone(), e.finding(&scenario));
            }
        };
        Report {
            charts: Vec::new(),
            scenario: format!("pool watch (real PostgreSQL): {scenario}"),
            seeds: Vec::new(),
            key_figure: if findings.iter().any(|f| f.pattern == LEAK) {
                format!("leaked guards; {status}")
            } else {
                format!("{checkouts} checkouts, all returned; {status}")
            },
            figures: vec![("checkouts".into(), checkouts.to_string())],
            findings,
            wall_time: began.elapsed(),
        }
    }
}

/// A session-level advisory lock on its own connection (`pg_try_advisory_lock`).
#[derive(Debug)]
pub struct AdvisoryLock {
    client: Client,
    key: i64,
}

impl AdvisoryLock {
    /// Opens a session for lock `key`.
    pub async fn open(url: &str, key: i64) -> Result<Self, Unreachable> {
        Ok(AdvisoryLock {
            client: connect(url).await?,
            key,
        })
    }

    /// Takes the lock if nobody holds it; true when this session holds it now.
    pub async fn try_lock(&self) -> Result<bool, tokio_postgres::Error> {
        let row = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.key])
            .await?;
        Ok(row.get(0))
    }

    /// Gives the lock back; true when this session held it.
    pub async fn unlock(&self) -> Result<bool, tokio_postgres::Error> {
        let row = self
            .client
            .query_one("SELECT pg_advisory_unlock($1)", &[&self.key])
            .await?;
        Ok(row.get(0))
    }

    /// The session, for queries that must run while the lock is held.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
