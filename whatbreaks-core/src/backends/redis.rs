//! Real Redis (feature `redis`): leases with fencing tokens, and the cache-stampede check
//! against a real cache.
//!
//! Everything here runs in real time ([`crate::backends::realtime`]). The server is named by
//! `WHATBREAKS_REDIS_URL` (default [`DEFAULT_URL`]: Redis on 127.0.0.1:6379). When it does
//! not answer, harnesses return one finding, and [`require`] panics with one line, naming
//! the service, the URL (its password redacted: [`SecretUrl`]) and what to do: start the
//! service, or set the variable. Every key a test writes lives under a
//! [`Namespace`] (`wb:<pid>:<n>:<random>:`, so runs in other containers or processes that
//! share the server and reuse a pid never collide) whose keys are deleted at its end, even
//! after a panic, with `SCAN` (never `KEYS`, which blocks a shared server).
//!
//! # Leases ([`RedisLease`])
//! `INCR <name>:fence` draws a fencing token, then `SET <name> <token> NX PX <ttl>` takes the
//! lease if nobody holds it. Tokens only grow, so a storage that remembers the highest token
//! it accepted (e.g. [`crate::backends::realtime::EffectLog`]) can reject the writes of a holder whose
//! lease expired while it was paused. Release and renewal compare the stored token first
//! (one `EVAL`), so they never touch a lease that someone else took over.
//!
//! # Stampede ([`RedisStampedeTest`])
//! `clients` real-time clients ask for one cold key at once (a start barrier). Each calls
//! [`RedisStampedeEnv::load`] when it goes to the database; the loads are judged by
//! [`crate::detectors::stampede::StampedeAnalysis`] as one cold-start episode: more than one load of
//! the key is a [`crate::detectors::stampede::PATTERN`].

use crate::backends::realtime::{self, SecretUrl, Unreachable, unreachable_report};
use crate::components::store::Load;
use crate::detectors::stampede::{self, StampedeAnalysis, StampedeScenario};
use crate::report::{Finding, Report};
use crate::runtime::sim::{self, ClientId};
use crate::spec::format_duration;
use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, RedisError};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The redis crate, as whatbreaks was built against it.
pub use ::redis as client;

/// The variable that names the server.
pub const URL_VAR: &str = "WHATBREAKS_REDIS_URL";
/// The server used when `WHATBREAKS_REDIS_URL` is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/";

/// The server's URL: `WHATBREAKS_REDIS_URL`, or [`DEFAULT_URL`].
pub fn url() -> String {
    // A value that is not UTF-8 is used as it reads (lossily): the connection then fails
    // with a finding that shows it, instead of reaching the default server (the harnesses
    // report such a value as a configuration finding naming the variable, `server_url`).
    crate::scenario::config::backend_url(URL_VAR, DEFAULT_URL).unwrap_or_else(|e| e.value)
}

fn unreachable(url: &str, error: impl fmt::Display) -> Unreachable {
    Unreachable::new("Redis", url, URL_VAR, &error.to_string())
}

/// Opens a multiplexed connection (3 s connect timeout, 5 s response timeout) and checks it
/// with `PING`.
pub async fn connect(url: &str) -> Result<MultiplexedConnection, Unreachable> {
    let client = ::redis::Client::open(url).map_err(|e| unreachable(url, e))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Duration::from_secs(3))
        .set_response_timeout(Duration::from_secs(5));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| unreachable(url, e))?;
    ::redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|e| unreachable(url, e))?;
    Ok(conn)
}

/// Checks that the server answers `PING`; panics with one line if it does not.
#[track_caller]
pub fn require() {
    let url = url();
    let u = url.clone();
    match realtime::block_on(Duration::from_secs(10), || async move {
        connect(&u).await.map(|_| ())
    }) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("{}", unreachable(&url, e)),
    }
}

static NAMESPACES: AtomicU64 = AtomicU64::new(0);

/// A key prefix for one test; its keys are deleted when it is dropped.
#[derive(Debug)]
pub struct Namespace {
    prefix: String,
    url: SecretUrl,
}

impl Namespace {
    /// A fresh prefix `wb:<pid>:<n>:<random>:` on the server at `url` (the random part, 16
    /// hex digits, keeps runs that share a server apart even when pids repeat).
    pub fn new(url: &str) -> Self {
        Namespace {
            prefix: format!(
                "wb:{}:{}:{:016x}:",
                std::process::id(),
                NAMESPACES.fetch_add(1, Ordering::Relaxed),
                crate::runtime::rng::fresh_seed()
            ),
            url: SecretUrl::new(url),
        }
    }

    /// `prefix + name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for Namespace {
    /// Deletes every key under the prefix, from a thread and connection of its own.
    fn drop(&mut self) {
        let (prefix, url) = (self.prefix.clone(), self.url.clone());
        let _ = realtime::block_on(Duration::from_secs(10), || async move {
            if let Ok(mut c) = connect(url.expose()).await {
                let _ = delete_prefix(&mut c, &prefix).await;
            }
        });
    }
}

/// Deletes every key that starts with `prefix` (which has no glob characters), walking the
/// key space with `SCAN … MATCH prefix* COUNT 1000` and deleting each batch; returns how many
/// keys were deleted.
pub async fn delete_prefix(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> Result<u64, RedisError> {
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            deleted += ::redis::cmd("DEL")
                .arg(&keys)
                .query_async::<u64>(conn)
                .await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// A lease in Redis with fencing tokens (see the module docs).
#[derive(Clone)]
pub struct RedisLease {
    conn: MultiplexedConnection,
    name: String,
}

impl fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLease")
            .field("name", &self.name)
            .finish()
    }
}

impl RedisLease {
    /// The lease `name` (a full key) over `conn`.
    pub fn new(conn: MultiplexedConnection, name: impl Into<String>) -> Self {
        RedisLease {
            conn,
            name: name.into(),
        }
    }

    /// Takes the lease for `ttl` if nobody holds it: `INCR <name>:fence` then
    /// `SET <name> <token> NX PX <ttl>`. Returns the fencing token when taken.
    pub async fn try_acquire(&self, ttl: Duration) -> Result<Option<u64>, RedisError> {
        let mut c = self.conn.clone();
        let token: u64 = ::redis::cmd("INCR")
            .arg(format!("{}:fence", self.name))
            .query_async(&mut c)
            .await?;
        let set: Option<String> = ::redis::cmd("SET")
            .arg(&self.name)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut c)
            .await?;
        Ok(set.map(|_| token))
    }

    /// Extends the lease to `ttl` from now if `token` still holds it.
    pub async fn renew(&self, token: u64, ttl: Duration) -> Result<bool, RedisError> {
        let mut c = self.conn.clone();
        let n: i64 = ::redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(&self.name)
            .arg(token)
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    /// Gives the lease back if `token` still holds it.
    pub async fn release(&self, token: u64) -> Result<bool, RedisError> {
        let mut c = self.conn.clone();
        let n: i64 = ::redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&self.name)
            .arg(token)
            .query_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    /// The token holding the lease now, if any.
    pub async fn holder(&self) -> Result<Option<u64>, RedisError> {
        let mut c = self.conn.clone();
        ::redis::cmd("GET")
            .arg(&self.name)
            .query_async(&mut c)
            .await
    }
}

/// What one client of a [`RedisStampedeTest`] gets.
#[derive(Clone)]
pub struct RedisStampedeEnv {
    conn: MultiplexedConnection,
    key: String,
    ttl: Duration,
    load_time: Duration,
    client: ClientId,
    loads: Arc<Mutex<Vec<Load>>>,
    start: tokio::time::Instant,
}

impl fmt::Debug for RedisStampedeEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStampedeEnv")
            .field("key", &self.key)
            .field("client", &self.client)
            .finish()
    }
}

impl RedisStampedeEnv {
    /// A connection to the real Redis (multiplexed; clone it freely).
    pub fn conn(&self) -> MultiplexedConnection {
        self.conn.clone()
    }

    /// The cache key every client asks for (inside the test's namespace).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A key for a lock or other helper state, inside the test's namespace.
    pub fn helper_key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.key)
    }

    /// The TTL entries should be stored with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// This client's id.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The expensive database load (a real wait of the configured load time), recorded for
    /// the analysis. Returns the value to cache.
    pub async fn load(&self) -> String {
        let at = self.start.elapsed();
        let idx = {
            let mut loads = self.loads.lock();
            let in_flight = loads.iter().filter(|l| l.done == l.at).count() + 1;
            loads.push(Load {
                key: self.key.clone(),
                at,
                done: at,
                client: Some(self.client),
                failed: false,
                in_flight,
            });
            loads.len() - 1
        };
        tokio::time::sleep(self.load_time).await;
        let done = self.start.elapsed().max(at + Duration::from_nanos(1));
        self.loads.lock()[idx].done = done;
        "product-42: 19.99 EUR".to_string()
    }
}

/// Clients asking a real Redis for one cold key at once (builder).
#[derive(Clone, Debug)]
pub struct RedisStampedeTest {
    clients: u32,
    load_time: Duration,
    ttl: Duration,
    max_loads: u32,
    limit: Duration,
    url: Option<SecretUrl>,
}

impl Default for RedisStampedeTest {
    fn default() -> Self {
        Self::new()
    }
}

impl RedisStampedeTest {
    /// 20 clients, a 50 ms load, 30 s TTL, at most 1 load, 20 s limit.
    pub fn new() -> Self {
        RedisStampedeTest {
            clients: 20,
            load_time: Duration::from_millis(50),
            ttl: Duration::from_secs(30),
            max_loads: 1,
            limit: realtime::DEFAULT_LIMIT,
            url: None,
        }
    }

    /// Clients, each asking once, all at once.
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients.max(1);
        self
    }

    /// How long one database load takes (real time).
    pub fn load_time(mut self, d: Duration) -> Self {
        self.load_time = d;
        self
    }

    /// The TTL handed to the code.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Loads of the key allowed in the cold start.
    pub fn max_loads_per_key(mut self, max: u32) -> Self {
        self.max_loads = max.max(1);
        self
    }

    /// Wall-clock limit.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// The server, instead of `WHATBREAKS_REDIS_URL`.
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(SecretUrl::new(url));
        self
    }

    /// Runs the clients and judges the loads; never panics. `body` is one client's request
    /// and returns the value it got.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(RedisStampedeEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, RedisError>> + 'static,
    {
        let began = Instant::now();
        let scenario = format!(
            "{} real-time clients ask for one cold key at once, load takes {}, real Redis, real time (no seed)",
            self.clients,
            format_duration(self.load_time)
        );
        let url = match realtime::server_url(self.url.as_ref(), URL_VAR, DEFAULT_URL, &scenario) {
            Ok(url) => url,
            Err(report) => return *report,
        };
        let ns = Namespace::new(&url);
        let key = ns.key("product:42");
        let loads: Arc<Mutex<Vec<Load>>> = Arc::default();
        let l = loads.clone();
        let u = url.clone();
        let this = self.clone();
        let r = realtime::block_on(self.limit, move || async move {
            let conn = connect(&u).await?;
            let start = tokio::time::Instant::now();
            let barrier = tokio::sync::Barrier::new(this.clients as usize);
            let clients = (0..this.clients).map(|id| {
                let env = RedisStampedeEnv {
                    conn: conn.clone(),
                    key: key.clone(),
                    ttl: this.ttl,
                    load_time: this.load_time,
                    client: id,
                    loads: l.clone(),
                    start,
                };
                let (b, barrier) = (&body, &barrier);
                async move {
                    barrier.wait().await;
                    sim::as_client(id, 0, b(env)).await
                }
            });
            Ok::<_, Unreachable>(futures::future::join_all(clients).await)
        });
        drop(ns);
        let results = match r {
            Ok(Ok(v)) => v,
            Ok(Err(u)) => return unreachable_report(&u, &scenario),
            Err(e) => {
                return Report::stopped(scenario.clone(), e.finding(&scenario));
            }
        };
        let loads = loads.lock().clone();
        let analysis = StampedeAnalysis::of(
            &loads,
            &BTreeMap::new(),
            StampedeScenario::Cold,
            Duration::ZERO,
            None,
            self.max_loads,
        );
        let mut findings = Vec::new();
        if analysis.flagged {
            let worst = analysis.worst();
            let mut f = Finding::bug(
                stampede::PATTERN,
                format!(
                    "{worst} clients loaded the same cold key from the database (at most {} expected)",
                    self.max_loads
                ),
            );
            f.scenario = scenario.clone();
            if let Some(e) = analysis.over().first() {
                f.evidence.push(format!(
                    "key `{}`: {} loads, starting {}..{}, up to {} in flight at once",
                    e.key,
                    e.loads.len(),
                    format_duration(e.start()),
                    format_duration(e.last_start()),
                    e.max_in_flight()
                ));
                let clients: Vec<String> = e
                    .loads
                    .iter()
                    .take(10)
                    .filter_map(|l| l.client.map(|c| format!("#{c}")))
                    .collect();
                f.evidence
                    .push(format!("clients that loaded: {}", clients.join(", ")));
            }
            f.fix = "let one client load: take a lock in Redis (`SET <key>:lock <token> NX PX <ttl>`), have the others wait for the value, re-check the cache after taking the lock".into();
            findings.push(f);
        }
        let errors: Vec<String> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("client #{i}: {e}")))
            .collect();
        if !errors.is_empty() {
            let mut f = Finding::bug(
                "failed requests",
                format!("{} of {} requests failed", errors.len(), self.clients),
            );
            f.scenario = scenario.clone();
            f.evidence = errors.into_iter().take(6).collect();
            f.fix = "a client that cannot get the value must fall back to a bounded wait, then a load of its own".into();
            findings.push(f);
        }
        Report {
            charts: Vec::new(),
            scenario: format!("cache stampede (real Redis): {scenario}"),
            seeds: Vec::new(),
            findings,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("loads".into(), loads.len().to_string()),
                ("worst".into(), analysis.worst().to_string()),
            ],
            wall_time: began.elapsed(),
        }
    }
}
