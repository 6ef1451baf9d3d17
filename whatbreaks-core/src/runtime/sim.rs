//! The simulation runtime: virtual time, seeded randomness, client populations, limits.
//!
//! A simulation runs on its own thread, on a current-thread tokio runtime whose clock is
//! paused: `tokio::time::sleep`, `timeout` and `tokio::time::Instant` follow *virtual* time,
//! and the clock jumps to the next timer whenever every task is waiting, so a ten-minute
//! outage takes milliseconds. In a test binary that installs the virtual system clock
//! (`whatbreaks::install!()`, Linux with glibc; see [`crate::runtime::os_clock`]),
//! `std::time::Instant`, `SystemTime` and `chrono::Utc::now()` follow it too; elsewhere they
//! keep real time (see [`crate::runtime::clock`] for code that reads wall time).
//!
//! Inside a simulation:
//! - [`rng()`] is a random number generator seeded from the scenario seed. Each client has its
//!   own stream derived from `(seed, client id)`, so one client's draws do not shift another's.
//! - [`now()`] is the virtual time since the simulation started.
//! - [`current_client()`] and [`current_request()`] name the client and the logical request
//!   the calling task works for; simulated components record them with every event.
//!
//! Two limits end a run that would not: a virtual-time limit (an endless retry loop, or a
//! deadlock while a timer is pending, reaches it at once in wall time) and a wall-clock
//! watchdog on a separate thread (a task that keeps yielding without letting time advance).
//! Both end with a finding that names the clients still pending. Code that never awaits
//! cannot be stopped from outside: the watchdog then reports the clients that were running
//! or pending (and the one whose poll never returned), and says that the simulation thread
//! is left running; the run's report is complete all the same. A panic in a client, or in a
//! task the code spawned with `tokio::spawn` / `spawn_local`, is caught and reported with
//! the seed.
//!
//! Tracing: the simulation emits [`tracing`] events with target `whatbreaks`, each with the
//! virtual time in milliseconds as the field `t_ms` (clients starting and finishing, upstream
//! calls, answers, faults and effects, database loads, pool checkouts). Without a subscriber
//! they cost a check per call site. The subscriber of the thread that calls [`simulate`] (its
//! scoped default, or the global one) also receives the events of the simulation thread.

use crate::runtime::rng::splitmix64;
use crate::runtime::{clock, os_clock};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng, TryRng};
use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
#[cfg(feature = "hyper")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// Default virtual-time limit of one run.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3_600);
/// Default wall-clock limit of one run.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(60);

/// A client's id inside a scenario, `0..clients`.
pub type ClientId = u32;

struct SimState {
    seed: u64,
    rng: Xoshiro256PlusPlus,
    start: tokio::time::Instant,
    /// Virtual time since `start` as of the runtime's last park: the paused clock moves only
    /// while the runtime parks (see [`sync_system_clock`]), so this is `start.elapsed()`
    /// without reading the clock at every call.
    now: Duration,
    last_activity: Duration,
    /// Status of every client, indexed by client id (ids are dense: `0..clients`); shared
    /// with the watchdog, which reads it when the simulation thread does not stop.
    clients: Arc<parking_lot::Mutex<Vec<ClientStatus>>>,
    abort: Arc<AtomicBool>,
    watch: Arc<Watch>,
    next_request: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientStatus {
    Waiting,
    Running,
    Done,
    Panicked,
}

thread_local! {
    static SIM: RefCell<Option<SimState>> = const { RefCell::new(None) };
}

/// No client is being polled (see [`Watch::polling`]).
const NOBODY: u32 = u32::MAX;

/// What the watchdog can see of a run from outside the simulation thread.
#[derive(Debug)]
struct Watch {
    /// The client whose body is being polled right now, or [`NOBODY`]: when the thread does
    /// not stop, this is the client whose poll never returned.
    polling: std::sync::atomic::AtomicU32,
    /// Calls of `whatbreaks::race::yield_point()` so far (a busy-wait on it keeps counting).
    yield_points: std::sync::atomic::AtomicU64,
    /// Virtual time in milliseconds at the runtime's last park.
    virtual_ms: std::sync::atomic::AtomicU64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            polling: std::sync::atomic::AtomicU32::new(NOBODY),
            yield_points: Default::default(),
            virtual_ms: Default::default(),
        }
    }
}

/// Counts a call of `yield_point` for the watchdog (see [`Stuck::yield_points`]).
pub(crate) fn note_yield_point() {
    with_sim(|s| s.watch.yield_points.fetch_add(1, Ordering::Relaxed));
}

struct ClientCtx {
    id: ClientId,
    /// The logical request the client works on now.
    request: Cell<u64>,
    /// A view of `request` that another task can read, made when a seam first asks for it
    /// ([`current_client_requests`]); most clients never need one.
    #[cfg(feature = "hyper")]
    shared: std::cell::OnceCell<Arc<AtomicU64>>,
    rng: RefCell<Xoshiro256PlusPlus>,
}

impl ClientCtx {
    /// Client `id`'s context: its first logical request and its own random stream.
    fn new(id: ClientId, seed: u64) -> Self {
        ClientCtx {
            id,
            request: Cell::new(u64::from(id)),
            #[cfg(feature = "hyper")]
            shared: std::cell::OnceCell::new(),
            rng: RefCell::new(Xoshiro256PlusPlus::seed_from_u64(splitmix64(
                seed ^ splitmix64(u64::from(id) + 1),
            ))),
        }
    }

    fn set_request(&self, request: u64) {
        self.request.set(request);
        #[cfg(feature = "hyper")]
        if let Some(shared) = self.shared.get() {
            shared.store(request, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// The context of the client being polled (or dropped) on this thread, null when none:
    /// set by [`InClient`] for the length of one poll, as a task-local would be, without
    /// moving the context in and out of the thread-local at every poll.
    static CURRENT: Cell<*const ClientCtx> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the context of the client being polled, if any.
fn with_client<R>(f: impl FnOnce(&ClientCtx) -> R) -> Option<R> {
    let ctx = CURRENT.try_with(Cell::get).ok()?;
    // SAFETY: `CURRENT` is non-null only while an `InClient` is being polled or dropped on
    // this thread, and then points at that `InClient`'s context, which is pinned (it does
    // not move while polled) and outlives the poll; the guard puts the previous value back
    // when the poll ends, also by a panic.
    (!ctx.is_null()).then(|| f(unsafe { &*ctx }))
}

/// Sets [`CURRENT`] for as long as it lives, then puts the previous value back.
struct Enter(*const ClientCtx);

impl Enter {
    fn new(ctx: &ClientCtx) -> Enter {
        Enter(CURRENT.with(|c| c.replace(ctx)))
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

/// A future run as a client: [`current_client`], [`current_request`] and [`rng`] answer
/// from its context while it is polled, and while it is dropped (its destructors run as
/// that client, as a task-local's would).
struct InClient<F> {
    ctx: ClientCtx,
    fut: std::mem::ManuallyDrop<F>,
}

impl<F> InClient<F> {
    fn new(ctx: ClientCtx, fut: F) -> Self {
        InClient {
            ctx,
            fut: std::mem::ManuallyDrop::new(fut),
        }
    }
}

impl<F: Future> Future for InClient<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: never moved out, only polled through a pinned
        // reference and dropped in place by `Drop`; `ctx` is never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _in = Enter::new(&this.ctx);
        unsafe { Pin::new_unchecked(&mut *this.fut) }.poll(cx)
    }
}

impl<F> Drop for InClient<F> {
    fn drop(&mut self) {
        let _in = Enter::new(&self.ctx);
        // SAFETY: dropped once, here, in place (never moved: see `poll`).
        unsafe { std::mem::ManuallyDrop::drop(&mut self.fut) }
    }
}

fn with_sim<R>(f: impl FnOnce(&mut SimState) -> R) -> Option<R> {
    SIM.with(|s| s.borrow_mut().as_mut().map(f))
}

/// True when called from inside a running simulation.
pub fn in_simulation() -> bool {
    SIM.with(|s| s.borrow().is_some())
}

/// The seed of the running simulation, if any.
pub fn seed() -> Option<u64> {
    with_sim(|s| s.seed)
}

/// Virtual time elapsed since the simulation started (zero outside a simulation).
pub fn now() -> Duration {
    let now = with_sim(|s| s.now).unwrap_or_default();
    clock::set_elapsed(now);
    now
}

/// Moves this thread's virtual system clock to tokio's paused clock. Called after every park
/// of the simulation's runtime: the only place where the paused clock advances by itself.
fn sync_system_clock() {
    let elapsed = with_sim_try(|s| {
        s.now = s.start.elapsed();
        s.watch
            .virtual_ms
            .store(s.now.as_millis() as u64, Ordering::Relaxed);
        s.now
    });
    if let Some(elapsed) = elapsed {
        clock::set_elapsed(elapsed);
    }
}

/// As [`with_sim`], but `None` instead of a panic when the state is borrowed already.
fn with_sim_try<R>(f: impl FnOnce(&mut SimState) -> R) -> Option<R> {
    SIM.with(|s| s.try_borrow_mut().ok()?.as_mut().map(f))
}

/// The client the calling task works for, if it runs inside a client of a population.
pub fn current_client() -> Option<ClientId> {
    with_client(|c| c.id)
}

/// The logical request the calling task works on: retries of one request share it.
///
/// Each client starts with its own logical request; scenarios where one client makes several
/// requests (or where every arrival is one request) set it with [`begin_request`].
pub fn current_request() -> Option<u64> {
    with_client(|c| c.request.get())
}

/// The calling task's client and a live view of its logical request (what
/// [`current_request`] will answer from that task later), for a seam that serves the client
/// on a task of its own. `None` outside a client.
#[cfg(feature = "hyper")]
pub(crate) fn current_client_requests() -> Option<(ClientId, Arc<AtomicU64>)> {
    with_client(|c| {
        let shared = c
            .shared
            .get_or_init(|| Arc::new(AtomicU64::new(c.request.get())));
        (c.id, shared.clone())
    })
}

/// Starts a new logical request for the calling client and returns its id.
///
/// Returns `None` outside a client.
pub fn begin_request() -> Option<u64> {
    let id = with_sim(|s| {
        s.next_request += 1;
        s.next_request
    })?;
    with_client(|c| c.set_request(id)).map(|()| id)
}

/// Restarts the simulation's random stream from `seed` (one stream per explored schedule).
pub(crate) fn reseed(seed: u64) {
    with_sim(|s| s.rng = Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed)));
}

/// Starts the simulation's virtual clock again at zero ([`now`], time windows of components,
/// the virtual wall clock): each schedule of the race explorer runs from time zero, as its
/// replay alone does. `std::time::Instant` stays equal to tokio's instant, which goes on.
pub(crate) fn restart_clock() {
    with_sim(|s| {
        s.start = tokio::time::Instant::now();
        s.now = Duration::ZERO;
        s.last_activity = Duration::ZERO;
    });
    clock::restart_elapsed();
}

/// A virtual time as milliseconds, for the `t_ms` field of tracing events.
pub(crate) fn ms(at: Duration) -> f64 {
    at.as_secs_f64() * 1e3
}

/// Records that something happened now (used to tell a deadlock from an endless loop).
pub fn touch() {
    with_sim(|s| s.last_activity = s.now);
}

/// Where a call is made from, in one look-up: the virtual time (recorded as activity, as
/// [`touch`] does), the client and its logical request. `None` outside a simulation.
pub(crate) fn call_site() -> Option<(Duration, Option<ClientId>, Option<u64>)> {
    let at = with_sim(|s| {
        s.last_activity = s.now;
        s.now
    })?;
    let (client, request) =
        with_client(|c| (Some(c.id), Some(c.request.get()))).unwrap_or((None, None));
    Some((at, client, request))
}

/// The simulation's random number generator.
///
/// Inside a client it draws from that client's stream; elsewhere in a simulation from the
/// simulation's stream; outside any simulation from a generator seeded by the OS (so code
/// that uses it in production keeps working). Implements [`rand::Rng`]: use
/// `rand::RngExt` for `random_range` and friends.
///
/// ```
/// use rand::RngExt;
/// let jitter_ms: u64 = whatbreaks_core::runtime::sim::rng().random_range(0..100);
/// assert!(jitter_ms < 100);
/// ```
pub fn rng() -> SimRng {
    SimRng { _private: () }
}

/// Handle returned by [`rng()`]; see there.
#[derive(Debug, Clone, Copy)]
pub struct SimRng {
    _private: (),
}

thread_local! {
    static OUTSIDE: RefCell<Xoshiro256PlusPlus> =
        RefCell::new(Xoshiro256PlusPlus::seed_from_u64(crate::runtime::rng::fresh_seed()));
}

impl SimRng {
    fn next(&mut self) -> u64 {
        use rand::Rng;
        if let Some(v) = with_client(|c| c.rng.borrow_mut().next_u64()) {
            return v;
        }
        if let Some(v) = with_sim(|s| s.rng.next_u64()) {
            return v;
        }
        OUTSIDE.with(|r| r.borrow_mut().next_u64())
    }
}

impl TryRng for SimRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// Draws `true` with probability `p` from the simulation's generator.
pub fn chance(p: f64) -> bool {
    p > 0.0 && (p >= 1.0 || rng().random_bool(p))
}

/// When the clients of a population make their first move.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// Every client starts at t=0 (a correlated event: a deploy, a failover).
    AtOnce,
    /// Start times drawn uniformly over `[0, over)`.
    Uniform {
        /// The window.
        over: Duration,
    },
    /// A Poisson process at `rate` arrivals per second (exponential gaps).
    Poisson {
        /// Mean arrivals per second.
        rate: f64,
    },
    /// Evenly spaced at `rate` arrivals per second.
    Steady {
        /// Arrivals per second.
        rate: f64,
    },
}

impl Arrivals {
    /// The start offsets of `clients` clients, in client-id order, drawn from `seed`.
    pub fn offsets(&self, clients: u32, seed: u64) -> Vec<Duration> {
        self.stream(seed).take(clients as usize).collect()
    }

    /// The offsets of clients `0, 1, 2, ...`, drawn one by one.
    fn stream(&self, seed: u64) -> impl Iterator<Item = Duration> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed ^ 0xA77_1BA1));
        let mut t = 0.0f64;
        (0u64..).map(move |i| match self {
            Arrivals::AtOnce => Duration::ZERO,
            Arrivals::Uniform { over } => {
                Duration::from_millis(rng.random_range(0..over.as_millis().max(1) as u64))
            }
            Arrivals::Poisson { rate } => {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                t += -u.ln() / rate.max(f64::MIN_POSITIVE);
                Duration::from_secs_f64(t)
            }
            Arrivals::Steady { rate } => Duration::from_secs_f64(i as f64 / rate),
        })
    }

    /// Arrival offsets of an open-loop process over `window` (Poisson or steady), from `seed`.
    pub fn offsets_for(&self, window: Duration, seed: u64) -> Vec<Duration> {
        let rate = match self {
            Arrivals::Poisson { rate } | Arrivals::Steady { rate } => *rate,
            _ => return self.offsets(0, seed),
        };
        let expected = (rate * window.as_secs_f64()).ceil() as u32;
        // Both processes only move forward: draw until the first offset past the window (at
        // most twice the expected count, as a bound).
        let bound = expected.saturating_mul(2).saturating_add(16) as usize;
        let mut v = Vec::with_capacity(expected as usize + expected as usize / 16 + 16);
        v.extend(self.stream(seed).take(bound).take_while(|d| *d < window));
        v
    }
}

/// Limits and seed of one simulation run.
#[derive(Clone, Debug)]
pub struct RunLimits {
    /// The run's seed.
    pub seed: u64,
    /// Virtual-time limit.
    pub time_limit: Duration,
    /// Wall-clock limit.
    pub watchdog: Duration,
}

impl RunLimits {
    /// Limits for `seed` with the documented defaults: a 1 h virtual-time limit and a 60 s
    /// watchdog.
    pub fn new(seed: u64) -> Self {
        RunLimits {
            seed,
            time_limit: DEFAULT_TIME_LIMIT,
            watchdog: DEFAULT_WATCHDOG,
        }
    }
}

/// How a simulation run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The scenario finished.
    Completed,
    /// Virtual time reached the limit with work still pending.
    TimeLimit,
    /// The wall-clock watchdog fired.
    Watchdog {
        /// False when the simulation thread did not stop when asked (a task that never awaits).
        stopped: bool,
    },
    /// The scenario itself (not a client) panicked.
    Panicked(String),
}

/// A client that panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPanic {
    /// The client.
    pub client: ClientId,
    /// The panic message.
    pub message: String,
    /// Virtual time of the panic.
    pub at: Duration,
}

/// What a simulation run produced.
#[derive(Debug)]
pub struct Run<T> {
    /// The scenario's output (absent when the run did not complete).
    pub value: Option<T>,
    /// How it ended.
    pub end: RunEnd,
    /// Clients that panicked.
    pub panics: Vec<ClientPanic>,
    /// Clients that had not finished when the run ended.
    pub pending: Vec<ClientId>,
    /// Clients that had not yet started when the run ended.
    pub not_started: usize,
    /// Tasks the code spawned itself (`tokio::spawn`, `spawn_local`) that panicked; their
    /// panics used to vanish with the task.
    pub task_panics: Vec<String>,
    /// What the watchdog saw when it fired (`None` when it did not).
    pub stuck: Option<Stuck>,
    /// Virtual time at the end.
    pub virtual_elapsed: Duration,
    /// Virtual time of the last recorded activity.
    pub last_activity: Duration,
    /// Wall-clock time the run took.
    pub wall_elapsed: Duration,
}

impl<T> Run<T> {
    /// True when the run completed without panics.
    pub fn is_clean(&self) -> bool {
        self.end == RunEnd::Completed && self.panics.is_empty()
    }
}

/// What the wall-clock watchdog saw when it fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    /// The client whose poll had not returned when the watchdog gave up (code that never
    /// awaits), if the thread did not stop and a client was being polled.
    pub polling: Option<ClientId>,
    /// Calls of `whatbreaks::race::yield_point()` in a short sample after the watchdog fired,
    /// while virtual time stood still: more than zero is a busy-wait on it.
    pub yield_points: u64,
    /// Virtual time when the watchdog fired.
    pub virtual_at: Duration,
    /// False when the simulation thread did not stop: it is left running (spinning) until
    /// the process exits; nothing of the run's report is lost.
    pub stopped: bool,
}

struct Outcome {
    end: RunEnd,
    panics: Vec<ClientPanic>,
    task_panics: Vec<String>,
    pending: Vec<ClientId>,
    not_started: usize,
    virtual_elapsed: Duration,
    last_activity: Duration,
}

/// Runs `main` as a simulation with the given limits, on its own thread.
///
/// `main` is called on the simulation thread and may spawn `!Send` tasks with
/// `tokio::task::spawn_local`; use [`run_clients`] to start a population.
pub fn simulate<T, F, Fut>(limits: &RunLimits, main: F) -> Run<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let wall_start = std::time::Instant::now();
    hear_task_panics();
    let abort = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<(Option<T>, Outcome)>();
    let (seed, time_limit) = (limits.seed, limits.time_limit);
    let thread_abort = abort.clone();
    let watch = Arc::new(Watch::default());
    let thread_watch = watch.clone();
    let clients = Arc::new(parking_lot::Mutex::new(Vec::<ClientStatus>::new()));
    let thread_clients = clients.clone();
    // The caller's tracing subscriber also hears the simulation thread (a scoped default, as
    // test subscribers often are, would not otherwise cross threads).
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let spawned = std::thread::Builder::new()
        .name("whatbreaks-sim".into())
        .spawn(move || {
            let _dispatch = (!dispatch.is::<tracing::subscriber::NoSubscriber>())
                .then(|| tracing::dispatcher::set_default(&dispatch));
            // From here the system clock of this thread is virtual (where the binary installs
            // it, see `os_clock`): tokio's paused clock starts at the same instant as
            // `std::time::Instant`, and each park of the runtime moves both.
            let _virtual = clock::begin_virtual(os_clock::real_monotonic());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut rt = tokio::runtime::Builder::new_current_thread();
                // Real sockets on loopback (`Upstream::url`, feature `hyper`) need the I/O
                // driver; with it, each park polls for ready I/O before the paused clock jumps.
                #[cfg(feature = "hyper")]
                rt.enable_io();
                let rt = rt
                    .enable_time()
                    .start_paused(true)
                    .on_thread_unpark(sync_system_clock)
                    .build()
                    .expect("[whatbreaks internal bug] cannot build the simulation runtime");
                let local = tokio::task::LocalSet::new();
                rt.block_on(local.run_until(async move {
                    SIM.with(|s| {
                        *s.borrow_mut() = Some(SimState {
                            seed,
                            rng: Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed)),
                            start: tokio::time::Instant::now(),
                            now: Duration::ZERO,
                            last_activity: Duration::ZERO,
                            clients: thread_clients.clone(),
                            abort: thread_abort.clone(),
                            watch: thread_watch.clone(),
                            next_request: 1 << 32,
                        })
                    });
                    tracing::debug!(target: "whatbreaks", t_ms = 0.0, seed, "simulation starts");
                    let value = tokio::time::timeout(time_limit, abortable(main(), &thread_abort))
                        .await
                        .ok()
                        .flatten();
                    (value, tokio::time::Instant::now())
                }))
            }));
            let state = SIM.with(|s| s.borrow_mut().take());
            // The virtual instant the run ended at: read inside the runtime, because outside
            // it tokio's clock is real time again.
            let ended_at = result.as_ref().ok().map(|(_, at)| *at);
            let (value, end) = match result {
                Ok((Some(v), _)) => (Some(v), RunEnd::Completed),
                Ok((None, _)) => {
                    let aborted = state
                        .as_ref()
                        .is_some_and(|s| s.abort.load(Ordering::SeqCst));
                    let end = if aborted {
                        RunEnd::Watchdog { stopped: true }
                    } else {
                        RunEnd::TimeLimit
                    };
                    (None, end)
                }
                Err(payload) => (None, RunEnd::Panicked(panic_message(&*payload))),
            };
            let outcome = match state {
                Some(s) => {
                    let mut pending = Vec::new();
                    let task_panics = TASK_PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()));
                    let mut not_started = 0;
                    for (id, status) in s.clients.lock().iter().enumerate() {
                        match status {
                            ClientStatus::Waiting => not_started += 1,
                            ClientStatus::Running => pending.push(id as ClientId),
                            ClientStatus::Panicked | ClientStatus::Done => {}
                        }
                    }
                    Outcome {
                        end,
                        panics: PANICS.with(|p| std::mem::take(&mut *p.borrow_mut())),
                        task_panics,
                        pending,
                        not_started,
                        virtual_elapsed: ended_at
                            .map(|at| at.saturating_duration_since(s.start))
                            .unwrap_or(s.last_activity),
                        last_activity: s.last_activity,
                    }
                }
                None => Outcome {
                    end,
                    panics: Vec::new(),
                    task_panics: Vec::new(),
                    pending: Vec::new(),
                    not_started: 0,
                    virtual_elapsed: Duration::ZERO,
                    last_activity: Duration::ZERO,
                },
            };
            tracing::debug!(
                target: "whatbreaks",
                t_ms = ms(outcome.virtual_elapsed),
                end = ?outcome.end,
                pending = outcome.pending.len(),
                not_started = outcome.not_started,
                "simulation ends"
            );
            let _ = tx.send((value, outcome));
        });
    if let Err(e) = spawned {
        return failed_run(
            RunEnd::Panicked(format!("cannot start the simulation thread: {e}")),
            wall_start,
        );
    }
    let mut stuck = None;
    let received = match rx.recv_timeout(limits.watchdog) {
        Ok(r) => Some(r),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            // What the thread is doing: a short sample of `yield_point` calls tells a
            // busy-wait on it from a loop of `yield_now` or code that never awaits.
            let before = watch.yield_points.load(Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
            let yield_points = watch.yield_points.load(Ordering::Relaxed) - before;
            let polling = watch.polling.load(Ordering::SeqCst);
            stuck = Some(Stuck {
                polling: (polling != NOBODY).then_some(polling),
                yield_points,
                virtual_at: Duration::from_millis(watch.virtual_ms.load(Ordering::Relaxed)),
                stopped: true,
            });
            // Ask every client to stop at its next poll, then give it a moment to unwind.
            abort.store(true, Ordering::SeqCst);
            rx.recv_timeout(Duration::from_secs(2)).ok()
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
    };
    match received {
        Some((value, o)) => Run {
            value,
            end: o.end,
            panics: o.panics,
            pending: o.pending,
            not_started: o.not_started,
            task_panics: o.task_panics,
            stuck: stuck.map(|s| Stuck { polling: None, ..s }),
            virtual_elapsed: o.virtual_elapsed,
            last_activity: o.last_activity,
            wall_elapsed: wall_start.elapsed(),
        },
        None if abort.load(Ordering::SeqCst) => {
            // The thread did not stop: code that never awaits. Read what the shared state
            // says (the thread keeps running; this is a snapshot).
            let mut run = failed_run(RunEnd::Watchdog { stopped: false }, wall_start);
            for (id, status) in clients.lock().iter().enumerate() {
                match status {
                    ClientStatus::Waiting => run.not_started += 1,
                    ClientStatus::Running => run.pending.push(id as ClientId),
                    ClientStatus::Panicked | ClientStatus::Done => {}
                }
            }
            run.stuck = stuck.map(|s| Stuck {
                stopped: false,
                ..s
            });
            if let Some(s) = &run.stuck {
                run.virtual_elapsed = s.virtual_at;
            }
            run
        }
        None => failed_run(
            RunEnd::Panicked("[whatbreaks internal bug] the simulation thread vanished".into()),
            wall_start,
        ),
    }
}

fn failed_run<T>(end: RunEnd, wall_start: std::time::Instant) -> Run<T> {
    Run {
        value: None,
        end,
        panics: Vec::new(),
        pending: Vec::new(),
        not_started: 0,
        task_panics: Vec::new(),
        stuck: None,
        virtual_elapsed: Duration::ZERO,
        last_activity: Duration::ZERO,
        wall_elapsed: wall_start.elapsed(),
    }
}

thread_local! {
    static PANICS: RefCell<Vec<ClientPanic>> = const { RefCell::new(Vec::new()) };
    /// Panics on this simulation thread outside a client's own task (tasks the code spawned
    /// itself), recorded by the panic hook ([`hear_task_panics`]).
    static TASK_PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Installs (once per process) a panic hook that records, on a simulation thread, a panic
/// outside a client's task: a task the code spawned with `tokio::spawn` or `spawn_local`,
/// whose panic tokio keeps in a `JoinHandle` that nobody may ever await. The previous hook
/// still runs (the message and location are printed as usual).
fn hear_task_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only `try_*` accessors here: a panic hook must not panic (that aborts).
            let simulating = SIM
                .try_with(|s| s.try_borrow().map_or(true, |s| s.is_some()))
                .unwrap_or(false);
            let owned = OWNED_PANICS.try_with(Cell::get).unwrap_or(1) > 0;
            if simulating && current_client().is_none() && !owned {
                let message = panic_message(info.payload());
                let at = SIM
                    .with(|s| {
                        s.try_borrow()
                            .ok()
                            .and_then(|s| s.as_ref().map(|s| s.start.elapsed()))
                    })
                    .unwrap_or_default();
                let place = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let _ = TASK_PANICS.try_with(|p| {
                    if let Ok(mut p) = p.try_borrow_mut() {
                        p.push(format!(
                            "t={}{place}: {message}",
                            crate::spec::format_duration(at)
                        ));
                    }
                });
            }
            previous(info);
        }));
    });
}

thread_local! {
    /// How many polls of futures whose panics their owner reports are on the stack: the
    /// scenario's own `main` (its panic is the scenario's), a cluster instance's task.
    static OWNED_PANICS: Cell<u32> = const { Cell::new(0) };
}

/// Polls with `f` a future whose panic its owner catches and reports (a cluster instance's
/// task, the scenario's main): the panic hook does not report it a second time as a lost
/// task panic.
pub fn poll_owned<R>(f: impl FnOnce() -> R) -> R {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            let _ = OWNED_PANICS.try_with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    OWNED_PANICS.with(|d| d.set(d.get() + 1));
    let _depth = Depth;
    f()
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic with a non-string payload)".to_string()
    }
}

/// Runs `fut` until it ends, or ends with `None` at its first poll after the watchdog asked
/// the simulation to stop. Pinned in place (no box of its own).
async fn abortable<F: Future>(fut: F, abort: &AtomicBool) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        if abort.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        poll_owned(|| fut.as_mut().poll(cx).map(Some))
    })
    .await
}

/// One client's task, spawned at the client's arrival: runs its body until it ends, panics,
/// or the watchdog asks the simulation to stop (checked before every poll of the body). It
/// records how the client ended itself (no `JoinHandle` keeps a finished client's memory),
/// and tells the population when the last of its clients is done.
///
/// Written by hand rather than as an `async` block so the body is stored once, in place: an
/// `async` block keeps the captured body and the copy it awaits side by side, which doubled
/// the memory of every simulated client.
struct ClientTask<F> {
    /// Set at the first poll: the client is running from then on.
    started: bool,
    abort: Arc<AtomicBool>,
    watch: Arc<Watch>,
    population: Rc<Population>,
    body: InClient<F>,
}

impl<F: Future<Output = ()>> Future for ClientTask<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `body` is structurally pinned: never moved out of `self`, only polled
        // through a pinned reference; `ClientTask` implements neither `Unpin` by hand nor
        // `Drop`. The other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.abort.load(Ordering::Relaxed) {
            // Stopped by the watchdog: the client stays pending in the run's report.
            this.population.one_done();
            return Poll::Ready(());
        }
        let id = this.body.ctx.id;
        if !this.started {
            this.started = true;
            set_status(id, ClientStatus::Running);
            tracing::debug!(target: "whatbreaks", t_ms = ms(now()), client = id, "client arrives");
        }
        this.watch.polling.store(id, Ordering::Relaxed);
        // SAFETY: see above; `body` lives inside the pinned `self`.
        let body = unsafe { Pin::new_unchecked(&mut this.body) };
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body.poll(cx)));
        this.watch.polling.store(NOBODY, Ordering::Relaxed);
        let status = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => ClientStatus::Done,
            Err(payload) => {
                let message = panic_message(&*payload);
                let at = now();
                tracing::warn!(
                    target: "whatbreaks",
                    t_ms = ms(at),
                    client = id,
                    message = %message,
                    "client panicked"
                );
                PANICS.with(|p| {
                    p.borrow_mut().push(ClientPanic {
                        client: id,
                        message,
                        at,
                    })
                });
                ClientStatus::Panicked
            }
        };
        set_status(id, status);
        this.population.one_done();
        Poll::Ready(())
    }
}

/// The clients of one [`run_clients`] call still running, and the waker of the call.
#[derive(Default)]
struct Population {
    left: Cell<usize>,
    waiting: Cell<Option<std::task::Waker>>,
}

impl Population {
    fn one_done(&self) {
        self.left.set(self.left.get() - 1);
        if self.left.get() == 0
            && let Some(waker) = self.waiting.take()
        {
            waker.wake();
        }
    }
}

/// Sets a client's status (ids index `SimState::clients`).
fn set_status(id: ClientId, status: ClientStatus) {
    with_sim(|s| {
        if let Some(slot) = s.clients.lock().get_mut(id as usize) {
            *slot = status;
        }
    });
}

/// Starts one client per offset, each running `body(client_id)` from its offset on, and
/// waits for all of them. Must be called inside [`simulate`].
///
/// Each client runs as its own task with its client id, its first logical request and its own
/// random stream, readable from its task alone ([`current_client`], [`rng`]). A client that
/// panics is recorded (see [`Run::panics`]) and the others go on.
///
/// A client's task, and its body (`body(client_id)` is called then), is made at the client's
/// arrival, in the order of the offsets (of the ids, for equal offsets): a population
/// spread over time holds in memory only the clients that have arrived and not finished.
pub async fn run_clients<B, Fut>(offsets: &[Duration], body: B)
where
    B: Fn(ClientId) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let Some((seed, start, abort, watch)) =
        with_sim(|s| (s.seed, s.start, s.abort.clone(), s.watch.clone()))
    else {
        panic!("[whatbreaks internal bug] run_clients called outside a simulation");
    };
    // Every client of this population starts out waiting; ids follow those of earlier
    // populations of the same simulation.
    let base = with_sim(|s| {
        let mut clients = s.clients.lock();
        let base = clients.len() as ClientId;
        clients.extend(std::iter::repeat_n(ClientStatus::Waiting, offsets.len()));
        base
    })
    .unwrap_or(0);
    let population = Rc::new(Population::default());
    population.left.set(offsets.len());
    // Arrival order: the offsets' own order when sorted (arrival processes make them so).
    let by_offset: Option<Vec<u32>> = (!offsets.is_sorted()).then(|| {
        let mut order: Vec<u32> = (0..offsets.len() as u32).collect();
        order.sort_by_key(|&i| offsets[i as usize]);
        order
    });
    for n in 0..offsets.len() {
        let i = by_offset.as_ref().map_or(n, |order| order[n] as usize);
        let arrival = start + offsets[i];
        if tokio::time::Instant::now() < arrival {
            tokio::time::sleep_until(arrival).await;
        }
        if abort.load(Ordering::Relaxed) {
            return;
        }
        let id = base + i as ClientId;
        let task = ClientTask {
            started: false,
            abort: abort.clone(),
            watch: watch.clone(),
            population: population.clone(),
            body: InClient::new(ClientCtx::new(id, seed), body(id)),
        };
        // Detached: the task records its own end (see `ClientTask`).
        drop(tokio::task::spawn_local(task));
    }
    std::future::poll_fn(|cx| {
        if population.left.get() == 0 {
            Poll::Ready(())
        } else {
            population.waiting.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    })
    .await;
}

/// Runs `fut` as client `id` outside a simulation (real-time mode, see
/// the real-time backends): [`current_client`] and [`rng`] answer as they do inside
/// [`run_clients`], the random stream seeded from `seed` and the id.
pub async fn as_client<F: Future>(id: ClientId, seed: u64, fut: F) -> F::Output {
    InClient::new(ClientCtx::new(id, seed), fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(seed: u64) -> RunLimits {
        RunLimits::new(seed)
    }

    #[test]
    fn virtual_time_is_fast_and_clients_have_context() {
        let run = simulate(&limits(1), || async {
            let offsets = Arrivals::Uniform {
                over: Duration::from_secs(10),
            }
            .offsets(50, 1);
            let seen = std::rc::Rc::new(RefCell::new(Vec::new()));
            let s = seen.clone();
            run_clients(&offsets, move |id| {
                let s = s.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    assert_eq!(current_client(), Some(id));
                    s.borrow_mut().push((id, now()));
                }
            })
            .await;
            seen.borrow().clone()
        });
        assert!(run.is_clean(), "{:?}", run.end);
        let seen = run.value.unwrap();
        assert_eq!(seen.len(), 50);
        assert!(seen.iter().all(|(_, t)| *t >= Duration::from_secs(600)));
        assert!(run.wall_elapsed < Duration::from_secs(10));
    }

    #[test]
    fn same_seed_same_draws() {
        let draw = |seed| {
            simulate(&limits(seed), || async {
                let out = std::rc::Rc::new(RefCell::new(Vec::new()));
                let o = out.clone();
                run_clients(&[Duration::ZERO; 4], move |_| {
                    let o = o.clone();
                    async move { o.borrow_mut().push(rng().random_range(0..1_000_000u32)) }
                })
                .await;
                out.borrow().clone()
            })
            .value
            .unwrap()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn deadlock_ends_at_the_time_limit_with_pending_clients() {
        // (virtual_elapsed is virtual: exactly the limit, not the wall time it took)
        let mut l = limits(3);
        l.time_limit = Duration::from_secs(60);
        let run = simulate(&l, || async {
            let lock = std::rc::Rc::new(tokio::sync::Semaphore::new(0));
            run_clients(&[Duration::ZERO; 3], move |_| {
                let lock = lock.clone();
                async move {
                    let _p = lock.acquire().await;
                }
            })
            .await;
        });
        assert_eq!(run.end, RunEnd::TimeLimit);
        assert_eq!(run.virtual_elapsed, Duration::from_secs(60));
        assert_eq!(run.pending, vec![0, 1, 2]);
    }

    #[test]
    fn watchdog_stops_a_yield_loop() {
        let mut l = limits(4);
        l.watchdog = Duration::from_millis(300);
        let run = simulate(&l, || async {
            run_clients(&[Duration::ZERO], |_| async {
                loop {
                    tokio::task::yield_now().await;
                }
            })
            .await;
        });
        assert_eq!(run.end, RunEnd::Watchdog { stopped: true });
    }

    #[test]
    fn client_panics_are_collected() {
        let run = simulate(&limits(5), || async {
            run_clients(&[Duration::ZERO; 3], |id| async move {
                if id == 1 {
                    panic!("boom in client");
                }
            })
            .await;
        });
        assert_eq!(run.end, RunEnd::Completed);
        assert_eq!(run.panics.len(), 1);
        assert_eq!(run.panics[0].client, 1);
        assert!(run.panics[0].message.contains("boom"));
    }

    #[test]
    fn arrivals() {
        let p = Arrivals::Poisson { rate: 100.0 }.offsets_for(Duration::from_secs(10), 1);
        assert!((800..1200).contains(&p.len()), "{}", p.len());
        let s = Arrivals::Steady { rate: 10.0 }.offsets_for(Duration::from_secs(1), 1);
        assert_eq!(s.len(), 10);
        assert!(Arrivals::AtOnce.offsets(3, 1).iter().all(|d| d.is_zero()));
    }
}
