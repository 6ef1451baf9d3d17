//! End to end: run a failing pool test in a child process, as `cargo test` would, and check
//! the output a user sees and that the replay line reproduces it.

use std::process::Command;

const FIXTURE: &str = "fixtures::process_order_leaks";

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

/// The leak finding: from its verdict line to its replay line.
fn finding(text: &str) -> String {
    let start = text
        .find("whatbreaks: connection leak")
        .unwrap_or_else(|| panic!("no finding in:\n{text}"));
    let rest = &text[start..];
    let end = rest
        .find("--exact")
        .map(|i| i + "--exact".len())
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

#[test]
fn failure_output_has_the_documented_shape() {
    let (ok, text) = run_fixture(&[("WHATBREAKS_SEED", "0x5eed")]);
    assert!(!ok, "the fixture must fail:\n{text}");
    assert!(text.contains("whatbreaks: pool: seed 0x5eed"), "{text}");
    let f = finding(&text);
    let labels: Vec<&str> = f
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| ["scenario", "evidence", "pool", "fix", "replay"].contains(w))
        .collect();
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
    let (_, first) = run_fixture(&[]);
    let seed = first
        .split("replay    WHATBREAKS_SEED=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no replay line in:\n{first}"))
        .to_string();
    let (ok, again) = run_fixture(&[("WHATBREAKS_SEED", &seed)]);
    assert!(!ok);
    assert_eq!(finding(&first), finding(&again), "same seed, same finding");
}
