//! `WHATBREAKS_*` environment variables and the settings every scenario shares.
//!
//! Precedence, highest first: **environment variable > attribute argument or builder call >
//! default**. The environment wins so that the replay line printed by a failure
//! (`WHATBREAKS_SEED=0x… cargo test …`) always reproduces it, and so that CI can ask for more
//! seeds (`WHATBREAKS_SEEDS=100`) without touching the tests.
//!
//! | variable | meaning | form |
//! |---|---|---|
//! | `WHATBREAKS_SEED` | run exactly this seed | decimal or `0x`-hex `u64` |
//! | `WHATBREAKS_SEEDS` | number of seeds to run | whole number from 1 to 100000 ([`MAX_SEEDS`]) |
//! | `WHATBREAKS_TIME_LIMIT` | virtual-time limit of one run | duration, e.g. `1h` |
//! | `WHATBREAKS_WATCHDOG` | wall-clock limit of one run | duration, e.g. `30s` |
//! | `WHATBREAKS_QUIET` | `1`: do not print the seed line at the start of a run | `0` or `1` |
//! | `WHATBREAKS_PG_URL` | PostgreSQL for the backend checks (feature `postgres`) | URL, default `postgres://postgres@127.0.0.1:5432/test` |
//! | `WHATBREAKS_REDIS_URL` | Redis for the backend checks (feature `redis`) | URL, default `redis://127.0.0.1:6379/` |
//! | `WHATBREAKS_REPORT` | `1`: every scenario writes an HTML report with charts to `target/whatbreaks/` ([`crate::report::html`]) | `0` or `1` |
//! | `WHATBREAKS_AUDIT_ONLY` | an audit asks only this question (of this entry point), as a break's replay line names it ([`crate::audit`]) | `question` or `question:entry point`, e.g. `herd:charge` |
//! | `WHATBREAKS_REGRESSIONS_DIR` | where failing seeds are saved and replayed from ([`crate::scenario::regressions`]); `off` turns saving and replaying off | a directory, or `off` (default `<crate>/whatbreaks-regressions`) |
//!
//! An unknown `WHATBREAKS_*` name is reported once per process as a warning on stderr; a bad
//! value (also one that is not UTF-8) is an error that names the variable, the value and the
//! expected form. A run never lists more than [`MAX_RUNS`] seeds (`seeds × iterations`): a
//! larger product is a configuration finding that names `WHATBREAKS_SEEDS` and the bound.

use crate::spec;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

/// Every variable whatbreaks reads, with the form its value must have.
pub const VARIABLES: &[(&str, &str)] = &[
    ("WHATBREAKS_SEED", spec::SEED_FORM),
    ("WHATBREAKS_SEEDS", SEEDS_FORM),
    ("WHATBREAKS_TIME_LIMIT", spec::DURATION_FORM),
    ("WHATBREAKS_WATCHDOG", spec::DURATION_FORM),
    ("WHATBREAKS_QUIET", "`0` or `1`"),
    (
        "WHATBREAKS_PG_URL",
        "a PostgreSQL URL, e.g. `postgres://postgres@127.0.0.1:5432/test`",
    ),
    (
        "WHATBREAKS_REDIS_URL",
        "a Redis URL, e.g. `redis://127.0.0.1:6379/`",
    ),
    ("WHATBREAKS_REPORT", "`0` or `1`"),
    ("WHATBREAKS_AUDIT_ONLY", AUDIT_ONLY_FORM),
    ("WHATBREAKS_REGRESSIONS_DIR", "a directory, or `off`"),
];

/// The accepted form of `WHATBREAKS_AUDIT_ONLY`, for error messages.
pub const AUDIT_ONLY_FORM: &str = "`question` or `question:entry point`, e.g. `herd:charge`";

pub use crate::runtime::rng::{fresh_seed, splitmix64};

/// The most seeds `WHATBREAKS_SEEDS` (and `.seeds(..)`) may ask for.
pub const MAX_SEEDS: u32 = 100_000;

/// The most runs one scenario lists (`seeds × iterations`; each is a `u64` seed kept in
/// memory): 10 million, 80 MB of seeds.
pub const MAX_RUNS: u64 = 10_000_000;

/// The accepted form of `WHATBREAKS_SEEDS`, for error messages.
pub const SEEDS_FORM: &str = "a whole number from 1 to 100000, e.g. `20`";
pub use crate::runtime::sim::{DEFAULT_TIME_LIMIT, DEFAULT_WATCHDOG};

/// A `WHATBREAKS_*` variable with a value whatbreaks cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub variable: String,
    /// The value it had.
    pub value: String,
    /// What was wrong, including the expected form.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} cannot be used: {}",
            self.variable, self.value, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

/// What the environment says, already parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    /// `WHATBREAKS_SEED`.
    pub seed: Option<u64>,
    /// `WHATBREAKS_SEEDS`.
    pub seeds: Option<u32>,
    /// `WHATBREAKS_TIME_LIMIT`.
    pub time_limit: Option<Duration>,
    /// `WHATBREAKS_WATCHDOG`.
    pub watchdog: Option<Duration>,
    /// `WHATBREAKS_QUIET`.
    pub quiet: bool,
    /// `WHATBREAKS_REPORT`.
    pub report: bool,
    /// `WHATBREAKS_AUDIT_ONLY`: the question, and the entry point if one is named.
    pub audit_only: Option<(String, Option<String>)>,
    /// `WHATBREAKS_REGRESSIONS_DIR`: `Some(None)` is `off`, `Some(Some(dir))` a directory.
    pub regressions_dir: Option<Option<std::path::PathBuf>>,
    /// Unknown `WHATBREAKS_*` names that were set.
    pub unknown: Vec<String>,
}

impl EnvOverrides {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            if !k.starts_with("WHATBREAKS_") {
                continue;
            }
            match v.into_string() {
                Ok(v) => vars.push((k, v)),
                Err(raw) => {
                    return Err(ConfigError {
                        variable: k,
                        value: raw.to_string_lossy().into_owned(),
                        problem: "is not UTF-8; expected text".into(),
                    });
                }
            }
        }
        Self::from_vars(vars)
    }

    /// Parses a list of `(name, value)` pairs; names not starting with `WHATBREAKS_` are ignored.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut out = EnvOverrides::default();
        let mut vars: Vec<_> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("WHATBREAKS_"))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let err = |problem: String| ConfigError {
                variable: name.clone(),
                value: value.clone(),
                problem,
            };
            match name.as_str() {
                "WHATBREAKS_SEED" => out.seed = Some(spec::parse_seed(&value).map_err(err)?),
                "WHATBREAKS_SEEDS" => {
                    let clean = value.trim().replace('_', "");
                    let n = clean
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                        .then(|| clean.parse::<u32>().ok())
                        .flatten()
                        .filter(|n| (1..=MAX_SEEDS).contains(n));
                    out.seeds = Some(n.ok_or_else(|| err(format!("expected {SEEDS_FORM}")))?);
                }
                "WHATBREAKS_TIME_LIMIT" => {
                    out.time_limit = Some(positive(spec::parse_duration(&value)).map_err(err)?)
                }
                "WHATBREAKS_WATCHDOG" => {
                    out.watchdog = Some(positive(spec::parse_duration(&value)).map_err(err)?)
                }
                "WHATBREAKS_QUIET" => out.quiet = flag(&value).map_err(err)?,
                "WHATBREAKS_REPORT" => out.report = flag(&value).map_err(err)?,
                "WHATBREAKS_AUDIT_ONLY" => {
                    let (question, entry) = match value.split_once(':') {
                        Some((q, e)) => (q.trim(), Some(e.trim())),
                        None => (value.trim(), None),
                    };
                    if question.is_empty() || entry.is_some_and(str::is_empty) {
                        return Err(err(format!("expected {AUDIT_ONLY_FORM}")));
                    }
                    out.audit_only = Some((question.to_string(), entry.map(str::to_string)));
                }
                "WHATBREAKS_REGRESSIONS_DIR" => {
                    out.regressions_dir = Some(match value.trim() {
                        "off" | "0" | "false" => None,
                        "" => return Err(err("expected a directory, or `off`".into())),
                        dir => Some(std::path::PathBuf::from(dir)),
                    })
                }
                // Read by other parts of the ecosystem (cargo-nextest partitions, reports):
                // known names, nothing to do here.
                _ if VARIABLES.iter().any(|(known, _)| *known == name) => {}
                _ => out.unknown.push(name),
            }
        }
        Ok(out)
    }

    /// Prints one warning per process for unknown `WHATBREAKS_*` names.
    pub fn warn_unknown(&self) {
        static WARNED: Once = Once::new();
        if self.unknown.is_empty() {
            return;
        }
        WARNED.call_once(|| {
            let known: Vec<_> = VARIABLES.iter().map(|(k, _)| *k).collect();
            crate::report::notes::note(format!(
                "whatbreaks: warning: unknown environment variable(s) {} ignored; known: {}",
                self.unknown.join(", "),
                known.join(", ")
            ));
        });
    }
}

fn flag(value: &str) -> Result<bool, String> {
    match value.trim() {
        "1" | "true" => Ok(true),
        "0" | "false" | "" => Ok(false),
        _ => Err("expected `0` or `1`".into()),
    }
}

fn positive(d: Result<Duration, String>) -> Result<Duration, String> {
    d.and_then(|d| {
        if d.is_zero() {
            Err(format!(
                "must be longer than zero; expected {}",
                spec::DURATION_FORM
            ))
        } else {
            Ok(d)
        }
    })
}

/// The settings every scenario has: seeds and limits.
///
/// Each scenario builder exposes them as `.seed(..)`, `.seeds(..)`, `.time_limit(..)` and
/// `.watchdog(..)`; the attribute macros accept the same keys.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The first seed to run; chosen at random and printed when unset.
    pub seed: Option<u64>,
    /// How many seeds to run (the first, then seeds derived from it).
    pub seeds: u32,
    /// Runs per seed, each with its own derived seed (the race explorer's schedules):
    /// `seeds × runs_per_seed` runs in all. A replay (`WHATBREAKS_SEED` alone) runs one.
    pub runs_per_seed: u32,
    /// Virtual-time limit of one run.
    pub time_limit: Duration,
    /// Wall-clock limit of one run.
    pub watchdog: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: None,
            seeds: 1,
            runs_per_seed: 1,
            time_limit: DEFAULT_TIME_LIMIT,
            watchdog: DEFAULT_WATCHDOG,
        }
    }
}

/// The URL a real backend check connects to: the variable `name` (`WHATBREAKS_PG_URL`,
/// `WHATBREAKS_REDIS_URL`), or `default` when it is unset or empty. A value that is not
/// UTF-8 is an error naming the variable, never a silent fall-back to the default server.
pub fn backend_url(name: &str, default: &str) -> Result<String, ConfigError> {
    match std::env::var_os(name) {
        None => Ok(default.to_string()),
        Some(v) => match v.into_string() {
            Ok(u) if u.trim().is_empty() => Ok(default.to_string()),
            Ok(u) => Ok(u),
            Err(raw) => Err(ConfigError {
                variable: name.to_string(),
                value: raw.to_string_lossy().into_owned(),
                problem: "is not UTF-8; expected a URL".into(),
            }),
        },
    }
}

/// A variable cargo sets for builds and test runs (`CARGO_MANIFEST_DIR`, `CARGO_TARGET_DIR`,
/// `CARGO_PKG_NAME`), if set: with nextest's `NEXTEST_RUN_ID` ([`run_id`]), the only
/// variables outside `WHATBREAKS_*` whatbreaks reads.
pub fn cargo_var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name)
}

/// The directory report pages go to: `<target dir>/whatbreaks`.
///
/// The target directory is `CARGO_TARGET_DIR` when set, else the nearest ancestor of the
/// running executable that holds cargo's `CACHEDIR.TAG`, else `target` under
/// `CARGO_MANIFEST_DIR`, else the system's temporary directory.
pub fn report_dir() -> PathBuf {
    if let Some(dir) = cargo_var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("whatbreaks");
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(target) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return target.join("whatbreaks");
        }
    }
    if let Some(dir) = cargo_var("CARGO_MANIFEST_DIR") {
        return Path::new(&dir).join("target").join("whatbreaks");
    }
    std::env::temp_dir().join("whatbreaks")
}

/// The run this process belongs to, as the report index groups pages
/// ([`crate::report::index`]): nextest's `NEXTEST_RUN_ID`, else the parent process (cargo,
/// for `cargo test` and `cargo run`).
pub fn run_id() -> String {
    if let Some(id) = std::env::var_os("NEXTEST_RUN_ID") {
        return format!("nextest {}", id.to_string_lossy());
    }
    #[cfg(unix)]
    let parent = std::os::unix::process::parent_id();
    #[cfg(not(unix))]
    let parent = std::process::id();
    format!("cargo {parent}")
}

/// The settings every real-time scenario shares (the harnesses against real services and
/// the HTTP probes): one run, cut off at a wall-clock limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealTimeSettings {
    /// Wall-clock limit of the run (`WHATBREAKS_WATCHDOG` overrides it).
    pub limit: Duration,
    /// The seed of the run's own random choices (the probes' proptest cases), if any;
    /// `WHATBREAKS_SEED` overrides it. Real time itself is not replayable by seed.
    pub seed: Option<u64>,
}

impl RealTimeSettings {
    /// A wall-clock limit of `limit` and no seed.
    pub fn new(limit: Duration) -> Self {
        RealTimeSettings { limit, seed: None }
    }
}

impl Settings {
    /// Records the settings no run can use: zero seeds, runs or limits.
    pub fn check(&self, problems: &mut crate::scenario::Problems) {
        problems.at_least("seeds", u64::from(self.seeds), 1);
        problems.require(self.seeds <= MAX_SEEDS, "seeds", self.seeds, SEEDS_FORM);
        problems.at_least("iterations", u64::from(self.runs_per_seed), 1);
        let runs = u64::from(self.seeds) * u64::from(self.runs_per_seed);
        problems.require(
            runs <= MAX_RUNS,
            "iterations",
            self.runs_per_seed,
            format!("at most {MAX_RUNS} runs in all (seeds × iterations = {runs})"),
        );
        problems.positive("time_limit", self.time_limit);
        problems.positive("watchdog", self.watchdog);
    }

    /// The bound on runs, once the environment is applied: `Err` names `WHATBREAKS_SEEDS`
    /// when `seeds × iterations` would exceed [`MAX_RUNS`].
    pub fn check_runs(&self, env: &EnvOverrides) -> Result<(), ConfigError> {
        let runs = u64::from(self.seeds) * u64::from(self.runs_per_seed.max(1));
        match env.seeds {
            Some(n) if runs > MAX_RUNS => Err(ConfigError {
                variable: "WHATBREAKS_SEEDS".into(),
                value: n.to_string(),
                problem: format!(
                    "asks for {runs} runs ({n} seeds × {} iterations); at most {MAX_RUNS} runs in all: ask for at most {} seeds",
                    self.runs_per_seed.max(1),
                    MAX_RUNS / u64::from(self.runs_per_seed.max(1))
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Applies environment overrides (environment wins).
    pub fn with_env(mut self, env: &EnvOverrides) -> Self {
        if let Some(seed) = env.seed {
            self.seed = Some(seed);
            // A replay names one seed: run exactly that one unless more were asked for.
            self.seeds = env.seeds.unwrap_or(1);
            if env.seeds.is_none() {
                self.runs_per_seed = 1;
            }
        } else if let Some(n) = env.seeds {
            self.seeds = n;
        }
        if let Some(t) = env.time_limit {
            self.time_limit = t;
        }
        if let Some(w) = env.watchdog {
            self.watchdog = w;
        }
        self
    }

    /// The seeds to run, in order: the first seed, then seeds derived from it
    /// (`seeds × runs_per_seed` of them).
    pub fn seed_list(&self, first: u64) -> Vec<u64> {
        (0..u64::from(self.seeds) * u64::from(self.runs_per_seed.max(1)))
            .map(|i| {
                if i == 0 {
                    first
                } else {
                    splitmix64(first ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Result<EnvOverrides, ConfigError> {
        EnvOverrides::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn parses_known_variables() {
        let env = vars(&[
            ("WHATBREAKS_SEED", "0x5eed"),
            ("WHATBREAKS_SEEDS", "20"),
            ("WHATBREAKS_TIME_LIMIT", "10m"),
            ("PATH", "/bin"),
        ])
        .unwrap();
        assert_eq!(env.seed, Some(0x5eed));
        assert_eq!(env.seeds, Some(20));
        assert_eq!(env.time_limit, Some(Duration::from_secs(600)));
        assert!(env.unknown.is_empty());
    }

    #[test]
    fn bad_values_name_the_variable_and_the_form() {
        let e = vars(&[("WHATBREAKS_SEEDS", "many")]).unwrap_err();
        assert_eq!(e.variable, "WHATBREAKS_SEEDS");
        let text = e.to_string();
        assert!(text.contains("WHATBREAKS_SEEDS=\"many\""), "{text}");
        assert!(text.contains("whole number"), "{text}");
        let e = vars(&[("WHATBREAKS_TIME_LIMIT", "0")]).unwrap_err();
        assert!(e.to_string().contains("longer than zero"));
        let e = vars(&[("WHATBREAKS_SEED", "seed")]).unwrap_err();
        assert!(e.to_string().contains("0x-hex"));
        for bad in ["100000000", "+5", "0", "100001"] {
            let e = vars(&[("WHATBREAKS_SEEDS", bad)]).unwrap_err();
            assert!(e.to_string().contains("from 1 to 100000"), "{e}");
        }
        assert_eq!(
            vars(&[("WHATBREAKS_SEEDS", "100000")]).unwrap().seeds,
            Some(100_000)
        );
    }

    #[test]
    fn report_and_regressions_dir() {
        let env = vars(&[
            ("WHATBREAKS_REPORT", "1"),
            ("WHATBREAKS_REGRESSIONS_DIR", "off"),
        ])
        .unwrap();
        assert!(env.report);
        assert_eq!(env.regressions_dir, Some(None));
        let env = vars(&[("WHATBREAKS_REGRESSIONS_DIR", "/tmp/r")]).unwrap();
        assert_eq!(env.regressions_dir, Some(Some("/tmp/r".into())));
        let e = vars(&[("WHATBREAKS_REPORT", "yes")]).unwrap_err();
        assert!(e.to_string().contains("WHATBREAKS_REPORT"), "{e}");
    }

    #[test]
    fn unknown_names_are_collected() {
        let env = vars(&[("WHATBREAKS_SEDE", "1")]).unwrap();
        assert_eq!(env.unknown, vec!["WHATBREAKS_SEDE".to_string()]);
    }

    #[test]
    fn environment_wins_and_a_replayed_seed_runs_alone() {
        let s = Settings {
            seed: Some(1),
            seeds: 5,
            ..Settings::default()
        };
        let env = vars(&[("WHATBREAKS_SEED", "7")]).unwrap();
        let s = s.with_env(&env);
        assert_eq!((s.seed, s.seeds), (Some(7), 1));
        // Runs per seed multiply with more seeds, and collapse to one on a replay.
        let race = Settings {
            runs_per_seed: 50,
            ..Settings::default()
        };
        let more = vars(&[("WHATBREAKS_SEEDS", "3")]).unwrap();
        assert_eq!(race.clone().with_env(&more).seed_list(1).len(), 150);
        assert_eq!(race.with_env(&env).seed_list(7), vec![7]);
        let list = Settings {
            seeds: 3,
            ..Settings::default()
        }
        .seed_list(9);
        assert_eq!(list[0], 9);
        assert_eq!(list.len(), 3);
        assert_ne!(list[1], list[2]);
    }
}
