//! Where the run path's own `whatbreaks:` lines go: the seed line, "replaying saved seeds",
//! the real-clock warning, the path of an HTML report, unknown `WHATBREAKS_*` names.
//!
//! By default each line goes to stderr as it happens, which is what a `cargo test` run wants
//! (the harness shows a failing test's stderr next to its panic). A tool that prints its own
//! summary, such as the tour, runs its scenarios inside [`capture`] instead: the lines of
//! every scenario run on that thread are collected and handed back, to be written to a file
//! or the HTML report, or printed when a run went wrong.
//!
//! ```
//! use whatbreaks_core::report::notes;
//!
//! let ((), lines) = notes::capture(|| notes::note("whatbreaks: herd: seed 0x2a"));
//! assert_eq!(lines, ["whatbreaks: herd: seed 0x2a"]);
//! ```

use std::cell::RefCell;

thread_local! {
    /// The lines captured on this thread, when a [`capture`] is running.
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Prints `line` on stderr, or collects it when a [`capture`] runs on this thread.
pub fn note(line: impl Into<String>) {
    let line = line.into();
    let line = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(line);
            None
        }
        None => Some(line),
    });
    if let Some(line) = line {
        eprintln!("{line}");
    }
}

/// Runs `f`, collecting the lines [`note`] would have printed on this thread, in order.
/// Captures nest: an inner capture takes its own lines, the outer one gets the rest.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let outer = CAPTURED.with(|c| c.borrow_mut().replace(Vec::new()));
    // Put the outer capture back even if `f` panics.
    struct Restore(Option<Option<Vec<String>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                CAPTURED.with(|c| *c.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let result = f();
    let lines = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    CAPTURED.with(|c| *c.borrow_mut() = restore.0.take().flatten());
    (result, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_nest_and_restore() {
        let (((), inner), outer) = capture(|| {
            note("a");
            let r = capture(|| note("b"));
            note("c");
            r
        });
        assert_eq!(inner, ["b"]);
        assert_eq!(outer, ["a", "c"]);
        let r = std::panic::catch_unwind(|| capture(|| panic!("boom")));
        assert!(r.is_err());
        // Nothing is captured any more after the panic: this line goes to stderr.
        assert!(CAPTURED.with(|c| c.borrow().is_none()));
    }
}
