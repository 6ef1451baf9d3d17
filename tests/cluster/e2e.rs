//! End to end: run a failing test in a child process, as `cargo test` would, and check the
//! output a user sees, the replay line, and that the replay reproduces the failure.

use crate::support;

const FIXTURE: &str = "fixtures::lease_without_fencing";

fn run_fixture(envs: &[(&str, &str)]) -> (bool, String) {
    support::run_fixture(FIXTURE, envs)
}

/// The finding block: from the verdict line to the replay line.
fn finding(text: &str) -> String {
    support::finding(text, "whatbreaks: double execution: 1 of")
}

#[test]
fn failure_output_has_the_documented_shape() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(
        text.contains("whatbreaks: double execution: seed 0x5eed"),
        "seed printed at the start:\n{text}"
    );
    let f = finding(&text);
    let labels = support::labels(&f, "whatbreaks:");
    assert_eq!(
        labels,
        ["scenario", "evidence", "timeline", "fix", "replay"],
        "{f}"
    );
    assert!(
        f.contains("scenario  2 instance(s) for 10m, every 1m, pause 0@1m2s+45s, seed 0x5eed"),
        "{f}"
    );
    assert!(
        f.contains("evidence  `daily_report` 00:01:00: 2 commits: #1 at 1m"),
        "{f}"
    );
    assert!(f.contains("#0   ······PPPPD"), "{f}");
    assert!(
        f.contains("fix       a lease alone cannot stop a holder"),
        "{f}"
    );
    assert!(
        f.contains(&format!(
            "replay    WHATBREAKS_SEED=0x5eed cargo test -p whatbreaks --test cluster -- {FIXTURE} --exact"
        )),
        "{f}"
    );
}

#[test]
fn the_replay_line_reproduces_the_failure() {
    support::assert_replay_reproduces(FIXTURE, "whatbreaks: double execution: 1 of");
}
