//! Synchronization primitives that [loom](https://docs.rs/loom) can explore.
//!
//! For check-then-act in *synchronous* code (a double-checked cache behind a `Mutex` and an
//! atomic flag, a lazy initializer), write the code against `whatbreaks::sync` instead of
//! `std::sync`. Normally these are the `std` types, unchanged. Compiled with
//! `RUSTFLAGS="--cfg whatbreaks_loom"` (or `--cfg loom`), they are loom's, and [`model`] runs
//! a closure under every interleaving of its threads (up to loom's bounds), so a race that
//! needs one particular interleaving is found deterministically.
//!
//! ```
//! use whatbreaks_core::runtime::sync::{Arc, atomic::{AtomicUsize, Ordering}, model, thread};
//!
//! model(|| {
//!     let n = Arc::new(AtomicUsize::new(0));
//!     let n2 = n.clone();
//!     let t = thread::spawn(move || n2.fetch_add(1, Ordering::SeqCst));
//!     n.fetch_add(1, Ordering::SeqCst);
//!     t.join().unwrap();
//!     assert_eq!(n.load(Ordering::SeqCst), 2);
//! });
//! ```
//!
//! **loom or `#[race_test]`?** loom explores *threads* and the std-like primitives above,
//! exhaustively, for a handful of threads (up to 4 plus the main one); it does not run tokio.
//! [`race_test`](crate::runtime::explorer) explores *async tasks* at their await points, on tokio with
//! virtual time and the simulated components, by seeded sampling. Use loom for sync code with
//! locks and atomics; use `#[race_test]` for async code that awaits between a check and an act.
//!
//! Run the loom tests with
//! `RUSTFLAGS="--cfg whatbreaks_loom" cargo test --release --test loom` (CI does; a separate
//! `CARGO_TARGET_DIR` keeps the normal build cached). The ecosystem's own `--cfg loom` swaps
//! these primitives too, so code that gates its own primitives on `cfg(loom)` moves with them;
//! but `--cfg loom` reaches every crate in the build, and some break under it without their
//! own `loom` feature (`event-listener`, under moka, does). `whatbreaks_loom` reaches only
//! whatbreaks.

#[cfg(not(any(loom, whatbreaks_loom)))]
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, atomic};
#[cfg(not(any(loom, whatbreaks_loom)))]
pub use std::thread;

#[cfg(any(loom, whatbreaks_loom))]
pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, atomic};
#[cfg(any(loom, whatbreaks_loom))]
pub use loom::thread;

/// Runs `f` under every interleaving loom explores (with `--cfg whatbreaks_loom` or `--cfg loom`); otherwise once.
///
/// Under loom the preemption bound is 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise: most
/// races need two or three preemptions, and the bound keeps run time sane.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    #[cfg(any(loom, whatbreaks_loom))]
    {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(f);
    }
    #[cfg(not(any(loom, whatbreaks_loom)))]
    f();
}
