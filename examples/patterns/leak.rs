//! Pattern 8, slow leak: the seed article's `NotificationService` behind a WebSocket handler
//! (ported to Rust: callbacks kept in a map, never removed) and its fix, plus the other leaks
//! the detector is proven against: a singleflight map whose entries survive cancelled
//! leaders, an unbounded memo cache over high-cardinality keys, and a `tokio::sync::broadcast`
//! subscriber per request (which is fine).
//!
//! This file is shared by `examples/leak.rs`, `examples/tour.rs` and `tests/memory/`.
#![allow(dead_code)]

use rand::RngExt;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use whatbreaks::{LeakEnv, LeakTest, Report};

// ---------------------------------------------------------------------------------------------
// The notification service and a simulated WebSocket.

/// A listener: what to do with a notification for its user.
pub(crate) type Callback = Box<dyn Fn(&str) + Send>;

/// Returned by `subscribe`, to unsubscribe later (closures cannot be compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SubscriptionId(u64);

/// Per-user sets of listeners, as in the seed article.
#[derive(Default)]
pub(crate) struct NotificationService {
    listeners: Mutex<BTreeMap<String, Vec<(SubscriptionId, Callback)>>>,
    next: AtomicU64,
}

impl NotificationService {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn subscribe(&self, user: &str, callback: Callback) -> SubscriptionId {
        let id = SubscriptionId(self.next.fetch_add(1, Ordering::Relaxed));
        self.listeners
            .lock()
            .unwrap()
            .entry(user.to_string())
            .or_default()
            .push((id, callback));
        id
    }

    pub(crate) fn notify(&self, user: &str, data: &str) {
        if let Some(set) = self.listeners.lock().unwrap().get(user) {
            for (_, callback) in set {
                callback(data);
            }
        }
    }

    /// FIXED: removes the listener, and the user's set once it is empty.
    pub(crate) fn unsubscribe(&self, user: &str, id: SubscriptionId) {
        let mut listeners = self.listeners.lock().unwrap();
        if let Some(set) = listeners.get_mut(user) {
            set.retain(|(i, _)| *i != id);
            if set.is_empty() {
                listeners.remove(user); // clean up empty sets too
            }
        }
    }

    /// HALF-FIXED: removes the listener but keeps the emptied set of every user ever seen.
    pub(crate) fn unsubscribe_keeping_empty_sets(&self, user: &str, id: SubscriptionId) {
        if let Some(set) = self.listeners.lock().unwrap().get_mut(user) {
            set.retain(|(i, _)| *i != id);
        }
    }

    /// Listeners over all users (the article's production gauge).
    pub(crate) fn listener_count(&self) -> usize {
        self.listeners.lock().unwrap().values().map(Vec::len).sum()
    }

    /// Users with a set in the map.
    pub(crate) fn user_count(&self) -> usize {
        self.listeners.lock().unwrap().len()
    }
}

/// What a WebSocket reports to its handler.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    Message(String),
    Close,
    Error(String),
}

/// A simulated WebSocket connection: a random user, a few messages a few milliseconds apart,
/// then a close or (one time in five) an error.
pub(crate) struct WebSocket {
    pub(crate) user: String,
    script: VecDeque<SocketEvent>,
    outbox: mpsc::UnboundedSender<String>,
    _peer: mpsc::UnboundedReceiver<String>,
}

impl WebSocket {
    /// A connection from one of a million users.
    pub(crate) fn connect() -> Self {
        let mut rng = whatbreaks::rng();
        let user = format!("user-{}", rng.random_range(0..1_000_000u32));
        let mut script: VecDeque<SocketEvent> = (0..rng.random_range(0..3))
            .map(|i| SocketEvent::Message(format!("ping {i}")))
            .collect();
        script.push_back(if whatbreaks::sim::chance(0.2) {
            SocketEvent::Error("connection reset by peer".into())
        } else {
            SocketEvent::Close
        });
        let (outbox, peer) = mpsc::unbounded_channel();
        WebSocket {
            user,
            script,
            outbox,
            _peer: peer,
        }
    }

    /// A handle that sends to this socket (what a listener captures).
    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<String> {
        self.outbox.clone()
    }

    pub(crate) async fn next_event(&mut self) -> Option<SocketEvent> {
        let ms = whatbreaks::rng().random_range(1..20);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.script.pop_front()
    }
}

/// BUGGY (the seed article's handler): subscribes on connect and never unsubscribes. Every
/// connection leaves its callback, and the socket handle it captures, in the map.
pub(crate) async fn handle_connection_leaky(svc: &NotificationService, mut ws: WebSocket) {
    let out = ws.sender();
    svc.subscribe(
        &ws.user,
        Box::new(move |data| {
            let _ = out.send(data.to_string());
        }),
    );
    svc.notify(&ws.user, "welcome");
    while let Some(event) = ws.next_event().await {
        match event {
            SocketEvent::Message(_) => {}
            SocketEvent::Close | SocketEvent::Error(_) => break,
        }
    }
}

/// FIXED: unsubscribes on close and on error (the service removes emptied sets).
pub(crate) async fn handle_connection(svc: &NotificationService, mut ws: WebSocket) {
    let out = ws.sender();
    let id = svc.subscribe(
        &ws.user,
        Box::new(move |data| {
            let _ = out.send(data.to_string());
        }),
    );
    svc.notify(&ws.user, "welcome");
    while let Some(event) = ws.next_event().await {
        match event {
            SocketEvent::Message(_) => {}
            SocketEvent::Close => {
                svc.unsubscribe(&ws.user, id);
                break;
            }
            SocketEvent::Error(_) => {
                svc.unsubscribe(&ws.user, id);
                break;
            }
        }
    }
}

/// HALF-FIXED: unsubscribes on close only; connections that end in an error still leak.
pub(crate) async fn handle_connection_close_only(svc: &NotificationService, mut ws: WebSocket) {
    let out = ws.sender();
    let id = svc.subscribe(
        &ws.user,
        Box::new(move |data| {
            let _ = out.send(data.to_string());
        }),
    );
    while let Some(event) = ws.next_event().await {
        match event {
            SocketEvent::Message(_) => {}
            SocketEvent::Close => {
                svc.unsubscribe(&ws.user, id);
                break;
            }
            SocketEvent::Error(_) => break,
        }
    }
}

/// HALF-FIXED: unsubscribes on close and error but keeps empty sets: the listener gauge stays
/// at zero while the map keeps a key for every user ever seen (only the heap shows it).
pub(crate) async fn handle_connection_keeping_empty_sets(
    svc: &NotificationService,
    mut ws: WebSocket,
) {
    let out = ws.sender();
    let id = svc.subscribe(
        &ws.user,
        Box::new(move |data| {
            let _ = out.send(data.to_string());
        }),
    );
    while let Some(event) = ws.next_event().await {
        match event {
            SocketEvent::Message(_) => {}
            SocketEvent::Close | SocketEvent::Error(_) => {
                svc.unsubscribe_keeping_empty_sets(&ws.user, id);
                break;
            }
        }
    }
}

/// The handlers the detector is proven against, with their expected verdict (`true` = flagged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handler {
    Leaky,
    CloseOnly,
    KeepingEmptySets,
    Fixed,
}

impl Handler {
    pub(crate) const ALL: [(Handler, bool); 4] = [
        (Handler::Leaky, true),
        (Handler::CloseOnly, true),
        (Handler::KeepingEmptySets, true),
        (Handler::Fixed, false),
    ];

    /// One connect/disconnect cycle against the shared service.
    pub(crate) async fn cycle(self, env: &LeakEnv) {
        let svc = env.shared(NotificationService::new);
        env.gauge("listeners", {
            let s = svc.clone();
            move || s.listener_count()
        });
        let ws = WebSocket::connect();
        match self {
            Handler::Leaky => handle_connection_leaky(&svc, ws).await,
            Handler::CloseOnly => handle_connection_close_only(&svc, ws).await,
            Handler::KeepingEmptySets => handle_connection_keeping_empty_sets(&svc, ws).await,
            Handler::Fixed => handle_connection(&svc, ws).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Singleflight: one load per key for concurrent callers.

type Waiters<V> = Vec<oneshot::Sender<V>>;

/// Coalesces concurrent loads of one key: the first caller (the leader) loads, the others
/// wait for its value.
pub(crate) struct SingleFlight<V> {
    inflight: Mutex<HashMap<String, Waiters<V>>>,
}

impl<V: Clone> SingleFlight<V> {
    pub(crate) fn new() -> Self {
        SingleFlight {
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// Keys with a load in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.inflight.lock().unwrap().len()
    }

    /// `None` when this caller is a follower (it waits), `Some` when it leads.
    fn join(&self, key: &str) -> Option<oneshot::Receiver<V>> {
        let mut map = self.inflight.lock().unwrap();
        match map.get_mut(key) {
            Some(waiters) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Some(rx)
            }
            None => {
                map.insert(key.to_string(), Vec::new());
                None
            }
        }
    }

    fn complete(&self, key: &str, value: &V) {
        let waiters = self
            .inflight
            .lock()
            .unwrap()
            .remove(key)
            .unwrap_or_default();
        for w in waiters {
            let _ = w.send(value.clone());
        }
    }

    /// BUGGY: the entry is removed after the load completes. A leader dropped mid-load (its
    /// caller timed out, or the client went away) never gets there: the entry, and every
    /// follower's sender, stays in the map forever (and followers of that key wait forever).
    pub(crate) async fn get_leaky(&self, key: &str, load: impl Future<Output = V>) -> Option<V> {
        if let Some(rx) = self.join(key) {
            return rx.await.ok();
        }
        let value = load.await;
        self.complete(key, &value);
        Some(value)
    }

    /// FIXED: the leader holds a guard whose `Drop` removes the entry if the load did not
    /// complete, so a cancelled leader cleans up (its followers see the channel close).
    pub(crate) async fn get(&self, key: &str, load: impl Future<Output = V>) -> Option<V> {
        if let Some(rx) = self.join(key) {
            return rx.await.ok();
        }
        struct Cleanup<'a, V> {
            sf: &'a SingleFlight<V>,
            key: &'a str,
            armed: bool,
        }
        impl<V> Drop for Cleanup<'_, V> {
            fn drop(&mut self) {
                if self.armed {
                    self.sf.inflight.lock().unwrap().remove(self.key);
                }
            }
        }
        let mut guard = Cleanup {
            sf: self,
            key,
            armed: true,
        };
        let value = load.await;
        guard.armed = false;
        self.complete(key, &value);
        Some(value)
    }
}

/// A report that takes a while to build: a slow backend, 10 ms to 1 s.
async fn load_report(id: u64) -> Arc<String> {
    let ms = whatbreaks::rng().random_range(10..1_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Arc::new(format!("report {id}: {}", "x".repeat(64)))
}

/// One request: two callers ask for the same fresh report with a 200 ms timeout each.
pub(crate) async fn singleflight_cycle(env: &LeakEnv, fixed: bool) {
    let sf = env.shared(SingleFlight::<Arc<String>>::new);
    env.gauge("in flight", {
        let s = sf.clone();
        move || s.in_flight()
    });
    let id = env.cycle();
    let key = format!("report-{id}");
    let call = || {
        let (sf, key) = (sf.clone(), key.clone());
        async move {
            let limit = Duration::from_millis(200);
            if fixed {
                tokio::time::timeout(limit, sf.get(&key, load_report(id))).await
            } else {
                tokio::time::timeout(limit, sf.get_leaky(&key, load_report(id))).await
            }
        }
    };
    let _ = futures::join!(call(), call());
}

// ---------------------------------------------------------------------------------------------
// Memo caches.

/// BUGGY: memoizes every query ever seen. Keys are search strings: millions of distinct ones.
#[derive(Default)]
pub(crate) struct MemoCache {
    entries: Mutex<HashMap<String, Arc<String>>>,
}

impl MemoCache {
    pub(crate) fn get(&self, query: &str) -> Arc<String> {
        self.entries
            .lock()
            .unwrap()
            .entry(query.to_string())
            .or_insert_with(|| Arc::new(render(query)))
            .clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// FIXED: the same cache with a capacity; the oldest entry goes when it is full.
pub(crate) struct BoundedCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

/// The entries and their insertion order.
struct Entries {
    map: HashMap<String, Arc<String>>,
    order: VecDeque<String>,
}

impl BoundedCache {
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedCache {
            capacity,
            inner: Mutex::new(Entries {
                map: HashMap::with_capacity(capacity + 1),
                order: VecDeque::with_capacity(capacity + 1),
            }),
        }
    }

    pub(crate) fn get(&self, query: &str) -> Arc<String> {
        let mut guard = self.inner.lock().unwrap();
        let Entries { map, order } = &mut *guard;
        if let Some(hit) = map.get(query) {
            return hit.clone();
        }
        let value = Arc::new(render(query));
        map.insert(query.to_string(), value.clone());
        order.push_back(query.to_string());
        if order.len() > self.capacity {
            if let Some(oldest) = order.pop_front() {
                map.remove(&oldest);
            }
        }
        value
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().unwrap().map.len()
    }
}

fn render(query: &str) -> String {
    format!(
        "<ul><li>results for {query}</li>{}</ul>",
        "<li>…</li>".repeat(8)
    )
}

/// A search query from a high-cardinality space: a random term and page.
fn random_query() -> String {
    let mut rng = whatbreaks::rng();
    format!(
        "q={}&page={}",
        rng.random_range(0..1_000_000_000u64),
        rng.random_range(1..50u32)
    )
}

/// One search request through the unbounded memo cache.
pub(crate) async fn memo_cycle(env: &LeakEnv) {
    let cache = env.shared(MemoCache::default);
    env.gauge("cache entries", {
        let c = cache.clone();
        move || c.len()
    });
    let page = cache.get(&random_query());
    tokio::time::sleep(Duration::from_millis(1)).await;
    drop(page);
}

/// One search request through the bounded cache (256 entries).
pub(crate) async fn bounded_cycle(env: &LeakEnv) {
    let cache = env.shared(|| BoundedCache::new(256));
    env.gauge("cache entries", {
        let c = cache.clone();
        move || c.len()
    });
    let page = cache.get(&random_query());
    tokio::time::sleep(Duration::from_millis(1)).await;
    drop(page);
}

// ---------------------------------------------------------------------------------------------
// A broadcast subscriber per request: fine, dropped receivers are cleaned up.

/// One request that subscribes to a shared `tokio::sync::broadcast` channel, publishes an
/// event, reads it back, and drops its receiver.
pub(crate) async fn broadcast_cycle(env: &LeakEnv) {
    let events = env.shared(|| broadcast::channel::<String>(64).0);
    env.gauge("receivers", {
        let e = events.clone();
        move || e.receiver_count()
    });
    let mut rx = events.subscribe();
    let _ = events.send(format!("order {} paid", env.cycle()));
    let _ = rx.recv().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
}

// ---------------------------------------------------------------------------------------------
// The scenario the example, the tour and the tests use.

/// 1,000 connections after 100 warm-up ones, extrapolated to 1,000,000.
pub(crate) fn scenario() -> LeakTest {
    LeakTest::new()
        .iterations(1_000)
        .warmup(100)
        .extrapolate(1_000_000)
        .unit("connection")
}

/// The seed article's handler under the scenario.
pub(crate) fn buggy(scenario: LeakTest) -> Report {
    scenario.run(|env: LeakEnv| async move { Handler::Leaky.cycle(&env).await })
}

/// The fixed handler under the scenario.
pub(crate) fn fixed(scenario: LeakTest) -> Report {
    scenario.run(|env: LeakEnv| async move { Handler::Fixed.cycle(&env).await })
}
