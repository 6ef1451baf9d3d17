//! Connection pools: exhaustion, leaks, starvation and pool deadlock, on virtual time.
//!
//! # `SimPool`
//! [`SimPool`] is a database connection pool on the virtual clock: `size` connections, an
//! optional acquire timeout (`None` waits forever, the default of deadpool), and connections
//! whose [`query`](PooledConn::query) takes a seeded latency and fails, hangs or runs slow at
//! configured rates. [`SimPool::get`] returns an RAII guard ([`PooledConn`]) that gives the
//! connection back when dropped; [`SimPool::connect`] is the node-postgres style manual
//! checkout ([`ManualConn`]) whose connection goes back only on `release()`.
//!
//! Every checkout is recorded with its site (the caller's `file:line`, through
//! `#[track_caller]`), its client and its time; every acquire with its wait (in an
//! hdrhistogram); and the pool's occupancy over time (in use, idle, waiting).
//!
//! # What is flagged, and the metrics
//! - **connection leak** ([`LEAK`]): a connection still checked out when its client has
//!   finished (a guard passed to `mem::forget`, a manual checkout dropped without `release()`,
//!   for example because `?` returned early). Reported with the checkout sites.
//! - **pool deadlock** ([`DEADLOCK`]): at some instant every connection is held by a task
//!   that is itself waiting to acquire from the same pool (nested acquires), or by a checkout
//!   that can never come back. Reported at once with the holders, their checkout sites and the
//!   sites where they wait. Without acquire timeouts the run is stopped right there instead of
//!   hanging; with timeouts the deadlock is still flagged (only the timeouts break it).
//!   Tasks are told apart by their client ([`sim::current_client`]): a connection held by a
//!   client counts as blocked when that same client waits to acquire. Work outside a client
//!   (set-up code, tasks spawned with `tokio::spawn`) is never counted as waiting.
//! - **acquire waits forever** ([`WAITS_FOREVER`]): the run ended with acquires that have no
//!   timeout still waiting on a pool whose connections will never come back (leaked, or lost
//!   in queries that hang). Leaks end the run at once; hung queries are only known to be
//!   forever when the virtual-time limit is reached (the query might sit under a timeout).
//! - **pool starvation** ([`STARVATION`]): acquires that waited longer than `max_wait`
//!   (default 1 s) or timed out, with the p50 / p99 / max acquire wait. Not reported when a
//!   leak or deadlock above already explains the waits.
//! - **connection held across slow work** ([`HELD_ACROSS_SLOW_WORK`]): alongside starvation,
//!   checkouts that held their connection for at least `slow_hold` (default 100 ms) more than
//!   their queries took: the connection sat idle across non-database work (an upstream call)
//!   while other clients waited. Reported per site as holding time vs. query time.
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks_core::pool::{PoolTest, SimPool};
//!
//! // Holds the connection across a 2 s call to another service: 4 connections, 40 clients.
//! let report = PoolTest::new().size(4).clients(40).seed(1).run(|pool: SimPool| async move {
//!     let conn = pool.get().await.unwrap();
//!     conn.query("SELECT 1").await.ok();
//!     tokio::time::sleep(Duration::from_secs(2)).await; // the slow upstream
//!     conn.query("UPDATE orders SET paid = true").await.ok();
//! });
//! assert!(report.flagged("pool starvation"));
//! assert!(report.flagged("connection held across slow work"));
//! ```

use crate::config::Settings;
use crate::report::{Finding, Report};
use crate::scenario::{SeedResult, harness_findings, run_seeds};
use crate::sim::{self, Arrivals, ClientId, RunEnd, RunLimits};
use crate::spec::format_duration;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::RngExt;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Pattern name: connections still checked out when their client finished.
pub const LEAK: &str = "connection leak";
/// Pattern name: acquires that waited past `max_wait` or timed out.
pub const STARVATION: &str = "pool starvation";
/// Pattern name: every connection held by a task that waits to acquire.
pub const DEADLOCK: &str = "pool deadlock";
/// Pattern name: acquires without a timeout on a pool whose connections never come back.
pub const WAITS_FOREVER: &str = "acquire waits forever";
/// Pattern name: connections held across slow non-database work while others starve.
pub const HELD_ACROSS_SLOW_WORK: &str = "connection held across slow work";

/// An acquire timeout that may be absent (`None` waits forever).
///
/// Built from a [`Duration`], an `Option<Duration>`, or a string (`"1s"`, `"none"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireTimeout(Result<Option<Duration>, String>);

impl From<Duration> for AcquireTimeout {
    fn from(d: Duration) -> Self {
        AcquireTimeout(Ok(Some(d)))
    }
}

impl From<Option<Duration>> for AcquireTimeout {
    fn from(d: Option<Duration>) -> Self {
        AcquireTimeout(Ok(d))
    }
}

impl From<&str> for AcquireTimeout {
    fn from(text: &str) -> Self {
        AcquireTimeout(crate::spec::parse_timeout(text))
    }
}

/// How a [`SimPool`] and its connections behave.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Connections in the pool.
    pub size: usize,
    /// How long an acquire waits before failing; `None` waits forever.
    pub acquire_timeout: Option<Duration>,
    /// Typical query latency (each query draws from 0.5x..1.5x of it).
    pub latency: Duration,
    /// Share of queries that fail (after their latency).
    pub error_rate: f64,
    /// Share of queries that never return: the connection is lost.
    pub hang_rate: f64,
    /// Share of queries that take `slow_latency`.
    pub slow_rate: f64,
    /// Latency of a slow query.
    pub slow_latency: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            size: 10,
            acquire_timeout: None,
            latency: Duration::from_millis(5),
            error_rate: 0.0,
            hang_rate: 0.0,
            slow_rate: 0.0,
            slow_latency: Duration::from_secs(1),
        }
    }
}

/// An error from the pool or from a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// No connection became free within the acquire timeout.
    AcquireTimeout {
        /// How long the acquire waited.
        waited: Duration,
    },
    /// The query failed (an injected error).
    Query {
        /// The query text.
        sql: String,
    },
    /// The query did not finish in time (returned by callers that put a timeout on queries).
    QueryTimeout,
}

impl QueryError {
    /// True for an acquire that timed out.
    pub fn is_acquire_timeout(&self) -> bool {
        matches!(self, QueryError::AcquireTimeout { .. })
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::AcquireTimeout { waited } => write!(
                f,
                "timed out after {} waiting for a pool connection",
                format_duration(*waited)
            ),
            QueryError::Query { sql } => write!(f, "query failed: {sql}"),
            QueryError::QueryTimeout => f.write_str("query timed out"),
        }
    }
}

impl std::error::Error for QueryError {}

/// The pool's occupancy at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Virtual time.
    pub at: Duration,
    /// Connections checked out.
    pub in_use: usize,
    /// Connections idle (the pool's size less `in_use`).
    pub idle: usize,
    /// Acquires waiting.
    pub waiting: usize,
}

/// Why a checked-out connection cannot come back by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Its holder waits to acquire another connection from the same pool, at this site.
    WaitingToAcquire {
        /// Where the holder waits.
        site: String,
    },
    /// Its holder finished (or dropped a manual checkout) without giving it back.
    Leaked,
}

/// A connection held when the pool could not make progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The connection.
    pub conn: u32,
    /// The client holding it.
    pub client: Option<ClientId>,
    /// Where it was checked out.
    pub site: String,
    /// When it was checked out.
    pub since: Duration,
    /// Why it cannot come back.
    pub blocked: Blocked,
}

/// An instant at which every connection was held by a checkout that cannot come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// When.
    pub at: Duration,
    /// The holders, by connection.
    pub holders: Vec<Holder>,
    /// Clients waiting to acquire at that instant (with their sites).
    pub waiters: Vec<(Option<ClientId>, String)>,
    /// True when no waiter involved has a timeout: nothing will ever change.
    pub forever: bool,
}

impl Stuck {
    /// True when some holder waits to acquire (a pool deadlock rather than pure leaks).
    pub fn is_deadlock(&self) -> bool {
        self.holders
            .iter()
            .any(|h| matches!(h.blocked, Blocked::WaitingToAcquire { .. }))
    }
}

/// A checkout still out when the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCheckout {
    /// The connection.
    pub conn: u32,
    /// The client that checked it out.
    pub client: Option<ClientId>,
    /// Where.
    pub site: String,
    /// When.
    pub at: Duration,
    /// `Some` when it was leaked, with how.
    pub leak: Option<&'static str>,
    /// True when its holder was stuck in a query that never returned.
    pub hung: bool,
}

/// One finished checkout: how long the connection was held and how much of it was queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// Where it was checked out.
    pub site: String,
    /// Held from checkout to release.
    pub held: Duration,
    /// Time spent inside queries.
    pub queries: Duration,
}

/// One acquire that waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The client.
    pub client: Option<ClientId>,
    /// Where it acquired.
    pub site: String,
    /// When it started waiting.
    pub since: Duration,
    /// How long it waited.
    pub waited: Duration,
    /// How it ended.
    pub outcome: WaitOutcome,
}

/// How a waiting acquire ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// It got a connection.
    Acquired,
    /// The acquire timeout fired.
    TimedOut,
    /// The caller dropped the acquire (its own timeout, a `select!`).
    Cancelled,
    /// Still waiting when the run ended.
    StillWaiting,
}

/// Counters and the acquire-wait distribution of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections in the pool.
    pub size: usize,
    /// Connections checked out now.
    pub in_use: usize,
    /// Connections idle now.
    pub idle: usize,
    /// Acquires waiting now.
    pub waiting: usize,
    /// Acquires started.
    pub acquires: u64,
    /// Acquires that timed out.
    pub timeouts: u64,
    /// Queries run.
    pub queries: u64,
    /// Queries that failed.
    pub query_errors: u64,
    /// Queries that never returned.
    pub hung_queries: u64,
    /// Broken connections replaced (a query dropped mid-flight).
    pub replaced: u64,
    /// Most connections in use at once.
    pub peak_in_use: usize,
    /// Most acquires waiting at once.
    pub peak_waiting: usize,
    /// Median acquire wait.
    pub wait_p50: Duration,
    /// 99th percentile acquire wait.
    pub wait_p99: Duration,
    /// Longest acquire wait.
    pub wait_max: Duration,
}

struct Checkout {
    conn: u32,
    owner: Option<ClientId>,
    site: &'static Location<'static>,
    at: Duration,
    queries: Duration,
    query_since: Option<Duration>,
    hung: bool,
    broken: bool,
    leak: Option<&'static str>,
}

struct Waiter {
    owner: Option<ClientId>,
    site: &'static Location<'static>,
    since: Duration,
    timeout: Option<Duration>,
}

struct State {
    next_conn: u32,
    idle: Vec<u32>,
    checkouts: BTreeMap<u64, Checkout>,
    next_id: u64,
    waiters: BTreeMap<u64, Waiter>,
    done: BTreeSet<ClientId>,
    timeline: Vec<Sample>,
    waits_hist: Histogram<u64>,
    waits: Vec<Wait>,
    holds: Vec<Hold>,
    stuck: Vec<Stuck>,
    open_at_end: Vec<OpenCheckout>,
    frozen: bool,
    acquires: u64,
    timeouts: u64,
    queries: u64,
    query_errors: u64,
    hung_queries: u64,
    replaced: u64,
    trace: u64,
}

struct Inner {
    name: String,
    config: PoolConfig,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
    stuck_forever: Notify,
}

/// A simulated connection pool on virtual time. Cheap to clone (clones share the pool).
///
/// See the [module docs](self) for what it records and what is flagged.
#[derive(Clone)]
pub struct SimPool {
    inner: Arc<Inner>,
}

impl fmt::Debug for SimPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimPool")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// `file:line` of a site, with `dir/../` collapsed (files included through `#[path]`).
fn site(l: &Location<'_>) -> String {
    let file = l.file();
    if !file.contains("..") {
        return format!("{file}:{}", l.line());
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in file.split('/') {
        match part {
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("{}:{}", parts.join("/"), l.line())
}

fn mix(h: u64, v: u64) -> u64 {
    crate::config::splitmix64(h ^ v)
}

impl State {
    fn sample(&mut self, size: usize) {
        if self.frozen {
            return;
        }
        let at = sim::now();
        let s = Sample {
            at,
            in_use: size - self.idle.len().min(size),
            idle: self.idle.len(),
            waiting: self.waiters.len(),
        };
        self.trace = mix(
            self.trace,
            (at.as_millis() as u64) << 32 | (s.in_use as u64) << 16 | s.waiting as u64,
        );
        match self.timeline.last_mut() {
            Some(last) if last.at == at => *last = s,
            _ => self.timeline.push(s),
        }
    }

    fn record_wait(&mut self, w: Waiter, outcome: WaitOutcome) {
        let waited = sim::now().saturating_sub(w.since);
        self.waits_hist.saturating_record(waited.as_millis() as u64);
        self.waits.push(Wait {
            client: w.owner,
            site: site(w.site),
            since: w.since,
            waited,
            outcome,
        });
    }

    /// Checks whether every connection is held by a checkout that cannot come back while
    /// someone waits. Returns true when nothing will ever change (the run should stop).
    fn check_stuck(&mut self, size: usize) -> bool {
        if self.frozen || self.waiters.is_empty() || !self.idle.is_empty() {
            return false;
        }
        if self.checkouts.len() < size {
            return false;
        }
        let waiting: BTreeMap<ClientId, (&Waiter, u64)> = self
            .waiters
            .iter()
            .filter_map(|(id, w)| w.owner.map(|o| (o, (w, *id))))
            .collect();
        let mut holders = Vec::new();
        let mut forever = true;
        for c in self.checkouts.values() {
            let leaked = c.leak.is_some() || c.owner.is_some_and(|o| self.done.contains(&o));
            let blocked = if leaked {
                Blocked::Leaked
            } else if let Some((w, _)) = c.owner.and_then(|o| waiting.get(&o)) {
                if w.timeout.is_some() {
                    forever = false;
                }
                Blocked::WaitingToAcquire { site: site(w.site) }
            } else {
                return false;
            };
            holders.push(Holder {
                conn: c.conn,
                client: c.owner,
                site: site(c.site),
                since: c.at,
                blocked,
            });
        }
        holders.sort_by_key(|h| h.conn);
        let stuck = Stuck {
            at: sim::now(),
            holders,
            waiters: self
                .waiters
                .values()
                .map(|w| (w.owner, site(w.site)))
                .collect(),
            forever: forever && self.waiters.values().any(|w| w.timeout.is_none()),
        };
        let forever = stuck.forever;
        let new_kind = self
            .stuck
            .last()
            .is_none_or(|s| s.is_deadlock() != stuck.is_deadlock());
        if new_kind && self.stuck.len() < 8 {
            self.stuck.push(stuck);
        }
        forever
    }
}

impl SimPool {
    /// A pool with this configuration; `name` appears in messages.
    pub fn new(name: impl Into<String>, config: PoolConfig) -> Self {
        let size = config.size.max(1);
        let config = PoolConfig { size, ..config };
        SimPool {
            inner: Arc::new(Inner {
                name: name.into(),
                permits: Arc::new(Semaphore::new(size)),
                state: Mutex::new(State {
                    next_conn: size as u32,
                    idle: (0..size as u32).rev().collect(),
                    checkouts: BTreeMap::new(),
                    next_id: 0,
                    waiters: BTreeMap::new(),
                    done: BTreeSet::new(),
                    timeline: Vec::new(),
                    // Milliseconds, up to a year of virtual time.
                    waits_hist: Histogram::new_with_bounds(1, 365 * 86_400_000, 3)
                        .expect("[whatbreaks internal bug] hdrhistogram bounds"),
                    waits: Vec::new(),
                    holds: Vec::new(),
                    stuck: Vec::new(),
                    open_at_end: Vec::new(),
                    frozen: false,
                    acquires: 0,
                    timeouts: 0,
                    queries: 0,
                    query_errors: 0,
                    hung_queries: 0,
                    replaced: 0,
                    trace: 0,
                }),
                config,
                stuck_forever: Notify::new(),
            }),
        }
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// Checks out a connection, waiting up to the acquire timeout (forever when none).
    ///
    /// The returned guard gives the connection back when dropped. The caller's `file:line`
    /// is recorded as the checkout site.
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<PooledConn, QueryError>> + Send + 'static {
        let at = Location::caller();
        let pool = self.clone();
        async move {
            let core = pool.acquire(at).await?;
            Ok(PooledConn { core })
        }
    }

    /// Checks out a connection that goes back only when [`ManualConn::release`] is called,
    /// like node-postgres' `pool.connect()` / `client.release()`.
    ///
    /// Dropping it without `release()` leaks the connection (the pool never sees it again),
    /// which is what happens when `?` returns before the release line.
    #[track_caller]
    pub fn connect(&self) -> impl Future<Output = Result<ManualConn, QueryError>> + Send + 'static {
        let at = Location::caller();
        let pool = self.clone();
        async move {
            let core = pool.acquire(at).await?;
            Ok(ManualConn { core: Some(core) })
        }
    }

    async fn acquire(self, at: &'static Location<'static>) -> Result<ConnCore, QueryError> {
        let size = self.inner.config.size;
        let owner = sim::current_client();
        sim::touch();
        let permit = match self.inner.permits.clone().try_acquire_owned() {
            Ok(p) => {
                let mut st = self.inner.state.lock();
                st.acquires += 1;
                st.waits_hist.saturating_record(0);
                p
            }
            Err(_) => {
                let timeout = self.inner.config.acquire_timeout;
                let id = {
                    let mut st = self.inner.state.lock();
                    st.acquires += 1;
                    let id = st.next_id;
                    st.next_id += 1;
                    st.waiters.insert(
                        id,
                        Waiter {
                            owner,
                            site: at,
                            since: sim::now(),
                            timeout,
                        },
                    );
                    st.sample(size);
                    let forever = st.check_stuck(size);
                    drop(st);
                    tracing::debug!(
                        target: "whatbreaks",
                        t_ms = sim::ms(sim::now()),
                        client = owner,
                        site = %at,
                        "pool acquire waits: no idle connection"
                    );
                    if forever {
                        self.inner.stuck_forever.notify_one();
                    }
                    id
                };
                let mut waiting = WaitingGuard {
                    pool: &self,
                    id,
                    outcome: WaitOutcome::Cancelled,
                };
                let acquire = self.inner.permits.clone().acquire_owned();
                let permit = match timeout {
                    Some(t) => tokio::time::timeout(t, acquire).await.ok(),
                    None => Some(acquire.await),
                };
                match permit {
                    Some(Ok(p)) => {
                        waiting.outcome = WaitOutcome::Acquired;
                        drop(waiting);
                        p
                    }
                    _ => {
                        waiting.outcome = WaitOutcome::TimedOut;
                        drop(waiting);
                        let waited = timeout.unwrap_or_default();
                        tracing::debug!(
                            target: "whatbreaks",
                            t_ms = sim::ms(sim::now()),
                            client = owner,
                            site = %at,
                            waited_ms = sim::ms(waited),
                            "pool acquire timed out"
                        );
                        return Err(QueryError::AcquireTimeout { waited });
                    }
                }
            }
        };
        let mut st = self.inner.state.lock();
        let conn = match st.idle.pop() {
            Some(c) => c,
            None => {
                // Cannot happen (one permit per idle connection); stay usable regardless.
                st.next_conn += 1;
                st.next_conn - 1
            }
        };
        let id = st.next_id;
        st.next_id += 1;
        let now = sim::now();
        st.checkouts.insert(
            id,
            Checkout {
                conn,
                owner,
                site: at,
                at: now,
                queries: Duration::ZERO,
                query_since: None,
                hung: false,
                broken: false,
                leak: None,
            },
        );
        st.trace = mix(st.trace, u64::from(conn) << 32 | u64::from(at.line()));
        st.sample(size);
        drop(st);
        tracing::debug!(
            target: "whatbreaks",
            t_ms = sim::ms(now),
            client = owner,
            conn,
            site = %at,
            "pool acquire"
        );
        Ok(ConnCore {
            pool: self.clone(),
            id,
            conn,
            permit: Some(permit),
        })
    }

    fn release(&self, id: u64, permit: Option<OwnedSemaphorePermit>) {
        let size = self.inner.config.size;
        let mut st = self.inner.state.lock();
        if st.frozen {
            return;
        }
        if let Some(c) = st.checkouts.remove(&id) {
            let conn = if c.broken {
                st.replaced += 1;
                st.next_conn += 1;
                st.next_conn - 1
            } else {
                c.conn
            };
            st.idle.push(conn);
            st.holds.push(Hold {
                site: site(c.site),
                held: sim::now().saturating_sub(c.at),
                queries: c.queries,
            });
            st.sample(size);
        }
        drop(st);
        sim::touch();
        drop(permit);
    }

    fn leak(&self, id: u64, how: &'static str) {
        let size = self.inner.config.size;
        let mut st = self.inner.state.lock();
        if let Some(c) = st.checkouts.get_mut(&id) {
            c.leak = Some(how);
        }
        let forever = st.check_stuck(size);
        drop(st);
        if forever {
            self.inner.stuck_forever.notify_one();
        }
    }

    /// Records that a client finished: connections it still holds are leaked.
    ///
    /// [`PoolTest`] calls this after each client's body; call it yourself when you drive a
    /// `SimPool` from your own simulation.
    pub fn client_done(&self, client: ClientId) {
        let size = self.inner.config.size;
        let mut st = self.inner.state.lock();
        if st.frozen {
            return;
        }
        st.done.insert(client);
        for c in st.checkouts.values_mut() {
            if c.owner == Some(client) && c.leak.is_none() {
                c.leak = Some(
                    "guard never dropped (mem::forget, or moved into something that outlived the request)",
                );
            }
        }
        let forever = st.check_stuck(size);
        drop(st);
        if forever {
            self.inner.stuck_forever.notify_one();
        }
    }

    /// Completes when the pool can never make progress again: every connection is held by a
    /// checkout that cannot come back and some acquire waits without a timeout.
    pub async fn stuck_forever(&self) {
        self.inner.stuck_forever.notified().await
    }

    /// Stops recording (at the end of a run): what is still checked out or waiting is kept
    /// as the final state, and later releases (tasks dropped at shutdown) are ignored.
    pub fn freeze(&self) {
        let size = self.inner.config.size;
        let mut st = self.inner.state.lock();
        if st.frozen {
            return;
        }
        // Only a change gets a final sample: the picture ends at the last change.
        let changed = st.timeline.last().is_none_or(|l| {
            (l.in_use, l.waiting) != (size - st.idle.len().min(size), st.waiters.len())
        });
        if changed {
            st.sample(size);
        }
        let waiters: Vec<Waiter> = std::mem::take(&mut st.waiters).into_values().collect();
        for w in waiters {
            st.record_wait(w, WaitOutcome::StillWaiting);
        }
        let done = st.done.clone();
        st.open_at_end = st
            .checkouts
            .values()
            .map(|c| OpenCheckout {
                conn: c.conn,
                client: c.owner,
                site: site(c.site),
                at: c.at,
                leak: c.leak.or_else(|| {
                    c.owner
                        .filter(|o| done.contains(o))
                        .map(|_| "guard never dropped")
                }),
                hung: c.hung,
            })
            .collect();
        st.frozen = true;
    }

    /// Counters and acquire-wait percentiles now.
    pub fn stats(&self) -> PoolStats {
        let size = self.inner.config.size;
        let st = self.inner.state.lock();
        let in_use = st.checkouts.len().min(size);
        let q = |p: f64| Duration::from_millis(st.waits_hist.value_at_quantile(p));
        PoolStats {
            size,
            in_use,
            idle: st.idle.len(),
            waiting: st.waiters.len(),
            acquires: st.acquires,
            timeouts: st.timeouts,
            queries: st.queries,
            query_errors: st.query_errors,
            hung_queries: st.hung_queries,
            replaced: st.replaced,
            peak_in_use: st.timeline.iter().map(|s| s.in_use).max().unwrap_or(0),
            peak_waiting: st.timeline.iter().map(|s| s.waiting).max().unwrap_or(0),
            wait_p50: q(0.5),
            wait_p99: q(0.99),
            wait_max: Duration::from_millis(st.waits_hist.max()),
        }
    }

    /// The occupancy over time: one sample per change (the last one per millisecond).
    pub fn timeline(&self) -> Vec<Sample> {
        self.inner.state.lock().timeline.clone()
    }

    /// Every acquire that had to wait, in order.
    pub fn waits(&self) -> Vec<Wait> {
        self.inner.state.lock().waits.clone()
    }

    /// Every finished checkout, in release order.
    pub fn holds(&self) -> Vec<Hold> {
        self.inner.state.lock().holds.clone()
    }

    /// The instants at which the pool could not make progress (at most a few are kept).
    pub fn stuck(&self) -> Vec<Stuck> {
        self.inner.state.lock().stuck.clone()
    }

    /// Checkouts still out when [`freeze`](Self::freeze) was called.
    pub fn open_at_end(&self) -> Vec<OpenCheckout> {
        self.inner.state.lock().open_at_end.clone()
    }

    /// A hash of the pool's whole history (checkouts and occupancy), to compare runs.
    pub fn trace_hash(&self) -> u64 {
        self.inner.state.lock().trace
    }

    /// A text picture of occupancy and waiting over time, one column per time bucket.
    pub fn picture(&self, max_columns: usize) -> String {
        occupancy_picture(&self.timeline(), self.inner.config.size, max_columns)
    }
}

struct WaitingGuard<'a> {
    pool: &'a SimPool,
    id: u64,
    outcome: WaitOutcome,
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let size = self.pool.inner.config.size;
        let mut st = self.pool.inner.state.lock();
        if st.frozen {
            return;
        }
        if let Some(w) = st.waiters.remove(&self.id) {
            if self.outcome == WaitOutcome::TimedOut {
                st.timeouts += 1;
            }
            st.record_wait(w, self.outcome);
            st.sample(size);
        }
    }
}

struct ConnCore {
    pool: SimPool,
    id: u64,
    conn: u32,
    permit: Option<OwnedSemaphorePermit>,
}

impl ConnCore {
    async fn query(&self, sql: &str) -> Result<(), QueryError> {
        let cfg = &self.pool.inner.config;
        let mut rng = sim::rng();
        let u: f64 = rng.random_range(0.0..1.0);
        let hang = u < cfg.hang_rate;
        let fail = !hang && u < cfg.hang_rate + cfg.error_rate;
        let slow = !hang && !fail && u < cfg.hang_rate + cfg.error_rate + cfg.slow_rate;
        let latency = if slow {
            cfg.slow_latency
        } else {
            let base = cfg.latency.as_millis() as u64;
            Duration::from_millis(rng.random_range(base / 2..=base + base / 2))
        };
        {
            let mut st = self.pool.inner.state.lock();
            st.queries += 1;
            if hang {
                st.hung_queries += 1;
            }
            if fail {
                st.query_errors += 1;
            }
            if let Some(c) = st.checkouts.get_mut(&self.id) {
                c.query_since = Some(sim::now());
                c.hung = hang;
            }
        }
        sim::touch();
        let mut running = QueryGuard {
            core: self,
            finished: false,
        };
        if hang {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(latency).await;
        running.finished = true;
        drop(running);
        sim::touch();
        if fail {
            Err(QueryError::Query {
                sql: sql.to_string(),
            })
        } else {
            Ok(())
        }
    }
}

struct QueryGuard<'a> {
    core: &'a ConnCore,
    finished: bool,
}

impl Drop for QueryGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.core.pool.inner.state.lock();
        if st.frozen {
            return;
        }
        let now = sim::now();
        if let Some(c) = st.checkouts.get_mut(&self.core.id) {
            if let Some(since) = c.query_since.take() {
                c.queries += now.saturating_sub(since);
            }
            c.hung = false;
            if !self.finished {
                // Dropped mid-query (a timeout): the connection's state is unknown.
                c.broken = true;
            }
        }
    }
}

/// A checked-out connection that goes back to the pool when dropped.
pub struct PooledConn {
    core: ConnCore,
}

impl PooledConn {
    /// Runs a query: seeded latency; may fail, hang forever or run slow at the pool's rates.
    ///
    /// Dropping the future before it finishes (a timeout) marks the connection broken; the
    /// pool replaces it when the guard is dropped.
    pub async fn query(&self, sql: &str) -> Result<(), QueryError> {
        self.core.query(sql).await
    }

    /// The connection's id.
    pub fn id(&self) -> u32 {
        self.core.conn
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let permit = self.core.permit.take();
        self.core.pool.release(self.core.id, permit);
    }
}

impl fmt::Debug for PooledConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConn")
            .field("conn", &self.core.conn)
            .finish()
    }
}

/// A manually released connection (see [`SimPool::connect`]).
pub struct ManualConn {
    core: Option<ConnCore>,
}

impl ManualConn {
    /// Runs a query (see [`PooledConn::query`]).
    pub async fn query(&self, sql: &str) -> Result<(), QueryError> {
        match &self.core {
            Some(core) => core.query(sql).await,
            None => Err(QueryError::Query {
                sql: sql.to_string(),
            }),
        }
    }

    /// Gives the connection back to the pool.
    pub fn release(mut self) {
        if let Some(mut core) = self.core.take() {
            let permit = core.permit.take();
            core.pool.release(core.id, permit);
        }
    }

    /// The connection's id.
    pub fn id(&self) -> u32 {
        self.core.as_ref().map_or(0, |c| c.conn)
    }
}

impl Drop for ManualConn {
    fn drop(&mut self) {
        if let Some(mut core) = self.core.take() {
            // Never released: the connection stays checked out for good.
            if let Some(permit) = core.permit.take() {
                permit.forget();
            }
            core.pool.leak(core.id, "dropped without release()");
        }
    }
}

impl fmt::Debug for ManualConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualConn")
            .field("conn", &self.id())
            .finish()
    }
}

/// A text picture of pool occupancy over time: in use (of `size`) and waiting, two rows.
pub fn occupancy_picture(timeline: &[Sample], size: usize, max_columns: usize) -> String {
    let Some(last) = timeline.last() else {
        return "(no activity)".into();
    };
    let span = last.at.as_millis() as u64 + 1;
    const WIDTHS: [u64; 15] = [
        1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000,
    ];
    let max_columns = max_columns.max(1);
    let width = WIDTHS
        .iter()
        .copied()
        .find(|w| span.div_ceil(*w) as usize <= max_columns)
        .unwrap_or(span.div_ceil(max_columns as u64));
    let columns = span.div_ceil(width) as usize;
    let mut in_use = vec![0usize; columns];
    let mut waiting = vec![0usize; columns];
    let mut current = (0usize, 0usize);
    let mut i = 0;
    for (col, (u, w)) in in_use.iter_mut().zip(waiting.iter_mut()).enumerate() {
        let end = (col as u64 + 1) * width;
        let (mut mu, mut mw) = current;
        while i < timeline.len() && (timeline[i].at.as_millis() as u64) < end {
            current = (timeline[i].in_use, timeline[i].waiting);
            mu = mu.max(current.0);
            mw = mw.max(current.1);
            i += 1;
        }
        *u = mu;
        *w = mw;
    }
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let row = |values: &[usize], top: usize| -> String {
        values
            .iter()
            .map(|&v| {
                if v == 0 {
                    '·'
                } else {
                    BARS[((v * 8).div_ceil(top.max(1)) - 1).min(7)]
                }
            })
            .collect()
    };
    let peak_wait = waiting.iter().copied().max().unwrap_or(0);
    format!(
        "in use   {}  peak {}/{size}\nwaiting  {}  peak {peak_wait}; 0s..{}, {} per column",
        row(&in_use, size),
        in_use.iter().copied().max().unwrap_or(0),
        row(&waiting, peak_wait),
        format_duration(Duration::from_millis(columns as u64 * width)),
        format_duration(Duration::from_millis(width)),
    )
}

/// A connection-pool scenario (builder). `#[pool_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct PoolTest {
    settings: Settings,
    config: PoolConfig,
    timeout: AcquireTimeout,
    clients: u32,
    window: Range<Duration>,
    max_wait: Duration,
    slow_hold: Duration,
    name: String,
}

crate::impl_common_settings!(PoolTest);

impl Default for PoolTest {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolTest {
    /// Pool size 10, 100 clients arriving over `0s..10s`, no acquire timeout, queries of
    /// 5 ms without faults, `max_wait` 1 s, `slow_hold` 100 ms.
    pub fn new() -> Self {
        PoolTest {
            settings: Settings::default(),
            config: PoolConfig::default(),
            timeout: AcquireTimeout(Ok(None)),
            clients: 100,
            window: Duration::ZERO..Duration::from_secs(10),
            max_wait: Duration::from_secs(1),
            slow_hold: Duration::from_millis(100),
            name: "db".into(),
        }
    }

    /// Connections in the pool (default 10).
    pub fn size(mut self, size: usize) -> Self {
        self.config.size = size.max(1);
        self
    }

    /// Clients, each running the body once (default 100).
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients;
        self
    }

    /// The window over which clients arrive, uniformly (default `0s..10s`).
    pub fn window(mut self, window: Range<Duration>) -> Self {
        self.window = window;
        self
    }

    /// Acquire timeout: a `Duration`, `None`, or `"1s"` / `"none"` (default none: forever).
    pub fn acquire_timeout(mut self, timeout: impl Into<AcquireTimeout>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Share of queries that fail (default 0).
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.config.error_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Share of queries that never return, losing their connection (default 0).
    pub fn hang_rate(mut self, rate: f64) -> Self {
        self.config.hang_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Share of queries that take `slow_latency` (default 0).
    pub fn slow_rate(mut self, rate: f64) -> Self {
        self.config.slow_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Latency of a slow query (default 1 s).
    pub fn slow_latency(mut self, latency: Duration) -> Self {
        self.config.slow_latency = latency;
        self
    }

    /// Typical query latency (default 5 ms; each query draws 0.5x..1.5x).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.config.latency = latency;
        self
    }

    /// Longest acceptable acquire wait (default 1 s): longer waits count as starvation.
    pub fn max_wait(mut self, bound: Duration) -> Self {
        self.max_wait = bound;
        self
    }

    /// Holding time beyond query time that counts as holding across slow work (default 100 ms).
    pub fn slow_hold(mut self, bound: Duration) -> Self {
        self.slow_hold = bound;
        self
    }

    /// The pool's name in messages (default `db`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn scenario(&self, timeout: Option<Duration>) -> String {
        let mut faults = Vec::new();
        for (label, rate) in [
            ("error rate", self.config.error_rate),
            ("hang rate", self.config.hang_rate),
            ("slow rate", self.config.slow_rate),
        ] {
            if rate > 0.0 {
                faults.push(format!("{label} {rate}"));
            }
        }
        format!(
            "{} clients over {}..{}, pool `{}` size {}, acquire timeout {}, queries {}{}",
            self.clients,
            format_duration(self.window.start),
            format_duration(self.window.end),
            self.name,
            self.config.size,
            timeout.map_or("none".to_string(), format_duration),
            format_duration(self.config.latency),
            if faults.is_empty() {
                String::new()
            } else {
                format!(", {}", faults.join(", "))
            }
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one client's work; it gets a handle to the shared pool.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(SimPool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        if let Err(e) = &self.timeout.0 {
            let mut f = Finding::bug("configuration", format!("invalid `acquire_timeout`: {e}"));
            f.kind = crate::report::FindingKind::Config;
            f.fix = "pass a duration such as \"1s\", or \"none\"".into();
            return Report {
                scenario: "pool".into(),
                findings: vec![f],
                ..Report::default()
            };
        }
        let body = Arc::new(body);
        run_seeds(&self.settings, "pool", |limits| {
            self.run_seed(limits, body.clone()).0
        })
    }

    /// Runs one seed; returns the result and the pool (for its timeline and trace hash).
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, SimPool)
    where
        B: Fn(SimPool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let timeout = self.timeout.0.clone().unwrap_or(None);
        let pool = SimPool::new(
            self.name.clone(),
            PoolConfig {
                acquire_timeout: timeout,
                ..self.config.clone()
            },
        );
        let span = self.window.end.saturating_sub(self.window.start);
        let start = self.window.start;
        let offsets: Vec<Duration> = if span.is_zero() {
            vec![start; self.clients as usize]
        } else {
            Arrivals::Uniform { over: span }
                .offsets(self.clients, limits.seed)
                .into_iter()
                .map(|d| d + start)
                .collect()
        };
        let p = pool.clone();
        // Freeze the pool just before the time limit, while the stuck tasks still exist.
        let freeze_at = limits.time_limit.saturating_sub(Duration::from_millis(1));
        let run = sim::simulate(limits, move || async move {
            let freezer = p.clone();
            let freeze = tokio::task::spawn_local(async move {
                tokio::time::sleep(freeze_at).await;
                freezer.freeze();
            });
            let clients = sim::run_clients(&offsets, |id| {
                let pool = p.clone();
                let body = body.clone();
                async move {
                    body(pool.clone()).await;
                    pool.client_done(id);
                }
            });
            let stuck = p.stuck_forever();
            futures::pin_mut!(clients, stuck);
            futures::future::select(clients, stuck).await;
            p.freeze();
            freeze.abort();
        });
        // A run cut short by the time limit or the watchdog never reached `freeze`.
        pool.freeze();
        let scenario = self.scenario(timeout);
        let analysis = PoolAnalysis::of(&pool, self.max_wait, self.slow_hold, &run.end);
        let mut findings = analysis.findings(&pool, &scenario, timeout, self.max_wait);
        findings.extend(harness_findings(&run, limits, &scenario));
        let stats = pool.stats();
        crate::scenario::warn_real_clock(
            "pool",
            run.virtual_elapsed,
            stats.acquires as usize,
            "acquire from the pool",
        );
        let result = SeedResult {
            findings,
            key_figure: analysis.key_figure(&stats, self.max_wait),
            figures: vec![
                ("size".into(), stats.size.to_string()),
                ("acquires".into(), stats.acquires.to_string()),
                ("peak in use".into(), stats.peak_in_use.to_string()),
                ("peak waiting".into(), stats.peak_waiting.to_string()),
                ("wait p50".into(), format_duration(stats.wait_p50)),
                ("wait p99".into(), format_duration(stats.wait_p99)),
                ("wait max".into(), format_duration(stats.wait_max)),
                ("timeouts".into(), stats.timeouts.to_string()),
                ("leaked".into(), analysis.leaked.len().to_string()),
                ("trace hash".into(), format!("{:#018x}", pool.trace_hash())),
            ],
            charts: vec![occupancy_chart(&pool, stats.size)],
        };
        (result, pool)
    }
}

/// Connections in use and acquires waiting over virtual time, with the pool's size marked.
fn occupancy_chart(pool: &SimPool, size: usize) -> crate::report::Chart {
    use crate::report::{Chart, ChartKind};
    let timeline = pool.timeline();
    let series = |f: fn(&Sample) -> usize| -> Vec<(f64, f64)> {
        timeline
            .iter()
            .map(|s| (s.at.as_secs_f64(), f(s) as f64))
            .collect()
    };
    Chart::new(
        format!("pool occupancy over virtual time (size {size})"),
        ChartKind::Step,
        "virtual time (s)",
        "connections / acquires",
    )
    .series("in use", series(|s| s.in_use))
    .series("waiting to acquire", series(|s| s.waiting))
}

/// Figures of one holding site: how long connections were held and how much was queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldSite {
    /// The checkout site.
    pub site: String,
    /// Checkouts from this site.
    pub checkouts: usize,
    /// Of which held at least `slow_hold` longer than their queries took.
    pub slow: usize,
    /// Median holding time.
    pub held_p50: Duration,
    /// Median time inside queries.
    pub queries_p50: Duration,
}

/// The analysis of one run of a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolAnalysis {
    /// Checkouts leaked (still out, their client finished or the guard was dropped unreleased).
    pub leaked: Vec<OpenCheckout>,
    /// The first instant every holder was waiting to acquire, if any.
    pub deadlock: Option<Stuck>,
    /// The first instant every connection was leaked while someone waited, if any.
    pub exhausted: Option<Stuck>,
    /// Acquires without a timeout still waiting at the end on a pool that cannot recover.
    pub forever: Vec<Wait>,
    /// Connections held by queries that never returned at the end.
    pub hung_at_end: Vec<OpenCheckout>,
    /// Acquires that waited longer than `max_wait` or timed out.
    pub starved: Vec<Wait>,
    /// Holding time vs. query time per checkout site (sites in order of first checkout).
    pub holds: Vec<HoldSite>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

impl PoolAnalysis {
    /// Analyses a frozen pool (see the module docs for the rules).
    pub fn of(pool: &SimPool, max_wait: Duration, slow_hold: Duration, end: &RunEnd) -> Self {
        let open = pool.open_at_end();
        let leaked: Vec<OpenCheckout> = open.iter().filter(|c| c.leak.is_some()).cloned().collect();
        let hung_at_end: Vec<OpenCheckout> = open.iter().filter(|c| c.hung).cloned().collect();
        let stuck = pool.stuck();
        let deadlock = stuck.iter().find(|s| s.is_deadlock()).cloned();
        let exhausted = stuck.iter().find(|s| !s.is_deadlock()).cloned();
        let waits = pool.waits();
        let size = pool.config().size;
        let no_timeout = pool.config().acquire_timeout.is_none();
        // Still waiting without a timeout, on a pool whose connections will never come back:
        // they were all leaked or lost, or the time limit passed with them hung in queries.
        let unrecoverable = leaked.len() + hung_at_end.len() >= size
            && (leaked.len() >= size || *end == RunEnd::TimeLimit || exhausted.is_some());
        let forever = if no_timeout && unrecoverable {
            waits
                .iter()
                .filter(|w| w.outcome == WaitOutcome::StillWaiting)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let starved = waits
            .iter()
            .filter(|w| w.waited > max_wait || w.outcome == WaitOutcome::TimedOut)
            .cloned()
            .collect();
        let mut by_site: BTreeMap<String, (usize, Vec<Duration>, Vec<Duration>, usize)> =
            BTreeMap::new();
        let mut order = Vec::new();
        for h in pool.holds() {
            let e = by_site.entry(h.site.clone()).or_insert_with(|| {
                order.push(h.site.clone());
                Default::default()
            });
            e.0 += 1;
            e.1.push(h.held);
            e.2.push(h.queries);
            if h.held.saturating_sub(h.queries) >= slow_hold {
                e.3 += 1;
            }
        }
        let holds = order
            .into_iter()
            .filter_map(|s| by_site.remove(&s).map(|e| (s, e)))
            .map(|(site, (checkouts, held, queries, slow))| HoldSite {
                site,
                checkouts,
                slow,
                held_p50: median(held),
                queries_p50: median(queries),
            })
            .collect();
        PoolAnalysis {
            leaked,
            deadlock,
            exhausted,
            forever,
            hung_at_end,
            starved,
            holds,
        }
    }

    /// True when any pool finding is raised.
    pub fn flagged(&self) -> bool {
        !self.leaked.is_empty()
            || self.deadlock.is_some()
            || !self.forever.is_empty()
            || !self.starved.is_empty()
    }

    /// The headline number.
    pub fn key_figure(&self, stats: &PoolStats, max_wait: Duration) -> String {
        if let Some(d) = &self.deadlock {
            return format!(
                "deadlock at t={}: {}/{} holders wait to acquire",
                format_duration(d.at),
                d.holders.len(),
                stats.size
            );
        }
        if !self.leaked.is_empty() {
            return format!(
                "{}/{} connections leaked",
                self.leaked.len().min(stats.size),
                stats.size
            );
        }
        if !self.forever.is_empty() {
            return format!(
                "{} acquires wait forever (no acquire timeout)",
                self.forever.len()
            );
        }
        if !self.starved.is_empty() {
            return format!(
                "{}/{} acquires waited > {} (p99 {})",
                self.starved.len(),
                stats.acquires,
                format_duration(max_wait),
                format_duration(stats.wait_p99)
            );
        }
        format!(
            "p99 acquire wait {}, peak {}/{} in use",
            format_duration(stats.wait_p99),
            stats.peak_in_use,
            stats.size
        )
    }

    fn findings(
        &self,
        pool: &SimPool,
        scenario: &str,
        timeout: Option<Duration>,
        max_wait: Duration,
    ) -> Vec<Finding> {
        let stats = pool.stats();
        let picture = Some(("pool".to_string(), pool.picture(60)));
        let client =
            |c: Option<ClientId>| c.map_or("a task".to_string(), |c| format!("client #{c}"));
        let mut out = Vec::new();
        if let Some(d) = &self.deadlock {
            let mut f = Finding::bug(
                DEADLOCK,
                "every connection is held by a task that is waiting to acquire another",
            );
            f.scenario = scenario.to_string();
            f.evidence.push(format!(
                "t={}: {}/{} connections held, {} acquire(s) waiting",
                format_duration(d.at),
                d.holders.len(),
                stats.size,
                d.waiters.len()
            ));
            for h in &d.holders {
                f.evidence.push(match &h.blocked {
                    Blocked::WaitingToAcquire { site } => format!(
                        "{} holds conn {} (checked out at {}, t={}) and waits at {}",
                        client(h.client),
                        h.conn,
                        h.site,
                        format_duration(h.since),
                        site
                    ),
                    Blocked::Leaked => format!(
                        "conn {} leaked by {} (checked out at {}, t={})",
                        h.conn,
                        client(h.client),
                        h.site,
                        format_duration(h.since)
                    ),
                });
            }
            f.evidence.push(if d.forever {
                "no acquire timeout: this wait is forever; the run was stopped here".into()
            } else {
                format!(
                    "only the acquire timeout ({}) breaks it, failing every waiter",
                    timeout.map_or("none".into(), format_duration)
                )
            });
            f.picture = picture.clone();
            f.fix = "acquire once per request and pass the connection (`&conn`) to helpers instead of acquiring again while holding one; a pool of size N deadlocks under N clients that each hold one and wait for another".into();
            out.push(f);
        }
        if !self.leaked.is_empty() {
            let mut f = Finding::bug(
                LEAK,
                format!(
                    "{} connection(s) never returned to the pool",
                    self.leaked.len()
                ),
            );
            f.scenario = scenario.to_string();
            let mut sites: BTreeMap<(String, &'static str), Vec<&OpenCheckout>> = BTreeMap::new();
            for c in &self.leaked {
                sites
                    .entry((c.site.clone(), c.leak.unwrap_or("leaked")))
                    .or_default()
                    .push(c);
            }
            for ((site, how), cs) in &sites {
                let clients: Vec<String> = cs
                    .iter()
                    .take(6)
                    .map(|c| c.client.map_or("?".into(), |id| format!("#{id}")))
                    .collect();
                f.evidence.push(format!(
                    "{} checkout(s) at {site} never returned: {how} (clients {}{}; first at t={})",
                    cs.len(),
                    clients.join(", "),
                    if cs.len() > 6 { ", …" } else { "" },
                    format_duration(cs.iter().map(|c| c.at).min().unwrap_or_default())
                ));
            }
            f.evidence.push(format!(
                "the pool shrank to {} usable connection(s) of {}; {} acquire(s) timed out, {} still waiting at the end",
                stats.size.saturating_sub(self.leaked.len()),
                stats.size,
                stats.timeouts,
                pool.waits().iter().filter(|w| w.outcome == WaitOutcome::StillWaiting).count()
            ));
            f.picture = picture.clone();
            f.fix = if self
                .leaked
                .iter()
                .any(|c| c.leak == Some("dropped without release()"))
            {
                "give the connection back on every path: use the RAII guard (`pool.get()`, returned on drop) or release before any `?`/early return (a scope guard, or a wrapper that releases in all branches)".into()
            } else {
                "let the guard drop: never `mem::forget` a pooled connection or store it where it outlives the request".into()
            };
            out.push(f);
        }
        if !self.forever.is_empty() && self.deadlock.is_none() {
            let mut f = Finding::bug(
                WAITS_FOREVER,
                format!(
                    "{} acquire(s) wait forever: the connections are lost and there is no acquire timeout",
                    self.forever.len()
                ),
            );
            f.scenario = scenario.to_string();
            f.evidence.push(format!(
                "{}/{} connections never come back: {} leaked, {} in queries that never returned",
                (self.leaked.len() + self.hung_at_end.len()).min(stats.size),
                stats.size,
                self.leaked.len(),
                self.hung_at_end.len()
            ));
            for c in self.hung_at_end.iter().take(4) {
                f.evidence.push(format!(
                    "conn {} lost in a hung query by {} (checked out at {}, t={})",
                    c.conn,
                    client(c.client),
                    c.site,
                    format_duration(c.at)
                ));
            }
            for w in self.forever.iter().take(4) {
                f.evidence.push(format!(
                    "{} waits at {} since t={}",
                    client(w.client),
                    w.site,
                    format_duration(w.since)
                ));
            }
            f.picture = picture.clone();
            f.fix = "set an acquire timeout (`acquire_timeout`, deadpool `Timeouts { wait: Some(..) }`) and put a timeout on every query, so a lost connection fails one request and is replaced instead of blocking every later one".into();
            out.push(f);
        }
        let explained =
            self.deadlock.is_some() || !self.leaked.is_empty() || !self.forever.is_empty();
        if !self.starved.is_empty() && !explained {
            let slow: Vec<&HoldSite> = self.holds.iter().filter(|h| h.slow > 0).collect();
            let mut f = Finding::bug(
                STARVATION,
                format!(
                    "{} acquire(s) waited longer than {} (p50 {}, p99 {}, max {})",
                    self.starved.len(),
                    format_duration(max_wait),
                    format_duration(stats.wait_p50),
                    format_duration(stats.wait_p99),
                    format_duration(stats.wait_max)
                ),
            );
            f.scenario = scenario.to_string();
            f.evidence.push(format!(
                "{} acquires, {} timed out; peak {} waiting, peak {}/{} in use",
                stats.acquires, stats.timeouts, stats.peak_waiting, stats.peak_in_use, stats.size
            ));
            let mut worst = self.starved.clone();
            worst.sort_by(|a, b| b.waited.cmp(&a.waited).then(a.since.cmp(&b.since)));
            for w in worst.iter().take(3) {
                f.evidence.push(format!(
                    "{} waited {} at {} (from t={}){}",
                    client(w.client),
                    format_duration(w.waited),
                    w.site,
                    format_duration(w.since),
                    if w.outcome == WaitOutcome::TimedOut {
                        ", timed out"
                    } else {
                        ""
                    }
                ));
            }
            for h in &self.holds {
                f.evidence.push(format!(
                    "checkouts at {}: held p50 {}, of which queries {}",
                    h.site,
                    format_duration(h.held_p50),
                    format_duration(h.queries_p50)
                ));
            }
            f.picture = picture.clone();
            f.fix = if slow.is_empty() {
                "the pool is too small for the load: shorten queries, raise `size`, or shed load with an acquire timeout well below the client's deadline".into()
            } else {
                "release the connection before slow non-database work (an upstream call), and acquire again afterwards if needed".into()
            };
            out.push(f);
            if !slow.is_empty() {
                let mut f = Finding::bug(
                    HELD_ACROSS_SLOW_WORK,
                    "connections sit idle across slow non-database work while other clients wait",
                );
                f.scenario = scenario.to_string();
                for h in slow {
                    let share = h.queries_p50.as_secs_f64() / h.held_p50.as_secs_f64().max(1e-9);
                    f.evidence.push(format!(
                        "{}/{} checkouts at {} held the connection p50 {} but queried only {} ({:.1}% of the hold)",
                        h.slow,
                        h.checkouts,
                        h.site,
                        format_duration(h.held_p50),
                        format_duration(h.queries_p50),
                        share * 100.0
                    ));
                }
                f.picture = picture;
                f.fix = "finish the queries, drop the connection, then await the upstream; take a new connection afterwards to write the result".into();
                out.push(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(seed: u64) -> RunLimits {
        RunLimits::new(seed)
    }

    fn test() -> PoolTest {
        PoolTest::new()
            .size(2)
            .clients(10)
            .window(Duration::ZERO..Duration::from_secs(1))
    }

    #[test]
    fn raii_use_is_clean_and_counted() {
        let (r, pool) = test().run_seed(
            &limits(1),
            Arc::new(|pool: SimPool| async move {
                let c = pool.get().await.unwrap();
                c.query("SELECT 1").await.unwrap();
            }),
        );
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let s = pool.stats();
        assert_eq!((s.acquires, s.queries, s.in_use, s.idle), (10, 10, 0, 2));
        assert!(pool.holds().iter().all(|h| h.site.contains("pool.rs")));
    }

    #[test]
    fn a_forgotten_guard_is_a_leak_with_its_site() {
        let (r, _) = test().run_seed(
            &limits(2),
            Arc::new(|pool: SimPool| async move {
                let c = pool.get().await.unwrap();
                std::mem::forget(c);
            }),
        );
        assert_eq!(r.findings[0].pattern, LEAK);
        assert!(r.findings[0].evidence[0].contains("pool.rs"));
        assert!(r.findings.iter().any(|f| f.pattern == WAITS_FOREVER));
    }

    #[test]
    fn nested_acquires_deadlock_and_stop_at_once() {
        let (r, _) = test()
            .window(Duration::ZERO..Duration::from_millis(1))
            .run_seed(
                &limits(3),
                Arc::new(|pool: SimPool| async move {
                    let _a = pool.get().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let _b = pool.get().await.unwrap();
                }),
            );
        assert_eq!(r.findings[0].pattern, DEADLOCK, "{:?}", r.findings);
        assert!(r.findings[0].evidence.iter().any(|e| e.contains("forever")));
    }

    #[test]
    fn the_picture_shows_occupancy_and_waiting() {
        let t = [
            Sample {
                at: Duration::ZERO,
                in_use: 1,
                idle: 1,
                waiting: 0,
            },
            Sample {
                at: Duration::from_millis(500),
                in_use: 2,
                idle: 0,
                waiting: 3,
            },
            Sample {
                at: Duration::from_millis(999),
                in_use: 0,
                idle: 2,
                waiting: 0,
            },
        ];
        let p = occupancy_picture(&t, 2, 10);
        assert!(p.starts_with("in use   ▄▄▄▄▄█"), "{p}");
        assert!(p.contains("peak 2/2"), "{p}");
        assert!(p.contains("waiting  ·····█"), "{p}");
    }
}
