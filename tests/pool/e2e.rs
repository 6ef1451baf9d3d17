//! End to end: run a failing pool test in a child process, as `cargo test` would, and check
//! the output a user sees and that the replay line reproduces it.

use crate::support;

const FIXTURE: &str = "fixtures::process_order_leaks";

fn run_fixture(envs: &[(&str, &str)]) -> (bool, String) {
    support::run_fixture(FIXTURE, envs)
}

/// The leak finding: from its verdict line to its replay line.
fn finding(text: &str) -> String {
    support::finding(text, "whatbreaks: connection leak")
}

#[test]
fn failure_output_has_the_documented_shape() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(text.contains("whatbreaks: pool: seed 0x5eed"), "{text}");
    let f = finding(&text);
    let labels = support::labels(&f, "whatbreaks:");
    assert_eq!(
        labels,
        ["scenario", "evidence", "pool", "fix", "replay"],
        "{f}"
    );
    assert!(
        f.contains("scenario  200 clients over 0s..10s, pool `db` size 4, acquire timeout none, queries 5ms, error rate 0.1, seed 0x5eed"),
        "{f}"
    );
    assert!(f.contains("at examples/patterns/pool.rs:"), "{f}");
    assert!(f.contains("in use   ") && f.contains("waiting  "), "{f}");
    assert!(
        f.contains(&format!(
            "replay    WHATBREAKS_SEED=0x5eed cargo test -p whatbreaks --test pool -- {FIXTURE} --exact"
        )),
        "{f}"
    );
}

#[test]
fn the_replay_line_reproduces_the_failure() {
    support::assert_replay_reproduces(FIXTURE, "whatbreaks: connection leak");
}
