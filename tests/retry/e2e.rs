//! End to end: run a failing test in a child process, as `cargo test` would, and check the
//! output a user sees and that the replay reproduces the failure.

use std::process::Command;

const FIXTURE: &str = "fixtures::naive_payment_retry";

fn run_fixture(envs: &[(&str, &str)]) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--ignored", "--exact", FIXTURE, "--test-threads=1"]);
    for key in ["WHATBREAKS_SEED", "WHATBREAKS_SEEDS", "WHATBREAKS_QUIET"] {
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

/// The findings: from the first verdict line to the last replay line.
fn findings(text: &str) -> String {
    let start = text
        .find("whatbreaks: retry storm: retries")
        .unwrap_or_else(|| panic!("no finding in:\n{text}"));
    let rest = &text[start..];
    let end = rest
        .rfind("--exact")
        .map(|i| i + "--exact".len())
        .unwrap_or(rest.len());
    rest[..end].to_string()
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
    let labels: Vec<&str> = first
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| ["scenario", "evidence", "calls", "fix", "replay"].contains(w))
        .collect();
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
