//! Watching real pools: deadpool and bb8 under the same leak checks as [`SimPool`].
//!
//! A real pool does not say where its connections went. [`PoolWatch`] records every
//! checkout made through a watched pool's `get()` (the caller's `file:line`, the client, the
//! virtual time), every acquire still waiting, and every guard given back; [`Watched`] is the
//! guard wrapper that reports its own drop. A guard that is never dropped (`mem::forget`, or
//! moved somewhere that outlives its request) stays checked out after its client finished:
//! a **connection leak** ([`LEAK`]), reported with its site and the pool's own status.
//! Acquires still waiting at the end on a pool whose every connection leaked are reported as
//! **acquire waits forever** ([`WAITS_FOREVER`]). A client that acquires again while it holds
//! a connection of the same pool is a **latent pool deadlock** ([`super::DEADLOCK`]), with
//! both checkout sites, whether or not this run's concurrency reached `max_size` such clients.
//!
//! With default settings deadpool waits forever for a connection and bb8 gives up after 30 s;
//! either way a leaked guard shrinks the pool for good. Both follow tokio's virtual clock, so
//! their timeouts run on simulated time.
//!
//! Adapters, behind cargo features: `deadpool` (`WatchedDeadpool`, managed pools, through
//! `Pool::status`) and `bb8` (`WatchedBb8`, through `Pool::state`). Any other pool can be
//! watched by implementing [`WatchedPool`] around [`PoolWatch::checkout`].
//!
//! [`SimPool`]: crate::components::pool::SimPool

use super::{LEAK, WAITS_FOREVER, latent_deadlock};
use crate::components::pool::NestedAcquire;
use crate::report::{Finding, Report};
use crate::runtime::sim::{self, Arrivals, ClientId, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Timing, harness_findings};
use crate::spec::format_duration;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut, Range};
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

/// The deadpool crate, as whatbreaks was built against it.
#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
pub use deadpool;

/// The bb8 crate, as whatbreaks was built against it.
#[cfg(feature = "bb8")]
#[cfg_attr(docsrs, doc(cfg(feature = "bb8")))]
pub use bb8;

/// A real pool's own figures, as its status API gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealStatus {
    /// The pool's kind, e.g. `deadpool`.
    pub kind: &'static str,
    /// Largest number of connections.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Connections idle now.
    pub idle: usize,
    /// Acquires waiting now, when the pool says.
    pub waiting: Option<usize>,
}

impl fmt::Display for RealStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} status: max size {}, open {}, idle {}",
            self.kind, self.max_size, self.size, self.idle
        )?;
        if let Some(w) = self.waiting {
            write!(f, ", waiting {w}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Out {
    site: String,
    client: Option<ClientId>,
    at: Duration,
}

#[derive(Default)]
struct WatchState {
    next: u64,
    out: BTreeMap<u64, Out>,
    waiting: BTreeMap<u64, Out>,
    done: BTreeSet<ClientId>,
    checkouts: u64,
    frozen: Option<(Vec<Out>, Vec<Out>)>,
    /// Acquires made while the same client held a connection, by (held site, acquire site).
    nested: BTreeMap<(String, String), NestedAcquire>,
}

/// Records checkouts, waits and returns of a real pool (see the module docs).
#[derive(Clone, Default)]
pub struct PoolWatch {
    state: Arc<Mutex<WatchState>>,
}

impl fmt::Debug for PoolWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("PoolWatch")
            .field("checked_out", &st.out.len())
            .field("waiting", &st.waiting.len())
            .finish()
    }
}

fn here(l: &Location<'_>) -> String {
    format!("{}:{}", l.file(), l.line())
}

impl PoolWatch {
    /// An empty watch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps the acquire future `get` of a real pool: records the wait, then the checkout at
    /// `site`, and returns the guard wrapped so that its drop is seen.
    pub async fn checkout<G, E>(
        &self,
        site: &'static Location<'static>,
        get: impl Future<Output = Result<G, E>>,
    ) -> Result<Watched<G>, E> {
        let me = Out {
            site: here(site),
            client: sim::current_client(),
            at: sim::now(),
        };
        let wait_id = {
            let mut st = self.state.lock();
            // A client that acquires while it holds a connection of this pool: the shape of
            // a pool deadlock, whether or not this run reaches it.
            let held = me.client.and_then(|c| {
                st.out
                    .values()
                    .find(|o| o.client == Some(c))
                    .map(|o| o.site.clone())
            });
            if let Some(held_at) = held {
                st.nested
                    .entry((held_at.clone(), me.site.clone()))
                    .or_insert_with(|| NestedAcquire {
                        held_at,
                        acquired_at: me.site.clone(),
                        times: 0,
                        first: (me.client, me.at),
                    })
                    .times += 1;
            }
            st.next += 1;
            let id = st.next;
            st.waiting.insert(id, me.clone());
            id
        };
        let got = get.await;
        let mut st = self.state.lock();
        st.waiting.remove(&wait_id);
        let guard = got?;
        st.next += 1;
        st.checkouts += 1;
        let id = st.next;
        st.out.insert(
            id,
            Out {
                at: sim::now(),
                ..me
            },
        );
        drop(st);
        Ok(Watched {
            guard: Some(guard),
            watch: self.clone(),
            id,
        })
    }

    /// Records that a client finished: guards it still holds are leaked.
    pub fn client_done(&self, client: ClientId) {
        self.state.lock().done.insert(client);
    }

    /// Keeps what is checked out and waiting now as the final state.
    pub fn freeze(&self) {
        let mut st = self.state.lock();
        if st.frozen.is_none() {
            let out = st.out.values().cloned().collect();
            let waiting = st.waiting.values().cloned().collect();
            st.frozen = Some((out, waiting));
        }
    }

    /// Checkouts made so far.
    pub fn checkouts(&self) -> u64 {
        self.state.lock().checkouts
    }

    /// The findings of a frozen watch, given the pool's own status and the scenario line.
    pub fn findings(&self, status: &RealStatus, scenario: &str) -> Vec<Finding> {
        let st = self.state.lock();
        let (out, waiting) = st.frozen.clone().unwrap_or_else(|| {
            (
                st.out.values().cloned().collect(),
                st.waiting.values().cloned().collect(),
            )
        });
        let leaked: Vec<&Out> = out
            .iter()
            .filter(|o| o.client.is_some_and(|c| st.done.contains(&c)))
            .collect();
        let mut findings = Vec::new();
        if !leaked.is_empty() {
            let mut f = Finding::bug(
                LEAK,
                format!(
                    "{} connection(s) never returned to the {} pool",
                    leaked.len(),
                    status.kind
                ),
            );
            f.scenario = scenario.to_string();
            let mut sites: BTreeMap<&str, Vec<&Out>> = BTreeMap::new();
            for o in &leaked {
                sites.entry(o.site.as_str()).or_default().push(o);
            }
            for (site, outs) in sites {
                let clients: Vec<String> = outs
                    .iter()
                    .take(6)
                    .map(|o| o.client.map_or("?".into(), |c| format!("#{c}")))
                    .collect();
                f.evidence.push(format!(
                    "{} guard(s) checked out at {site} were never dropped (clients {}; first at t={})",
                    outs.len(),
                    clients.join(", "),
                    format_duration(outs.iter().map(|o| o.at).min().unwrap_or_default())
                ));
            }
            f.evidence.push(format!(
                "{status}: the pool shrank to {} usable connection(s) for good",
                status.max_size.saturating_sub(leaked.len())
            ));
            f.fix = "let the guard drop: never `mem::forget` a pooled connection or store it where it outlives the request".into();
            findings.push(f);
        }
        if !st.nested.is_empty() {
            let nested: Vec<NestedAcquire> = st.nested.values().cloned().collect();
            let mut f = latent_deadlock(&nested, status.max_size, scenario);
            f.evidence.push(status.to_string());
            findings.push(f);
        }
        if !waiting.is_empty() && leaked.len() >= status.max_size {
            let mut f = Finding::bug(
                WAITS_FOREVER,
                format!(
                    "{} acquire(s) still waiting on a {} pool whose every connection leaked",
                    waiting.len(),
                    status.kind
                ),
            );
            f.scenario = scenario.to_string();
            for w in waiting.iter().take(4) {
                f.evidence.push(format!(
                    "{} waits at {} since t={}",
                    w.client.map_or("a task".into(), |c| format!("client #{c}")),
                    w.site,
                    format_duration(w.at)
                ));
            }
            f.evidence.push(status.to_string());
            f.fix = "set a wait timeout on the pool (deadpool `Timeouts { wait: Some(..) }`, bb8 `connection_timeout`) and fix the leak above".into();
            findings.push(f);
        }
        findings
    }
}

/// A real pool's guard, wrapped so that its return to the pool is recorded.
pub struct Watched<G> {
    guard: Option<G>,
    watch: PoolWatch,
    id: u64,
}

impl<G> Deref for Watched<G> {
    type Target = G;
    fn deref(&self) -> &G {
        self.guard
            .as_ref()
            .expect("[whatbreaks internal bug] guard taken")
    }
}

impl<G> DerefMut for Watched<G> {
    fn deref_mut(&mut self) -> &mut G {
        self.guard
            .as_mut()
            .expect("[whatbreaks internal bug] guard taken")
    }
}

impl<G> Drop for Watched<G> {
    fn drop(&mut self) {
        let mut st = self.watch.state.lock();
        st.out.remove(&self.id);
        drop(st);
        // The real guard goes back to its pool after the record.
        drop(self.guard.take());
    }
}

impl<G> fmt::Debug for Watched<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched").field("id", &self.id).finish()
    }
}

/// A real pool behind a [`PoolWatch`].
pub trait WatchedPool: Clone + 'static {
    /// The watch that records this pool's checkouts.
    fn watch(&self) -> &PoolWatch;
    /// The pool's own status.
    fn status(&self) -> RealStatus;
}

/// A deadpool (managed) pool whose checkouts are watched. Needs the `deadpool` feature.
#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
pub struct WatchedDeadpool<M: deadpool::managed::Manager> {
    pool: deadpool::managed::Pool<M>,
    watch: PoolWatch,
}

#[cfg(feature = "deadpool")]
impl<M: deadpool::managed::Manager> Clone for WatchedDeadpool<M> {
    fn clone(&self) -> Self {
        WatchedDeadpool {
            pool: self.pool.clone(),
            watch: self.watch.clone(),
        }
    }
}

#[cfg(feature = "deadpool")]
impl<M: deadpool::managed::Manager> fmt::Debug for WatchedDeadpool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedDeadpool")
            .field("status", &self.pool.status())
            .finish()
    }
}

#[cfg(feature = "deadpool")]
impl<M: deadpool::managed::Manager + 'static> WatchedDeadpool<M> {
    /// Watches `pool`.
    pub fn new(pool: deadpool::managed::Pool<M>) -> Self {
        WatchedDeadpool {
            pool,
            watch: PoolWatch::new(),
        }
    }

    /// The pool itself.
    pub fn pool(&self) -> &deadpool::managed::Pool<M> {
        &self.pool
    }

    /// `Pool::get`, recording the caller's `file:line` as the checkout site.
    #[track_caller]
    pub fn get(
        &self,
    ) -> impl Future<
        Output = Result<
            Watched<deadpool::managed::Object<M>>,
            deadpool::managed::PoolError<M::Error>,
        >,
    > + 'static {
        let site = Location::caller();
        let this = self.clone();
        async move { this.watch.checkout(site, this.pool.get()).await }
    }
}

#[cfg(feature = "deadpool")]
impl<M: deadpool::managed::Manager + 'static> WatchedPool for WatchedDeadpool<M> {
    fn watch(&self) -> &PoolWatch {
        &self.watch
    }
    fn status(&self) -> RealStatus {
        let s = self.pool.status();
        RealStatus {
            kind: "deadpool",
            max_size: s.max_size,
            size: s.size,
            idle: s.available,
            waiting: Some(s.waiting),
        }
    }
}

/// A bb8 pool whose checkouts are watched. Needs the `bb8` feature.
#[cfg(feature = "bb8")]
#[cfg_attr(docsrs, doc(cfg(feature = "bb8")))]
pub struct WatchedBb8<M: bb8::ManageConnection> {
    pool: bb8::Pool<M>,
    watch: PoolWatch,
}

#[cfg(feature = "bb8")]
impl<M: bb8::ManageConnection> Clone for WatchedBb8<M> {
    fn clone(&self) -> Self {
        WatchedBb8 {
            pool: self.pool.clone(),
            watch: self.watch.clone(),
        }
    }
}

#[cfg(feature = "bb8")]
impl<M: bb8::ManageConnection> fmt::Debug for WatchedBb8<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedBb8")
            .field("state", &self.pool.state())
            .finish()
    }
}

#[cfg(feature = "bb8")]
impl<M: bb8::ManageConnection> WatchedBb8<M> {
    /// Watches `pool`.
    pub fn new(pool: bb8::Pool<M>) -> Self {
        WatchedBb8 {
            pool,
            watch: PoolWatch::new(),
        }
    }

    /// The pool itself.
    pub fn pool(&self) -> &bb8::Pool<M> {
        &self.pool
    }

    /// `Pool::get_owned`, recording the caller's `file:line` as the checkout site.
    #[track_caller]
    pub fn get(
        &self,
    ) -> impl Future<
        Output = Result<Watched<bb8::PooledConnection<'static, M>>, bb8::RunError<M::Error>>,
    > + 'static {
        let site = Location::caller();
        let this = self.clone();
        async move { this.watch.checkout(site, this.pool.get_owned()).await }
    }
}

#[cfg(feature = "bb8")]
impl<M: bb8::ManageConnection> WatchedPool for WatchedBb8<M> {
    fn watch(&self) -> &PoolWatch {
        &self.watch
    }
    fn status(&self) -> RealStatus {
        let s = self.pool.state();
        RealStatus {
            kind: "bb8",
            max_size: self.pool.config().max_size as usize,
            size: s.connections as usize,
            idle: s.idle_connections as usize,
            waiting: None,
        }
    }
}

/// Clients running against a real, watched pool (builder).
#[derive(Clone, Debug)]
pub struct WatchTest {
    settings: Settings,
    clients: u32,
    window: Range<Duration>,
}

crate::scenario::impl_common_settings!(WatchTest);

impl Default for WatchTest {
    fn default() -> Self {
        Self::new()
    }
}

impl WatchTest {
    /// 50 clients over `0s..5s`.
    pub fn new() -> Self {
        WatchTest {
            settings: Settings::default(),
            clients: 50,
            window: Duration::ZERO..Duration::from_secs(5),
        }
    }

    /// Clients, each running the body once.
    pub fn clients(mut self, clients: u32) -> Self {
        self.clients = clients;
        self
    }

    /// The window over which clients arrive, uniformly (default `0s..5s`).
    pub fn arrivals(mut self, window: Range<Duration>) -> Self {
        self.window = window;
        self
    }

    /// Old name of [`arrivals`](Self::arrivals) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `arrivals`")]
    pub fn window(self, window: Range<Duration>) -> Self {
        self.arrivals(window)
    }

    /// Runs every seed: `make` builds a fresh watched pool inside each run, `body` is one
    /// client's work. Never panics.
    pub fn run<P, MK, B, Fut>(&self, make: MK, body: B) -> Report
    where
        P: WatchedPool,
        MK: Fn() -> P + Send + Sync + 'static,
        B: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, (Arc::new(make), Arc::new(body)))
    }

    fn run_seed<P, MK, B, Fut>(&self, limits: &RunLimits, make: Arc<MK>, body: Arc<B>) -> SeedResult
    where
        P: WatchedPool,
        MK: Fn() -> P + Send + Sync + 'static,
        B: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let span = self.window.end.saturating_sub(self.window.start);
        let start = self.window.start;
        let offsets: Vec<Duration> = Arrivals::Uniform {
            over: span.max(Duration::from_millis(1)),
        }
        .offsets(self.clients, limits.seed)
        .into_iter()
        .map(|d| d + start)
        .collect();
        let freeze_at = limits.time_limit.saturating_sub(Duration::from_millis(1));
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<Finding>, u64, RealStatus)>();
        let clients = self.clients;
        let window = self.window.clone();
        let run = sim::simulate(limits, move || async move {
            let pool = make();
            let report = move |pool: &P| {
                pool.watch().freeze();
                let status = pool.status();
                let scenario = format!(
                    "{clients} clients over {}..{}, {} pool of max size {}",
                    format_duration(window.start),
                    format_duration(window.end),
                    status.kind,
                    status.max_size
                );
                (
                    pool.watch().findings(&status, &scenario),
                    pool.watch().checkouts(),
                    status,
                )
            };
            let p = pool.clone();
            let rep = report;
            let txc = tx.clone();
            let freeze = tokio::task::spawn_local(async move {
                tokio::time::sleep(freeze_at).await;
                let _ = txc.send(rep(&p));
            });
            let p = pool.clone();
            sim::run_clients(&offsets, move |id| {
                let pool = p.clone();
                let body = body.clone();
                async move {
                    body(pool.clone()).await;
                    pool.watch().client_done(id);
                }
            })
            .await;
            freeze.abort();
            let _ = tx.send(report(&pool));
        });
        let (mut findings, checkouts, status) = rx.try_recv().unwrap_or_else(|_| {
            (
                Vec::new(),
                0,
                RealStatus {
                    kind: "pool",
                    max_size: 0,
                    size: 0,
                    idle: 0,
                    waiting: None,
                },
            )
        });
        let scenario = format!("{} clients, {}", self.clients, status.kind);
        findings.extend(harness_findings(&run, limits, &scenario));
        SeedResult {
            key_figure: if findings.iter().any(|f| f.pattern == LEAK) {
                format!("leaked guards; {status}")
            } else {
                format!("{checkouts} checkouts, all returned; {status}")
            },
            figures: vec![("checkouts".into(), checkouts.to_string())],
            findings,
            charts: Vec::new(),
            activity: None,
        }
    }
}

impl<P, MK, B, Fut> Scenario<(Arc<MK>, Arc<B>)> for WatchTest
where
    P: WatchedPool,
    MK: Fn() -> P + Send + Sync + 'static,
    B: Fn(P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "pool watch".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        format!(
            "{} clients over {}..{}, a watched pool",
            self.clients,
            format_duration(self.window.start),
            format_duration(self.window.end)
        )
    }
    fn check(&self, p: &mut Problems) {
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
    }
    fn run_one(&self, limits: &RunLimits, (make, body): &(Arc<MK>, Arc<B>)) -> SeedResult {
        self.run_seed(limits, make.clone(), body.clone())
    }
}
