//! Simulated backends on the virtual clock: a Redis-like cache and a database double.
//!
//! Both are cheap, clonable handles to shared state: clone them into as many simulated
//! instances as a scenario has, and every instance sees the same data, the way every replica
//! of a service sees the same Redis and the same PostgreSQL.
//!
//! - [`SimCache`] is Redis-like: [`get`](SimCache::get), [`set`](SimCache::set) with a TTL,
//!   [`set_nx`](SimCache::set_nx) with a TTL (the building block of a lock or lease),
//!   [`del`](SimCache::del), [`incr`](SimCache::incr), and [`get_with_ttl`](SimCache::get_with_ttl)
//!   (a `GET` and a `PTTL` in one round trip). TTLs run on tokio's clock, so inside a
//!   simulation they follow virtual time. Every operation takes a simulated latency
//!   (default 1 ms) and takes effect atomically when it completes.
//! - [`SimDb`] is a database double. [`load`](SimDb::load) returns a key's row after a
//!   simulated latency (default 100 ms) and records every load: key, start, end, client,
//!   and whether it failed. Failures can be injected in a window of virtual time. Its tables
//!   ([`crate::components::db`]) take `get`, `insert`, `update`, `delete`, `scan`,
//!   `get_many` and transactions; each of those statements knows the `file:line` that sent
//!   it, and a database built with [`SimDbBuilder::record_statements`] lists them with how
//!   far each got ([`SimDb::statements`]: done, or dropped in flight by a cancellation).
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks_core::components::store::{SimCache, SimDb};
//!
//! let rt = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .start_paused(true)
//!     .build()
//!     .unwrap();
//! rt.block_on(async {
//!     let (cache, db) = (SimCache::new(), SimDb::new());
//!     assert_eq!(cache.get("product:1").await, None);
//!     let row = db.load("1").await.unwrap();
//!     cache.set("product:1", row.clone(), Duration::from_secs(60)).await;
//!     assert_eq!(cache.get("product:1").await, Some(row));
//!     tokio::time::sleep(Duration::from_secs(61)).await;
//!     assert_eq!(cache.get("product:1").await, None, "expired on the virtual clock");
//!     assert_eq!(db.loads_of("1"), 1);
//! });
//! ```

pub use crate::components::db::DbError;
use crate::components::db::{Tables, Write, shown, trace};
/// A generated table with a streaming cursor (the Contract path `whatbreaks::store::Table`).
pub use crate::components::table::Table;
use crate::runtime::explorer;
use crate::runtime::sim::{self, ClientId};
use crate::spec::format_duration;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Virtual time for records: since the simulation started, or since the component's first
/// use outside a simulation.
fn clock(epoch: &mut Option<Instant>) -> Duration {
    if sim::in_simulation() {
        return sim::now();
    }
    epoch.get_or_insert_with(Instant::now).elapsed()
}

async fn delay(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

// ---------------------------------------------------------------------------------------
// SimCache
// ---------------------------------------------------------------------------------------

/// An error from [`SimCache::incr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheError {
    /// The key holds a value that is not an integer (Redis: `ERR value is not an integer`).
    NotAnInteger {
        /// The key.
        key: String,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::NotAnInteger { key } => {
                write!(f, "cache key `{key}` does not hold an integer")
            }
        }
    }
}

impl std::error::Error for CacheError {}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) value: String,
    pub(crate) expires: Option<Instant>,
}

impl Entry {
    pub(crate) fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

#[derive(Debug, Default)]
struct CacheState {
    entries: BTreeMap<String, Entry>,
    ops: u64,
}

#[derive(Debug)]
struct CacheInner {
    latency: Duration,
    state: Mutex<CacheState>,
}

/// A Redis-like cache on the virtual clock; a clonable handle to shared state.
///
/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct SimCache {
    inner: Arc<CacheInner>,
}

impl Default for SimCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SimCache {
    /// An empty cache with 1 ms latency per operation.
    pub fn new() -> Self {
        Self::with_latency(Duration::from_millis(1))
    }

    /// An empty cache with this latency per operation.
    pub fn with_latency(latency: Duration) -> Self {
        SimCache {
            inner: Arc::new(CacheInner {
                latency,
                state: Mutex::new(CacheState::default()),
            }),
        }
    }

    /// The latency of one operation.
    pub fn latency(&self) -> Duration {
        self.inner.latency
    }

    /// Runs `f` on the state after the latency, with expired entries removed first.
    async fn op<R>(&self, key: &str, f: impl FnOnce(&mut CacheState, Instant) -> R) -> R {
        delay(self.inner.latency).await;
        sim::touch();
        let now = Instant::now();
        let mut st = self.inner.state.lock();
        st.ops += 1;
        if st.entries.get(key).is_some_and(|e| !e.live(now)) {
            st.entries.remove(key);
        }
        f(&mut st, now)
    }

    /// Every live entry's value, by key, without latency or a recorded operation (for
    /// oracles that compare the state two runs leave behind).
    pub fn entries(&self) -> BTreeMap<String, String> {
        let now = Instant::now();
        self.inner
            .state
            .lock()
            .entries
            .iter()
            .filter(|(_, e)| e.live(now))
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }

    /// One round trip of `commands` operations over every entry (the redis-rs seam runs a
    /// command or a whole pipeline this way): after the latency, atomically. `f` must treat
    /// an entry that is not [`live`](Entry::live) at `now` as absent.
    #[cfg(feature = "redis")]
    pub(crate) async fn round_trip<R>(
        &self,
        commands: u64,
        f: impl FnOnce(&mut BTreeMap<String, Entry>, Instant) -> R,
    ) -> R {
        delay(self.inner.latency).await;
        sim::touch();
        let now = Instant::now();
        let mut st = self.inner.state.lock();
        st.ops += commands;
        f(&mut st.entries, now)
    }

    /// The value of `key`, or `None` when it is absent or expired (Redis `GET`).
    pub async fn get(&self, key: &str) -> Option<String> {
        self.op(key, |st, _| st.entries.get(key).map(|e| e.value.clone()))
            .await
    }

    /// The value of `key` with its remaining time to live (`None` for no expiry), in one
    /// round trip (Redis `GET` and `PTTL` pipelined). What probabilistic early refresh needs.
    pub async fn get_with_ttl(&self, key: &str) -> Option<(String, Option<Duration>)> {
        self.op(key, |st, now| {
            st.entries.get(key).map(|e| {
                (
                    e.value.clone(),
                    e.expires.map(|at| at.saturating_duration_since(now)),
                )
            })
        })
        .await
    }

    /// Stores `value` under `key`, expiring after `ttl` (Redis `SET key value PX ttl`).
    pub async fn set(&self, key: &str, value: impl Into<String>, ttl: Duration) {
        let value = value.into();
        self.op(key, |st, now| {
            st.entries.insert(
                key.to_string(),
                Entry {
                    value,
                    expires: Some(now + ttl),
                },
            );
        })
        .await
    }

    /// Stores `value` under `key` without expiry (Redis `SET key value`).
    pub async fn set_persistent(&self, key: &str, value: impl Into<String>) {
        let value = value.into();
        self.op(key, |st, _| {
            st.entries.insert(
                key.to_string(),
                Entry {
                    value,
                    expires: None,
                },
            );
        })
        .await
    }

    /// Stores `value` under `key` only if the key is absent, expiring after `ttl`; true when
    /// it was stored (Redis `SET key value NX PX ttl`). The building block of a lock or a
    /// lease: whoever stores the key holds it until it is deleted or expires.
    pub async fn set_nx(&self, key: &str, value: impl Into<String>, ttl: Duration) -> bool {
        let value = value.into();
        self.op(key, |st, now| {
            if st.entries.contains_key(key) {
                return false;
            }
            st.entries.insert(
                key.to_string(),
                Entry {
                    value,
                    expires: Some(now + ttl),
                },
            );
            true
        })
        .await
    }

    /// Deletes `key`; true when it existed (Redis `DEL`).
    pub async fn del(&self, key: &str) -> bool {
        self.op(key, |st, _| st.entries.remove(key).is_some()).await
    }

    /// Adds one to the integer under `key` (an absent key counts as 0) and returns the new
    /// value, keeping any expiry (Redis `INCR`).
    pub async fn incr(&self, key: &str) -> Result<i64, CacheError> {
        self.op(key, |st, _| {
            let entry = st.entries.entry(key.to_string()).or_insert(Entry {
                value: "0".into(),
                expires: None,
            });
            let n: i64 = entry
                .value
                .parse()
                .map_err(|_| CacheError::NotAnInteger { key: key.into() })?;
            let n = n.checked_add(1).ok_or(CacheError::NotAnInteger {
                key: key.to_string(),
            })?;
            entry.value = n.to_string();
            Ok(n)
        })
        .await
    }

    /// The value of `key` now, without latency (for assertions and detectors).
    pub fn peek(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        let st = self.inner.state.lock();
        st.entries
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone())
    }

    /// Operations served so far.
    pub fn ops(&self) -> u64 {
        self.inner.state.lock().ops
    }
}

// ---------------------------------------------------------------------------------------
// SimDb
// ---------------------------------------------------------------------------------------

/// One recorded database load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    /// The key loaded.
    pub key: String,
    /// When the load started (virtual time).
    pub at: Duration,
    /// When it finished (equal to `at` while it is in flight).
    pub done: Duration,
    /// The client whose task made the load, if any.
    pub client: Option<ClientId>,
    /// Whether it failed.
    pub failed: bool,
    /// Loads of any key in flight when this one started, this one included.
    pub in_flight: usize,
}

#[derive(Clone, Debug)]
struct DbConfig {
    name: String,
    latency: Duration,
    failing: Vec<Range<Duration>>,
    fail_rate: f64,
    table_latency: Duration,
    statement_latency: Duration,
    record: bool,
}

/// The database's mutable state. One struct so that later features (tables, transactions,
/// row locks) add fields here without changing the handle.
#[derive(Debug, Default)]
struct DbState {
    epoch: Option<Instant>,
    /// Every load, in start order.
    loads: Vec<Load>,
    /// Explicit rows; keys without one load a row derived from the key.
    rows: BTreeMap<String, String>,
    in_flight: usize,
    max_in_flight: usize,
    /// Tables, constraints and row locks (see [`crate::components::db`]).
    tables: Tables,
    /// The statements sent, when recording ([`SimDbBuilder::record_statements`]).
    statements: Vec<Statement>,
    /// When recording: the committed rows right after each statement that commits (by its
    /// index in `statements`), the states a crash between two writes leaves.
    committed: Vec<(usize, Rows)>,
}

/// Committed rows by table and key (see [`SimDb::rows`]).
pub(crate) type Rows = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// One table statement a recording [`SimDb`] was sent ([`SimDbBuilder::record_statements`]),
/// with the place in the code under test that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// What it does, e.g. `UPDATE inventory[sku-1] = "9"`, `INSERT shipments[o1] (tx1)` or
    /// `COMMIT tx1`.
    pub sql: String,
    /// Where the code under test sent it (the caller of the `SimDb` or `Transaction` method).
    pub site: &'static Location<'static>,
    /// When it was sent (virtual time).
    pub at: Duration,
    /// The transaction it belongs to (`None` for a statement outside one).
    pub tx: Option<u64>,
    /// Whether it changes committed rows when it completes: a write outside a transaction, or
    /// a `COMMIT`.
    pub commits: bool,
    /// How far it got.
    pub progress: Progress,
}

impl Statement {
    /// `file:line` of [`site`](Statement::site).
    pub fn place(&self) -> String {
        format!("{}:{}", self.site.file(), self.site.line())
    }
}

/// How far a [`Statement`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Sent; its latency has not elapsed (it has not taken effect).
    InFlight,
    /// Completed: a write took effect, a read answered.
    Done,
    /// Its future was dropped before it completed (a cancellation, a timeout, a `select!`
    /// that picked another branch): it never took effect.
    Dropped,
}

/// Marks a recorded statement `Dropped` unless [`Sent::done`] ran first.
struct Sent<'a> {
    db: &'a SimDb,
    index: Option<usize>,
    commits: bool,
}

impl Sent<'_> {
    fn done(mut self) {
        self.finish(Progress::Done);
    }

    fn finish(&mut self, progress: Progress) {
        let Some(i) = self.index.take() else {
            return;
        };
        let mut st = self.db.inner.state.lock();
        if let Some(s) = st.statements.get_mut(i) {
            s.progress = progress;
        }
        if self.commits && progress == Progress::Done {
            let rows = st.tables.rows();
            st.committed.push((i, rows));
        }
    }
}

impl Drop for Sent<'_> {
    fn drop(&mut self) {
        self.finish(Progress::Dropped);
    }
}

#[derive(Debug)]
struct DbInner {
    config: DbConfig,
    state: Mutex<DbState>,
    /// Statements sent (loads, table reads and writes, transaction statements).
    queries: std::sync::atomic::AtomicU64,
    /// Woken when a transaction releases its row locks.
    unlocked: tokio::sync::Notify,
}

/// A database double: loads with latency, per-key load counts, injected failures; a
/// clonable handle to shared state.
///
/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct SimDb {
    inner: Arc<DbInner>,
}

/// Builds a [`SimDb`] with latency and injected failures.
#[derive(Clone, Debug)]
pub struct SimDbBuilder {
    config: DbConfig,
}

impl SimDbBuilder {
    /// Latency of one load (default 100 ms).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.config.latency = latency;
        self
    }

    /// Loads that start inside `window` fail after the latency (add as many as needed).
    pub fn failing(mut self, window: Range<Duration>) -> Self {
        self.config.failing.push(window);
        self
    }

    /// Loads fail with probability `rate`, drawn from the simulation's seed.
    pub fn fail_rate(mut self, rate: f64) -> Self {
        self.config.fail_rate = rate;
        self
    }

    /// Largest seeded latency of a table operation (default 2 ms; zero makes every
    /// operation a bare await point, so only the race explorer's choices order them).
    pub fn table_latency(mut self, max: Duration) -> Self {
        self.config.table_latency = max;
        self
    }

    /// A fixed latency every table statement takes before its seeded latency (default zero):
    /// `statement_latency(10ms)` with `table_latency(2ms)` makes each statement take 10 to
    /// 12 ms.
    pub fn statement_latency(mut self, latency: Duration) -> Self {
        self.config.statement_latency = latency;
        self
    }

    /// Records every table statement with the `file:line` that sent it and how far it got
    /// ([`SimDb::statements`]; loads are recorded apart, [`SimDb::loads`]); off by default,
    /// so a long run does not grow a log.
    pub fn record_statements(mut self) -> Self {
        self.config.record = true;
        self
    }

    /// The database.
    pub fn build(self) -> SimDb {
        SimDb {
            inner: Arc::new(DbInner {
                config: self.config,
                state: Mutex::new(DbState::default()),
                queries: std::sync::atomic::AtomicU64::new(0),
                unlocked: tokio::sync::Notify::new(),
            }),
        }
    }
}

impl Default for SimDb {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDb {
    /// A healthy database named `db` with 100 ms load latency.
    pub fn new() -> Self {
        Self::builder("db").build()
    }

    /// A builder for a database named `name` (used in messages).
    pub fn builder(name: impl Into<String>) -> SimDbBuilder {
        SimDbBuilder {
            config: DbConfig {
                name: name.into(),
                latency: Duration::from_millis(100),
                failing: Vec::new(),
                fail_rate: 0.0,
                table_latency: Duration::from_millis(2),
                statement_latency: Duration::ZERO,
                record: false,
            },
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The latency of one load.
    pub fn latency(&self) -> Duration {
        self.inner.config.latency
    }

    /// One phrase about the database, e.g. ``db `db` (100ms per load, loads fail 0s..1s)``.
    pub fn describe(&self) -> String {
        let c = &self.inner.config;
        let mut s = format!("db `{}` ({} per load", c.name, format_duration(c.latency));
        for w in &c.failing {
            s.push_str(&format!(
                ", loads fail {}..{}",
                format_duration(w.start),
                format_duration(w.end)
            ));
        }
        if c.fail_rate > 0.0 {
            s.push_str(&format!(", {:.0}% of loads fail", c.fail_rate * 100.0));
        }
        s.push(')');
        s
    }

    /// Sets the row of `key` (without latency); other keys load a row derived from the key.
    pub fn put_row(&self, key: &str, row: impl Into<String>) {
        self.inner
            .state
            .lock()
            .rows
            .insert(key.to_string(), row.into());
    }

    /// Loads the row of `key` (`SELECT * FROM … WHERE id = $1`): after the latency, the row
    /// as a `String`, or an error when a failure is injected. Every load is recorded.
    pub async fn load(&self, key: &str) -> Result<String, DbError> {
        self.count_query();
        let c = &self.inner.config;
        let index = {
            let mut st = self.inner.state.lock();
            let at = clock(&mut st.epoch);
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
            let in_flight = st.in_flight;
            st.loads.push(Load {
                key: key.to_string(),
                at,
                done: at,
                client: sim::current_client(),
                failed: false,
                in_flight,
            });
            st.loads.len() - 1
        };
        sim::touch();
        let started = self.inner.state.lock().loads[index].at;
        let fails = c.failing.iter().any(|w| w.contains(&started)) || sim::chance(c.fail_rate);
        tracing::debug!(
            target: "whatbreaks",
            t_ms = sim::ms(started),
            key,
            client = sim::current_client(),
            in_flight = self.inner.state.lock().loads[index].in_flight,
            fails,
            "database load"
        );
        // Finish the record even if the caller drops the future mid-load.
        let guard = FinishLoad {
            db: self,
            index,
            failed: true,
        };
        delay(c.latency).await;
        sim::touch();
        let mut guard = guard;
        guard.failed = fails;
        drop(guard);
        if fails {
            return Err(DbError::Unavailable { key: key.into() });
        }
        let st = self.inner.state.lock();
        Ok(st
            .rows
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("{{\"id\":\"{key}\",\"name\":\"item {key}\"}}")))
    }

    /// Every load so far, in start order.
    pub fn loads(&self) -> Vec<Load> {
        self.inner.state.lock().loads.clone()
    }

    /// Runs `f` on the loads without copying them.
    pub fn with_loads<R>(&self, f: impl FnOnce(&[Load]) -> R) -> R {
        f(&self.inner.state.lock().loads)
    }

    /// Loads of `key` so far.
    pub fn loads_of(&self, key: &str) -> usize {
        self.with_loads(|l| l.iter().filter(|l| l.key == key).count())
    }

    /// Loads per key, in key order.
    pub fn load_counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        self.with_loads(|loads| {
            for l in loads {
                *out.entry(l.key.clone()).or_insert(0) += 1;
            }
        });
        out
    }

    /// Most loads in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.state.lock().max_in_flight
    }

    /// A hash of the load trace (key, times, client, outcome): equal for equal runs.
    pub fn trace_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        self.with_loads(|loads| {
            for l in loads {
                eat(l.key.as_bytes());
                eat(&(l.at.as_micros() as u64).to_le_bytes());
                eat(&(l.done.as_micros() as u64).to_le_bytes());
                eat(&l.client.map_or(u64::MAX, u64::from).to_le_bytes());
                eat(&[u8::from(l.failed)]);
            }
        });
        h
    }
}

// Tables: string-keyed rows, unique constraints, transactions, row locks (crate::components::db).
impl SimDb {
    fn tables<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> R {
        f(&mut self.inner.state.lock().tables)
    }

    async fn step(&self) {
        self.count_query();
        let fixed = self.inner.config.statement_latency;
        if !fixed.is_zero() {
            tokio::time::sleep(fixed).await;
        }
        explorer::latency(self.inner.config.table_latency).await;
    }

    /// Records a statement about to be sent (when recording); the guard marks it done, or
    /// dropped if its future goes away first.
    fn send(
        &self,
        sql: impl FnOnce() -> String,
        site: &'static Location<'static>,
        tx: Option<u64>,
        commits: bool,
    ) -> Sent<'_> {
        if !self.inner.config.record {
            return Sent {
                db: self,
                index: None,
                commits,
            };
        }
        let statement = Statement {
            sql: sql(),
            site,
            at: sim::now(),
            tx,
            commits,
            progress: Progress::InFlight,
        };
        let mut st = self.inner.state.lock();
        st.statements.push(statement);
        Sent {
            db: self,
            index: Some(st.statements.len() - 1),
            commits,
        }
    }

    /// When recording: the committed rows right after each statement that commits, with the
    /// statement's index.
    pub(crate) fn committed_states(&self) -> Vec<(usize, Rows)> {
        self.inner.state.lock().committed.clone()
    }

    /// Every statement sent so far, in order, with its call site and progress; empty unless
    /// the database records them ([`SimDbBuilder::record_statements`]).
    pub fn statements(&self) -> Vec<Statement> {
        self.inner.state.lock().statements.clone()
    }

    fn count_query(&self) {
        self.inner
            .queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Statements sent so far: loads, table reads and writes, transaction statements (`BEGIN`
    /// included), batched reads as one. What the N+1 detector counts.
    pub fn queries(&self) -> u64 {
        self.inner
            .queries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Puts a row into `table` as set-up, without a statement (not counted, no latency, no
    /// trace): seeding the rows a scenario's handler then reads.
    pub fn seed(&self, table: &str, key: &str, value: impl Into<String>) {
        let w = Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: true,
        };
        let _ = self.tables(|t| t.apply(&w));
    }

    /// `SELECT key, value FROM table`: every committed row of `table`, in key order, in one
    /// statement.
    #[track_caller]
    pub fn scan(&self, table: &str) -> impl Future<Output = Vec<(String, String)>> {
        let site = Location::caller();
        async move {
            let sent = self.send(|| format!("SELECT * FROM {table}"), site, None, false);
            self.step().await;
            let rows: Vec<(String, String)> = self
                .rows()
                .remove(table)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
                .collect();
            sent.done();
            trace(format!("SELECT * FROM {table} -> {} row(s)", rows.len()));
            rows
        }
    }

    /// `SELECT value FROM table WHERE key = ANY($1)`: the values of `keys`, in order, in one
    /// statement (the batched read that replaces a query per item).
    #[track_caller]
    pub fn get_many(
        &self,
        table: &str,
        keys: &[String],
    ) -> impl Future<Output = Vec<Option<String>>> {
        let site = Location::caller();
        async move {
            let sql = || format!("SELECT {table} WHERE key = ANY({} keys)", keys.len());
            let sent = self.send(sql, site, None, false);
            self.step().await;
            let values: Vec<Option<String>> =
                self.tables(|t| keys.iter().map(|k| t.get(table, k)).collect());
            sent.done();
            trace(sql());
            values
        }
    }

    /// Declares a unique constraint on the keys of `table` (returns the handle for chaining).
    pub fn unique(self, table: &str) -> Self {
        self.tables(|t| t.declare_unique(table));
        self
    }

    /// Rows of `table` with `key`, committed (no await: for assertions).
    pub fn count(&self, table: &str, key: &str) -> usize {
        self.tables(|t| t.count(table, key))
    }

    /// Every committed row of every table, by table and key, without an await (for oracles
    /// that compare the state two runs leave behind).
    pub fn rows(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        self.tables(|t| t.rows())
    }

    /// All committed rows of `table` (no await: for assertions).
    pub fn count_table(&self, table: &str) -> usize {
        self.tables(|t| t.count_table(table))
    }

    /// The committed value of a row, without an await or a trace entry (for assertions).
    pub fn peek(&self, table: &str, key: &str) -> Option<String> {
        self.tables(|t| t.get(table, key))
    }

    /// `SELECT value FROM table WHERE key = $1 LIMIT 1`.
    #[track_caller]
    pub fn get(&self, table: &str, key: &str) -> impl Future<Output = Option<String>> {
        let site = Location::caller();
        async move {
            let sent = self.send(|| format!("SELECT {table}[{key}]"), site, None, false);
            self.step().await;
            let v = self.tables(|t| t.get(table, key));
            sent.done();
            trace(format!("SELECT {table}[{key}] -> {}", shown(&v)));
            v
        }
    }

    /// `INSERT`; fails on a unique constraint.
    ///
    /// # Errors
    /// [`DbError::UniqueViolation`] when `table` is unique and `key` exists.
    #[track_caller]
    pub fn insert(
        &self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> impl Future<Output = Result<(), DbError>> {
        let w = Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: false,
        };
        let site = Location::caller();
        async move { self.write(w, site).await.map(|_| ()) }
    }

    /// `INSERT … ON CONFLICT DO NOTHING`: true when the row was inserted.
    #[track_caller]
    pub fn insert_or_ignore(
        &self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> impl Future<Output = bool> {
        let w = Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: true,
        };
        let site = Location::caller();
        async move { self.write(w, site).await.unwrap_or(false) }
    }

    /// `UPDATE table SET value = $2 WHERE key = $1`: true when a row changed.
    #[track_caller]
    pub fn update(
        &self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> impl Future<Output = bool> {
        let w = Write::Update {
            table: table.into(),
            key: key.into(),
            value: value.into(),
        };
        let site = Location::caller();
        async move { self.write(w, site).await.unwrap_or(false) }
    }

    /// `DELETE FROM table WHERE key = $1`: true when rows were deleted.
    #[track_caller]
    pub fn delete(&self, table: &str, key: &str) -> impl Future<Output = bool> {
        let w = Write::Delete {
            table: table.into(),
            key: key.into(),
        };
        let site = Location::caller();
        async move { self.write(w, site).await.unwrap_or(false) }
    }

    async fn write(&self, w: Write, site: &'static Location<'static>) -> Result<bool, DbError> {
        let sent = self.send(|| describe(&w, &Ok(true), None), site, None, true);
        self.step().await;
        let r = self.tables(|t| t.apply(&w));
        sent.done();
        trace(describe(&w, &r, None));
        r
    }

    /// `BEGIN`: a read-committed transaction. Dropping it without commit rolls it back.
    #[track_caller]
    pub fn begin(&self) -> impl Future<Output = Transaction> {
        let site = Location::caller();
        async move {
            let sent = self.send(|| "BEGIN".into(), site, None, false);
            self.step().await;
            let id = self.tables(Tables::new_tx);
            sent.done();
            trace(format!("BEGIN tx{id}"));
            Transaction {
                db: self.clone(),
                id,
                writes: Vec::new(),
                open: true,
            }
        }
    }
}

struct FinishLoad<'a> {
    db: &'a SimDb,
    index: usize,
    failed: bool,
}

impl Drop for FinishLoad<'_> {
    fn drop(&mut self) {
        let mut st = self.db.inner.state.lock();
        let done = clock(&mut st.epoch);
        st.in_flight = st.in_flight.saturating_sub(1);
        if let Some(l) = st.loads.get_mut(self.index) {
            l.done = done;
            l.failed = self.failed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sim::{RunLimits, run_clients, simulate};

    fn limits() -> RunLimits {
        RunLimits {
            seed: 1,
            time_limit: Duration::from_secs(3_600),
            watchdog: Duration::from_secs(20),
        }
    }

    #[test]
    fn cache_ttl_set_nx_del_incr_follow_virtual_time() {
        let run = simulate(&limits(), || async {
            let c = SimCache::new();
            assert!(c.set_nx("lock", "a", Duration::from_secs(5)).await);
            assert!(!c.set_nx("lock", "b", Duration::from_secs(5)).await);
            assert_eq!(c.get("lock").await.as_deref(), Some("a"));
            let (_, ttl) = c.get_with_ttl("lock").await.unwrap();
            assert!(ttl.unwrap() <= Duration::from_secs(5));
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert!(
                c.set_nx("lock", "b", Duration::from_secs(5)).await,
                "expired"
            );
            assert!(c.del("lock").await);
            assert!(!c.del("lock").await);
            assert_eq!(c.incr("n").await, Ok(1));
            assert_eq!(c.incr("n").await, Ok(2));
            c.set_persistent("s", "x").await;
            assert!(c.incr("s").await.is_err());
            assert_eq!(c.peek("n").as_deref(), Some("2"));
            (sim::now(), c.ops())
        });
        let (t, ops) = run.value.unwrap();
        assert!(
            t >= Duration::from_secs(5) && t < Duration::from_secs(6),
            "{t:?}"
        );
        assert_eq!(ops, 11);
    }

    #[test]
    fn db_counts_loads_per_key_with_times_and_failures() {
        let run = simulate(&limits(), || async {
            let db = SimDb::builder("products")
                .failing(Duration::ZERO..Duration::from_millis(50))
                .build();
            let d = db.clone();
            run_clients(&[Duration::ZERO, Duration::from_millis(60)], move |_| {
                let d = d.clone();
                async move {
                    let _ = d.load("1").await;
                }
            })
            .await;
            db
        });
        let db = run.value.unwrap();
        let loads = db.loads();
        assert_eq!(loads.len(), 2);
        assert!(loads[0].failed && !loads[1].failed);
        assert_eq!(loads[0].client, Some(0));
        assert_eq!(loads[1].at, Duration::from_millis(60));
        assert_eq!(loads[1].done, Duration::from_millis(160));
        assert_eq!(loads[1].in_flight, 2);
        assert_eq!(db.loads_of("1"), 2);
        assert_eq!(db.max_in_flight(), 2);
        assert!(
            db.describe().contains("loads fail 0s..50ms"),
            "{}",
            db.describe()
        );
    }
}

fn describe(w: &Write, r: &Result<bool, DbError>, tx: Option<u64>) -> String {
    let tx = tx.map(|t| format!(" (tx{t})")).unwrap_or_default();
    match (w, r) {
        (
            Write::Insert {
                table,
                key,
                ignore_conflict: true,
                ..
            },
            Ok(false),
        ) => {
            format!("INSERT {table}[{key}] ON CONFLICT DO NOTHING -> skipped{tx}")
        }
        (Write::Insert { table, key, .. }, Ok(_)) => format!("INSERT {table}[{key}]{tx}"),
        (Write::Insert { table, key, .. }, Err(_)) => {
            format!("INSERT {table}[{key}] -> unique violation{tx}")
        }
        (Write::Update { table, key, value }, r) => {
            let hit = if matches!(r, Ok(true)) {
                ""
            } else {
                " -> no row"
            };
            format!("UPDATE {table}[{key}] = {value:?}{hit}{tx}")
        }
        (Write::Delete { table, key }, _) => format!("DELETE {table}[{key}]{tx}"),
    }
}

/// A transaction on a [`SimDb`]: writes are buffered and become visible at [`commit`].
///
/// [`commit`]: Transaction::commit
#[derive(Debug)]
pub struct Transaction {
    db: SimDb,
    id: u64,
    writes: Vec<Write>,
    open: bool,
}

impl Transaction {
    /// `SELECT … FOR UPDATE`: locks the row if it exists (waiting for another transaction's
    /// lock on it), then reads it, seeing this transaction's own writes.
    #[track_caller]
    pub fn select_for_update(
        &mut self,
        table: &str,
        key: &str,
    ) -> impl Future<Output = Option<String>> {
        let site = Location::caller();
        async move { self.select_for_update_at(table, key, site).await }
    }

    async fn select_for_update_at(
        &mut self,
        table: &str,
        key: &str,
        site: &'static Location<'static>,
    ) -> Option<String> {
        let db = self.db.clone();
        let sent = db.send(
            || format!("SELECT {table}[{key}] FOR UPDATE (tx{})", self.id),
            site,
            Some(self.id),
            false,
        );
        self.db.step().await;
        loop {
            let notified = self.db.inner.unlocked.notified();
            let attempt = self.db.tables(|t| t.try_lock(table, key, self.id));
            match attempt {
                Ok(_) => break,
                Err(holder) => {
                    trace(format!(
                        "SELECT {table}[{key}] FOR UPDATE (tx{}) waits for tx{holder}",
                        self.id
                    ));
                    notified.await;
                }
            }
        }
        let v = self.read(table, key);
        sent.done();
        trace(format!(
            "SELECT {table}[{key}] FOR UPDATE (tx{}) -> {}",
            self.id,
            shown(&v)
        ));
        v
    }

    /// `SELECT` inside the transaction (no lock), seeing its own writes.
    #[track_caller]
    pub fn get(&mut self, table: &str, key: &str) -> impl Future<Output = Option<String>> {
        let site = Location::caller();
        async move { self.get_at(table, key, site).await }
    }

    async fn get_at(
        &mut self,
        table: &str,
        key: &str,
        site: &'static Location<'static>,
    ) -> Option<String> {
        let db = self.db.clone();
        let sent = db.send(
            || format!("SELECT {table}[{key}] (tx{})", self.id),
            site,
            Some(self.id),
            false,
        );
        self.db.step().await;
        let v = self.read(table, key);
        sent.done();
        trace(format!(
            "SELECT {table}[{key}] (tx{}) -> {}",
            self.id,
            shown(&v)
        ));
        v
    }

    fn read(&self, table: &str, key: &str) -> Option<String> {
        let mut v = self.db.tables(|t| t.get(table, key));
        for w in &self.writes {
            match w {
                Write::Insert {
                    table: t,
                    key: k,
                    value,
                    ..
                } if t == table && k == key && v.is_none() => v = Some(value.clone()),
                Write::Update {
                    table: t,
                    key: k,
                    value,
                } if t == table && k == key && v.is_some() => v = Some(value.clone()),
                Write::Delete { table: t, key: k } if t == table && k == key => v = None,
                _ => {}
            }
        }
        v
    }

    /// Buffers an `INSERT` (checked against unique constraints at commit).
    #[track_caller]
    pub fn insert(
        &mut self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> impl Future<Output = ()> {
        let w = Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: false,
        };
        self.buffer(w, Location::caller())
    }

    /// Buffers an `INSERT … ON CONFLICT DO NOTHING`.
    #[track_caller]
    pub fn insert_or_ignore(
        &mut self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> impl Future<Output = ()> {
        let w = Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: true,
        };
        self.buffer(w, Location::caller())
    }

    /// Buffers an `UPDATE`.
    #[track_caller]
    pub fn update(
        &mut self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> impl Future<Output = ()> {
        let w = Write::Update {
            table: table.into(),
            key: key.into(),
            value: value.into(),
        };
        self.buffer(w, Location::caller())
    }

    /// Buffers a `DELETE`.
    #[track_caller]
    pub fn delete(&mut self, table: &str, key: &str) -> impl Future<Output = ()> {
        let w = Write::Delete {
            table: table.into(),
            key: key.into(),
        };
        self.buffer(w, Location::caller())
    }

    async fn buffer(&mut self, w: Write, site: &'static Location<'static>) {
        let db = self.db.clone();
        let sent = db.send(
            || describe(&w, &Ok(true), Some(self.id)),
            site,
            Some(self.id),
            false,
        );
        self.db.step().await;
        sent.done();
        trace(describe(&w, &Ok(true), Some(self.id)).replace(')', ", buffered)"));
        self.writes.push(w);
    }

    /// `COMMIT`: applies the writes in order, then releases the row locks. On a unique
    /// violation nothing is applied and the transaction is rolled back.
    ///
    /// # Errors
    /// [`DbError::UniqueViolation`] from a buffered insert.
    #[track_caller]
    pub fn commit(self) -> impl Future<Output = Result<(), DbError>> {
        let site = Location::caller();
        self.commit_at(site)
    }

    async fn commit_at(mut self, site: &'static Location<'static>) -> Result<(), DbError> {
        let db = self.db.clone();
        let sent = db.send(
            || format!("COMMIT tx{}", self.id),
            site,
            Some(self.id),
            true,
        );
        self.db.step().await;
        let writes = std::mem::take(&mut self.writes);
        let id = self.id;
        let result = self.db.tables(|t| {
            // All or nothing: check every insert first.
            for w in &writes {
                if let Write::Insert {
                    table,
                    key,
                    ignore_conflict: false,
                    ..
                } = w
                {
                    if t.count(table, key) > 0 && t.is_unique(table) {
                        return Err(DbError::UniqueViolation {
                            table: table.clone(),
                            key: key.clone(),
                        });
                    }
                }
            }
            for w in &writes {
                let _ = t.apply(w);
            }
            Ok(())
        });
        trace(match &result {
            Ok(()) => format!("COMMIT tx{id}"),
            Err(e) => format!("COMMIT tx{id} -> {e}, rolled back"),
        });
        self.finish();
        sent.done();
        result
    }

    /// `ROLLBACK`: drops the writes and releases the row locks.
    #[track_caller]
    pub fn rollback(self) -> impl Future<Output = ()> {
        let site = Location::caller();
        self.rollback_at(site)
    }

    async fn rollback_at(mut self, site: &'static Location<'static>) {
        let db = self.db.clone();
        let sent = db.send(
            || format!("ROLLBACK tx{}", self.id),
            site,
            Some(self.id),
            false,
        );
        self.db.step().await;
        sent.done();
        trace(format!("ROLLBACK tx{}", self.id));
        self.finish();
    }

    fn finish(&mut self) {
        if self.open {
            self.open = false;
            self.db.tables(|t| t.release(self.id));
            self.db.inner.unlocked.notify_waiters();
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.finish();
    }
}
