//! Failing seeds, saved and replayed first, as proptest does with `proptest-regressions/`.
//!
//! When a `#[…_test]` attribute test fails, whatbreaks appends its seed to
//! `whatbreaks-regressions/<test binary>.txt` under the crate's directory
//! (`CARGO_MANIFEST_DIR` at run time), e.g. `whatbreaks-regressions/herd.txt` for
//! `tests/herd/main.rs`, and the failure message says so. Every later run of that test runs the
//! saved seeds **before** new ones, so a failure found once by a random seed keeps failing
//! until it is fixed. Check the file in.
//!
//! ```text
//! # Seeds for which whatbreaks found a failure: each test runs its saved seeds before new
//! # ones. Check this file in to source control. Written by whatbreaks; one failure a line:
//! # <test path> <seed> # <pattern>: <verdict>
//! retry::no_jitter 0x5eed1234 # thundering herd: retry arrivals are synchronized
//! ```
//!
//! - Only the attribute macros save (through `__private::finish`): a test that calls the
//!   builder API and inspects the report (`report.assert_flagged(..)`) saves nothing, so
//!   tests that flag buggy code on purpose leave no files. A macro test marked
//!   `#[should_panic]` saves nothing either.
//! - `WHATBREAKS_SEED` replays exactly that seed: saved seeds are not added to it.
//! - `WHATBREAKS_REGRESSIONS_DIR=<dir>` puts the files elsewhere; `off` turns saving and
//!   replaying off.
//! - Deleting a line (or the file) forgets the seed.

use crate::report::{FindingKind, Report, strip_hash};
use crate::scenario::config::EnvOverrides;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The directory under the crate's root that holds the files.
pub const DIR: &str = "whatbreaks-regressions";

/// The header written at the top of a new file.
pub const HEADER: &str = "\
# Seeds for which whatbreaks found a failure: each test runs its saved seeds before new
# ones. Check this file in to source control. Written by whatbreaks; one failure a line:
# <test path> <seed> # <pattern>: <verdict>
";

/// The file for the running test binary, or `None` when persistence is off (or whatbreaks
/// cannot tell where the crate is: not under cargo).
pub fn file(env: &EnvOverrides) -> Option<PathBuf> {
    let dir = match &env.regressions_dir {
        Some(None) => return None,
        Some(Some(dir)) => dir.clone(),
        None => Path::new(&crate::scenario::config::cargo_var("CARGO_MANIFEST_DIR")?).join(DIR),
    };
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_string_lossy().into_owned();
    Some(dir.join(format!("{}.txt", strip_hash(&stem))))
}

/// The path of the test running on this thread (`cargo test` names the thread after it).
pub fn current_test() -> Option<String> {
    let thread = std::thread::current();
    thread
        .name()
        .filter(|n| *n != "main")
        .map(|n| n.to_string())
}

/// The seeds saved for `test` in the file's text, in order, without repeats.
pub fn parse(text: &str, test: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let (Some(name), Some(seed)) = (words.next(), words.next()) else {
            continue;
        };
        if name != test {
            continue;
        }
        if let Ok(seed) = crate::spec::parse_seed(seed) {
            if !out.contains(&seed) {
                out.push(seed);
            }
        }
    }
    out
}

/// The seeds saved for the running test (empty when there are none or persistence is off).
pub fn saved_seeds(env: &EnvOverrides) -> (Vec<u64>, Option<PathBuf>) {
    let (Some(path), Some(test)) = (file(env), current_test()) else {
        return (Vec::new(), None);
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => (parse(&text, &test), Some(path)),
        Err(_) => (Vec::new(), None),
    }
}

/// Saves the failing seed of `report` for the running test; returns the file when a line
/// was written or was already there. Configuration errors are not saved (no seed ran).
pub fn save(report: &Report) -> Option<PathBuf> {
    let first = report
        .findings
        .iter()
        .find(|f| f.kind != FindingKind::Config)?;
    let env = EnvOverrides::from_env().ok()?;
    let path = file(&env)?;
    let test = current_test()?;
    // Tests of one binary run on parallel threads: one writer at a time.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    if parse(&existing, &test).contains(&first.seed) {
        return Some(path);
    }
    let verdict: String = format!("{}: {}", first.pattern, first.verdict)
        .chars()
        .filter(|c| *c != '\n')
        .collect();
    let mut line = String::new();
    if existing.is_empty() {
        line.push_str(HEADER);
    } else if !existing.ends_with('\n') {
        line.push('\n');
    }
    line.push_str(&format!("{test} {:#x} # {verdict}\n", first.seed));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?
                .write_all(line.as_bytes())
        });
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!(
                "whatbreaks: warning: could not save the failing seed to {}: {e}",
                path.display()
            );
            None
        }
    }
}

/// Puts the saved seeds first and keeps the others after them, without repeats.
pub(crate) fn replay_first(saved: &[u64], seeds: Vec<u64>) -> Vec<u64> {
    let mut out = saved.to_vec();
    for s in seeds {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_of_one_test() {
        let text = format!(
            "{HEADER}a::b 0x2a # herd: x\nc 7\na::b 0x2a # again\na::b 9\n# a::b 0x99\nbroken\n"
        );
        assert_eq!(parse(&text, "a::b"), vec![0x2a, 9]);
        assert_eq!(parse(&text, "c"), vec![7]);
        assert!(parse(&text, "zzz").is_empty());
    }

    #[test]
    fn saved_seeds_run_first() {
        assert_eq!(replay_first(&[5, 1], vec![1, 2, 3]), vec![5, 1, 2, 3]);
    }

    #[test]
    fn off_means_no_file() {
        let env = EnvOverrides {
            regressions_dir: Some(None),
            ..EnvOverrides::default()
        };
        assert_eq!(file(&env), None);
        let env = EnvOverrides {
            regressions_dir: Some(Some("/tmp/x".into())),
            ..EnvOverrides::default()
        };
        let f = file(&env).unwrap();
        assert!(f.starts_with("/tmp/x"), "{f:?}");
        assert!(f.to_string_lossy().ends_with(".txt"));
    }
}
