//! End to end: run a failing test in a child process, as `cargo test` would, and check the
//! output a user sees, the replay line, and that the replay reproduces the failure.

use crate::support;

const FIXTURE: &str = "fixtures::herd_without_jitter";

fn run_fixture(envs: &[(&str, &str)]) -> (bool, String) {
    support::run_fixture(FIXTURE, envs)
}

/// The finding block: from the verdict line to the replay line.
fn finding(text: &str) -> String {
    support::finding(text, "whatbreaks: thundering herd")
}

#[test]
fn failure_output_has_the_documented_shape() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(
        text.contains("whatbreaks: herd: seed 0x5eed"),
        "seed printed at the start:\n{text}"
    );
    let f = finding(&text);
    let labels = support::labels(&f, "whatbreaks:");
    assert_eq!(
        labels,
        ["scenario", "evidence", "arrivals", "fix", "replay"],
        "{f}"
    );
    assert!(
        f.contains("scenario  1000 clients, upstream `upstream` down 0s..10s, seed 0x5eed"),
        "{f}"
    );
    assert!(
        f.contains("retry 1: 1000/1000 clients in the same 1 ms (t=1s)"),
        "{f}"
    );
    assert!(f.contains("fix       add jitter to the backoff"), "{f}");
    assert!(
        f.contains(&format!("replay    WHATBREAKS_SEED=0x5eed cargo test -p whatbreaks --test herd -- {FIXTURE} --exact")),
        "{f}"
    );
}

#[test]
fn the_replay_line_reproduces_the_failure() {
    support::assert_replay_reproduces(FIXTURE, "whatbreaks: thundering herd");
}

#[test]
fn a_bad_environment_value_names_the_variable_and_the_form() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEEDS", "many")]);
    assert!(!ok);
    assert!(
        text.contains(
            "WHATBREAKS_SEEDS=\"many\" cannot be used: expected a whole number from 1 to 100000"
        ),
        "{text}"
    );
}

#[test]
fn an_unknown_variable_draws_a_warning() {
    let (_, text) = run_fixture(&[("WHATBREAKS_SEDE", "1"), ("WHATBREAKS_SEED", "1")]);
    assert!(
        text.contains(
            "whatbreaks: warning: unknown environment variable(s) WHATBREAKS_SEDE ignored"
        ),
        "{text}"
    );
}
