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
//! Each simulated client gets a listener of its own: `url()` called from a client's task
//! answers that client's port, so every request that arrives there is recorded against that
//! client and its current logical request (retries by reqwest-retry share it), even through
//! one `reqwest::Client` shared by every simulated client (its pool keys connections by
//! host and port, so pooled connections never cross clients). `url()` called outside any
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
//! - One listener per client: a scenario of N clients holds N sockets open (plus one per
//!   open connection); `url()` raises the process's soft open-file limit to its hard limit.
//!
//! The answers are those of the hyper connector ([`super::hyper`]): an outage and a lost
//! response close the connection without an answer, which reqwest reports as an error
//! (`is_request()`, hyper's "connection closed before message completed") and reqwest-retry
//! treats as transient.

use crate::components::upstream::{Caller, Upstream};
use crate::runtime::sim::{self, ClientId};
use crate::seams::hyper::serve_http1;
use parking_lot::Mutex;
use rand::{RngExt, SeedableRng};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

thread_local! {
    /// The listeners of this thread's runs: per upstream (its address: the accept task holds
    /// the upstream, so the address is not reused while the entry lives), per client (`None`:
    /// outside any client). An entry whose accept task has ended (its run is over) is
    /// replaced.
    static LISTENERS: RefCell<HashMap<(usize, Option<ClientId>), Listener>> =
        RefCell::new(HashMap::new());
}

struct Listener {
    url: String,
    /// False once the accept task is dropped (its runtime ended).
    alive: Arc<AtomicBool>,
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
    /// the client's body: each client gets a port of its own, and what arrives there is
    /// attributed to that client and its logical request. See [`crate::seams::loopback`].
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled (the simulation's has it, with feature
    /// `hyper`), or when no loopback socket can be opened: both are faults of the test's
    /// set-up, not inputs.
    pub fn url(&self) -> String {
        let who = sim::current_client_requests();
        let key = (self.identity(), who.as_ref().map(|(id, _)| *id));
        LISTENERS.with(|listeners| {
            let mut listeners = listeners.borrow_mut();
            if let Some(l) = listeners.get(&key)
                && l.alive.load(Ordering::Relaxed)
            {
                return l.url.clone();
            }
            let listener = self.listen(who);
            let url = listener.url.clone();
            listeners.retain(|_, l| l.alive.load(Ordering::Relaxed));
            listeners.insert(key, listener);
            url
        })
    }

    /// Binds a loopback listener and serves it on a task of the current runtime.
    fn listen(&self, who: Option<(ClientId, Arc<AtomicU64>)>) -> Listener {
        raise_open_file_limit();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
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
        let guard = AliveGuard(alive.clone());
        // The connections' random faults draw from a stream of this client's own.
        let streams = Arc::new(Mutex::new(rand::rngs::Xoshiro256PlusPlus::seed_from_u64(
            sim::rng().random(),
        )));
        let upstream = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (streams, who) = (streams.clone(), who.clone());
                let caller_of = move || {
                    let seed = streams.lock().random();
                    let who = match &who {
                        Some((id, request)) => (Some(*id), Some(request.load(Ordering::Relaxed))),
                        None => (None, None),
                    };
                    Arc::new(Caller::new(who, seed))
                };
                tokio::spawn(serve_http1(upstream.clone(), stream, true, caller_of));
            }
        });
        Listener {
            url: format!("http://127.0.0.1:{port}"),
            alive,
        }
    }
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
