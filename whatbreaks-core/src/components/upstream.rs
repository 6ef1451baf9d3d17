//! A simulated remote service with a fault schedule, that records every arrival.
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks_core::components::upstream::{Request, Upstream};
//!
//! let payments = Upstream::builder("payments")
//!     .latency(Duration::from_millis(20))
//!     .outage(Duration::ZERO..Duration::from_secs(10))
//!     .build();
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
//! # rt.block_on(async {
//! let err = payments.call(Request::get("/price")).await.unwrap_err();
//! assert!(err.is_retryable());
//! # });
//! assert_eq!(payments.stats().calls, 1);
//! ```
//!
//! Times are virtual (see [`crate::runtime::sim`]). Every call is recorded as an [`Arrival`] with the
//! virtual time, the client and logical request it came from (task-local context set by the
//! simulation), its attempt number within that logical request, and its outcome.
//!
//! Effects: a call that is not a `GET` commits an *effect* when the upstream accepts it, before
//! the response travels back. A response that is then lost (commit-then-fail), or a client that
//! gave up waiting, leaves an effect committed that the client does not know about: retrying
//! it without an idempotency key commits it again. With a key, the upstream deduplicates
//! (unless dedup is switched off) and answers with the stored response.

use crate::runtime::sim::{self, ClientId};
use crate::spec::format_duration;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// An HTTP-like method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// Reads; never commits an effect.
    Get,
    /// Creates; commits an effect.
    Post,
    /// Replaces; commits an effect.
    Put,
    /// Deletes; commits an effect.
    Delete,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        })
    }
}

/// A call to an [`Upstream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, e.g. `/charge`.
    pub path: String,
    /// The idempotency key, if the caller sent one.
    pub idempotency_key: Option<String>,
}

impl Request {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            idempotency_key: None,
        }
    }
    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }
    /// A `POST` to `path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }
    /// A `PUT` to `path`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }
    /// A `DELETE` of `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }
    /// Sends an idempotency key: the upstream commits at most one effect per key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code (200).
    pub status: u16,
    /// True when the upstream answered from its idempotency-key store without a new effect.
    pub replayed: bool,
}

/// A failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UpstreamError {
    /// The connection failed or the response was lost (outage, reset, commit-then-fail).
    Unavailable,
    /// The upstream answered with an error status (4xx or 5xx).
    Status(u16),
}

impl UpstreamError {
    /// Whether a retry can help: connection failures, 5xx, 408 and 429. Other 4xx mean the
    /// request itself is wrong; retrying them only adds load.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Unavailable => true,
            UpstreamError::Status(s) => *s >= 500 || *s == 408 || *s == 429,
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Unavailable => f.write_str("upstream unavailable"),
            UpstreamError::Status(s) => write!(f, "upstream answered {s}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

/// What happened to one arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Still being served (or the run ended first).
    InFlight,
    /// Served; an effect committed if the method has one.
    Ok,
    /// Served from the idempotency-key store; no new effect.
    Deduplicated,
    /// Failed with this error; no effect.
    Failed(UpstreamError),
    /// The effect committed, then the response was lost.
    CommittedThenFailed,
    /// The caller stopped waiting (timeout or cancellation) before the answer.
    Abandoned,
}

/// A call that arrived inside a hang window ([`UpstreamBuilder::hang`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HungCall {
    /// The call.
    pub arrival: Arrival,
    /// When the caller stopped waiting (a timeout or a cancellation dropped the call), or
    /// `None` when it still waited at the end of the run.
    pub ended: Option<Duration>,
}

/// One call as the upstream saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Virtual time of arrival.
    pub at: Duration,
    /// The client it came from, if any.
    pub client: Option<ClientId>,
    /// The logical request it belongs to, if known.
    pub request: Option<u64>,
    /// 0 for the first call of a logical request, 1 for its first retry, and so on.
    pub attempt: u32,
    /// The method.
    pub method: Method,
    /// The path (shared between the arrivals of one path: recording a call copies no text).
    pub path: Arc<str>,
    /// The idempotency key, if any.
    pub key: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Calls in flight at the upstream when this one arrived (itself included).
    pub in_flight: usize,
}

/// What an upstream does with calls beyond its capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Wait in a queue for a free slot.
    Queue,
    /// Refuse at once with 503.
    Shed,
}

/// A window of degraded service.
#[derive(Clone, Debug, PartialEq)]
pub struct Degradation {
    /// When.
    pub window: Range<Duration>,
    /// Share of calls that fail with `status`.
    pub error_rate: f64,
    /// Status of the failures (default 503).
    pub status: u16,
    /// Latency of every call in the window (default: the upstream's latency).
    pub latency: Option<Duration>,
}

impl Degradation {
    /// Every call in `window` fails with 503.
    pub fn failing(window: Range<Duration>) -> Self {
        Degradation {
            window,
            error_rate: 1.0,
            status: 503,
            latency: None,
        }
    }
    /// A share of the calls fails.
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate.clamp(0.0, 1.0);
        self
    }
    /// Failures answer with this status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    /// Calls take this long (slow responses that make clients time out).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }
}

#[derive(Clone, Debug)]
struct Config {
    name: String,
    latency: Duration,
    outages: Vec<Range<Duration>>,
    hangs: Vec<Range<Duration>>,
    degradations: Vec<Degradation>,
    capacity: Option<(usize, Overflow)>,
    commit_then_fail: f64,
    rejections: Vec<(u16, f64)>,
    dedup: bool,
}

/// Builds an [`Upstream`] with a fault schedule.
#[derive(Clone, Debug)]
pub struct UpstreamBuilder {
    config: Config,
}

impl UpstreamBuilder {
    /// Latency of a served call (default 20 ms). Failures in an outage are immediate.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.config.latency = latency;
        self
    }
    /// Every call arriving inside `window` fails at once with [`UpstreamError::Unavailable`].
    pub fn outage(mut self, window: Range<Duration>) -> Self {
        self.config.outages.push(window);
        self
    }
    /// Every call arriving inside `window` is accepted and never answered: a hung connection,
    /// a half-open socket. Only the caller's timeout (or cancellation) ends it. Calls arriving
    /// after the window are served normally.
    pub fn hang(mut self, window: Range<Duration>) -> Self {
        self.config.hangs.push(window);
        self
    }
    /// Degraded service inside a window (error rate, status, slow responses).
    pub fn degraded(mut self, degradation: Degradation) -> Self {
        self.config.degradations.push(degradation);
        self
    }
    /// At most `max_in_flight` calls are served at once; the rest queue or are shed.
    pub fn capacity(mut self, max_in_flight: usize, overflow: Overflow) -> Self {
        self.config.capacity = Some((max_in_flight.max(1), overflow));
        self
    }
    /// This share of effect-committing calls commits, then loses the response.
    pub fn commit_then_fail(mut self, rate: f64) -> Self {
        self.config.commit_then_fail = rate.clamp(0.0, 1.0);
        self
    }
    /// This share of all calls is answered with `status` (e.g. 400: a bad request).
    pub fn reject(mut self, status: u16, rate: f64) -> Self {
        self.config.rejections.push((status, rate.clamp(0.0, 1.0)));
        self
    }
    /// Whether the upstream honours idempotency keys (default true).
    pub fn dedup(mut self, dedup: bool) -> Self {
        self.config.dedup = dedup;
        self
    }
    /// The upstream.
    pub fn build(self) -> Upstream {
        let slots = self.config.capacity.map(|(n, _)| n).unwrap_or(0);
        Upstream {
            inner: Arc::new(Inner {
                config: self.config,
                slots: tokio::sync::Semaphore::new(slots),
                state: Mutex::new(State::default()),
                #[cfg(feature = "hyper")]
                dropped: Arc::default(),
            }),
        }
    }
}

/// A small fixed hasher (FxHash) for the per-call look-ups: deterministic and cheap. These
/// maps are only looked up, counted or copied into a `BTreeMap`, never iterated for output.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// What the fault schedule does with one call (see `Upstream::plan`).
enum Plan {
    /// Answered at once (an outage).
    Answer((Result<Response, UpstreamError>, Outcome)),
    /// Accepted and never answered.
    Hang,
    /// Served after `latency`, failing with `failure` if any.
    Serve {
        latency: Duration,
        failure: Option<(UpstreamError, &'static str)>,
    },
}

/// A logical request as the upstream keys it: `(client, request)`.
pub(crate) type Who = (Option<ClientId>, Option<u64>);

#[derive(Debug, Default)]
struct State {
    arrivals: Vec<Arrival>,
    /// Calls so far of the logical request each client is on now, indexed by client id:
    /// `(request, calls)`, `calls == 0` for none yet. A client works on one logical request at
    /// a time, so this answers almost every call without a map look-up.
    current: Vec<(Option<u64>, u32)>,
    /// Calls of every other logical request (those without a client, and the requests a
    /// client has moved on from).
    attempts: FxMap<Who, u32>,
    effects: FxMap<Who, u32>,
    keys: FxMap<String, u32>,
    /// Every path seen, shared by the arrivals that name it.
    paths: HashSet<Arc<str>, BuildHasherDefault<FxHasher>>,
    in_flight: usize,
    max_in_flight: usize,
    epoch: Option<tokio::time::Instant>,
    /// Calls that arrived inside a hang window, by arrival index: when the caller stopped
    /// waiting (`None` while it still waits).
    hung: BTreeMap<usize, Option<Duration>>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    slots: tokio::sync::Semaphore,
    state: Mutex<State>,
    /// Told when the last handle is dropped (a loopback listener stops serving).
    #[cfg(feature = "hyper")]
    dropped: Arc<tokio::sync::Notify>,
}

#[cfg(feature = "hyper")]
impl Drop for Inner {
    fn drop(&mut self) {
        self.dropped.notify_one();
    }
}

/// A simulated remote service: a cheap, clonable handle.
///
/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Upstream {
    inner: Arc<Inner>,
}

impl Upstream {
    /// This upstream's identity (its clones share it) while it lives.
    #[cfg(feature = "hyper")]
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// A handle that does not keep the upstream alive, and the notification of its drop.
    #[cfg(feature = "hyper")]
    pub(crate) fn downgrade(&self) -> (WeakUpstream, Arc<tokio::sync::Notify>) {
        (
            WeakUpstream(Arc::downgrade(&self.inner)),
            self.inner.dropped.clone(),
        )
    }
}

/// An [`Upstream`] that may be gone (see [`Upstream::downgrade`]).
#[cfg(feature = "hyper")]
#[derive(Clone, Debug)]
pub(crate) struct WeakUpstream(std::sync::Weak<Inner>);

#[cfg(feature = "hyper")]
impl WeakUpstream {
    /// The upstream, while some handle keeps it alive.
    pub(crate) fn upgrade(&self) -> Option<Upstream> {
        self.0.upgrade().map(|inner| Upstream { inner })
    }
}

/// Counts over every arrival an upstream recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpstreamStats {
    /// All calls.
    pub calls: usize,
    /// Distinct logical requests that called.
    pub logical_requests: usize,
    /// Calls per logical request.
    pub calls_per_request: f64,
    /// Retries (calls with attempt > 0).
    pub retries: usize,
    /// Calls that failed.
    pub failures: usize,
    /// Most calls in flight at once.
    pub max_in_flight: usize,
    /// Effects committed.
    pub effects: usize,
    /// Logical requests that committed more than one effect.
    pub duplicated_requests: usize,
}

/// Client ids above this are counted in the map only (ids are dense in practice).
const MAX_SLOT: usize = 1 << 24;

impl State {
    /// The attempt number of a new call of `who` (0 for its first call), counting it.
    fn next_attempt(&mut self, who: Who) -> u32 {
        let Some(client) = who.0.map(|c| c as usize).filter(|c| *c < MAX_SLOT) else {
            let n = self.attempts.entry(who).or_insert(0);
            *n += 1;
            return *n - 1;
        };
        if self.current.len() <= client {
            self.current.resize(client + 1, (None, 0));
        }
        let slot = self.current[client];
        if slot.1 > 0 && slot.0 == who.1 {
            self.current[client].1 += 1;
            return slot.1;
        }
        if slot.1 > 0 {
            // The client moved on to another logical request: keep the old one's count.
            self.attempts.insert((who.0, slot.0), slot.1);
        }
        let before = self.attempts.remove(&who).unwrap_or(0);
        self.current[client] = (who.1, before + 1);
        before
    }

    /// Distinct logical requests that called.
    fn logical_requests(&self) -> usize {
        self.attempts.len() + self.current.iter().filter(|s| s.1 > 0).count()
    }
}

impl Upstream {
    /// A healthy upstream named `name` with 20 ms latency.
    pub fn new(name: impl Into<String>) -> Self {
        Self::builder(name).build()
    }

    /// A builder for an upstream with faults.
    pub fn builder(name: impl Into<String>) -> UpstreamBuilder {
        UpstreamBuilder {
            config: Config {
                name: name.into(),
                latency: Duration::from_millis(20),
                outages: Vec::new(),
                hangs: Vec::new(),
                degradations: Vec::new(),
                capacity: None,
                commit_then_fail: 0.0,
                rejections: Vec::new(),
                dedup: true,
            },
        }
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// One sentence about the fault schedule, e.g. ``upstream `payments` down 0s..10s``.
    pub fn describe(&self) -> String {
        let c = &self.inner.config;
        let mut parts = vec![format!("upstream `{}`", c.name)];
        for w in &c.outages {
            parts.push(format!(
                "down {}..{}",
                format_duration(w.start),
                format_duration(w.end)
            ));
        }
        for w in &c.hangs {
            parts.push(format!(
                "hangs {}..{} (accepts calls, never answers)",
                format_duration(w.start),
                format_duration(w.end)
            ));
        }
        for d in &c.degradations {
            let mut s = format!(
                "degraded {}..{} ({:.0}% fail with {}",
                format_duration(d.window.start),
                format_duration(d.window.end),
                d.error_rate * 100.0,
                d.status
            );
            if let Some(l) = d.latency {
                s.push_str(&format!(", {} latency", format_duration(l)));
            }
            s.push(')');
            parts.push(s);
        }
        if let Some((n, o)) = c.capacity {
            parts.push(format!("capacity {n} in flight ({o:?})"));
        }
        if c.commit_then_fail > 0.0 {
            parts.push(format!(
                "{:.0}% of effects lose their response",
                c.commit_then_fail * 100.0
            ));
        }
        for (status, rate) in &c.rejections {
            parts.push(format!("{:.0}% answered {status}", rate * 100.0));
        }
        parts.join(", ")
    }

    /// The calls that arrived inside a hang window, with when their caller stopped waiting
    /// (`None`: still waiting when the run ended).
    pub fn hung_calls(&self) -> Vec<HungCall> {
        let st = self.inner.state.lock();
        st.hung
            .iter()
            .map(|(i, ended)| HungCall {
                arrival: st.arrivals[*i].clone(),
                ended: *ended,
            })
            .collect()
    }

    /// The virtual time of a call and the logical request it belongs to (records activity).
    fn call_site(&self) -> (Duration, Who) {
        if let Some((at, client, request)) = sim::call_site() {
            return (at, (client, request));
        }
        // Outside a simulation: time since this upstream's first call, and no client.
        let mut st = self.inner.state.lock();
        let at = st
            .epoch
            .get_or_insert_with(tokio::time::Instant::now)
            .elapsed();
        (at, (None, None))
    }

    /// Sends a request; answers after the simulated latency.
    ///
    /// # Errors
    /// [`UpstreamError::Unavailable`] in an outage or when the response is lost;
    /// [`UpstreamError::Status`] for error answers (degraded windows, rejections, shedding).
    pub fn call(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, UpstreamError>> + '_ {
        futures::FutureExt::map(self.call_from(request, None), |(result, _)| result)
    }

    /// [`call`](Self::call) with what the upstream recorded as the outcome, for the seams
    /// (an outage and a lost response are both `Unavailable` to `call`, but HTTP shows them
    /// differently). `who` replaces the calling task's client and logical request: the seams
    /// serve a request on a task of their own, and name the client that sent it.
    ///
    /// The call arrives at its first poll (as an `async fn`'s would), where everything about
    /// it is decided at once; what it keeps while it waits is one `Sleep` and its answer
    /// ([`Answering`]), so a waiting client costs little memory.
    pub(crate) fn call_from<'a>(
        &'a self,
        request: Request,
        caller: Option<&'a Caller>,
    ) -> impl Future<Output = (Result<Response, UpstreamError>, Outcome)> + 'a {
        futures::FutureExt::flatten(futures::future::lazy(move |_| self.arrive(request, caller)))
    }

    /// Records a call arriving now and decides what it is answered, and when.
    fn arrive<'a>(&'a self, request: Request, caller: Option<&'a Caller>) -> Answering<'a> {
        let (at, here) = self.call_site();
        let who = caller.map_or(here, |c| c.who);
        let (index, attempt) = {
            let mut st = self.inner.state.lock();
            let this = st.next_attempt(who);
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
            let in_flight = st.in_flight;
            let path = match st.paths.get(request.path.as_str()) {
                Some(p) => p.clone(),
                None => {
                    let p: Arc<str> = Arc::from(request.path.as_str());
                    st.paths.insert(p.clone());
                    p
                }
            };
            st.arrivals.push(Arrival {
                at,
                client: who.0,
                request: who.1,
                attempt: this,
                method: request.method,
                path,
                key: request.idempotency_key.clone(),
                outcome: Outcome::InFlight,
                in_flight,
            });
            let index = st.arrivals.len() - 1;
            if self.inner.config.hangs.iter().any(|w| w.contains(&at)) {
                st.hung.insert(index, None);
            }
            (index, this)
        };
        tracing::debug!(
            target: "whatbreaks",
            t_ms = sim::ms(at),
            upstream = %self.inner.config.name,
            client = who.0,
            request = who.1,
            attempt,
            method = %request.method,
            path = %request.path,
            "upstream call"
        );
        let guard = CallGuard {
            upstream: self,
            index,
            outcome: Outcome::Abandoned,
        };
        let wait = match self.plan(at, who, caller) {
            Plan::Answer(answer) => Wait::Now(Some(answer)),
            Plan::Hang => Wait::Hang,
            Plan::Serve { latency, failure } => match self.inner.config.capacity {
                None => self.after_slot(&request, at, who, caller, latency, failure, None),
                Some((_, Overflow::Shed)) => match self.inner.slots.try_acquire() {
                    Ok(permit) => {
                        self.after_slot(&request, at, who, caller, latency, failure, Some(permit))
                    }
                    Err(_) => Wait::Now(Some(self.fail(
                        UpstreamError::Status(503),
                        "shed: over capacity",
                        at,
                        who,
                    ))),
                },
                // Only calls that queue for a slot pay for the wait's state (boxed).
                Some((_, Overflow::Queue)) => Wait::Queue(Box::pin(async move {
                    let permit = self
                        .inner
                        .slots
                        .acquire()
                        .await
                        .expect("[whatbreaks internal bug] upstream semaphore closed");
                    Answering {
                        upstream: self,
                        guard: None,
                        wait: self.after_slot(
                            &request,
                            at,
                            who,
                            caller,
                            latency,
                            failure,
                            Some(permit),
                        ),
                    }
                    .await
                })),
            },
        };
        Answering {
            upstream: self,
            guard: Some(guard),
            wait,
        }
    }

    /// A served call once it holds its slot (if the upstream has slots): a failure is told
    /// after the latency; a success commits its effect now and answers after the latency.
    #[allow(clippy::too_many_arguments)]
    fn after_slot<'a>(
        &'a self,
        request: &Request,
        at: Duration,
        who: Who,
        caller: Option<&Caller>,
        latency: Duration,
        failure: Option<(UpstreamError, &'static str)>,
        permit: Option<tokio::sync::SemaphorePermit<'a>>,
    ) -> Wait<'a> {
        let then = match failure {
            Some((e, fault)) => Then::Fail { e, fault, at, who },
            None => Then::Answer(self.commit(request, at, who, caller)),
        };
        Wait::Sleep {
            sleep: tokio::time::sleep(latency),
            then: Some(then),
            _permit: permit,
        }
    }

    /// A random draw for a call: from the seam's caller stream, else the client's.
    fn chance(caller: Option<&Caller>, p: f64) -> bool {
        match caller {
            Some(caller) => caller.chance(p),
            None => sim::chance(p),
        }
    }

    /// A failed call, traced.
    fn fail(
        &self,
        e: UpstreamError,
        fault: &str,
        at: Duration,
        who: Who,
    ) -> (Result<Response, UpstreamError>, Outcome) {
        tracing::debug!(
            target: "whatbreaks",
            t_ms = sim::ms(at),
            upstream = %self.inner.config.name,
            client = who.0,
            request = who.1,
            fault,
            error = %e,
            "upstream fault"
        );
        (Err(e), Outcome::Failed(e))
    }

    /// What the fault schedule does with a call arriving at `at`, before any slot is taken.
    fn plan(&self, at: Duration, who: Who, caller: Option<&Caller>) -> Plan {
        let c = &self.inner.config;
        if c.outages.iter().any(|w| w.contains(&at)) {
            return Plan::Answer(self.fail(UpstreamError::Unavailable, "outage", at, who));
        }
        if c.hangs.iter().any(|w| w.contains(&at)) {
            tracing::debug!(
                target: "whatbreaks",
                t_ms = sim::ms(at),
                upstream = %c.name,
                client = who.0,
                request = who.1,
                fault = "hang",
                "upstream fault"
            );
            return Plan::Hang;
        }
        let mut latency = c.latency;
        let mut failure = None;
        for d in c.degradations.iter().filter(|d| d.window.contains(&at)) {
            if let Some(l) = d.latency {
                latency = l;
            }
            if failure.is_none() && Self::chance(caller, d.error_rate) {
                failure = Some((UpstreamError::Status(d.status), "degraded"));
            }
        }
        for (status, rate) in &c.rejections {
            if failure.is_none() && Self::chance(caller, *rate) {
                failure = Some((UpstreamError::Status(*status), "rejected"));
            }
        }
        Plan::Serve { latency, failure }
    }

    /// Commits a served call's effect (a write: not a `GET`), or replays it for a key seen
    /// before, and says what the caller will be told.
    fn commit(
        &self,
        request: &Request,
        at: Duration,
        who: Who,
        caller: Option<&Caller>,
    ) -> Outcome {
        if request.method == Method::Get {
            return Outcome::Ok;
        }
        let c = &self.inner.config;
        let mut st = self.inner.state.lock();
        let seen = request
            .idempotency_key
            .as_ref()
            .filter(|_| c.dedup)
            .is_some_and(|k| st.keys.contains_key(k));
        if seen {
            tracing::debug!(
                target: "whatbreaks",
                t_ms = sim::ms(at),
                upstream = %c.name,
                client = who.0,
                request = who.1,
                key = request.idempotency_key.as_deref(),
                "effect deduplicated by idempotency key"
            );
            return Outcome::Deduplicated;
        }
        let effects = st.effects.entry(who).or_insert(0);
        *effects += 1;
        let effects = *effects;
        if let Some(k) = &request.idempotency_key {
            *st.keys.entry(k.clone()).or_insert(0) += 1;
        }
        let lost = Self::chance(caller, c.commit_then_fail);
        tracing::debug!(
            target: "whatbreaks",
            t_ms = sim::ms(at),
            upstream = %c.name,
            client = who.0,
            request = who.1,
            method = %request.method,
            path = %request.path,
            key = request.idempotency_key.as_deref(),
            effects,
            response_lost = lost,
            "effect committed"
        );
        if lost {
            Outcome::CommittedThenFailed
        } else {
            Outcome::Ok
        }
    }

    /// Every arrival so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.state.lock().arrivals.clone()
    }

    /// When each call arrived; with `retries_only`, first attempts are left out.
    pub fn arrival_times(&self, retries_only: bool) -> Vec<Duration> {
        self.with_arrivals(|a| {
            a.iter()
                .filter(|a| !retries_only || a.attempt > 0)
                .map(|a| a.at)
                .collect()
        })
    }

    /// Runs `f` over the arrivals without copying them.
    pub fn with_arrivals<R>(&self, f: impl FnOnce(&[Arrival]) -> R) -> R {
        f(&self.inner.state.lock().arrivals)
    }

    /// Effects committed per logical request `(client, request)`.
    pub fn effects(&self) -> BTreeMap<(Option<ClientId>, Option<u64>), u32> {
        let st = self.inner.state.lock();
        st.effects.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Counts over every arrival.
    pub fn stats(&self) -> UpstreamStats {
        let st = self.inner.state.lock();
        let calls = st.arrivals.len();
        let logical_requests = st.logical_requests();
        UpstreamStats {
            calls,
            logical_requests,
            calls_per_request: if logical_requests == 0 {
                0.0
            } else {
                calls as f64 / logical_requests as f64
            },
            retries: st.arrivals.iter().filter(|a| a.attempt > 0).count(),
            failures: st
                .arrivals
                .iter()
                .filter(|a| matches!(a.outcome, Outcome::Failed(_) | Outcome::CommittedThenFailed))
                .count(),
            max_in_flight: st.max_in_flight,
            effects: st.effects.values().map(|n| *n as usize).sum(),
            duplicated_requests: st.effects.values().filter(|n| **n > 1).count(),
        }
    }

    /// A hash of the arrival trace (time, client, request, attempt, method, outcome): equal
    /// for equal runs. Used to prove that a seed replays the same run.
    pub fn trace_hash(&self) -> u64 {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        // PRIME^k: FNV-1a over k zero bytes is a multiplication by PRIME^k.
        const POW: [u64; 9] = {
            let mut p = [1u64; 9];
            let mut k = 1;
            while k < 9 {
                p[k] = p[k - 1].wrapping_mul(PRIME);
                k += 1;
            }
            p
        };
        let st = self.inner.state.lock();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        // FNV-1a over the 8 little-endian bytes of `v`; the zero bytes above its highest set
        // byte are folded into one multiplication (same value, fewer steps).
        let mut eat = |v: u64| {
            let used = 8 - (v.leading_zeros() / 8) as usize;
            for b in &v.to_le_bytes()[..used] {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
            h = h.wrapping_mul(POW[8 - used]);
        };
        for a in &st.arrivals {
            eat(a.at.as_micros() as u64);
            eat(a.client.map_or(u64::MAX, u64::from));
            eat(a.request.unwrap_or(u64::MAX));
            eat(u64::from(a.attempt));
            eat(a.method as u64);
            eat(outcome_code(a.outcome));
        }
        h
    }
}

fn outcome_code(o: Outcome) -> u64 {
    match o {
        Outcome::InFlight => 0,
        Outcome::Ok => 1,
        Outcome::Deduplicated => 2,
        Outcome::Failed(UpstreamError::Unavailable) => 3,
        Outcome::Failed(UpstreamError::Status(s)) => 1_000 + u64::from(s),
        Outcome::CommittedThenFailed => 4,
        Outcome::Abandoned => 5,
    }
}

/// Who a seam serves a call for, when it serves it on a task of its own: the client and
/// logical request, and a random stream drawn from that client's stream when the connection
/// opened (so one client's faults do not shift another's).
#[derive(Debug)]
pub(crate) struct Caller {
    pub(crate) who: Who,
    rng: Mutex<rand::rngs::Xoshiro256PlusPlus>,
}

impl Caller {
    /// The calling task's client, with a stream seeded from its own (call it in that task).
    #[cfg(feature = "hyper")]
    pub(crate) fn here() -> Caller {
        use rand::RngExt;
        Caller::new(
            (sim::current_client(), sim::current_request()),
            sim::rng().random(),
        )
    }

    /// A caller `who` whose random faults draw from a stream seeded with `seed`.
    #[cfg(feature = "hyper")]
    pub(crate) fn new(who: Who, seed: u64) -> Caller {
        use rand::SeedableRng;
        Caller {
            who,
            rng: Mutex::new(rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed)),
        }
    }

    fn chance(&self, p: f64) -> bool {
        use rand::RngExt;
        p > 0.0 && (p >= 1.0 || self.rng.lock().random_bool(p))
    }
}

/// Records the outcome of a call, or `Abandoned` if the caller dropped it mid-way.
/// A recorded call waiting for its answer (see [`Upstream::call_from`]).
struct Answering<'a> {
    upstream: &'a Upstream,
    /// Records the outcome when the call ends, or `Abandoned` when it is dropped first
    /// (`None` inside the queued path, whose outer `Answering` holds it).
    guard: Option<CallGuard<'a>>,
    wait: Wait<'a>,
}

type Answer = (Result<Response, UpstreamError>, Outcome);

/// What a recorded call waits for.
enum Wait<'a> {
    /// Nothing: answered at once.
    Now(Option<Answer>),
    /// Forever (a hang window): only the caller's timeout or cancellation ends it.
    Hang,
    /// The latency, holding a slot if the upstream has slots.
    Sleep {
        sleep: tokio::time::Sleep,
        then: Option<Then>,
        _permit: Option<tokio::sync::SemaphorePermit<'a>>,
    },
    /// A free slot of a queueing upstream, then the latency.
    Queue(Pin<Box<dyn Future<Output = Answer> + Send + 'a>>),
}

/// What a call that slept its latency is told.
enum Then {
    /// A fault (traced when told).
    Fail {
        e: UpstreamError,
        fault: &'static str,
        at: Duration,
        who: Who,
    },
    /// A served call's outcome (its effect already committed).
    Answer(Outcome),
}

impl Future for Answering<'_> {
    type Output = Answer;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        // SAFETY: only `Wait::Sleep`'s `sleep` is structurally pinned: it is polled through a
        // pinned reference and never moved (no variant change happens after it is polled;
        // `Answering` implements neither `Unpin` by hand nor `Drop`). The other fields are
        // plain data, taken out by value.
        let this = unsafe { self.get_unchecked_mut() };
        let answer = match &mut this.wait {
            Wait::Now(answer) => answer
                .take()
                .expect("[whatbreaks internal bug] call polled after its answer"),
            Wait::Hang => return Poll::Pending,
            Wait::Queue(queued) => match queued.as_mut().poll(cx) {
                Poll::Ready(answer) => answer,
                Poll::Pending => return Poll::Pending,
            },
            Wait::Sleep { sleep, then, .. } => {
                // SAFETY: see above.
                if unsafe { Pin::new_unchecked(sleep) }.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                match then
                    .take()
                    .expect("[whatbreaks internal bug] call polled after its answer")
                {
                    Then::Fail { e, fault, at, who } => this.upstream.fail(e, fault, at, who),
                    Then::Answer(outcome) => {
                        sim::touch();
                        let result = match outcome {
                            Outcome::CommittedThenFailed => Err(UpstreamError::Unavailable),
                            _ => Ok(Response {
                                status: 200,
                                replayed: outcome == Outcome::Deduplicated,
                            }),
                        };
                        (result, outcome)
                    }
                }
            }
        };
        if let Some(guard) = &mut this.guard {
            guard.outcome = answer.1;
        }
        Poll::Ready(answer)
    }
}

struct CallGuard<'a> {
    upstream: &'a Upstream,
    index: usize,
    outcome: Outcome,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.upstream.inner.state.lock();
        st.in_flight -= 1;
        st.arrivals[self.index].outcome = self.outcome;
        if let Some(end) = st.hung.get_mut(&self.index) {
            *end = Some(sim::now());
        }
        tracing::debug!(
            target: "whatbreaks",
            t_ms = sim::ms(sim::now()),
            upstream = %self.upstream.inner.config.name,
            client = st.arrivals[self.index].client,
            request = st.arrivals[self.index].request,
            outcome = ?self.outcome,
            "upstream answer"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn outage_then_recovery() {
        let up = Upstream::builder("u")
            .outage(Duration::ZERO..Duration::from_secs(1))
            .build();
        block_on(async {
            assert_eq!(
                up.call(Request::get("/")).await,
                Err(UpstreamError::Unavailable)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(up.call(Request::get("/")).await.unwrap().status, 200);
        });
        let a = up.arrivals();
        assert_eq!(a[0].attempt, 0);
        assert_eq!(a[1].attempt, 1);
        assert_eq!(a[1].at, Duration::from_secs(1));
        assert_eq!(a[1].outcome, Outcome::Ok);
    }

    #[test]
    fn lost_responses_and_idempotency_keys() {
        let up = Upstream::builder("pay").commit_then_fail(1.0).build();
        block_on(async {
            assert!(up.call(Request::post("/charge")).await.is_err());
            assert!(up.call(Request::post("/charge")).await.is_err());
        });
        let s = up.stats();
        assert_eq!((s.effects, s.duplicated_requests), (2, 1));
        assert_eq!(up.arrivals()[0].outcome, Outcome::CommittedThenFailed);

        let up = Upstream::builder("pay").commit_then_fail(1.0).build();
        block_on(async {
            let req = Request::post("/charge").idempotency_key("k1");
            assert!(up.call(req.clone()).await.is_err());
            let again = up.call(req).await.unwrap();
            assert!(again.replayed);
        });
        assert_eq!(up.stats().duplicated_requests, 0);
    }

    #[test]
    fn shedding_and_abandoned_calls() {
        let up = Upstream::builder("u")
            .latency(Duration::from_secs(5))
            .capacity(1, Overflow::Shed)
            .build();
        block_on(async {
            let slow = up.call(Request::get("/"));
            let (first, second) = futures::join!(
                tokio::time::timeout(Duration::from_secs(1), slow),
                up.call(Request::get("/"))
            );
            assert!(first.is_err(), "timed out");
            assert_eq!(second, Err(UpstreamError::Status(503)));
        });
        let a = up.arrivals();
        assert_eq!(a[0].outcome, Outcome::Abandoned);
        assert_eq!(up.stats().max_in_flight, 2);
    }

    #[test]
    fn classification() {
        assert!(UpstreamError::Status(503).is_retryable());
        assert!(UpstreamError::Status(429).is_retryable());
        assert!(!UpstreamError::Status(400).is_retryable());
        assert!(!UpstreamError::Status(404).is_retryable());
    }
}
