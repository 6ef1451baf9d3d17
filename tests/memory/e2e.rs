//! End to end: run failing tests in a child process, as `cargo test` would, and check the
//! output a user sees, including the extrapolation, the picture and the replay line.

use crate::support;

fn run_fixture(name: &str, envs: &[(&str, &str)]) -> (bool, String) {
    support::run_fixture(name, envs)
}

fn labels(text: &str, from: &str) -> Vec<String> {
    support::labels(text, from)
}

#[test]
fn leak_failure_output_has_the_documented_shape() {
    let name = "fixtures::listeners_never_removed";
    let (ok, text) = run_fixture(name, &[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(text.contains("whatbreaks: leak: seed 0x5eed"), "{text}");
    assert!(
        text.contains("whatbreaks: slow leak: memory grows with every connection"),
        "{text}"
    );
    assert_eq!(
        labels(&text, "whatbreaks: slow leak"),
        ["scenario", "evidence", "memory", "fix", "replay"],
        "{text}"
    );
    assert!(
        text.contains(
            "scenario  1,000 connections after 100 warm-up, extrapolated to 1,000,000, seed 0x5eed"
        ),
        "{text}"
    );
    assert!(text.contains("after 1,000,000 connections"), "{text}");
    assert!(
        text.contains(&format!(
            "replay    WHATBREAKS_SEED=0x5eed cargo test -p whatbreaks --test memory -- {name} --exact"
        )),
        "{text}"
    );
}

#[test]
fn scale_failure_output_has_the_documented_shape() {
    let name = "fixtures::export_with_fetch_all";
    let (ok, text) = run_fixture(name, &[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(
        text.contains("whatbreaks: unbounded memory at scale: peak memory grows with input size"),
        "{text}"
    );
    assert_eq!(
        labels(&text, "whatbreaks: unbounded memory at scale"),
        ["scenario", "evidence", "memory", "fix", "replay"],
        "{text}"
    );
    assert!(text.contains("500,000,000 rows need ~"), "{text}");
    assert!(text.contains("n=500,000,000 ~"), "{text}");
}
