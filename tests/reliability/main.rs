//! The framework's own fault-injection suite: bad input never panics, secrets never show,
//! nothing hangs. Each test here failed before the fix it guards (issue 18).

mod fixtures;
mod fuzz;
mod hangs;
mod input;

/// Runs the `#[ignore]`d fixture `fixtures::<name>` in a child process with `envs` (the
/// variables that shape a run removed otherwise), showing what it printed; success and text.
pub(crate) fn child(name: &str, envs: &[(&str, &str)]) -> (bool, String) {
    child_without(name, envs, &[])
}

/// As [`child`], with the variables `remove` unset as well (`WHATBREAKS_REGRESSIONS_DIR`,
/// which `.cargo/config.toml` sets to `off` for this suite).
pub(crate) fn child_without(name: &str, envs: &[(&str, &str)], remove: &[&str]) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = std::process::Command::new(exe);
    let path = format!("fixtures::{name}");
    cmd.args([
        "--ignored",
        "--exact",
        &path,
        "--test-threads=1",
        "--nocapture",
    ]);
    for key in [
        "WHATBREAKS_SEED",
        "WHATBREAKS_SEEDS",
        "WHATBREAKS_QUIET",
        "WHATBREAKS_REPORT",
    ] {
        cmd.env_remove(key);
    }
    for key in remove {
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
