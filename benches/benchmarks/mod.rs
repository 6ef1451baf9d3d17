//! Bench groups, one module each, and the runtime every bare-tokio baseline runs on.
pub(crate) mod double_execution;
pub(crate) mod herd;
pub(crate) mod leak;
pub(crate) mod pool;
pub(crate) mod race;
pub(crate) mod retry;
pub(crate) mod seams;
pub(crate) mod stampede;

use std::future::Future;

/// Runs `main` on what a simulation runs on, without whatbreaks: a current-thread tokio
/// runtime with a paused clock, inside a `LocalSet` (so `spawn_local` works). The bare-tokio
/// side of every detector bench.
pub(crate) fn bare_tokio<F: Future>(main: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, main)
}

/// Hides the seed line every scenario run prints, so criterion's output stays readable.
pub(crate) fn quiet() {
    // SAFETY: set before any other thread of this process reads the environment (criterion
    // runs bench functions on the main thread; simulation threads start later).
    unsafe { std::env::set_var("WHATBREAKS_QUIET", "1") };
}

/// Whether the command line selects `group` (`cargo bench -- retry`, or no filter): for the
/// figures a group prints before criterion measures it.
pub(crate) fn selected(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| group.contains(f.as_str()) || f.contains(group))
}
