//! Test support shared by every test binary (mounted as `mod support`): runs one of the
//! binary's own `#[ignore]`d fixture tests in a child process, as `cargo test` would, cuts a
//! finding out of what the user sees, and checks that seeds replay.
// Each test binary mounts this file and uses the helpers it needs.
#![allow(dead_code)]

use std::process::Command;

/// Runs `fixture` (a test path such as `fixtures::herd_without_jitter`) with `envs` set and
/// the variables that shape a run (seed, seeds, quiet, report) removed; the rest, such as
/// `WHATBREAKS_REGRESSIONS_DIR=off` from `.cargo/config.toml`, is kept. Returns success and
/// the output.
pub(crate) fn run_fixture(fixture: &str, envs: &[(&str, &str)]) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--ignored", "--exact", fixture, "--test-threads=1"]);
    for key in [
        "WHATBREAKS_SEED",
        "WHATBREAKS_SEEDS",
        "WHATBREAKS_QUIET",
        "WHATBREAKS_REPORT",
    ] {
        cmd.env_remove(key);
    }
    cmd.envs(envs.iter().copied());
    let out = cmd.output().expect("run the fixture");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The finding block that starts with `start`, up to the end of its replay line.
pub(crate) fn finding(text: &str, start: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in:\n{text}"));
    let rest = &text[from..];
    let end = rest
        .find("--exact")
        .map(|i| i + "--exact".len())
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The field labels (`scenario`, `evidence`, …, `replay`) of the finding that starts with
/// `start`, in order.
pub(crate) fn labels(text: &str, start: &str) -> Vec<String> {
    finding(text, start)
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A label starts in column 2; continuation lines are indented further.
        .filter(|l| l.as_bytes().get(2).is_some_and(|b| *b != b' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Same seed, same run: `trace(seed)` (a trace hash and a key figure) is equal for equal
/// seeds, and the hashes of two different seeds differ.
pub(crate) fn assert_seeds_replay<K: PartialEq + std::fmt::Debug>(trace: impl Fn(u64) -> (u64, K)) {
    for seed in [1, 0x5eed, u64::MAX] {
        assert_eq!(
            trace(seed),
            trace(seed),
            "seed {seed:#x} must replay exactly"
        );
    }
    assert_ne!(trace(1).0, trace(2).0, "different seeds, different runs");
}

/// The reference run of a detector keeps its trace across refactors: `expected` pins the
/// trace hash (and key figure) of seed `0x5eed`, measured before the 0.2 layout change and
/// pinned again once when the runtime began to start each client at its arrival (clients
/// arriving in the same millisecond now start in id order, not in the timer wheel's): the
/// key figures and verdicts stayed the same, the arrival order within a millisecond did not.
pub(crate) fn assert_trace_pinned<K: PartialEq + std::fmt::Debug>(
    trace: impl Fn(u64) -> (u64, K),
    expected: (u64, K),
) {
    let got = trace(0x5eed);
    assert_eq!(
        got, expected,
        "the reference run of seed 0x5eed changed its trace: {:#018x}",
        got.0
    );
}

/// How many seeds a scenario asked for `seeds` actually runs: the environment wins
/// (`WHATBREAKS_SEEDS=200 cargo test` hunts for rare failures; a replay runs one seed).
pub(crate) fn expected_seeds(seeds: u32) -> usize {
    let env = whatbreaks::config::EnvOverrides::from_env().expect("valid WHATBREAKS_* variables");
    let settings = whatbreaks::config::Settings {
        seeds,
        ..Default::default()
    };
    let settings = settings.with_env(&env);
    (settings.seeds * settings.runs_per_seed) as usize
}

/// Runs `fixture` with a fresh seed, reads the seed off its replay line, runs it again with
/// that seed, and checks that it fails with the same finding (the one starting with `start`).
pub(crate) fn assert_replay_reproduces(fixture: &str, start: &str) {
    let (_, first) = run_fixture(fixture, &[]);
    let seed = first
        .split("replay    WHATBREAKS_SEED=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no replay line in:\n{first}"))
        .to_string();
    let (ok, again) = run_fixture(fixture, &[("WHATBREAKS_SEED", &seed)]);
    assert!(!ok, "the replay must fail too:\n{again}");
    assert_eq!(
        finding(&first, start),
        finding(&again, start),
        "same seed, same finding"
    );
}
