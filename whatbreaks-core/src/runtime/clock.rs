//! Virtual wall-clock time, for code that reads the time of day (cron-style schedulers).
//!
//! tokio's paused clock moves `tokio::time`, but not `std::time::SystemTime`: by itself, a
//! scheduler that asks "is it 02:00 yet?" through `SystemTime::now()` never sees virtual time
//! pass. whatbreaks keeps a *virtual wall clock*:
//!
//! - [`system_now()`] is the wall time of the instance the calling task belongs to (see
//!   [`crate::components::cluster`]): [`epoch()`] plus the virtual time elapsed, plus that instance's
//!   skew and the clock jumps it has seen so far. Outside an instance but inside a
//!   simulation it is `epoch() + sim::now()`; outside any simulation it is `SystemTime::now()`,
//!   so code that calls it keeps working in production.
//! - [`Clock`] is a handle on one instance's clock; [`WallClock`] is the trait for code that
//!   takes a clock as a parameter, with [`SystemClock`] as the production implementation.
//!
//! # Code that reads the system clock
//! In a test binary that installs the virtual system clock (`whatbreaks::install!()`, Linux
//! with glibc; see [`crate::runtime::os_clock`]), `SystemTime::now()` and `chrono::Utc::now()`
//! answer [`system_now()`] inside a simulation, so third-party schedulers run unmodified.
//!
//! # Injecting the clock (the fallback)
//! Where the system clock cannot follow the simulation (another platform, code in a shared
//! library), give such code a clock instead, and pass [`SystemClock`] in production and the
//! instance's [`Clock`] in tests:
//!
//! ```
//! use std::time::SystemTime;
//! use whatbreaks_core::runtime::clock::{SystemClock, WallClock};
//!
//! struct Scheduler<C: WallClock> { clock: C }
//! impl<C: WallClock> Scheduler<C> {
//!     fn due(&self, next_run: SystemTime) -> bool { self.clock.now() >= next_run }
//! }
//! let production = Scheduler { clock: SystemClock };
//! assert!(production.due(SystemTime::UNIX_EPOCH));
//! ```
//!
//! # chrono
//! A `SystemTime` converts losslessly:
//! `chrono::DateTime::<chrono::Utc>::from(whatbreaks::clock::system_now())`; for code that
//! takes a chrono clock, implement its clock trait on a wrapper around [`Clock`] with that
//! conversion.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the Unix epoch to [`epoch()`]: 2026-01-01T00:00:00Z.
pub const EPOCH_SECS: u64 = 1_767_225_600;

/// The wall time at which every simulation starts: 2026-01-01T00:00:00Z.
///
/// A fixed, round instant, so that a slot at "1m" reads as `00:01:00` in every run.
pub fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_SECS)
}

/// Code that reads wall-clock time through a parameter instead of `SystemTime::now()`.
pub trait WallClock {
    /// The current wall time.
    fn now(&self) -> SystemTime;
}

/// The real clock, for production: `SystemTime::now()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// One instance's virtual wall clock: `epoch() + virtual time + skew + jumps so far`.
///
/// Cheap to clone, `Send + Sync`. Read it with [`Clock::now`] (or through [`WallClock`]).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    skew_ms: i64,
    /// `(virtual time, signed milliseconds)`, sorted by time.
    jumps: Arc<[(Duration, i64)]>,
}

impl Clock {
    /// A clock with a constant skew (signed milliseconds) and jumps at points of virtual time.
    pub fn new(skew_ms: i64, mut jumps: Vec<(Duration, i64)>) -> Self {
        jumps.sort_by_key(|j| j.0);
        Clock {
            skew_ms,
            jumps: jumps.into(),
        }
    }

    /// The clock's offset from true virtual wall time at virtual time `at`, in milliseconds.
    pub fn offset_ms_at(&self, at: Duration) -> i64 {
        self.skew_ms
            + self
                .jumps
                .iter()
                .take_while(|(t, _)| *t <= at)
                .map(|(_, d)| d)
                .sum::<i64>()
    }

    /// The wall time this clock shows at virtual time `at`.
    pub fn at(&self, at: Duration) -> SystemTime {
        shift(epoch() + at, self.offset_ms_at(at))
    }

    /// The wall time this clock shows now.
    pub fn now(&self) -> SystemTime {
        self.at(virtual_elapsed().unwrap_or_default())
    }

    /// Sleeps (on virtual time) until this clock shows `target`, assuming no jump on the way.
    /// Returns at once if it already does.
    pub async fn sleep_until(&self, target: SystemTime) {
        if let Ok(wait) = target.duration_since(self.now()) {
            tokio::time::sleep(wait).await;
        }
    }
}

impl WallClock for Clock {
    fn now(&self) -> SystemTime {
        Clock::now(self)
    }
}

fn shift(t: SystemTime, ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 { t + d } else { t - d }
}

thread_local! {
    static CURRENT: RefCell<Option<Clock>> = const { RefCell::new(None) };
    /// The virtual time of the simulation running on this thread (none elsewhere). `Copy` and
    /// without a destructor, so reading it never allocates: the clock interposer
    /// ([`crate::runtime::os_clock`]) reads it from inside `clock_gettime`.
    static VIRTUAL: Cell<Virtual> = const { Cell::new(Virtual::OFF) };
}

/// The virtual clock of the simulation on this thread.
#[derive(Clone, Copy, Debug)]
struct Virtual {
    active: bool,
    /// The monotonic clock's reading (as a duration since its zero) when the run started.
    base: Duration,
    /// Virtual time elapsed since the run started.
    elapsed: Duration,
}

impl Virtual {
    const OFF: Virtual = Virtual {
        active: false,
        base: Duration::ZERO,
        elapsed: Duration::ZERO,
    };
}

/// Makes this thread's clock virtual until the returned guard drops, starting from the
/// monotonic reading `base`. The simulation thread calls it before it builds its runtime (so
/// tokio's paused clock starts at the same instant as `std::time::Instant` does), then moves
/// it with [`set_elapsed`].
pub(crate) fn begin_virtual(base: Duration) -> VirtualSpan {
    // Register the instance-clock slot's destructor now, so that reading it later from
    // inside `clock_gettime` never allocates.
    CURRENT.with(|_| ());
    let previous = VIRTUAL.with(|v| {
        v.replace(Virtual {
            active: true,
            base,
            elapsed: Duration::ZERO,
        })
    });
    VirtualSpan { previous }
}

/// Ends a virtual span (see [`begin_virtual`]).
#[derive(Debug)]
pub(crate) struct VirtualSpan {
    previous: Virtual,
}

impl Drop for VirtualSpan {
    fn drop(&mut self) {
        VIRTUAL.with(|v| v.set(self.previous));
    }
}

/// Moves this thread's virtual clock to `elapsed` since the run started (the simulation calls
/// it each time tokio's paused clock may have moved: after every park of its runtime).
pub(crate) fn set_elapsed(elapsed: Duration) {
    VIRTUAL.with(|v| {
        let mut now = v.get();
        if now.active {
            now.elapsed = elapsed;
            v.set(now);
        }
    });
}

/// Starts this thread's virtual clock again at zero elapsed time (a new schedule of the race
/// explorer): the wall clock reads the epoch again, the monotonic clock goes on from where it
/// was (it stays equal to tokio's paused clock, which never goes back).
pub(crate) fn restart_elapsed() {
    VIRTUAL.with(|v| {
        let mut now = v.get();
        if now.active {
            now.base += now.elapsed;
            now.elapsed = Duration::ZERO;
            v.set(now);
        }
    });
}

/// Virtual time elapsed on this thread's simulation, `None` on any other thread.
pub fn virtual_elapsed() -> Option<Duration> {
    let v = VIRTUAL.with(Cell::get);
    v.active.then_some(v.elapsed)
}

/// What the system clocks read on this thread while a simulation runs on it, or `None` when
/// they read real time. No allocation, no lock: safe to call from inside `clock_gettime`.
pub(crate) fn virtual_reading(kind: ClockKind) -> Option<Duration> {
    let v = VIRTUAL.try_with(Cell::get).ok()?;
    if !v.active {
        return None;
    }
    Some(match kind {
        ClockKind::Monotonic => v.base + v.elapsed,
        ClockKind::Realtime => {
            let offset = CURRENT
                .try_with(|c| {
                    c.try_borrow()
                        .ok()
                        .and_then(|c| c.as_ref().map(|k| k.offset_ms_at(v.elapsed)))
                })
                .ok()
                .flatten()
                .unwrap_or(0);
            let wall = Duration::from_secs(EPOCH_SECS) + v.elapsed;
            let shift = Duration::from_millis(offset.unsigned_abs());
            if offset >= 0 {
                wall + shift
            } else {
                wall.saturating_sub(shift)
            }
        }
    })
}

/// The two families of system clock a simulation moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClockKind {
    /// `CLOCK_MONOTONIC`, `_RAW`, `_COARSE`, `CLOCK_BOOTTIME`: `std::time::Instant`.
    Monotonic,
    /// `CLOCK_REALTIME`, `_COARSE`, `gettimeofday`, `time`: `SystemTime`, chrono.
    Realtime,
}

/// Makes `clock` the current task's clock (what [`system_now`] answers) until the next call,
/// and returns the one it replaces. The cluster sets each instance's clock while it polls
/// that instance's tasks.
pub fn enter(clock: Option<Clock>) -> Option<Clock> {
    CURRENT.with(|c| c.replace(clock))
}

/// The clock of the instance the calling task belongs to, inside a cluster run.
pub fn current() -> Option<Clock> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The virtual wall time of the calling task's instance (see the module docs).
///
/// Inside an instance of a [`crate::components::cluster`] run: that instance's clock, with its skew and
/// jumps. Elsewhere in a simulation: `epoch() + sim::now()`. Outside a simulation:
/// `SystemTime::now()`.
pub fn system_now() -> SystemTime {
    let Some(elapsed) = virtual_elapsed() else {
        return SystemTime::now();
    };
    match current() {
        Some(clock) => clock.at(elapsed),
        None => epoch() + elapsed,
    }
}

/// The time since [`epoch()`] of a wall time, for messages (`None` before the epoch).
pub fn since_epoch(t: SystemTime) -> Option<Duration> {
    t.duration_since(epoch()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sim::{self, RunLimits, simulate};

    #[test]
    fn the_virtual_wall_clock_follows_virtual_time_with_skew_and_jumps() {
        let limits = RunLimits::new(1);
        let run = simulate(&limits, || async {
            let clock = Clock::new(2_000, vec![(Duration::from_secs(60), -30_000)]);
            let t0 = (system_now(), clock.now());
            tokio::time::sleep(Duration::from_secs(90)).await;
            let t1 = (system_now(), clock.now());
            clock
                .sleep_until(clock.now() + Duration::from_secs(10))
                .await;
            (t0, t1, sim::now())
        });
        let ((plain0, skewed0), (plain1, skewed1), end) = run.value.unwrap();
        assert_eq!(plain0, epoch());
        assert_eq!(skewed0, epoch() + Duration::from_secs(2));
        assert_eq!(plain1, epoch() + Duration::from_secs(90));
        assert_eq!(skewed1, epoch() + Duration::from_secs(62));
        assert_eq!(end, Duration::from_secs(100));
        assert!(
            system_now() > epoch(),
            "outside a simulation: the real clock"
        );
    }
}
