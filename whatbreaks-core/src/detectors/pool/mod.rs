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
//!   A **latent** pool deadlock is flagged the same way when the run did not deadlock: a
//!   task that holds a connection and acquires another from the same pool is reported with
//!   both sites (held, acquiring) and the concurrency at which the pool deadlocks (its size),
//!   because production's arrivals will overlap where this run's did not.
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
//! use whatbreaks_core::{PoolTest, SimPool};
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

pub mod watch;

use crate::components::pool::*;
use crate::report::{Finding, Report};
use crate::runtime::sim::{self, Arrivals, ClientId, RunEnd, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Activity, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Pattern name: connections still checked out when their client finished.
pub const LEAK: &str = "connection leak";
/// Pattern name: acquires that waited past `max_wait` or timed out.
pub const STARVATION: &str = "pool starvation";
/// Pattern name: every connection held by a task that waits to acquire.
pub const DEADLOCK: &str = "pool deadlock";

/// The finding of nested acquires on a pool of `size` connections that did not deadlock in
/// this run: the shape of a pool deadlock, with every pair of sites (simulated and real
/// pools alike).
pub(crate) fn latent_deadlock(nested: &[NestedAcquire], size: usize, scenario: &str) -> Finding {
    let mut f = Finding::bug(
        DEADLOCK,
        format!(
            "latent pool deadlock: a task holding a connection waits for a second one from the same pool; {size} such requests at once deadlock it"
        ),
    )
    .with_fix(NESTED_FIX);
    f.scenario = scenario.to_string();
    for n in nested {
        f.evidence.push(format!(
            "holds the connection checked out at {} and acquires again at {} ({} time(s), first by {} at t={})",
            n.held_at,
            n.acquired_at,
            n.times,
            n.first.0.map_or("a task".into(), |c| format!("client #{c}")),
            format_duration(n.first.1)
        ));
    }
    f
}

const NESTED_FIX: &str = "acquire once per request and pass the connection (`&conn`) to helpers instead of acquiring again while holding one; a pool of size N deadlocks under N clients that each hold one and wait for another";
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
        // The text as given, when it does not parse: `check` reports it with the accepted form.
        AcquireTimeout(crate::spec::parse_timeout(text).map_err(|_| text.to_string()))
    }
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

crate::scenario::impl_common_settings!(PoolTest);

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
        self.config.size = size;
        self
    }

    /// Clients, each running the body once (default 100).
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients;
        self
    }

    /// The window over which clients arrive, uniformly (default `0s..10s`).
    pub fn arrivals(mut self, window: Range<Duration>) -> Self {
        self.window = window;
        self
    }

    /// Old name of [`arrivals`](Self::arrivals) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `arrivals`")]
    pub fn window(self, window: Range<Duration>) -> Self {
        self.arrivals(window)
    }

    /// Acquire timeout: a `Duration`, `None`, or `"1s"` / `"none"` (default none: forever).
    pub fn acquire_timeout(mut self, timeout: impl Into<AcquireTimeout>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Share of queries that fail (default 0).
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.config.error_rate = rate;
        self
    }

    /// Share of queries that never return, losing their connection (default 0).
    pub fn hang_rate(mut self, rate: f64) -> Self {
        self.config.hang_rate = rate;
        self
    }

    /// Share of queries that take `slow_latency` (default 0).
    pub fn slow_rate(mut self, rate: f64) -> Self {
        self.config.slow_rate = rate;
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
        scenario::run(self, Arc::new(body))
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
        let result = SeedResult {
            activity: Some(Activity {
                virtual_elapsed: run.virtual_elapsed,
                count: stats.acquires as usize,
                what: "acquire from the pool",
            }),
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
    /// Acquires made while the same task held a connection: the shape of a pool deadlock,
    /// flagged whether or not this run deadlocked.
    pub nested: Vec<NestedAcquire>,
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
        let nested = pool.nested_acquires();
        PoolAnalysis {
            nested,
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
            || !self.nested.is_empty()
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
            f.fix = NESTED_FIX.into();
            out.push(f);
        } else if !self.nested.is_empty() {
            // The shape, although this run's arrivals never overlapped enough to deadlock.
            let mut f = latent_deadlock(&self.nested, stats.size, scenario);
            f.evidence.push(format!(
                "this run peaked at {}/{} connections in use, so it did not deadlock; {} concurrent requests would",
                stats.peak_in_use, stats.size, stats.size
            ));
            f.picture = picture.clone();
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

impl<B, Fut> Scenario<Arc<B>> for PoolTest
where
    B: Fn(SimPool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "pool".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario(self.timeout.0.clone().unwrap_or(None))
    }
    fn check(&self, p: &mut Problems) {
        p.at_least("size", self.config.size as u64, 1);
        p.at_least("clients", self.clients.into(), 1);
        p.require(
            self.window.start <= self.window.end,
            "arrivals",
            &self.window,
            format!(
                "a window that does not end before it starts: {}",
                crate::spec::WINDOW_FORM
            ),
        );
        if let Err(e) = &self.timeout.0 {
            p.push("acquire_timeout", e, crate::spec::TIMEOUT_FORM);
        }
        p.within("error_rate", self.config.error_rate, 0.0, 1.0);
        p.within("hang_rate", self.config.hang_rate, 0.0, 1.0);
        p.within("slow_rate", self.config.slow_rate, 0.0, 1.0);
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
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
            .arrivals(Duration::ZERO..Duration::from_secs(1))
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
        assert!(pool.holds().iter().all(|h| h.site.contains("pool/mod.rs")));
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
        assert!(r.findings[0].evidence[0].contains("pool/mod.rs"));
        assert!(r.findings.iter().any(|f| f.pattern == WAITS_FOREVER));
    }

    #[test]
    fn nested_acquires_deadlock_and_stop_at_once() {
        let (r, _) = test()
            .arrivals(Duration::ZERO..Duration::from_millis(1))
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
