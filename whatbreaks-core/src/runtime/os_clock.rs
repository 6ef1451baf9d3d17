//! The system clock follows the simulation: `clock_gettime`, `gettimeofday` and `time`
//! answer virtual time on a simulation's thread.
//!
//! Only `tokio::time` is virtual by itself. Most of the ecosystem's clocks read the operating
//! system's clock instead: `std::time::Instant` (moka's TTL and TTI, bb8's lifetimes, backoff's
//! `max_elapsed_time`), `SystemTime` and `chrono::Utc::now()` (cron schedulers,
//! retry-policies). None of them can be injected. On Linux with glibc, one line at the top of
//! a test binary makes the process's clock functions answer virtual time on the threads that
//! run a simulation:
//!
//! ```ignore
//! whatbreaks::install!(); // the counting allocator and the virtual system clock
//! ```
//!
//! (or [`crate::install_virtual_clock!`] for the clock alone). Then, inside a simulation:
//! - the monotonic clocks (`CLOCK_MONOTONIC`, `_RAW`, `_COARSE`, `CLOCK_BOOTTIME`) read the
//!   simulation's virtual instant: `std::time::Instant::now()` equals
//!   `tokio::time::Instant::now().into_std()`, so `tokio::time::Instant::from_std(..)` of it
//!   is tokio's instant;
//! - the realtime clocks (`CLOCK_REALTIME`, `_COARSE`, `gettimeofday`, `time`) read the virtual
//!   wall clock of the instance whose code runs ([`crate::runtime::clock::system_now`]: the
//!   epoch 2026-01-01T00:00:00Z plus virtual time, plus that instance's skew and jumps).
//!
//! Every other thread, and the simulation's thread before and after its run, reads the real
//! clock: the test harness's own timings stay real.
//!
//! # How it works
//! The macro defines `clock_gettime`, `gettimeofday` and `time` in the test binary itself. The
//! linker binds the binary's own calls (the standard library's included: it is linked into the
//! binary) to those definitions rather than to glibc's; each one checks a thread-local and
//! either answers the virtual reading or calls glibc's function, found once with
//! `dlsym(RTLD_NEXT, ..)` (the raw system call if that fails). Shared libraries keep calling
//! glibc directly.
//!
//! The simulation keeps the thread-local current: it starts the virtual clock before it builds
//! its runtime (so tokio's paused clock and `Instant` start at the same instant) and moves it
//! after every park of its runtime, which is where tokio's paused clock advances.
//!
//! Soundness: the clock functions never call into tokio, take no lock and never allocate
//! (the thread-locals they read are `Copy` or registered before the run); they are safe on
//! `cargo test`'s parallel threads (all state is per thread) and under nextest's one process
//! per test.
//!
//! # Limits
//! - Linux with glibc only. Elsewhere (macOS, Windows, musl) the macro compiles to nothing;
//!   code that reads the real clock is not virtual there, and scenarios whose premise did not
//!   happen say so in a configuration finding.
//! - A thread blocked in a timed wait of the standard library (`recv_timeout`,
//!   `Condvar::wait_timeout`) on the simulation's thread waits on virtual time, which does not
//!   move while the thread is blocked: never block the simulation's thread (the watchdog reports
//!   it if it happens).
//! - Code in shared libraries (C libraries loaded with `dlopen` or linked dynamically) reads
//!   the real clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static CALLED: AtomicBool = AtomicBool::new(false);

/// True when the virtual system clock is installed in this process
/// ([`crate::install_virtual_clock!`] or `whatbreaks::install!()` in the test binary).
///
/// Always false on platforms where the system clock cannot follow the simulation.
pub fn installed() -> bool {
    if !CALLED.load(Ordering::Relaxed) {
        // The call binds to the binary's definition when the macro is installed.
        let _ = real_reading_through_libc();
    }
    CALLED.load(Ordering::Relaxed)
}

/// What the platform supports, for messages: `None` where the virtual system clock works,
/// otherwise why it does not.
pub fn unsupported() -> Option<&'static str> {
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        None
    } else {
        Some(
            "the system clock follows the simulation only on Linux with glibc; on this platform `std::time::Instant`, `SystemTime` and `chrono::Utc::now()` read real time in a simulation",
        )
    }
}

/// The line that installs the virtual system clock, for configuration findings.
pub const INSTALL_LINE: &str = "whatbreaks::install!();";

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn real_reading_through_libc() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (rc == 0).then(|| duration(ts))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn real_reading_through_libc() -> Option<Duration> {
    None
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use linux::*;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn duration(ts: libc::timespec) -> Duration {
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use super::{CALLED, duration};
    use crate::runtime::clock::{ClockKind, virtual_reading};
    use std::ffi::{c_int, c_void};
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::time::Duration;

    #[doc(hidden)]
    pub use libc::{clockid_t, time_t, timespec, timeval};

    type ClockGettime = unsafe extern "C" fn(clockid_t, *mut timespec) -> c_int;

    static REAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

    unsafe extern "C" fn by_syscall(clock: clockid_t, tp: *mut timespec) -> c_int {
        // SAFETY: the caller passes clock_gettime's own arguments.
        unsafe { libc::syscall(libc::SYS_clock_gettime, clock, tp) as c_int }
    }

    /// glibc's `clock_gettime` (the vDSO path), found once; the raw system call if it cannot be.
    fn real() -> ClockGettime {
        let mut p = REAL.load(Ordering::Acquire);
        if p.is_null() {
            // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds the definition after
            // this binary's, i.e. glibc's.
            p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"clock_gettime".as_ptr()) };
            if p.is_null() {
                p = by_syscall as *mut c_void;
            }
            REAL.store(p, Ordering::Release);
        }
        // SAFETY: `p` is glibc's clock_gettime or `by_syscall`, both of this signature.
        unsafe { std::mem::transmute::<*mut c_void, ClockGettime>(p) }
    }

    /// The real clock `clock`, bypassing the simulation.
    pub fn real_reading(clock: clockid_t) -> Option<Duration> {
        let mut ts = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        let rc = unsafe { real()(clock, &mut ts) };
        (rc == 0).then(|| duration(ts))
    }

    fn kind(clock: clockid_t) -> Option<ClockKind> {
        match clock {
            libc::CLOCK_MONOTONIC
            | libc::CLOCK_MONOTONIC_RAW
            | libc::CLOCK_MONOTONIC_COARSE
            | libc::CLOCK_BOOTTIME => Some(ClockKind::Monotonic),
            libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE => Some(ClockKind::Realtime),
            _ => None,
        }
    }

    fn seen() {
        if !CALLED.load(Ordering::Relaxed) {
            CALLED.store(true, Ordering::Relaxed);
        }
    }

    fn timespec_of(d: Duration) -> timespec {
        timespec {
            tv_sec: d.as_secs() as time_t,
            tv_nsec: d.subsec_nanos().into(),
        }
    }

    /// `clock_gettime` as the installed binary answers it (called by the definition that
    /// [`crate::install_virtual_clock!`] writes).
    ///
    /// # Safety
    /// The arguments of `clock_gettime(2)`: `tp` is null or valid for a write.
    #[doc(hidden)]
    pub unsafe fn clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int {
        seen();
        if !tp.is_null()
            && let Some(reading) = kind(clock).and_then(virtual_reading)
        {
            // SAFETY: `tp` is non-null and, per the contract, valid for a write.
            unsafe { tp.write(timespec_of(reading)) };
            return 0;
        }
        // SAFETY: forwarded as received.
        unsafe { real()(clock, tp) }
    }

    /// `gettimeofday` as the installed binary answers it.
    ///
    /// # Safety
    /// The arguments of `gettimeofday(2)`: `tv` and `tz` are null or valid for a write.
    #[doc(hidden)]
    pub unsafe fn gettimeofday(tv: *mut timeval, tz: *mut c_void) -> c_int {
        seen();
        let mut ts = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for a write.
        let rc = unsafe { clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        if rc != 0 {
            return rc;
        }
        if !tv.is_null() {
            // SAFETY: non-null and, per the contract, valid for a write.
            unsafe {
                tv.write(timeval {
                    tv_sec: ts.tv_sec,
                    tv_usec: (ts.tv_nsec / 1_000) as libc::suseconds_t,
                })
            };
        }
        if !tz.is_null() {
            // SAFETY: the obsolete `struct timezone` is two ints; zero means UTC, no DST.
            unsafe { tz.cast::<[c_int; 2]>().write([0, 0]) };
        }
        0
    }

    /// `time` as the installed binary answers it.
    ///
    /// # Safety
    /// The argument of `time(2)`: `t` is null or valid for a write.
    #[doc(hidden)]
    pub unsafe fn time(t: *mut time_t) -> time_t {
        let mut ts = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for a write.
        if unsafe { clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
            return -1;
        }
        if !t.is_null() {
            // SAFETY: non-null and, per the contract, valid for a write.
            unsafe { t.write(ts.tv_sec) };
        }
        ts.tv_sec
    }
}

/// The real monotonic clock (bypassing the simulation), as a duration since its zero; zero on
/// platforms without the virtual system clock.
pub(crate) fn real_monotonic() -> Duration {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        real_reading(libc::CLOCK_MONOTONIC).unwrap_or_default()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Duration::ZERO
    }
}

/// Makes the system clock follow the simulation in this binary (Linux with glibc; nothing
/// elsewhere). Write it once, at the top of a test binary's root (`tests/<area>/main.rs`), or
/// write `whatbreaks::install!()` for this and the counting allocator. See
/// [`crate::runtime::os_clock`].
#[macro_export]
macro_rules! install_virtual_clock {
    () => {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        const _: () = {
            #[unsafe(no_mangle)]
            unsafe extern "C" fn clock_gettime(
                clock: $crate::runtime::os_clock::clockid_t,
                tp: *mut $crate::runtime::os_clock::timespec,
            ) -> ::std::ffi::c_int {
                // SAFETY: forwarded as received.
                unsafe { $crate::runtime::os_clock::clock_gettime(clock, tp) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn gettimeofday(
                tv: *mut $crate::runtime::os_clock::timeval,
                tz: *mut ::std::ffi::c_void,
            ) -> ::std::ffi::c_int {
                // SAFETY: forwarded as received.
                unsafe { $crate::runtime::os_clock::gettimeofday(tv, tz) }
            }
            #[unsafe(no_mangle)]
            unsafe extern "C" fn time(
                t: *mut $crate::runtime::os_clock::time_t,
            ) -> $crate::runtime::os_clock::time_t {
                // SAFETY: forwarded as received.
                unsafe { $crate::runtime::os_clock::time(t) }
            }
        };
    };
}

/// Installs what a test binary needs for every scenario: the counting allocator
/// ([`crate::install_counting_allocator!`]) and the virtual system clock
/// ([`crate::install_virtual_clock!`]). Write it once, at the top of `tests/<area>/main.rs`.
#[macro_export]
macro_rules! install {
    () => {
        $crate::install_counting_allocator!();
        $crate::install_virtual_clock!();
    };
}
