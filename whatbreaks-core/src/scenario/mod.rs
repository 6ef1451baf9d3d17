//! The one way to run any scenario: settings, validation, environment, seeds, regressions,
//! limits, the real-clock check, HTML and the report.
//!
//! Every scenario kind implements [`Scenario`]: the simulated detectors (seeded, on virtual
//! time), the real-time harnesses against real services, and the HTTP probes. [`run`] is the
//! only run path; it
//! 1. reads `WHATBREAKS_*` ([`config`]); a bad value is a [`crate::report::FindingKind::Config`] finding
//!    naming the variable;
//! 2. asks the scenario to [`check`](Scenario::check) its settings; every bad or
//!    contradictory value is listed in one configuration finding that names the knob, the
//!    value and the accepted form (a builder never panics on a value a user passes);
//! 3. lists the seeds (seeds saved by an earlier failure first, [`regressions`]) and prints
//!    the seed line, for simulated scenarios; real-time scenarios run once, unseeded;
//! 4. runs the seeds ([`Scenario::run_seeds`]: one seed at a time by default, stopping at the
//!    first with findings; the race explorer runs them all in one simulation);
//! 5. gives each finding its seed and replay line, adds a configuration finding when the
//!    run's premise never happened ([`premise_finding`]), and writes the HTML page when
//!    `WHATBREAKS_REPORT=1`.

pub mod config;
pub mod harness;
pub mod regressions;

pub use harness::{
    REAL_CLOCK_LOOP, harness_findings, premise_finding, premise_fix, real_clock_hint,
};

use crate::report::{Chart, Finding, Report};
use crate::runtime::sim::RunLimits;
use config::{ConfigError, EnvOverrides, RealTimeSettings, Settings, fresh_seed};
use std::fmt;
use std::time::{Duration, Instant};

/// What one seed of a scenario produced.
#[derive(Debug, Default)]
pub struct SeedResult {
    /// Findings, without seed and replay line (the run path fills them in).
    pub findings: Vec<Finding>,
    /// The headline number of this run.
    pub key_figure: String,
    /// Named figures of this run.
    pub figures: Vec<(String, String)>,
    /// Charts of this run, for the HTML report.
    pub charts: Vec<Chart>,
    /// What the code under test did that whatbreaks can see, for the real-clock warning:
    /// virtual time elapsed, how many of `what` happened (calls, loads, effects), and `what`.
    pub activity: Option<Activity>,
}

/// What a run did that whatbreaks can see (see [`SeedResult::activity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Virtual time the run took.
    pub virtual_elapsed: Duration,
    /// How many `what` the code under test made.
    pub count: usize,
    /// What was counted, singular (`"upstream call"`, `"database load"`, `"effect"`).
    pub what: &'static str,
}

/// How a scenario's runs are timed, and the settings that go with it.
#[derive(Clone, Copy, Debug)]
pub enum Timing<'a> {
    /// On virtual time, seeded and replayable: the detectors.
    Simulated(&'a Settings),
    /// On real clocks against real services, or over a service's own interface: one run,
    /// cut off at a wall-clock limit; the real-time harnesses and the probes.
    RealTime(&'a RealTimeSettings),
}

/// One bad or contradictory setting: the knob, the value given, and the accepted form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The builder method and attribute key, e.g. `min_rounds`.
    pub knob: String,
    /// The value given, as the user wrote it (`Debug` form).
    pub value: String,
    /// What is wrong, with the accepted form, e.g. `expected a whole number of at least 1`.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {} cannot be used: {}",
            self.knob, self.value, self.problem
        )
    }
}

/// The problems [`Scenario::check`] found: bad knob values, and set-up the run needs but
/// this binary lacks (the counting allocator).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>, Option<Finding>);

impl Problems {
    /// Records that `knob` has the unusable `value`; `expected` is the accepted form.
    pub fn push(&mut self, knob: &str, value: impl fmt::Debug, expected: impl Into<String>) {
        self.invalid(knob, value, format!("expected {}", expected.into()));
    }

    /// Records that `knob` has the unusable `value`; `problem` says why, with the accepted
    /// form (a grammar's own message).
    pub fn invalid(&mut self, knob: &str, value: impl fmt::Debug, problem: impl Into<String>) {
        self.0.push(Problem {
            knob: knob.to_string(),
            value: format!("{value:?}"),
            problem: problem.into(),
        });
    }

    /// Records a problem unless `ok`.
    pub fn require(
        &mut self,
        ok: bool,
        knob: &str,
        value: impl fmt::Debug,
        expected: impl Into<String>,
    ) {
        if !ok {
            self.push(knob, value, expected);
        }
    }

    /// Records a whole number below `min`.
    pub fn at_least(&mut self, knob: &str, value: u64, min: u64) {
        self.require(
            value >= min,
            knob,
            value,
            format!("a whole number of at least {min}"),
        );
    }

    /// Records a number outside `[min, max]` (or not a number).
    pub fn within(&mut self, knob: &str, value: f64, min: f64, max: f64) {
        self.require(
            value.is_finite() && (min..=max).contains(&value),
            knob,
            value,
            format!("a number from {min} to {max}"),
        );
    }

    /// Records a window whose end is not after its start.
    pub fn window(&mut self, knob: &str, window: &std::ops::Range<Duration>) {
        self.require(
            window.start < window.end,
            knob,
            window,
            format!(
                "a window that ends after it starts: {}",
                crate::spec::WINDOW_FORM
            ),
        );
    }

    /// Records a zero duration where a positive one is needed.
    pub fn positive(&mut self, knob: &str, value: Duration) {
        self.require(
            !value.is_zero(),
            knob,
            value,
            format!(
                "a duration longer than zero: {}",
                crate::spec::DURATION_FORM
            ),
        );
    }

    /// Records that the run cannot happen in this binary (a configuration finding with its
    /// own evidence and fix, e.g. the counting allocator is not installed).
    pub fn setup(&mut self, finding: Finding) {
        self.1.get_or_insert(finding);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_none()
    }

    /// The problems, in the order found.
    pub fn list(&self) -> &[Problem] {
        &self.0
    }

    /// The configuration finding that lists every problem (the set-up finding when there is
    /// no knob problem).
    pub fn finding(&self, scenario: String) -> Finding {
        if let (true, Some(setup)) = (self.0.is_empty(), &self.1) {
            return setup.clone().with_scenario(scenario);
        }
        Finding::config(
            self.0
                .iter()
                .map(Problem::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
        .with_scenario(scenario)
        .with_evidence(self.0.iter().map(Problem::to_string).collect())
        .with_fix(format!(
            "fix {}: each message names the form it expects (the attribute rejects the same values at compile time)",
            self.0
                .iter()
                .map(|p| format!("`{}`", p.knob))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// A scenario that [`run`] can run: every detector, real-time harness and probe.
///
/// `B` is the body the user passes (one client's work, one instance's main, a handler).
/// Implementations hold the scenario's settings and knobs; the run path does the rest.
pub trait Scenario<B> {
    /// The name on the seed line and in the report, e.g. `"herd"`.
    fn label(&self) -> String;

    /// How the runs are timed, with the settings that go with it.
    fn timing(&self) -> Timing<'_>;

    /// The scenario line of findings (clients, faults), without the seed.
    fn describe(&self) -> String;

    /// Records every bad or contradictory setting (the default finds none).
    fn check(&self, problems: &mut Problems) {
        let _ = problems;
    }

    /// Runs one seed (or the one real-time run) and analyses it.
    fn run_one(&self, limits: &RunLimits, body: &B) -> SeedResult;

    /// Runs the seeds in order and returns the seeds that ran with the result to report:
    /// by default one [`run_one`](Scenario::run_one) per seed, stopping at the first seed
    /// with findings. A scenario that runs every seed in one simulation (the race explorer)
    /// overrides it.
    fn run_seeds(&self, seeds: &[u64], limits: &dyn Fn(u64) -> RunLimits, body: &B) -> Seeds {
        let mut ran = Vec::new();
        let mut last = SeedResult::default();
        for &seed in seeds {
            last = self.run_one(&limits(seed), body);
            ran.push(seed);
            if !last.findings.is_empty() {
                break;
            }
        }
        Seeds { ran, result: last }
    }
}

/// The seeds that ran, in order, and the result of the last one (the failing one, if any).
#[derive(Debug, Default)]
pub struct Seeds {
    /// Seeds that ran.
    pub ran: Vec<u64>,
    /// The result of the last seed that ran.
    pub result: SeedResult,
}

/// Runs `scenario` with `body` through the one run path (see the module docs); never panics.
pub fn run<S: Scenario<B>, B>(scenario: &S, body: B) -> Report {
    let started = Instant::now();
    let label = scenario.label();
    let env = match EnvOverrides::from_env() {
        Ok(env) => env,
        Err(e) => return Report::stopped(label, env_finding(&e)),
    };
    env.warn_unknown();
    let mut problems = Problems::default();
    if let Timing::Simulated(settings) = scenario.timing() {
        settings.check(&mut problems);
    }
    scenario.check(&mut problems);
    if !problems.is_empty() {
        return Report::stopped(label, problems.finding(scenario.describe()));
    }
    let mut report = Report::new(label.clone());
    match scenario.timing() {
        Timing::Simulated(settings) => {
            let settings = settings.clone().with_env(&env);
            if let Err(e) = settings.check_runs(&env) {
                return Report::stopped(label, env_finding(&e));
            }
            let seeds = seed_list(&settings, &env, &label);
            let limits = |seed| RunLimits {
                seed,
                time_limit: settings.time_limit,
                watchdog: settings.watchdog,
            };
            let Seeds { ran, result } = scenario.run_seeds(&seeds, &limits, &body);
            let seed = ran.last().copied().unwrap_or(seeds[0]);
            report.seeds = ran;
            absorb(&mut report, result, Some(seed));
        }
        Timing::RealTime(settings) => {
            let limit = env.watchdog.unwrap_or(settings.limit);
            let seed = env.seed.or(settings.seed).unwrap_or(0);
            let result = scenario.run_one(
                &RunLimits {
                    seed,
                    time_limit: limit,
                    watchdog: limit,
                },
                &body,
            );
            absorb(&mut report, result, None);
        }
    }
    report.wall_time = started.elapsed();
    if env.report && !PAGES_OFF.get() {
        crate::report::html::write_scenario_report(
            &config::report_dir(),
            &config::run_id(),
            &report,
            &label,
        );
    }
    report
}

thread_local! {
    /// Set while a caller that writes one page for many scenarios runs them.
    static PAGES_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the scenarios it runs on this thread writing no HTML page of their own under
/// `WHATBREAKS_REPORT=1`: the caller writes one page for all of them (the audit's table, with
/// every break's findings and charts).
pub fn without_pages<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            PAGES_OFF.set(self.0);
        }
    }
    let _restore = Restore(PAGES_OFF.replace(true));
    f()
}

/// The configuration finding of a bad `WHATBREAKS_*` variable.
fn env_finding(e: &ConfigError) -> Finding {
    Finding::config(e.to_string())
        .with_fix(format!("set {} to a valid value, or unset it", e.variable))
}

/// Lists the seeds to run (seeds saved by an earlier failure first, see [`regressions`]) and
/// prints the seed line.
fn seed_list(settings: &Settings, env: &EnvOverrides, label: &str) -> Vec<u64> {
    let first = settings.seed.unwrap_or_else(fresh_seed);
    let mut seeds = settings.seed_list(first);
    if !env.quiet {
        crate::report::notes::note(format!(
            "whatbreaks: {label}: seed {first:#x}{} (replay: WHATBREAKS_SEED={first:#x})",
            if seeds.len() > 1 {
                format!(" and {} derived seed(s)", seeds.len() - 1)
            } else {
                String::new()
            }
        ));
    }
    // An explicit `WHATBREAKS_SEED` replays exactly that seed.
    if env.seed.is_none() {
        let (saved, file) = regressions::saved_seeds(env);
        if let (false, Some(file)) = (saved.is_empty(), file) {
            if !env.quiet {
                crate::report::notes::note(format!(
                    "whatbreaks: {label}: replaying {} saved seed(s) from {} first",
                    saved.len(),
                    file.display()
                ));
            }
            seeds = regressions::replay_first(&saved, seeds);
        }
    }
    seeds
}

/// Takes the reported result into the report: the findings get their seed and replay line
/// (`seed` is `None` for an unseeded real-time run), and a run in which virtual time moved
/// but the code under test did nothing whatbreaks can see gets a configuration finding (its
/// premise never happened; see [`premise_finding`]).
fn absorb(report: &mut Report, mut result: SeedResult, seed: Option<u64>) {
    if let Some(a) = &result.activity
        && let Some(f) = premise_finding(a.virtual_elapsed, a.count, a.what)
    {
        result.findings.push(f);
    }
    report.key_figure = result.key_figure;
    report.figures = result.figures;
    report.charts = result.charts;
    let Some(seed) = seed else {
        report.findings = result.findings;
        return;
    };
    let replay = replay_line(seed);
    report.findings = result
        .findings
        .into_iter()
        .map(|mut f| {
            f.seed = seed;
            if f.replay.is_empty() {
                f.replay = replay.clone();
            }
            f.scenario = if f.scenario.is_empty() {
                format!("seed {seed:#x}")
            } else {
                format!("{}, seed {seed:#x}", f.scenario)
            };
            f
        })
        .collect();
}

/// The line that replays a seed, for the test that is running on the calling thread.
///
/// Inside `cargo test` the harness names each test's thread after the test's path, and the
/// executable is `target/…/deps/<binary>-<hash>`; from those the line names the exact test:
/// `WHATBREAKS_SEED=0x2a cargo test -p app --test herd -- retry::no_jitter --exact`.
/// Elsewhere (an example, a tool) it says what to set.
pub fn replay_line(seed: u64) -> String {
    let env = format!("WHATBREAKS_SEED={seed:#x}");
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let in_examples = exe.as_ref().is_some_and(|p| {
        p.parent()
            .and_then(|d| d.file_name())
            .is_some_and(|d| d == "examples")
    });
    let pkg = config::cargo_var("CARGO_PKG_NAME").and_then(|v| v.into_string().ok());
    let package = pkg
        .as_deref()
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    if in_examples {
        return format!(
            "{env} cargo run{package} --example {}",
            crate::report::strip_hash(&stem)
        );
    }
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main");
    match test {
        Some(test) => {
            let binary = crate::report::strip_hash(&stem);
            let target = if pkg.as_deref().map(|p| p.replace('-', "_")).as_deref() == Some(binary) {
                "--lib".to_string()
            } else {
                format!("--test {binary}")
            };
            format!("{env} cargo test{package} {target} -- {test} --exact")
        }
        None => format!("{env} (rerun the same command with this variable set)"),
    }
}

/// Adds the settings every simulated scenario has (`seed`, `seeds`, `time_limit`,
/// `watchdog`) as builder methods to a type with a `settings: Settings` field. Values are
/// checked when the scenario runs ([`Settings::check`]), never clamped.
macro_rules! impl_common_settings {
    ($ty:ty) => {
        impl $ty {
            /// Runs this seed first (`WHATBREAKS_SEED` overrides it).
            pub fn seed(mut self, seed: u64) -> Self {
                self.settings.seed = Some(seed);
                self
            }
            /// Runs this many seeds (at least 1): the first, then seeds derived from it
            /// (`WHATBREAKS_SEEDS` overrides it).
            pub fn seeds(mut self, seeds: u32) -> Self {
                self.settings.seeds = seeds;
                self
            }
            /// Virtual-time limit of one run (default 1 h; `WHATBREAKS_TIME_LIMIT`).
            pub fn time_limit(mut self, limit: ::std::time::Duration) -> Self {
                self.settings.time_limit = limit;
                self
            }
            /// Wall-clock limit of one run (default 60 s; `WHATBREAKS_WATCHDOG`).
            pub fn watchdog(mut self, limit: ::std::time::Duration) -> Self {
                self.settings.watchdog = limit;
                self
            }
        }
    };
}
pub(crate) use impl_common_settings;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FindingKind;

    struct Counting {
        settings: Settings,
        fail_on: Option<u64>,
    }

    impl Scenario<()> for Counting {
        fn label(&self) -> String {
            "counting".into()
        }
        fn timing(&self) -> Timing<'_> {
            Timing::Simulated(&self.settings)
        }
        fn describe(&self) -> String {
            "a test scenario".into()
        }
        fn check(&self, problems: &mut Problems) {
            problems.require(self.fail_on != Some(0), "fail_on", 0, "not zero");
        }
        fn run_one(&self, limits: &RunLimits, _: &()) -> SeedResult {
            let mut r = SeedResult {
                key_figure: format!("seed {:#x}", limits.seed),
                ..SeedResult::default()
            };
            if self.fail_on == Some(limits.seed) {
                r.findings.push(Finding::bug("test", "broke"));
            }
            r
        }
    }

    fn counting(seeds: u32, fail_on: Option<u64>) -> Counting {
        Counting {
            settings: Settings {
                seed: Some(7),
                seeds,
                ..Settings::default()
            },
            fail_on,
        }
    }

    #[test]
    fn replay_names_the_test() {
        let line = replay_line(0x2a);
        assert!(
            line.starts_with("WHATBREAKS_SEED=0x2a cargo test"),
            "{line}"
        );
        assert!(line.contains("--lib"), "{line}");
        assert!(
            line.ends_with("scenario::tests::replay_names_the_test --exact"),
            "{line}"
        );
    }

    #[test]
    fn stops_at_the_first_failing_seed_and_gives_findings_their_seed() {
        let r = run(&counting(3, Some(7)), ());
        assert_eq!(r.seeds, vec![7]);
        assert_eq!(r.findings[0].seed, 7);
        assert_eq!(r.findings[0].scenario, "seed 0x7");
        assert!(r.findings[0].replay.contains("WHATBREAKS_SEED=0x7"));
        let clean = run(&counting(3, None), ());
        assert_eq!(clean.seeds.len(), 3);
        assert!(clean.is_clean());
    }

    #[test]
    fn bad_settings_are_one_configuration_finding_naming_each_knob() {
        let r = run(&counting(0, Some(0)), ());
        assert_eq!(r.findings.len(), 1);
        let f = &r.findings[0];
        assert_eq!(f.kind, FindingKind::Config);
        assert!(f.verdict.contains("`seeds` = 0"), "{}", f.verdict);
        assert!(f.verdict.contains("`fail_on` = 0"), "{}", f.verdict);
        assert!(f.fix.contains("`seeds`, `fail_on`"), "{}", f.fix);
        assert!(r.seeds.is_empty(), "nothing ran");
    }
}
