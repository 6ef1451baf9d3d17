//! Cache stampede: does a cold or expiring hot key send more than one load to the database,
//! on one instance or on several?
//!
//! # The scenarios
//! Every scenario has one shared [`SimCache`] and one shared [`SimDb`] (loads take 100 ms by
//! default), `keys` hot keys (default 1, named `"1"`, `"2"`, …) and `instances` simulated
//! instances of the service (default 1). Each request runs the body once with a
//! [`StampedeEnv`]: the key it asks for ([`env.key()`](StampedeEnv::key)), the shared cache and
//! database, and [`env.per_instance(|| T)`](StampedeEnv::per_instance), which builds one `T`
//! per instance: in-process state such as a local mutex, a singleflight table or an in-memory
//! cache. Requests are spread over the instances round-robin, like a load balancer does, and
//! over the keys at random (from the seed).
//!
//! - `scenario = "cold"` (default): `clients` requests (default 100) arrive within 10 ms on an
//!   empty cache: a deploy, a flush, a failover. All of them miss the same cold keys at once.
//! - `scenario = "expiry"`: the cache is first warmed (one request per key, alone; its loads
//!   do not count), then requests arrive as a Poisson process at `rps` (default 100) for
//!   `duration` (default 10 s). The code stores entries with [`env.ttl()`](StampedeEnv::ttl)
//!   (default 1 s), so every entry expires again and again under traffic; every expiry is
//!   checked.
//!
//! # The property: loads per key per cold start or expiry
//! Every database load is recorded with its key, start and end time, the client and so the
//! instance that made it, and whether it failed. Loads are grouped per key into **episodes**:
//! in the cold scenario all loads of a key form one episode (its cold start); in the expiry
//! scenario an episode starts with a load after the warm-up and takes in every load of the
//! same key that starts within `ttl / 2` of it (one expiry and the refresh it triggers).
//!
//! The code is **flagged** when any episode has more than `max_loads_per_key` loads (default
//! 1), counted **across all instances**. The finding lists the worst keys with their load
//! counts, times and instances, and says so when in-process coalescing was defeated by a
//! second instance: each instance loaded at most `max_loads_per_key` times, but together they
//! loaded more.
//!
//! # Failing loaders
//! `failing_loads = "0s..1s"` makes every load that starts in the window fail (after the
//! usual latency). Code must not turn the waiters of a failed load into a storm: a per-key
//! mutex whose holder fails lets the next waiter load, then the next, one after another (a
//! *serial* storm); code without coalescing loads in parallel. Both are counted the same way,
//! and the finding reports how many loads failed and how many were in flight at once.
//!
//! # Why an in-process lock does not protect a shared database
//! A `Mutex`, a singleflight table or a "loading" flag lives in the memory of one process.
//! Production runs the same service as several instances behind a load balancer, and every
//! instance has its own copy of that lock: each one lets exactly one of *its* requests
//! through to the database, so N instances send N loads for the same key at the same instant.
//! The lock coalesced the requests inside each process, but the database is shared by all of
//! them. Only something every instance sees can coalesce across instances: a lease in the
//! shared cache (`SET key token NX PX ttl`, here [`SimCache::set_nx`]) whose winner re-checks
//! the cache and loads while the others wait for the value, a database advisory lock, or a
//! refresh done by a single background job. `instances = 2` is how a test asks this question.
//!
//! ```
//! use whatbreaks_core::detectors::stampede::{StampedeEnv, StampedeTest};
//!
//! // Plain cache-aside: every request that misses loads the row.
//! let report = StampedeTest::new().clients(50).seed(1).run(|env: StampedeEnv| async move {
//!     let key = format!("product:{}", env.key());
//!     if env.cache().get(&key).await.is_none() {
//!         if let Ok(row) = env.db().load(&env.key()).await {
//!             env.cache().set(&key, row, env.ttl()).await;
//!         }
//!     }
//! });
//! assert!(report.flagged("cache stampede"));
//! ```
//!
//! [`SimCache`]: crate::components::store::SimCache
//! [`SimDb`]: crate::components::store::SimDb

use crate::components::store::{Load, SimCache, SimDb};
use crate::report::{Finding, Report, histogram};
use crate::runtime::sim::{self, Arrivals, ClientId, RunLimits};
use crate::scenario::config::{Settings, splitmix64};
use crate::scenario::{self, Activity, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use parking_lot::Mutex;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of stampede findings.
pub const PATTERN: &str = "cache stampede";

/// How long the cold burst lasts: every request of the cold scenario arrives inside it.
pub const COLD_BURST: Duration = Duration::from_millis(10);

/// Which situation the scenario puts the cache in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampedeScenario {
    /// Every request misses the same cold keys at once.
    Cold,
    /// Warm cache, steady traffic, entries expire on their TTL.
    Expiry,
}

impl StampedeScenario {
    /// `"cold"` or `"expiry"`.
    pub fn name(self) -> &'static str {
        match self {
            StampedeScenario::Cold => "cold",
            StampedeScenario::Expiry => "expiry",
        }
    }

    fn episode(self) -> &'static str {
        match self {
            StampedeScenario::Cold => "cold start",
            StampedeScenario::Expiry => "expiry",
        }
    }
}

type States = Arc<Mutex<BTreeMap<(u32, TypeId), Arc<dyn Any + Send + Sync>>>>;

/// What the body of a stampede scenario gets: its key, the shared backends, per-instance state.
#[derive(Clone)]
pub struct StampedeEnv {
    cache: SimCache,
    db: SimDb,
    key: Arc<str>,
    instance: u32,
    ttl: Duration,
    states: States,
}

impl fmt::Debug for StampedeEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StampedeEnv")
            .field("key", &self.key)
            .field("instance", &self.instance)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl StampedeEnv {
    /// The hot key this request asks for (`"1"`, `"2"`, … up to `keys`).
    pub fn key(&self) -> String {
        self.key.to_string()
    }

    /// The cache shared by every instance (a clonable handle).
    pub fn cache(&self) -> SimCache {
        self.cache.clone()
    }

    /// The database shared by every instance (a clonable handle).
    pub fn db(&self) -> SimDb {
        self.db.clone()
    }

    /// The TTL the code should give cache entries (the `ttl` setting, default 1 s).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The instance this request runs on, `0..instances`.
    pub fn instance(&self) -> u32 {
        self.instance
    }

    /// This instance's `T`, built by `init` on first use: in-process state such as a local
    /// lock table or an in-memory cache. One value per instance and per type `T`; every
    /// request on the same instance gets the same `Arc`.
    pub fn per_instance<T: Send + Sync + 'static>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let id = (self.instance, TypeId::of::<T>());
        let existing = self.states.lock().get(&id).cloned();
        if let Some(v) = existing.and_then(|v| v.downcast::<T>().ok()) {
            return v;
        }
        // Build outside the lock: `init` may itself ask for per-instance state.
        let fresh = Arc::new(init());
        let stored = self
            .states
            .lock()
            .entry(id)
            .or_insert_with(|| fresh.clone() as Arc<dyn Any + Send + Sync>)
            .clone();
        stored.downcast::<T>().unwrap_or(fresh)
    }
}

#[cfg(feature = "redis")]
impl StampedeEnv {
    /// The shared cache as a redis-rs connection (feature `redis`), for code written against
    /// redis-rs: see [`crate::seams::redis`].
    pub fn redis(&self) -> crate::seams::redis::SimRedis {
        self.cache.redis()
    }
}

/// A cache-stampede scenario (builder). `#[stampede_test]` is sugar over it.
#[derive(Clone, Debug)]
pub struct StampedeTest {
    settings: Settings,
    clients: u32,
    keys: u32,
    instances: u32,
    scenario: StampedeScenario,
    scenario_error: Option<String>,
    rps: f64,
    duration: Duration,
    max_loads_per_key: u32,
    ttl: Duration,
    db_latency: Duration,
    cache_latency: Duration,
    failing_loads: Option<Range<Duration>>,
}

crate::scenario::impl_common_settings!(StampedeTest);

impl Default for StampedeTest {
    fn default() -> Self {
        Self::new()
    }
}

/// One load as the analysis sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadRecord {
    /// Start.
    pub at: Duration,
    /// End.
    pub done: Duration,
    /// The client that made it.
    pub client: Option<ClientId>,
    /// The instance that made it (unknown for loads made outside a client's task).
    pub instance: Option<u32>,
    /// Whether it failed.
    pub failed: bool,
}

/// The loads of one key in one cold start or one expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// The key.
    pub key: String,
    /// The loads, in start order.
    pub loads: Vec<LoadRecord>,
}

impl Episode {
    /// When the first load started.
    pub fn start(&self) -> Duration {
        self.loads.first().map(|l| l.at).unwrap_or_default()
    }

    /// When the last load started.
    pub fn last_start(&self) -> Duration {
        self.loads.last().map(|l| l.at).unwrap_or_default()
    }

    /// Loads that failed.
    pub fn failed(&self) -> usize {
        self.loads.iter().filter(|l| l.failed).count()
    }

    /// Loads per instance (`None`: made outside any client's task).
    pub fn per_instance(&self) -> BTreeMap<Option<u32>, usize> {
        let mut out = BTreeMap::new();
        for l in &self.loads {
            *out.entry(l.instance).or_insert(0) += 1;
        }
        out
    }

    /// Most loads of this key in flight at once.
    pub fn max_in_flight(&self) -> usize {
        let mut events: Vec<(Duration, i32)> = Vec::new();
        for l in &self.loads {
            events.push((l.at, 1));
            events.push((l.done.max(l.at), -1));
        }
        // Ends before starts at the same instant: back-to-back loads are not concurrent.
        events.sort();
        let (mut now, mut max) = (0i32, 0i32);
        for (_, d) in events {
            now += d;
            max = max.max(now);
        }
        max as usize
    }

    /// True when the loads came from several instances and none of them loaded more than
    /// `max` times: coalescing worked inside each instance but not across them.
    pub fn defeated_by_instances(&self, max: u32) -> bool {
        let per = self.per_instance();
        let known = per.keys().filter(|i| i.is_some()).count();
        known >= 2 && per.values().all(|&n| n <= max as usize)
    }
}

/// The analysis of one run's loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampedeAnalysis {
    /// The scenario.
    pub scenario: StampedeScenario,
    /// Loads allowed per episode.
    pub max_loads: u32,
    /// Every episode, by key, then start.
    pub episodes: Vec<Episode>,
    /// Loads before the measured part (the warm-up of the expiry scenario).
    pub warm_up_loads: usize,
    /// Whether the code is flagged.
    pub flagged: bool,
}

impl StampedeAnalysis {
    /// Groups `loads` that start at or after `since` into episodes (see the module docs) and
    /// judges them. `window` is `None` for one episode per key (cold start), or the expiry
    /// window (`ttl / 2`).
    pub fn of(
        loads: &[Load],
        instance_of: &BTreeMap<ClientId, u32>,
        scenario: StampedeScenario,
        since: Duration,
        window: Option<Duration>,
        max_loads: u32,
    ) -> Self {
        let mut per_key: BTreeMap<&str, Vec<LoadRecord>> = BTreeMap::new();
        let mut warm_up_loads = 0;
        for l in loads {
            if l.at < since {
                warm_up_loads += 1;
                continue;
            }
            per_key.entry(&l.key).or_default().push(LoadRecord {
                at: l.at,
                done: l.done,
                client: l.client,
                instance: l.client.and_then(|c| instance_of.get(&c).copied()),
                failed: l.failed,
            });
        }
        let mut episodes = Vec::new();
        for (key, mut records) in per_key {
            records.sort_by_key(|r| r.at);
            let mut current: Option<Episode> = None;
            for r in records {
                match (&mut current, window) {
                    (Some(e), None) => e.loads.push(r),
                    (Some(e), Some(w)) if r.at < e.start() + w => e.loads.push(r),
                    _ => {
                        episodes.extend(current.take());
                        current = Some(Episode {
                            key: key.to_string(),
                            loads: vec![r],
                        });
                    }
                }
            }
            episodes.extend(current);
        }
        let flagged = episodes.iter().any(|e| e.loads.len() > max_loads as usize);
        StampedeAnalysis {
            scenario,
            max_loads,
            episodes,
            warm_up_loads,
            flagged,
        }
    }

    /// Episodes with too many loads, worst first.
    pub fn over(&self) -> Vec<&Episode> {
        let mut v: Vec<&Episode> = self
            .episodes
            .iter()
            .filter(|e| e.loads.len() > self.max_loads as usize)
            .collect();
        v.sort_by(|a, b| {
            b.loads
                .len()
                .cmp(&a.loads.len())
                .then(a.start().cmp(&b.start()))
                .then(a.key.cmp(&b.key))
        });
        v
    }

    /// The most loads in one episode.
    pub fn worst(&self) -> usize {
        self.episodes
            .iter()
            .map(|e| e.loads.len())
            .max()
            .unwrap_or(0)
    }

    /// True when every over-limit episode was within the limit on each instance: in-process
    /// coalescing that a second instance defeated.
    pub fn defeated_by_instances(&self) -> bool {
        let over = self.over();
        !over.is_empty() && over.iter().all(|e| e.defeated_by_instances(self.max_loads))
    }

    /// The headline number, e.g. `100 loads of one key in one cold start`.
    pub fn key_figure(&self) -> String {
        let what = self.scenario.episode();
        if self.episodes.is_empty() {
            return match self.scenario {
                StampedeScenario::Cold => "no database loads".into(),
                StampedeScenario::Expiry => {
                    "no entry expired under traffic (does the code store entries with env.ttl()?)"
                        .into()
                }
            };
        }
        let worst = self.worst();
        if self.flagged {
            let over = self.over();
            let mut s = format!("{worst} loads of one key per {what}");
            if self.defeated_by_instances() {
                s.push_str(", 1 per instance");
            } else if over[0].failed() > 0 {
                s.push_str(&format!(", {} failed", over[0].failed()));
            }
            if self.scenario == StampedeScenario::Expiry {
                s.push_str(&format!(
                    " ({}/{} expiries)",
                    over.len(),
                    self.episodes.len()
                ));
            }
            s
        } else {
            match self.scenario {
                StampedeScenario::Cold => format!("{worst} load per key per cold start"),
                StampedeScenario::Expiry => format!(
                    "<= {worst} load per key per expiry ({} expiries)",
                    self.episodes.len()
                ),
            }
        }
    }
}

impl StampedeTest {
    /// Cold start, 100 clients, 1 key, 1 instance, at most 1 load per key; for the expiry
    /// scenario 100 rps for 10 s; TTL 1 s; database loads take 100 ms, cache operations 1 ms.
    pub fn new() -> Self {
        StampedeTest {
            settings: Settings::default(),
            clients: 100,
            keys: 1,
            instances: 1,
            scenario: StampedeScenario::Cold,
            scenario_error: None,
            rps: 100.0,
            duration: Duration::from_secs(10),
            max_loads_per_key: 1,
            ttl: Duration::from_secs(1),
            db_latency: Duration::from_millis(100),
            cache_latency: Duration::from_millis(1),
            failing_loads: None,
        }
    }

    /// Requests of the cold scenario (default 100).
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients;
        self
    }

    /// Hot keys (default 1).
    pub fn keys(mut self, keys: u32) -> Self {
        self.keys = keys;
        self
    }

    /// Simulated instances of the service (default 1).
    pub fn instances(mut self, instances: u32) -> Self {
        self.instances = instances;
        self
    }

    /// `"cold"` (default) or `"expiry"`; any other name is reported as a configuration error.
    pub fn scenario(mut self, name: &str) -> Self {
        match name {
            "cold" => self.scenario = StampedeScenario::Cold,
            "expiry" => self.scenario = StampedeScenario::Expiry,
            other => self.scenario_error = Some(other.to_string()),
        }
        self
    }

    /// Same as [`scenario`](Self::scenario), typed.
    pub fn scenario_kind(mut self, scenario: StampedeScenario) -> Self {
        self.scenario = scenario;
        self.scenario_error = None;
        self
    }

    /// Requests per second of the expiry scenario (default 100).
    pub fn rps(mut self, rps: f64) -> Self {
        self.rps = rps;
        self
    }

    /// How long the expiry scenario's traffic lasts (default 10 s).
    pub fn run_for(mut self, run_for: Duration) -> Self {
        self.duration = run_for;
        self
    }

    /// Old name of [`run_for`](Self::run_for) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `run_for`")]
    pub fn duration(self, duration: Duration) -> Self {
        self.run_for(duration)
    }

    /// Loads allowed per key per cold start or expiry, across all instances (default 1).
    pub fn max_loads_per_key(mut self, max: u32) -> Self {
        self.max_loads_per_key = max;
        self
    }

    /// The TTL the code should use, handed to it as [`StampedeEnv::ttl`] (default 1 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Latency of one database load (default 100 ms).
    pub fn db_latency(mut self, latency: Duration) -> Self {
        self.db_latency = latency;
        self
    }

    /// Latency of one cache operation (default 1 ms).
    pub fn cache_latency(mut self, latency: Duration) -> Self {
        self.cache_latency = latency;
        self
    }

    /// Database loads that start inside `window` fail: the database's outage (default: none
    /// fail).
    pub fn outage(mut self, window: Range<Duration>) -> Self {
        self.failing_loads = Some(window);
        self
    }

    /// Old name of [`outage`](Self::outage) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `outage`")]
    pub fn failing_loads(self, window: Range<Duration>) -> Self {
        self.outage(window)
    }

    fn db(&self) -> SimDb {
        let mut b = SimDb::builder("db").latency(self.db_latency);
        if let Some(w) = &self.failing_loads {
            b = b.failing(w.clone());
        }
        b.build()
    }

    fn scenario_line(&self, db: &SimDb) -> String {
        let keys = plural(self.keys as usize, "key");
        let instances = plural(self.instances as usize, "instance");
        match self.scenario {
            StampedeScenario::Cold => format!(
                "cold start: {} arriving within {} on an empty cache, {keys}, {instances}, {}",
                plural(self.clients as usize, "client"),
                format_duration(COLD_BURST),
                db.describe()
            ),
            StampedeScenario::Expiry => format!(
                "expiry: {} rps for {} on a warm cache, ttl {}, {keys}, {instances}, {}",
                self.rps,
                format_duration(self.duration),
                format_duration(self.ttl),
                db.describe()
            ),
        }
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one request's work; it gets a [`StampedeEnv`].
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(StampedeEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the database (for its loads and trace hash).
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, SimDb)
    where
        B: Fn(StampedeEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let cache = SimCache::with_latency(self.cache_latency);
        let db = self.db();
        let states: States = Arc::new(Mutex::new(BTreeMap::new()));
        let keys: Vec<Arc<str>> = (1..=self.keys).map(|k| Arc::from(k.to_string())).collect();
        let expiry = self.scenario == StampedeScenario::Expiry;
        let offsets = if expiry {
            Arrivals::Poisson { rate: self.rps }.offsets_for(self.duration, limits.seed)
        } else {
            Arrivals::Uniform { over: COLD_BURST }.offsets(self.clients, limits.seed)
        };
        // Who asks for what, on which instance: round-robin instances, keys from the seed.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(splitmix64(limits.seed ^ 0x57A_3BED));
        let warm = if expiry { keys.len() } else { 0 };
        let mut plan: Vec<(u32, usize)> = (0..warm).map(|k| (0, k)).collect();
        plan.extend(
            (0..offsets.len())
                .map(|i| (i as u32 % self.instances, rng.random_range(0..keys.len()))),
        );
        let instance_of: BTreeMap<ClientId, u32> = plan
            .iter()
            .enumerate()
            .map(|(id, (inst, _))| (id as ClientId, *inst))
            .collect();
        let ttl = self.ttl;
        let (c, d) = (cache.clone(), db.clone());
        let run = sim::simulate(limits, move || async move {
            let plan = Arc::new(plan);
            let env = move |id: ClientId| {
                let (instance, key) = plan[id as usize];
                StampedeEnv {
                    cache: c.clone(),
                    db: d.clone(),
                    key: keys[key].clone(),
                    instance,
                    ttl,
                    states: states.clone(),
                }
            };
            let env = Arc::new(env);
            if warm > 0 {
                let (b, e) = (body.clone(), env.clone());
                sim::run_clients(&vec![Duration::ZERO; warm], move |id| b(e(id))).await;
            }
            let since = sim::now();
            let shifted: Vec<Duration> = offsets.iter().map(|o| *o + since).collect();
            sim::run_clients(&shifted, move |id| body(env(id))).await;
            since
        });
        let scenario = self.scenario_line(&db);
        let mut findings = harness_findings(&run, limits, &scenario);
        let since = run.value.unwrap_or_default();
        let window = expiry.then_some(self.ttl / 2);
        let analysis = db.with_loads(|loads| {
            StampedeAnalysis::of(
                loads,
                &instance_of,
                self.scenario,
                since,
                window,
                self.max_loads_per_key,
            )
        });
        if analysis.flagged {
            findings.insert(0, self.finding(&analysis, &db, scenario));
        } else if expiry && analysis.episodes.is_empty() && db.with_loads(|l| !l.is_empty()) {
            // The warm-up loaded, then nothing ever expired: the premise never happened.
            findings.push(
                Finding::config(format!(
                    "the scenario's premise never happened: no entry expired in {} of traffic at {} rps with ttl {} (no database load after the warm-up), so no expiry was judged",
                    format_duration(self.duration),
                    self.rps,
                    format_duration(self.ttl)
                ))
                .with_scenario(scenario)
                .with_fix(format!(
                    "store entries with the scenario's TTL (`env.ttl()`); {}",
                    scenario::premise_fix()
                )),
            );
        }
        let result = SeedResult {
            activity: Some(Activity {
                virtual_elapsed: run.virtual_elapsed,
                count: db.with_loads(|l| l.len()),
                what: "database load",
            }),
            findings,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("db loads".into(), db.with_loads(|l| l.len()).to_string()),
                ("loads per key".into(), loads_per_key(&db)),
                ("warm-up loads".into(), analysis.warm_up_loads.to_string()),
                ("episodes".into(), analysis.episodes.len().to_string()),
                (
                    "worst loads per episode".into(),
                    analysis.worst().to_string(),
                ),
                ("max loads in flight".into(), db.max_in_flight().to_string()),
                ("cache ops".into(), cache.ops().to_string()),
                ("trace hash".into(), format!("{:#018x}", db.trace_hash())),
            ],
            charts: vec![loads_chart(&db, &analysis, expiry)],
        };
        (result, db)
    }

    fn finding(&self, a: &StampedeAnalysis, db: &SimDb, scenario: String) -> Finding {
        let over = a.over();
        let worst = over[0];
        let what = a.scenario.episode();
        let max = a.max_loads;
        let defeated = a.defeated_by_instances();
        let serial = worst.failed() > 0 && worst.max_in_flight() == 1;
        let verdict = if defeated {
            format!(
                "in-process coalescing was defeated by a second instance: {} loads of key \"{}\" in one {what}, at most {max} per instance (allowed {max} in all)",
                worst.loads.len(),
                worst.key,
            )
        } else if serial {
            format!(
                "failed loads turned the waiters into a serial storm: {} loads of key \"{}\" in one {what}, one after another (allowed {max})",
                worst.loads.len(),
                worst.key,
            )
        } else {
            format!(
                "{} database loads of key \"{}\" in one {what} (allowed {max})",
                worst.loads.len(),
                worst.key,
            )
        };
        let mut f = Finding::bug(PATTERN, verdict);
        f.scenario = scenario;
        let keys_over: std::collections::BTreeSet<&str> =
            over.iter().map(|e| e.key.as_str()).collect();
        let more_than = match max {
            1 => "more than once".to_string(),
            n => format!("more than {n} times"),
        };
        f.evidence.push(match a.scenario {
            StampedeScenario::Cold => format!(
                "{} of {} loaded {more_than} in the cold start",
                keys_over.len(),
                plural(a.episodes.len(), "key")
            ),
            StampedeScenario::Expiry => format!(
                "{} of {} of {} loaded {more_than}",
                over.len(),
                plural(a.episodes.len(), "expiry").replace("expirys", "expiries"),
                plural(keys_over.len(), "key")
            ),
        });
        for e in over.iter().take(4) {
            let failed = match e.failed() {
                0 => String::new(),
                n => format!(", {n} failed"),
            };
            let flight = match e.max_in_flight() {
                1 => "one at a time".to_string(),
                n => format!("up to {n} in flight"),
            };
            let instances = e
                .per_instance()
                .iter()
                .map(|(i, n)| match i {
                    Some(i) => format!("#{i}: {n}"),
                    None => format!("outside a request: {n}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            f.evidence.push(format!(
                "key \"{}\", {what} at t={}: {} loads{failed}, {flight}; per instance {instances}",
                e.key,
                format_duration(e.start()),
                e.loads.len(),
            ));
            let shown: Vec<String> = e
                .loads
                .iter()
                .take(8)
                .map(|l| {
                    let inst = l.instance.map(|i| format!("#{i}")).unwrap_or("?".into());
                    format!(
                        "{}{}{}",
                        format_duration(l.at),
                        if self.instances > 1 {
                            format!(" on {inst}")
                        } else {
                            String::new()
                        },
                        if l.failed { " (failed)" } else { "" }
                    )
                })
                .collect();
            let more = if e.loads.len() > 8 {
                format!(", … last at {}", format_duration(e.last_start()))
            } else {
                String::new()
            };
            f.evidence
                .push(format!("  at t={}{more}", shown.join(", ")));
        }
        let times: Vec<Duration> = db.with_loads(|loads| {
            loads
                .iter()
                .filter(|l| l.key == worst.key)
                .map(|l| l.at)
                .collect()
        });
        f.picture = Some((format!("loads \"{}\"", worst.key), histogram(&times, 60)));
        let instances = self.instances;
        f.fix = if defeated {
            format!(
                "an in-process lock or singleflight only coalesces requests inside one process: with {instances} instances the database gets up to {instances} loads per key. Take a lease in the shared cache (set_nx(\"lock:<key>\", token, ttl), Redis SET NX PX), re-check the cache after winning it, and let the other instances wait for the value instead of loading"
            )
        } else if serial {
            "when the load fails, each waiter takes the lock in turn and loads again: hand the leader's result, error included, to every waiter (singleflight), or cache the failure for a short time (negative caching), and bound how long waiters wait".into()
        } else if a.scenario == StampedeScenario::Expiry {
            "every request that finds the entry expired loads it: coalesce the refresh into one load per key (singleflight; a lease in the shared cache with several instances) and serve the stale value while it runs (stale-while-revalidate), or refresh early with probability (XFetch)".into()
        } else if worst.failed() > 0 {
            "concurrent misses each load, and a failed load does not stop the next: coalesce misses into one load per key and share its result, error included, with every waiter".into()
        } else {
            "every request that misses loads the row: coalesce concurrent misses into one load per key (singleflight, or a per-key lock with a re-check of the cache after acquiring it); with several instances, a lease in the shared cache (set_nx with a TTL)".into()
        };
        f
    }
}

/// `"1": 3 (2 failed), "2": 1` for at most 10 keys, warm-up included.
fn loads_per_key(db: &SimDb) -> String {
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    db.with_loads(|loads| {
        for l in loads {
            let e = per.entry(l.key.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(l.failed);
        }
    });
    let mut parts: Vec<String> = per
        .iter()
        .take(10)
        .map(|(k, (n, failed))| match failed {
            0 => format!("\"{k}\": {n}"),
            f => format!("\"{k}\": {n} ({f} failed)"),
        })
        .collect();
    if per.len() > 10 {
        parts.push(format!("… {} more keys", per.len() - 10));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Database loads per key over virtual time (the six most loaded keys), with the start of
/// each load episode (an expiry, or the cold start) marked.
fn loads_chart(db: &SimDb, analysis: &StampedeAnalysis, expiry: bool) -> crate::report::Chart {
    use crate::report::{Chart, ChartKind, time_buckets_to};
    let mut per_key: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    db.with_loads(|loads| {
        for l in loads {
            per_key.entry(l.key.clone()).or_default().push(l.at);
        }
    });
    let mut keys: Vec<(String, Vec<Duration>)> = per_key.into_iter().collect();
    keys.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let last = keys
        .iter()
        .flat_map(|(_, t)| t.iter().copied())
        .max()
        .unwrap_or_default();
    // Buckets fine enough to show a burst of concurrent loads: about 100 over the span.
    let bucket = [
        1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 10_000, 60_000,
    ]
    .into_iter()
    .map(Duration::from_millis)
    .find(|w| last.as_millis() / w.as_millis() <= 100)
    .unwrap_or(Duration::from_secs(60));
    let mut chart = Chart::new(
        "database loads per key over virtual time",
        ChartKind::Bars,
        "virtual time (s)",
        format!("loads per {}", format_duration(bucket)),
    );
    for (key, times) in keys.into_iter().take(6) {
        let points = time_buckets_to(&times, bucket, last, 400);
        chart = chart.series(format!("key {key}"), points);
    }
    let label = if expiry { "expiry" } else { "cold start" };
    for (i, e) in analysis.episodes.iter().take(20).enumerate() {
        chart = chart.mark(e.start().as_secs_f64(), if i == 0 { label } else { "" });
    }
    chart
}

impl<B, Fut> Scenario<Arc<B>> for StampedeTest
where
    B: Fn(StampedeEnv) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "stampede".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario_line(&self.db())
    }
    fn check(&self, p: &mut Problems) {
        if let Some(name) = &self.scenario_error {
            p.push("scenario", name, "\"cold\" or \"expiry\"");
        }
        p.at_least("clients", self.clients.into(), 1);
        p.at_least("keys", self.keys.into(), 1);
        p.at_least("instances", self.instances.into(), 1);
        p.at_least("max_loads_per_key", self.max_loads_per_key.into(), 1);
        p.require(
            self.rps.is_finite() && self.rps > 0.0 && self.rps <= 1e6,
            "rps",
            self.rps,
            "requests per second greater than 0 and at most 1000000",
        );
        p.positive("run_for", self.duration);
        p.positive("ttl", self.ttl);
        if let Some(w) = &self.failing_loads {
            p.window("outage", w);
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

    fn load(key: &str, at_ms: u64, client: ClientId, failed: bool) -> Load {
        Load {
            key: key.into(),
            at: Duration::from_millis(at_ms),
            done: Duration::from_millis(at_ms + 100),
            client: Some(client),
            failed,
            in_flight: 1,
        }
    }

    fn instances(n: u32) -> BTreeMap<ClientId, u32> {
        (0..100).map(|c| (c, c % n)).collect()
    }

    #[test]
    fn cold_start_counts_every_load_of_a_key() {
        let loads: Vec<_> = (0..5).map(|c| load("1", c as u64, c, false)).collect();
        let a = StampedeAnalysis::of(
            &loads,
            &instances(1),
            StampedeScenario::Cold,
            Duration::ZERO,
            None,
            1,
        );
        assert!(a.flagged);
        assert_eq!(a.worst(), 5);
        assert_eq!(a.episodes[0].max_in_flight(), 5);
        assert!(!a.defeated_by_instances());
        assert_eq!(a.key_figure(), "5 loads of one key per cold start");
    }

    #[test]
    fn one_load_per_instance_is_reported_as_defeated_coalescing() {
        let loads = vec![load("1", 0, 0, false), load("1", 1, 1, false)];
        let a = StampedeAnalysis::of(
            &loads,
            &instances(2),
            StampedeScenario::Cold,
            Duration::ZERO,
            None,
            1,
        );
        assert!(a.flagged && a.defeated_by_instances());
        assert!(
            a.key_figure().ends_with("1 per instance"),
            "{}",
            a.key_figure()
        );
    }

    #[test]
    fn expiries_are_split_by_half_a_ttl_and_warm_up_is_ignored() {
        let loads = vec![
            load("1", 0, 0, false),
            load("1", 1_100, 1, false),
            load("1", 2_200, 2, false),
            load("1", 2_250, 3, false),
            load("2", 2_300, 4, false),
        ];
        let a = StampedeAnalysis::of(
            &loads,
            &instances(1),
            StampedeScenario::Expiry,
            Duration::from_millis(50),
            Some(Duration::from_millis(500)),
            1,
        );
        assert_eq!(a.warm_up_loads, 1);
        assert_eq!(a.episodes.len(), 3);
        assert!(a.flagged);
        assert_eq!(a.over()[0].loads.len(), 2);
    }

    #[test]
    fn serial_loads_are_not_concurrent() {
        let loads: Vec<_> = (0..3).map(|c| load("1", c as u64 * 100, c, true)).collect();
        let a = StampedeAnalysis::of(
            &loads,
            &instances(1),
            StampedeScenario::Cold,
            Duration::ZERO,
            None,
            1,
        );
        assert_eq!(a.episodes[0].max_in_flight(), 1);
        assert_eq!(a.episodes[0].failed(), 3);
    }

    #[test]
    fn per_instance_state_is_shared_within_an_instance_only() {
        let states: States = Arc::new(Mutex::new(BTreeMap::new()));
        let env = |instance| StampedeEnv {
            cache: SimCache::new(),
            db: SimDb::new(),
            key: Arc::from("1"),
            instance,
            ttl: Duration::from_secs(1),
            states: states.clone(),
        };
        let a = env(0).per_instance(|| Mutex::new(0u32));
        *a.lock() += 1;
        assert_eq!(*env(0).per_instance(|| Mutex::new(0u32)).lock(), 1);
        assert_eq!(*env(1).per_instance(|| Mutex::new(0u32)).lock(), 0);
    }

    #[test]
    fn plain_cache_aside_is_flagged_and_a_bad_scenario_is_a_config_error() {
        let report = StampedeTest::new()
            .clients(20)
            .seed(1)
            .run(|env: StampedeEnv| async move {
                if env.cache().get(&env.key()).await.is_none() {
                    if let Ok(row) = env.db().load(&env.key()).await {
                        env.cache().set(&env.key(), row, env.ttl()).await;
                    }
                }
            });
        assert!(report.flagged(PATTERN), "{report}");
        assert!(report.render().contains("20 database loads of key \"1\""));
        let bad = StampedeTest::new().scenario("warm").run(|_| async {});
        assert_eq!(bad.findings[0].kind, FindingKind::Config);
    }
}
