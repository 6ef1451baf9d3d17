//! A simulated [`Upstream`] served on a real loopback socket, for clients that take only a
//! URL: reqwest (with reqwest-middleware and reqwest-retry), ureq-style wrappers, SDKs built
//! on them (feature `hyper`).
//!
//! ```
//! use whatbreaks_core::components::upstream::Upstream;
//! use whatbreaks_core::runtime::sim::{self, RunLimits};
//!
//! let prices = Upstream::new("prices");
//! let up = prices.clone();
//! let run = sim::simulate(&RunLimits::new(1), move || async move {
//!     up.url() // "http://127.0.0.1:PORT"
//! });
//! assert!(run.value.unwrap().starts_with("http://127.0.0.1:"));
//! ```
//!
//! # How it stays on virtual time
//! The listener and its connections are served by hyper's HTTP/1.1 server on tasks of the
//! simulation's own runtime, whose I/O driver polls the sockets each time the runtime parks,
//! before the paused clock may jump. Loopback TCP on Linux delivers a write into the peer's
//! receive buffer within the writing system call, so at every park each byte a task wrote is
//! already readable: the clock jumps only when every task really waits on a timer (the
//! upstream's latency, the client's timeout or backoff), and a client's 30 s timeout fires
//! exactly when 30 virtual seconds pass without an answer. Same seed, same verdict, same
//! figures; the determinism tests run each reqwest scenario twice and compare.
//!
//! # Attribution: call `url()` in the client's body
//! Each simulated client holds a listener of its own while its task runs: `url()` called
//! from a client's task answers that client's port, so every request that arrives there is
//! recorded against that client and its current logical request (retries by reqwest-retry
//! share it), even through one `reqwest::Client` shared by every simulated client (its pool
//! keys connections by host and port). Once a client's task ends its listener goes to the
//! next client that asks, so a scenario holds as many listeners as clients run at once. `url()` called outside any
//! client (test set-up) answers one shared port whose arrivals have no client: the
//! detectors then see every attempt as a request of its own, so call it in the body.
//!
//! # Limits
//! - Linux loopback (the delivery above is what keeps it on virtual time); a client in the
//!   simulation's runtime (reqwest's own blocking client runs a runtime of its own, on
//!   real time: use the async client).
//! - Build the `reqwest::Client` inside the body: a client kept from an earlier run holds
//!   pooled connections into that run's runtime.
//! - Randomness a client draws from outside the simulation (reqwest-retry's jitter uses
//!   `rand::thread_rng`) is not seeded: verdicts hold, but timings differ run to run.
//! - One listener per running client: N clients at once hold N sockets open (plus one per
//!   open connection); `url()` raises the process's soft open-file limit to its hard limit.
//!
//! The answers are those of the hyper connector ([`super::hyper`]): an outage and a lost
//! response close the connection without an answer, which reqwest reports as an error
//! (`is_request()`, hyper's "connection closed before message completed") and reqwest-retry
//! treats as transient.

use crate::components::upstream::{Caller, Upstream, WeakUpstream, Who};
use crate::runtime::sim::{self, ClientId};
use crate::seams::hyper::serve_http1;
use parking_lot::Mutex;
use rand::{RngExt, SeedableRng};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

thread_local! {
    /// The listeners of this thread's runs, per upstream, by its address: each entry holds a
    /// weak handle of its upstream, which keeps the address from being reused while the
    /// entry exists; entries whose upstream is gone are swept when a new upstream arrives.
    static UPSTREAMS: RefCell<HashMap<usize, Listeners>> = RefCell::new(HashMap::new());
}

/// One upstream's listeners and who holds each.
struct Listeners {
    upstream: WeakUpstream,
    all: Vec<Arc<Listener>>,
    /// The listener each client (`None`: outside any client) was given.
    by_client: HashMap<Option<ClientId>, usize>,
}

struct Listener {
    url: String,
    /// False once the accept task is dropped (its runtime ended, or its upstream).
    alive: Arc<AtomicBool>,
    owner: Mutex<Owner>,
}

/// Whose requests arrive at a listener.
enum Owner {
    /// Code outside any client: arrivals have no client.
    Unattributed,
    /// A client and a view of its logical request; free again once the client's task ends
    /// (the view is its only strong holder).
    Client(ClientId, Weak<AtomicU64>),
}

impl Listener {
    fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// True when the listener's client is gone: another client may take it.
    fn is_free(&self) -> bool {
        matches!(&*self.owner.lock(), Owner::Client(_, request) if request.strong_count() == 0)
    }

    fn held_by(&self, client: Option<ClientId>) -> bool {
        match (&*self.owner.lock(), client) {
            (Owner::Unattributed, None) => true,
            (Owner::Client(id, request), Some(c)) => *id == c && request.strong_count() > 0,
            _ => false,
        }
    }

    /// Who the request arriving now is for.
    fn who(&self) -> Who {
        match &*self.owner.lock() {
            Owner::Unattributed => (None, None),
            Owner::Client(id, request) => (
                Some(*id),
                request.upgrade().map(|r| r.load(Ordering::Relaxed)),
            ),
        }
    }
}

/// Sets `alive` to false when dropped with the accept task.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Upstream {
    /// This upstream served over HTTP/1.1 on a real loopback socket:
    /// `"http://127.0.0.1:PORT"`, for clients that take only a URL (reqwest). Call it in
    /// the client's body: each client holds a port of its own while its task runs, and what
    /// arrives there is attributed to that client and its logical request. See
    /// [`crate::seams::loopback`].
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled (the simulation's has it, with feature
    /// `hyper`), or when no loopback socket can be opened: both are faults of the test's
    /// set-up, not inputs.
    pub fn url(&self) -> String {
        let who = sim::current_client_requests();
        let client = who.as_ref().map(|(id, _)| *id);
        let owner = match &who {
            Some((id, request)) => Owner::Client(*id, Arc::downgrade(request)),
            None => Owner::Unattributed,
        };
        UPSTREAMS.with(|upstreams| {
            let mut upstreams = upstreams.borrow_mut();
            let id = self.identity();
            if !upstreams.contains_key(&id) {
                upstreams.retain(|_, ls| ls.upstream.upgrade().is_some());
            }
            let ls = upstreams.entry(id).or_insert_with(|| Listeners {
                upstream: self.downgrade().0,
                all: Vec::new(),
                by_client: HashMap::new(),
            });
            if let Some(&i) = ls.by_client.get(&client)
                && ls.all[i].alive()
                && ls.all[i].held_by(client)
            {
                return ls.all[i].url.clone();
            }
            // A listener whose client is gone, else a new one.
            let i = match ls.all.iter().position(|l| l.alive() && l.is_free()) {
                Some(i) => {
                    if let Owner::Client(old, _) = &*ls.all[i].owner.lock() {
                        ls.by_client.remove(&Some(*old));
                    }
                    i
                }
                None => {
                    ls.all.push(self.listen());
                    ls.all.len() - 1
                }
            };
            *ls.all[i].owner.lock() = owner;
            ls.by_client.insert(client, i);
            ls.all[i].url.clone()
        })
    }

    /// Binds a loopback listener and serves it on a task of the current runtime.
    fn listen(&self) -> Arc<Listener> {
        raise_open_file_limit();
        let std_listener = bind_loopback()
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .unwrap_or_else(|e| panic!("Upstream::url: cannot open a loopback socket: {e}"));
        let port = std_listener.local_addr().map_or(0, |a| a.port());
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap_or_else(|e| {
            panic!(
                "Upstream::url: needs a tokio runtime with I/O (call it inside the scenario's \
                 body): {e}"
            )
        });
        let alive = Arc::new(AtomicBool::new(true));
        let made = Arc::new(Listener {
            url: format!("http://127.0.0.1:{port}"),
            alive: alive.clone(),
            owner: Mutex::new(Owner::Unattributed),
        });
        let guard = AliveGuard(alive);
        // The connections' random faults draw from a stream of this listener's own.
        let streams = Arc::new(Mutex::new(rand::rngs::Xoshiro256PlusPlus::seed_from_u64(
            sim::rng().random(),
        )));
        // The listener serves while the upstream lives: it holds no handle of its own, so a
        // dropped upstream (a world of one request, in the audit's leak question) takes its
        // listener with it.
        let (upstream, dropped) = self.downgrade();
        let served = Arc::downgrade(&made);
        tokio::spawn(async move {
            let _guard = guard;
            loop {
                let gone = std::pin::pin!(dropped.notified());
                let accept = std::pin::pin!(listener.accept());
                let accepted = match futures::future::select(gone, accept).await {
                    futures::future::Either::Left(_) => break,
                    futures::future::Either::Right((accepted, _)) => accepted,
                };
                let (Ok((stream, _)), Some(upstream)) = (accepted, upstream.upgrade()) else {
                    break;
                };
                let _ = stream.set_nodelay(true);
                let (streams, served) = (streams.clone(), served.clone());
                let caller_of = move || {
                    let seed = streams.lock().random();
                    let who = served.upgrade().map_or((None, None), |l| l.who());
                    Arc::new(Caller::new(who, seed))
                };
                tokio::spawn(serve_http1(upstream, stream, true, caller_of));
            }
        });
        made
    }
}

/// The ports listeners try first: below Linux's default ephemeral range (32768..61000), so
/// a bind names its port instead of making the kernel search a range crowded with the
/// simulation's own connections (that search grows with every socket bound in it, and a
/// storm of thousands of clients spent most of its time there).
const PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A loopback listener on a port of [`PORTS`] (the next free one after the last taken; any
/// port in use, by this process or another, is skipped), else on a port the kernel picks.
fn bind_loopback() -> std::io::Result<std::net::TcpListener> {
    use std::sync::atomic::AtomicU16;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = PORTS.end - PORTS.start;
    for _ in 0..64 {
        let port = PORTS.start + NEXT.fetch_add(1, Ordering::Relaxed) % span;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Ok(listener);
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
}

/// Raises the soft limit on open files to the hard limit, once: a scenario of many clients
/// holds a listener per client.
fn raise_open_file_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: getrlimit/setrlimit with a valid pointer to a local `rlimit`.
        unsafe {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    });
}
