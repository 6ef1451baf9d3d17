//! A simulated connection pool on the virtual clock: [`SimPool`], its guards and its record.
//!
//! [`SimPool`] has `size` connections, an optional acquire timeout (`None` waits forever, the
//! default of deadpool), and connections whose [`query`](PooledConn::query) takes a seeded
//! latency and fails, hangs or runs slow at configured rates. [`SimPool::get`] returns an RAII
//! guard ([`PooledConn`]) that gives the connection back when dropped; [`SimPool::connect`] is
//! the node-postgres style manual checkout ([`ManualConn`]) whose connection goes back only on
//! `release()`.
//!
//! Every checkout is recorded with its site (the caller's `file:line`, through
//! `#[track_caller]`), its client and its time; every acquire with its wait (in an
//! hdrhistogram); and the pool's occupancy over time (in use, idle, waiting). The pool
//! detector (`detectors::pool`) judges that record.

use crate::runtime::sim::{self, ClientId};
use crate::spec::format_duration;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::RngExt;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

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

/// A task that acquired from the pool while it already held one of its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestedAcquire {
    /// Where the held connection was checked out (`file:line`).
    pub held_at: String,
    /// Where the second acquire was made.
    pub acquired_at: String,
    /// How many times this pair of sites nested.
    pub times: usize,
    /// The first client that did it, and when.
    pub first: (Option<ClientId>, Duration),
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
    /// Acquires made while the same client held a connection, by (held site, acquire site).
    nested: BTreeMap<(String, String), NestedAcquire>,
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
    crate::runtime::rng::splitmix64(h ^ v)
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
                    nested: BTreeMap::new(),
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
        self.note_nested(owner, at);
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
    /// `PoolTest` (the pool detector) calls this after each client's body; call it yourself when you drive a
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

    /// Records an acquire made while `owner` already holds a connection of this pool: the
    /// shape of a pool deadlock, whether or not this run's concurrency reaches it.
    fn note_nested(&self, owner: Option<ClientId>, at: &'static Location<'static>) {
        let Some(client) = owner else { return };
        let mut st = self.inner.state.lock();
        let held = st
            .checkouts
            .values()
            .find(|c| c.owner == Some(client) && c.leak.is_none())
            .map(|c| c.site.to_string());
        if let Some(held_at) = held {
            let now = sim::now();
            st.nested
                .entry((held_at.clone(), at.to_string()))
                .or_insert_with(|| NestedAcquire {
                    held_at,
                    acquired_at: at.to_string(),
                    times: 0,
                    first: (owner, now),
                })
                .times += 1;
        }
    }

    /// Acquires made while the same client already held a connection of this pool, one per
    /// pair of sites.
    pub fn nested_acquires(&self) -> Vec<NestedAcquire> {
        self.inner.state.lock().nested.values().cloned().collect()
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
