//! Runs one `#[ignore]`d fixture of this binary in a child process, as `cargo test` would.

use std::path::PathBuf;
use std::process::Command;

/// What a child run printed and whether it passed.
pub(crate) struct Output {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

/// Runs `fixtures::<name>` with `envs`; whatbreaks variables not listed are removed (except
/// `WHATBREAKS_REGRESSIONS_DIR`, which stays `off` unless listed).
pub(crate) fn run(name: &str, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--ignored",
        "--exact",
        &format!("fixtures::{name}"),
        "--test-threads=1",
        // Show what a passing fixture printed, too.
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
    cmd.env("WHATBREAKS_REGRESSIONS_DIR", "off");
    cmd.envs(envs.iter().copied());
    let out = cmd.output().expect("run the fixture");
    Output {
        ok: out.status.success(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A fresh, empty temporary directory, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("whatbreaks-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
