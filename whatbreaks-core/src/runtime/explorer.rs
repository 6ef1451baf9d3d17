//! Check-then-act races: seeded exploration of interleavings of async code.
//!
//! Tokio's current-thread scheduler runs ready tasks in first-in, first-out order: the same
//! interleaving every time, so a race that needs an unusual one never shows. The futures
//! raced with [`join!`](crate::join), [`join_all`] or [`spawn`] are driven by an explorer
//! instead: at every await point where more than one of them is ready to run, the seed
//! chooses which one runs next.
//!
//! Every await is a choice, for as long as it takes: a ready task may be **held back**
//! (random and PCT modes, one choice in four) for one to three steps of the others, which
//! move first, even when they are only woken later by a timer or a database round trip
//! (the held task waits for them up to 100 ms of virtual time, then runs). Without it, tasks
//! woken by timers of the same tick, or by `tokio::task::yield_now`'s deferred wake, move in
//! lock step, and a lost update that needs one of them slower for several steps never shows.
//! Each schedule starts at virtual time zero, so a failing schedule replayed alone from its
//! seed shows the identical trace, times included, and time windows of faults fall the same.
//!
//! - **random** (default): a uniformly random ready task at each step.
//! - **pct**: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010). Each task gets
//!   a random priority, the highest-priority ready task runs, and at `depth - 1` random steps
//!   the running task drops to the lowest priority. Finds bugs that need a task to be delayed
//!   for a long stretch, with a known lower bound on the probability per schedule.
//! - **fifo**: tokio's own order, for comparison: what a plain `#[tokio::test]` sees.
//!
//! Timers and simulated components keep working inside: a task waiting on a timer, a lock or
//! a simulated database is simply not ready until it is woken. Simulated components record
//! what each task did ([`record`]), so a failure shows the interleaving that broke as a trace.
//!
//! `RaceTest` (the race detector) runs a body once per schedule, each with its own seed, all on one simulation
//! thread, and stops at the first schedule whose body panics (an `assert!` is the invariant).

use crate::runtime::rng::splitmix64;
use crate::runtime::sim;
use futures::FutureExt;
use futures::future::MaybeDone;
use parking_lot::Mutex;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// How the explorer picks the next task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A uniformly random ready task at each step.
    Random,
    /// Priority-based (PCT) with `depth - 1` priority changes per schedule.
    Pct {
        /// Bug depth to target (default 3).
        depth: u32,
    },
    /// Tokio's first-in, first-out order (no exploration).
    Fifo,
}

impl Mode {
    /// Parses `"random"`, `"pct"` or `"fifo"`.
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "random" => Some(Mode::Random),
            "pct" => Some(Mode::Pct { depth: 3 }),
            "fifo" => Some(Mode::Fifo),
            _ => None,
        }
    }

    /// The mode as shown in findings: `random`, `pct, depth 3`, `fifo`.
    pub fn name(self) -> String {
        match self {
            Mode::Random => "random".into(),
            Mode::Pct { depth } => format!("pct, depth {depth}"),
            Mode::Fifo => "fifo".into(),
        }
    }
}

/// One step of a trace: which task did what, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Virtual time.
    pub at: Duration,
    /// The task, e.g. `t0`, or `t1.0` for the first future of a `join!` inside task `t1`.
    pub task: String,
    /// What it did, e.g. `SELECT likes[u1:p1] -> none`.
    pub op: String,
}

struct Explorer {
    rng: Xoshiro256PlusPlus,
    mode: Mode,
    steps: u64,
    change_points: Vec<u64>,
    next_low: u64,
    trace: Vec<TraceEvent>,
    labels: Vec<String>,
    spawned: Vec<Pin<Box<dyn Future<Output = ()>>>>,
}

thread_local! {
    static EXPLORER: RefCell<Option<Explorer>> = const { RefCell::new(None) };
}

fn with_explorer<R>(f: impl FnOnce(&mut Explorer) -> R) -> Option<R> {
    EXPLORER.with(|e| e.borrow_mut().as_mut().map(f))
}

/// The task the caller runs in, inside an explorer (`t0`, `t1.0`, …).
pub fn current_task() -> Option<String> {
    with_explorer(|e| e.labels.last().cloned()).flatten()
}

/// Records an operation of the current task in the race trace (no-op outside an explorer).
pub fn record(op: impl Into<String>) {
    let at = sim::now();
    with_explorer(|e| {
        let task = e.labels.last().cloned().unwrap_or_else(|| "main".into());
        e.trace.push(TraceEvent {
            at,
            task,
            op: op.into(),
        });
    });
}

/// True inside a schedule run by `RaceTest` (the race detector).
pub fn exploring() -> bool {
    EXPLORER.with(|e| e.borrow().is_some())
}

/// A point where the explorer may switch to another ready task: returns `Pending` once.
///
/// Simulated components call it on every operation; user code can too.
pub async fn yield_point() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            sim::note_yield_point();
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// A seeded latency in `[0, max]` (whole milliseconds), drawn from the simulation's RNG, as
/// an await point. With `max` zero it is still a [`yield_point`].
pub async fn latency(max: Duration) {
    let ms = max.as_millis() as u64;
    let pick = if ms == 0 {
        0
    } else {
        sim::rng().random_range(0..=ms)
    };
    if pick == 0 {
        yield_point().await;
    } else {
        tokio::time::sleep(Duration::from_millis(pick)).await;
    }
}

/// A child's wake flag; waking it marks the child ready and wakes the parent.
struct ChildWake {
    ready: AtomicBool,
    /// When it was last woken, for FIFO order (tokio's run queue order).
    woken_at: AtomicU64,
    parent: Mutex<Option<Waker>>,
}

/// Orders wake-ups across all joins of the thread.
static WAKE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Wake for ChildWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken_at.store(
            WAKE_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.ready.store(true, Ordering::SeqCst);
        if let Some(w) = self.parent.lock().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// A future the explorer can poll without knowing its type.
pub trait Child {
    /// Polls it once; `Ready` when it has finished.
    fn poll_child(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl<F: Future> Child for Pin<Box<MaybeDone<F>>> {
    fn poll_child(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.as_mut().poll(cx)
    }
}

impl Child for Pin<Box<dyn Future<Output = ()>>> {
    fn poll_child(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.as_mut().poll(cx)
    }
}

/// The scheduling state of one `join`: which children are ready, done, held back, and their
/// priorities.
struct Sched {
    wakes: Vec<Arc<ChildWake>>,
    wakers: Vec<Waker>,
    done: Vec<bool>,
    priority: Vec<u64>,
    /// Steps of the other children a ready child is held back for (0: not held).
    held: Vec<u32>,
    /// While only held children are ready: how long the others get to move first.
    release: Option<Pin<Box<tokio::time::Sleep>>>,
    prefix: String,
    root: bool,
}

/// One ready child in `HOLD_ODDS` is held back when it is chosen (random and PCT modes).
const HOLD_ODDS: u32 = 4;

/// A held child waits for at most this many steps of the others.
const MAX_HOLD: u32 = 3;

/// How long held children wait for the others to move (a timer, a database round trip)
/// when only they are ready; then they are released.
const HOLD_LIMIT: Duration = Duration::from_millis(100);

impl Sched {
    fn new() -> Self {
        Sched {
            wakes: Vec::new(),
            wakers: Vec::new(),
            done: Vec::new(),
            priority: Vec::new(),
            held: Vec::new(),
            release: None,
            prefix: match current_task() {
                Some(t) if t != "main" => format!("{t}."),
                _ => "t".into(),
            },
            root: false,
        }
    }

    /// The scheduler of a whole schedule: the body is `main`, spawned tasks `spawn1`, ….
    fn root() -> Self {
        Sched {
            root: true,
            ..Sched::new()
        }
    }

    fn label(&self, i: usize) -> String {
        match (self.root, i) {
            (true, 0) => "main".into(),
            (true, i) => format!("spawn{i}"),
            (false, i) => format!("{}{i}", self.prefix),
        }
    }

    fn add_child(&mut self) {
        let wake = Arc::new(ChildWake {
            ready: AtomicBool::new(true),
            woken_at: AtomicU64::new(WAKE_SEQUENCE.fetch_add(1, Ordering::Relaxed)),
            parent: Mutex::new(None),
        });
        self.wakers.push(Waker::from(wake.clone()));
        self.wakes.push(wake);
        self.done.push(false);
        self.held.push(0);
        // Priorities above every value a change point can assign.
        let p = (1u64 << 32) + draw_u32() as u64;
        self.priority.push(p);
    }

    /// Runs ready children, one at a time in the explorer's chosen order, until none is ready.
    fn poll_children(&mut self, children: &mut [&mut dyn Child], cx: &mut Context<'_>) -> Poll<()> {
        while self.wakes.len() < children.len() {
            self.add_child();
        }
        for w in &self.wakes {
            let mut parent = w.parent.lock();
            if !parent.as_ref().is_some_and(|p| p.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        loop {
            let n = children.len();
            let ready: Vec<usize> = (0..n)
                .filter(|&i| !self.done[i] && self.wakes[i].ready.load(Ordering::SeqCst))
                .collect();
            if ready.is_empty() {
                break;
            }
            let free: Vec<usize> = ready
                .iter()
                .copied()
                .filter(|&i| self.held[i] == 0)
                .collect();
            if free.is_empty() {
                // Only held children could run: the others (waiting on a timer, a database
                // round trip, or on a held child) get until the release timer to move.
                let others_wait = (0..n).any(|i| !self.done[i] && self.held[i] == 0);
                if others_wait {
                    let timer = self
                        .release
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(HOLD_LIMIT)));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                self.held.iter_mut().for_each(|h| *h = 0);
                self.release = None;
                continue;
            }
            let i = self.choose(&free);
            if self.hold(i, n) {
                continue;
            }
            self.wakes[i].ready.store(false, Ordering::SeqCst);
            let label = self.label(i);
            with_explorer(|e| e.labels.push(label));
            let mut child_cx = Context::from_waker(&self.wakers[i]);
            let polled = children[i].poll_child(&mut child_cx);
            with_explorer(|e| {
                e.labels.pop();
            });
            if polled.is_ready() {
                self.done[i] = true;
            }
            // A step of `i`: the others held back come one step nearer their turn.
            for (j, h) in self.held.iter_mut().enumerate() {
                if j != i {
                    *h = h.saturating_sub(1);
                }
            }
            if self.held.iter().all(|h| *h == 0) {
                self.release = None;
            }
        }
        if self.done.iter().take(children.len()).all(|d| *d) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Whether the chosen child `i` is held back instead (for 1 to [`MAX_HOLD`] steps of the
    /// others): a task woken by a timer or a deferred wake is otherwise always run in the
    /// tick it woke in, so tasks sleeping alike move in lock step and a race that needs one
    /// of them slower for several steps never shows. Only while another unfinished child is
    /// not held (someone must move), never in FIFO mode.
    fn hold(&mut self, i: usize, n: usize) -> bool {
        let mode = with_explorer(|e| e.mode);
        if !matches!(mode, Some(Mode::Random | Mode::Pct { .. })) {
            return false;
        }
        let others = (0..n).any(|j| j != i && !self.done[j] && self.held[j] == 0);
        if !others || draw_u32() % HOLD_ODDS != 0 {
            return false;
        }
        self.held[i] = 1 + draw_u32() % MAX_HOLD;
        true
    }

    fn choose(&mut self, ready: &[usize]) -> usize {
        if ready.len() == 1 {
            count_step(None, &mut self.priority);
            return ready[0];
        }
        let mode = with_explorer(|e| e.mode).unwrap_or(Mode::Random);
        let pick = match mode {
            Mode::Fifo => *ready
                .iter()
                .min_by_key(|&&i| self.wakes[i].woken_at.load(Ordering::Relaxed))
                .expect("ready is not empty"),
            Mode::Random => ready[draw_u32() as usize % ready.len()],
            Mode::Pct { .. } => *ready
                .iter()
                .max_by_key(|&&i| (self.priority[i], std::cmp::Reverse(i)))
                .expect("ready is not empty"),
        };
        count_step(Some(pick), &mut self.priority);
        pick
    }
}

/// Counts a scheduling step; at a PCT change point, the chosen task drops to a low priority.
fn count_step(pick: Option<usize>, priority: &mut [u64]) {
    with_explorer(|e| {
        e.steps += 1;
        if let (Some(i), Mode::Pct { .. }) = (pick, e.mode) {
            if e.change_points.contains(&e.steps) {
                e.next_low += 1;
                priority[i] = e.next_low;
            }
        }
    });
}

fn draw_u32() -> u32 {
    with_explorer(|e| e.rng.next_u32()).unwrap_or_else(|| sim::rng().random())
}

/// Runs futures concurrently, the explorer choosing the order at each await point; returns
/// their outputs in order. Outside an explorer the choice is seeded by [`sim::rng`].
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut children: Vec<Pin<Box<MaybeDone<F>>>> = futures
        .into_iter()
        .map(|f| Box::pin(MaybeDone::Future(f)))
        .collect();
    {
        let mut refs: Vec<&mut dyn Child> =
            children.iter_mut().map(|c| c as &mut dyn Child).collect();
        join_children(&mut refs).await;
    }
    children
        .iter_mut()
        .map(|c| {
            c.as_mut()
                .take_output()
                .expect("[whatbreaks internal bug] joined future has no output")
        })
        .collect()
}

/// Drives type-erased children to completion (used by [`join!`](crate::join)).
pub async fn join_children(children: &mut [&mut dyn Child]) {
    let mut sched = Sched::new();
    std::future::poll_fn(|cx| sched.poll_children(children, cx)).await
}

#[doc(hidden)]
pub fn __maybe_done<F: Future>(f: F) -> Pin<Box<MaybeDone<F>>> {
    Box::pin(MaybeDone::Future(f))
}

#[doc(hidden)]
pub fn __take<F: Future>(f: &mut Pin<Box<MaybeDone<F>>>) -> F::Output {
    f.as_mut()
        .take_output()
        .expect("[whatbreaks internal bug] joined future has no output")
}

/// Runs futures concurrently under the explorer and returns their outputs as a tuple.
///
/// Like `futures::join!`, but at every await point where several of them are ready, the seed
/// of the schedule decides which runs next (see [`crate::runtime::explorer`]).
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
/// # rt.block_on(async {
/// let (a, b) = whatbreaks_core::join!(async { 1 }, async { "two" });
/// assert_eq!((a, b), (1, "two"));
/// # });
/// ```
#[macro_export]
macro_rules! join {
    ($($fut:expr),+ $(,)?) => {
        $crate::join!(@bind [] $($fut,)+)
    };
    (@bind [$($bound:ident)*] $fut:expr, $($rest:expr,)*) => {{
        let mut fut = $crate::runtime::explorer::__maybe_done($fut);
        $crate::join!(@bind [$($bound)* fut] $($rest,)*)
    }};
    (@bind [$($bound:ident)*]) => {{
        $crate::runtime::explorer::join_children(&mut [$(&mut $bound as &mut dyn $crate::runtime::explorer::Child),*]).await;
        ($($crate::runtime::explorer::__take(&mut $bound),)*)
    }};
}

/// A handle to a task started with [`spawn`]; await it for the task's output.
#[derive(Debug)]
pub struct JoinHandle<T> {
    rx: futures::channel::oneshot::Receiver<T>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.rx.poll_unpin(cx).map(|r| {
            r.expect("whatbreaks: the spawned task was dropped before it finished (the schedule ended first)")
        })
    }
}

/// Starts a task that the explorer schedules like the others (inside a `RaceTest`); outside
/// one, it is `tokio::task::spawn_local`. Tasks still running when the body returns are
/// dropped at the end of the schedule.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    let task: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
        let _ = tx.send(future.await);
    });
    let outside = EXPLORER.with(|e| match e.borrow_mut().as_mut() {
        Some(explorer) => {
            explorer.spawned.push(task);
            None
        }
        None => Some(task),
    });
    if let Some(task) = outside {
        tokio::task::spawn_local(task);
    }
    JoinHandle { rx }
}

/// Runs the body and every task it spawns under the explorer until the body returns.
pub async fn run_root(body: Pin<Box<dyn Future<Output = ()>>>) {
    let mut tasks: Vec<Pin<Box<dyn Future<Output = ()>>>> = vec![body];
    let mut sched = Sched::root();
    std::future::poll_fn(|cx| {
        loop {
            tasks.extend(with_explorer(|e| std::mem::take(&mut e.spawned)).unwrap_or_default());
            let mut refs: Vec<&mut dyn Child> =
                tasks.iter_mut().map(|c| c as &mut dyn Child).collect();
            let _ = sched.poll_children(&mut refs, cx);
            if sched.done[0] {
                return Poll::Ready(());
            }
            // Tasks spawned during this round have not run yet: go round again.
            if with_explorer(|e| e.spawned.is_empty()).unwrap_or(true) {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// Starts a schedule on this thread: reseeds the simulation, starts its virtual clock again at
/// zero (so a schedule and its replay alone see the same times and time windows) and installs
/// a fresh explorer in `mode`.
pub fn begin_schedule(seed: u64, mode: Mode) {
    sim::reseed(seed);
    sim::restart_clock();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed ^ 0x5C4E_D01E));
    let change_points = match mode {
        // Change points spread over the first 64 steps: small bodies take tens of steps.
        Mode::Pct { depth } => (1..depth).map(|_| rng.random_range(1..=64u64)).collect(),
        _ => Vec::new(),
    };
    EXPLORER.with(|e| {
        *e.borrow_mut() = Some(Explorer {
            rng,
            mode,
            steps: 0,
            change_points,
            next_low: 0,
            trace: Vec::new(),
            labels: Vec::new(),
            spawned: Vec::new(),
        })
    });
}

/// Ends the schedule on this thread and returns its trace (empty outside a schedule).
pub fn end_schedule() -> Vec<TraceEvent> {
    EXPLORER
        .with(|e| e.borrow_mut().take())
        .map(|e| e.trace)
        .unwrap_or_default()
}
