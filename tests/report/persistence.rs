//! Failing seeds are saved to `whatbreaks-regressions/<test binary>.txt` and replayed first.

use crate::child::{TempDir, run};

fn saved_file(dir: &TempDir) -> std::path::PathBuf {
    dir.0.join("report.txt")
}

/// The seed of the finding in a child's output (`…, seed 0x…` on the scenario line).
fn finding_seed(text: &str) -> String {
    let scenario = text
        .lines()
        .find(|l| l.trim_start().starts_with("scenario"))
        .unwrap_or_else(|| panic!("no scenario line in:\n{text}"));
    scenario
        .rsplit("seed ")
        .next()
        .expect("a seed on the scenario line")
        .trim()
        .to_string()
}

#[test]
fn a_failing_macro_test_saves_its_seed_and_replays_it_first() {
    let dir = TempDir::new("regressions");
    let env = [("WHATBREAKS_REGRESSIONS_DIR", dir.path())];
    let first = run("failing_herd", &env);
    assert!(!first.ok, "the fixture must fail:\n{}", first.text);
    let seed = finding_seed(&first.text);
    let file = saved_file(&dir);
    assert!(
        first.text.contains(&format!(
            "saved     seed {seed} to {}: this test replays it before new seeds",
            file.display()
        )),
        "the failure says where the seed went:\n{}",
        first.text
    );
    let saved = std::fs::read_to_string(&file).expect("the regressions file");
    assert!(
        saved.starts_with(whatbreaks::regressions::HEADER),
        "self-describing header:\n{saved}"
    );
    assert!(
        saved.contains(&format!(
            "fixtures::failing_herd {seed} # thundering herd: retry arrivals are synchronized\n"
        )),
        "{saved}"
    );

    // The next run replays the saved seed before a new one, and fails on it again.
    let second = run("failing_herd", &env);
    assert!(!second.ok, "{}", second.text);
    assert!(
        second.text.contains(&format!(
            "whatbreaks: herd: replaying 1 saved seed(s) from {} first",
            file.display()
        )),
        "{}",
        second.text
    );
    assert_eq!(finding_seed(&second.text), seed, "{}", second.text);
    let again = std::fs::read_to_string(&file).unwrap();
    assert_eq!(again, saved, "a seed already saved is not written twice");

    // An explicit WHATBREAKS_SEED replays exactly that seed.
    let explicit = run(
        "failing_herd",
        &[
            ("WHATBREAKS_REGRESSIONS_DIR", dir.path()),
            ("WHATBREAKS_SEED", "0x77"),
        ],
    );
    assert!(!explicit.text.contains("replaying"), "{}", explicit.text);
    assert_eq!(finding_seed(&explicit.text), "0x77");
}

#[test]
fn should_panic_tests_save_nothing() {
    let dir = TempDir::new("regressions");
    let out = run(
        "failing_herd_should_panic",
        &[("WHATBREAKS_REGRESSIONS_DIR", dir.path())],
    );
    assert!(out.ok, "the should_panic fixture passes:\n{}", out.text);
    assert!(!saved_file(&dir).exists(), "nothing saved:\n{}", out.text);
}

#[test]
fn builder_tests_save_nothing() {
    let dir = TempDir::new("regressions");
    let out = run(
        "builder_flags_buggy_code",
        &[("WHATBREAKS_REGRESSIONS_DIR", dir.path())],
    );
    assert!(out.ok, "{}", out.text);
    assert!(!saved_file(&dir).exists(), "nothing saved:\n{}", out.text);
}

#[test]
fn off_saves_nothing_and_says_nothing() {
    let out = run("failing_herd", &[("WHATBREAKS_REGRESSIONS_DIR", "off")]);
    assert!(!out.ok, "{}", out.text);
    assert!(!out.text.contains("saved     seed"), "{}", out.text);
}

#[test]
fn this_repository_keeps_regressions_out_of_its_tree() {
    // `.cargo/config.toml` turns persistence off for whatbreaks' own suite, whose fixtures
    // fail on purpose; the source tree never gets a `whatbreaks-regressions/` directory.
    assert_eq!(
        std::env::var("WHATBREAKS_REGRESSIONS_DIR").as_deref(),
        Ok("off")
    );
    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("whatbreaks-regressions");
    assert!(!tree.exists(), "{} was created", tree.display());
}
