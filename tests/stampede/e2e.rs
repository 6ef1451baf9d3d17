//! End to end: run a failing test in a child process, as `cargo test` would, and check the
//! output a user sees and that its replay line reproduces the failure.

use crate::support;

const FIXTURE: &str = "fixtures::per_key_mutex_on_two_instances";

fn run_fixture(envs: &[(&str, &str)]) -> (bool, String) {
    support::run_fixture(FIXTURE, envs)
}

fn finding(text: &str) -> String {
    support::finding(text, "whatbreaks: cache stampede")
}

#[test]
fn failure_output_has_the_documented_shape() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    let f = finding(&text);
    let labels = support::labels(&f, "whatbreaks:");
    assert_eq!(
        labels,
        ["scenario", "evidence", "loads", "fix", "replay"],
        "{f}"
    );
    assert!(
        f.starts_with("whatbreaks: cache stampede: in-process coalescing was defeated by a second instance: 2 loads of key \"1\" in one cold start"),
        "{f}"
    );
    assert!(f.contains("scenario  cold start: 100 clients arriving within 10ms on an empty cache, 1 key, 2 instances, db `db` (100ms per load), seed 0x5eed"), "{f}");
    assert!(f.contains("per instance #0: 1, #1: 1"), "{f}");
    assert!(
        f.contains(&format!(
            "replay    WHATBREAKS_SEED=0x5eed cargo test -p whatbreaks --test stampede -- {FIXTURE} --exact"
        )),
        "{f}"
    );
    let (_, again) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert_eq!(f, finding(&again), "same seed, same finding");
}
