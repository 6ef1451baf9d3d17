//! End to end: run a failing test in a child process, as `cargo test` would, and check the
//! output a user sees and that the replay reproduces the failure.

use crate::support;

const FIXTURE: &str = "fixtures::naive_payment_retry";

fn run_fixture(envs: &[(&str, &str)]) -> (bool, String) {
    support::run_fixture(FIXTURE, envs)
}

/// The findings: from the first verdict line to the last replay line.
/// Every finding block, from the first verdict line to the last replay line.
fn findings(text: &str) -> String {
    let first = support::finding(text, "whatbreaks: retry storm: retries");
    let from = text.find(&first).unwrap_or(0);
    let to = text
        .rfind("--exact")
        .map_or(text.len(), |i| i + "--exact".len());
    text[from..to.max(from)].to_string()
}

#[test]
fn failure_output_has_the_documented_shape_and_replays() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(
        text.contains("whatbreaks: retry storm: seed 0x5eed"),
        "seed printed at the start:\n{text}"
    );
    let f = findings(&text);
    let first = f.split("\n\n").next().unwrap();
    let labels = support::labels(first, "whatbreaks:");
    assert_eq!(
        labels,
        ["scenario", "evidence", "calls", "fix", "replay"],
        "{first}"
    );
    assert!(
        first.contains("scenario  50 requests/s for 1m ("),
        "{first}"
    );
    assert!(
        first.contains("upstream `upstream`, down 10s..40s"),
        "{first}"
    );
    // The naive retry also resends 400s: the classification finding follows.
    assert!(
        f.contains("whatbreaks: non-retryable error retried: "),
        "{f}"
    );
    assert!(
        first.contains(&format!(
            "replay    WHATBREAKS_SEED=0x5eed cargo test -p whatbreaks --test retry -- {FIXTURE} --exact"
        )),
        "{first}"
    );
    let (ok, again) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok);
    assert_eq!(f, findings(&again), "same seed, same findings");
}
