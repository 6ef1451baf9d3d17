//! What every scenario shares: running seeds, turning a run that did not finish into a
//! finding, and the common builder settings.

pub mod config;
pub mod regressions;

use crate::report::{Chart, Finding, FindingKind, Report, replay_line};
use crate::runtime::sim::{Run, RunLimits, describe_end};
use crate::scenario::config::{EnvOverrides, Settings, fresh_seed};
use std::time::{Duration, Instant};

/// What one seed of a scenario produced.
#[derive(Debug, Default)]
pub struct SeedResult {
    /// Findings, without seed and replay line (the driver fills them in).
    pub findings: Vec<Finding>,
    /// The headline number of this run.
    pub key_figure: String,
    /// Named figures of this run.
    pub figures: Vec<(String, String)>,
    /// Charts of this run, for the HTML report.
    pub charts: Vec<Chart>,
}

/// Runs `one` for each seed the settings (and the environment) ask for, and stops at the
/// first seed with findings.
///
/// `label` names the scenario on the start line (`whatbreaks: herd: seed 0x…`) and in the
/// report. Environment errors come back as a [`FindingKind::Config`] finding.
pub fn run_seeds(
    settings: &Settings,
    label: &str,
    mut one: impl FnMut(&RunLimits) -> SeedResult,
) -> Report {
    let started = Instant::now();
    let (settings, seeds, env) = match prepare(settings, label) {
        Ok(prepared) => prepared,
        Err(report) => return *report,
    };
    let mut report = Report {
        scenario: label.to_string(),
        ..Report::default()
    };
    for seed in seeds {
        let result = one(&limits(&settings, seed));
        report.seeds.push(seed);
        if absorb(&mut report, result, seed) {
            break;
        }
    }
    report.wall_time = started.elapsed();
    if env.report {
        crate::report::html::write_scenario_report(&report, label);
    }
    report
}

/// Like [`run_seeds`], for scenarios that run all their seeds inside one simulation (the race
/// explorer runs one schedule per seed). `all` gets the seed list and the limits of the first
/// seed, and returns its result with the seed that failed, if one did.
pub fn run_seeds_in_one(
    settings: &Settings,
    label: &str,
    all: impl FnOnce(&[u64], &RunLimits) -> (SeedResult, Option<u64>),
) -> Report {
    let started = Instant::now();
    let (settings, seeds, env) = match prepare(settings, label) {
        Ok(prepared) => prepared,
        Err(report) => return *report,
    };
    let (result, failed) = all(&seeds, &limits(&settings, seeds[0]));
    let upto = failed
        .and_then(|f| seeds.iter().position(|s| *s == f))
        .map_or(seeds.len(), |i| i + 1);
    let mut report = Report {
        scenario: label.to_string(),
        seeds: seeds[..upto].to_vec(),
        ..Report::default()
    };
    absorb(&mut report, result, failed.unwrap_or(seeds[0]));
    report.wall_time = started.elapsed();
    if env.report {
        crate::report::html::write_scenario_report(&report, label);
    }
    report
}

fn limits(settings: &Settings, seed: u64) -> RunLimits {
    RunLimits {
        seed,
        time_limit: settings.time_limit,
        watchdog: settings.watchdog,
    }
}

/// Reads the environment, prints the seed line, and lists the seeds to run (seeds saved by
/// an earlier failure first, see [`crate::scenario::regressions`]); a bad environment comes back as a
/// report with a [`FindingKind::Config`] finding.
fn prepare(
    settings: &Settings,
    label: &str,
) -> Result<(Settings, Vec<u64>, EnvOverrides), Box<Report>> {
    let env = EnvOverrides::from_env().map_err(|e| {
        let mut f = Finding::bug("configuration", e.to_string());
        f.kind = FindingKind::Config;
        f.fix = format!("set {} to a valid value, or unset it", e.variable);
        Box::new(Report {
            scenario: label.to_string(),
            findings: vec![f],
            ..Report::default()
        })
    })?;
    env.warn_unknown();
    let settings = settings.clone().with_env(&env);
    let first = settings.seed.unwrap_or_else(fresh_seed);
    let mut seeds = settings.seed_list(first);
    if !env.quiet {
        eprintln!(
            "whatbreaks: {label}: seed {first:#x}{} (replay: WHATBREAKS_SEED={first:#x})",
            if seeds.len() > 1 {
                format!(" and {} derived seed(s)", seeds.len() - 1)
            } else {
                String::new()
            }
        );
    }
    // An explicit `WHATBREAKS_SEED` replays exactly that seed.
    if env.seed.is_none() {
        let (saved, file) = crate::scenario::regressions::saved_seeds(&env);
        if let (false, Some(file)) = (saved.is_empty(), file) {
            if !env.quiet {
                eprintln!(
                    "whatbreaks: {label}: replaying {} saved seed(s) from {} first",
                    saved.len(),
                    file.display()
                );
            }
            seeds = crate::scenario::regressions::replay_first(&saved, seeds);
        }
    }
    Ok((settings, seeds, env))
}

/// Takes one seed's result into the report; true when it had findings (stop there).
fn absorb(report: &mut Report, result: SeedResult, seed: u64) -> bool {
    report.key_figure = result.key_figure;
    report.figures = result.figures;
    report.charts = result.charts;
    if result.findings.is_empty() {
        return false;
    }
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
    true
}

/// Findings for a run that did not finish or whose clients panicked.
///
/// `scenario` is the scenario line of the detector (without the seed).
pub fn harness_findings<T>(run: &Run<T>, limits: &RunLimits, scenario: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some((verdict, evidence, fix)) = describe_end(run, limits) {
        let pattern = match run.end {
            crate::runtime::sim::RunEnd::TimeLimit => "time limit",
            crate::runtime::sim::RunEnd::Watchdog { .. } => "watchdog",
            _ => "scenario panic",
        };
        let mut f = Finding::bug(pattern, verdict);
        f.kind = FindingKind::Harness;
        f.scenario = scenario.to_string();
        f.evidence = evidence;
        // A wait on the real clock looks like a deadlock or an endless loop here.
        if run.end == crate::runtime::sim::RunEnd::TimeLimit {
            f.evidence.push(REAL_CLOCK_LOOP.into());
        }
        f.fix = fix;
        out.push(f);
    }
    if !run.panics.is_empty() {
        let mut f = Finding::bug(
            "client panic",
            format!("{} client(s) panicked", run.panics.len()),
        );
        f.kind = FindingKind::Harness;
        f.scenario = scenario.to_string();
        f.evidence = run
            .panics
            .iter()
            .map(|p| {
                format!(
                    "client #{} at t={}: {}",
                    p.client,
                    crate::spec::format_duration(p.at),
                    p.message
                )
            })
            .collect();
        f.fix = "a panic inside the code under test: see the first message (the panic's location is printed above it)".into();
        out.push(f);
    }
    out
}

/// The hint for a loop that waits for the real clock to pass a deadline.
pub const REAL_CLOCK_LOOP: &str = "if a loop waits for `std::time::Instant::now()` or `SystemTime::now()` to pass a deadline, it never will: only the virtual clock moves here; read `tokio::time::Instant::now()` or `whatbreaks::clock::system_now()` instead";

/// The warning for a run in which virtual time advanced but the code under test did nothing
/// whatbreaks can see (`count` of `what` is zero): the usual cause is code that waits on the
/// real clock (`std::time::Instant`, `SystemTime::now()`, `chrono::Utc::now()`, a
/// `std::thread::sleep`), which virtual time does not move. `None` when there is nothing to say.
pub fn real_clock_hint(virtual_elapsed: Duration, count: usize, what: &str) -> Option<String> {
    (count == 0 && !virtual_elapsed.is_zero()).then(|| {
        format!(
            "virtual time advanced to t={} but the code under test made no {what}: if it waits for the real clock (`std::time::Instant::now()`, `SystemTime::now()`, `chrono::Utc::now()`, `std::thread::sleep`), virtual time never moves it; read `tokio::time::Instant::now()` / `whatbreaks::clock::system_now()` and sleep with `tokio::time::sleep`",
            crate::spec::format_duration(virtual_elapsed)
        )
    })
}

/// Prints [`real_clock_hint`] as a warning on stderr (never fails the test: the code may
/// simply have had nothing to do), and returns it.
pub fn warn_real_clock(
    label: &str,
    virtual_elapsed: Duration,
    count: usize,
    what: &str,
) -> Option<String> {
    let hint = real_clock_hint(virtual_elapsed, count, what)?;
    eprintln!("whatbreaks: warning: {label}: {hint}");
    Some(hint)
}

/// Adds the settings every scenario has (`seed`, `seeds`, `time_limit`, `watchdog`) as
/// builder methods to a type with a `settings: Settings` field.
#[macro_export]
#[doc(hidden)]
macro_rules! impl_common_settings {
    ($ty:ty) => {
        impl $ty {
            /// Runs this seed first (`WHATBREAKS_SEED` overrides it).
            pub fn seed(mut self, seed: u64) -> Self {
                self.settings.seed = Some(seed);
                self
            }
            /// Runs this many seeds: the first, then seeds derived from it
            /// (`WHATBREAKS_SEEDS` overrides it).
            pub fn seeds(mut self, seeds: u32) -> Self {
                self.settings.seeds = seeds.max(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_runs_point_at_the_virtual_clock() {
        let hint = real_clock_hint(Duration::from_secs(3_600), 0, "effect").unwrap();
        assert!(hint.contains("t=60m"), "{hint}");
        assert!(hint.contains("SystemTime::now()"), "{hint}");
        assert!(hint.contains("whatbreaks::clock::system_now()"), "{hint}");
        assert_eq!(real_clock_hint(Duration::from_secs(1), 3, "effect"), None);
        assert_eq!(real_clock_hint(Duration::ZERO, 0, "effect"), None);
    }
}
