//! Check-then-act races: a body run once per explored schedule, until an invariant breaks.
//!
//! [`RaceTest`] runs a body once per schedule, each with its own seed, all on one simulation
//! thread, and stops at the first schedule whose body panics (an `assert!` is the invariant).
//! The futures raced with [`join!`](crate::join), [`join_all`] or [`spawn`] are driven by the
//! schedule explorer ([`crate::runtime::explorer`]): at every await point where more than one
//! of them is ready to run, the seed chooses which one runs next (random, PCT or FIFO order,
//! see [`Mode`]). Simulated components record what each task did ([`record`]), so a failure
//! shows the interleaving that broke as a trace.

use crate::report::{Finding, Report};
pub use crate::runtime::explorer::{
    Child, JoinHandle, Mode, TraceEvent, current_task, exploring, join_all, record, spawn,
    yield_point,
};
use crate::runtime::explorer::{begin_schedule, end_schedule, run_root};
use crate::runtime::sim;
use crate::runtime::sim::RunLimits;
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Seeds, Timing, harness_findings};
use crate::spec::format_duration;
use futures::FutureExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The pattern name of race findings.
pub const PATTERN: &str = "check-then-act race";

/// Default number of schedules a [`RaceTest`] explores.
pub const DEFAULT_SCHEDULES: u32 = 1_000;

/// A check-then-act race scenario (builder). `#[race_test]` is sugar over it.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use whatbreaks_core::detectors::race::{RaceTest, yield_point};
///
/// // Read, await, write: a lost update when the two tasks interleave.
/// let report = RaceTest::new().iterations(100).seed(1).run(|| async {
///     let counter = Rc::new(Cell::new(0));
///     let add = |c: Rc<Cell<i32>>| async move {
///         let v = c.get();
///         yield_point().await;
///         c.set(v + 1);
///     };
///     whatbreaks_core::join!(add(counter.clone()), add(counter.clone()));
///     assert_eq!(counter.get(), 2, "lost update");
/// });
/// assert!(report.flagged("check-then-act race"));
/// ```
#[derive(Clone, Debug)]
pub struct RaceTest {
    settings: Settings,
    /// The mode, or the unknown name given (reported by `check`).
    mode: Result<Mode, String>,
}

crate::scenario::impl_common_settings!(RaceTest);

impl Default for RaceTest {
    fn default() -> Self {
        Self::new()
    }
}

/// How a failing schedule failed.
#[derive(Debug)]
enum Failure {
    Panic(String),
    Stuck,
}

impl RaceTest {
    /// 1000 schedules, random mode, a 1 h virtual-time limit per schedule.
    pub fn new() -> Self {
        RaceTest {
            settings: Settings {
                runs_per_seed: DEFAULT_SCHEDULES,
                ..Settings::default()
            },
            mode: Ok(Mode::Random),
        }
    }

    /// How many schedules to explore per seed, each with its own derived seed (default 1000).
    ///
    /// `WHATBREAKS_SEEDS=n` (or `.seeds(n)`) explores `n × iterations`; a replay
    /// (`WHATBREAKS_SEED` alone) runs exactly the one schedule it names.
    pub fn iterations(mut self, schedules: u32) -> Self {
        self.settings.runs_per_seed = schedules;
        self
    }

    /// Old name of [`iterations`](Self::iterations) (0.1).
    #[deprecated(since = "0.2.0", note = "renamed `iterations`")]
    pub fn schedules(self, schedules: u32) -> Self {
        self.iterations(schedules)
    }

    /// `"random"` (default), `"pct"` or `"fifo"`; any other name is reported as a
    /// configuration finding when the test runs (the attribute rejects it at compile time).
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = Mode::parse(mode).ok_or_else(|| mode.to_string());
        self
    }

    /// The mode as a value (for PCT with another depth).
    pub fn explore(mut self, mode: Mode) -> Self {
        self.mode = Ok(mode);
        self
    }

    /// Runs the body once per schedule and returns the report; never panics.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }
}

impl<B, Fut> Scenario<Arc<B>> for RaceTest
where
    B: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "race".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        match &self.mode {
            Ok(mode) => format!("{} mode", mode.name()),
            Err(_) => "race".into(),
        }
    }
    fn check(&self, p: &mut Problems) {
        if let Err(name) = &self.mode {
            p.push("mode", name, "\"random\", \"pct\" or \"fifo\"");
        }
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seeds(&[limits.seed], &|_| limits.clone(), body)
            .result
    }

    /// Every schedule runs in one simulation, one after the other, until one breaks.
    fn run_seeds(&self, seeds: &[u64], limits: &dyn Fn(u64) -> RunLimits, body: &Arc<B>) -> Seeds {
        let Ok(mode) = self.mode else {
            return Seeds::default();
        };
        let time_limit = self.settings.time_limit;
        let all = seeds.to_vec();
        let schedules = seeds.len() as u32;
        // The time limit is each schedule's (every schedule starts at virtual time zero);
        // the run as a whole may take one limit per schedule.
        let mut limits = limits(seeds[0]);
        limits.time_limit = time_limit.saturating_mul(schedules.max(1));
        let body = body.clone();
        let run = sim::simulate(&limits, move || async move {
            let mut tried = 0usize;
            for seed in all {
                tried += 1;
                begin_schedule(seed, mode);
                let fut: Pin<Box<dyn Future<Output = ()>>> = Box::pin((*body)());
                let outcome = tokio::time::timeout(
                    time_limit,
                    std::panic::AssertUnwindSafe(run_root(fut)).catch_unwind(),
                )
                .await;
                let trace = end_schedule();
                match outcome {
                    Ok(Ok(())) => continue,
                    Ok(Err(p)) => {
                        return (
                            tried,
                            Some((seed, Failure::Panic(sim::panic_message(&*p)), trace)),
                        );
                    }
                    Err(_) => return (tried, Some((seed, Failure::Stuck, trace))),
                }
            }
            (tried, None)
        });
        let scenario = format!("{} mode", mode.name());
        let mut findings = harness_findings(&run, &limits, &scenario);
        let (tried, failure) = run.value.unwrap_or((0, None));
        let mut result = SeedResult {
            key_figure: format!("{tried} schedules explored, invariant held"),
            figures: vec![("schedules".into(), tried.to_string())],
            ..SeedResult::default()
        };
        let failed_seed = failure.as_ref().map(|(s, _, _)| *s);
        if let Some((_, failure, trace)) = failure {
            result.key_figure = format!("invariant broken in schedule {tried} of {schedules}");
            findings.insert(
                0,
                finding(&failure, &trace, tried, schedules, mode, time_limit),
            );
        }
        result.findings = findings;
        let upto = failed_seed
            .and_then(|f| seeds.iter().position(|s| *s == f))
            .map_or(seeds.len(), |i| i + 1);
        Seeds {
            ran: seeds[..upto].to_vec(),
            result,
        }
    }
}

/// Lines of trace shown in a finding.
const MAX_TRACE: usize = 24;

fn finding(
    failure: &Failure,
    trace: &[TraceEvent],
    tried: usize,
    schedules: u32,
    mode: Mode,
    time_limit: Duration,
) -> Finding {
    let (verdict, first) = match failure {
        Failure::Panic(m) => (
            "an invariant failed under an explored interleaving",
            format!("invariant: {m}"),
        ),
        Failure::Stuck => (
            "the tasks deadlocked under an explored interleaving",
            format!(
                "no task could make progress; the schedule hit its {} limit",
                format_duration(time_limit)
            ),
        ),
    };
    let mut f = Finding::bug(PATTERN, verdict);
    f.scenario = format!("schedule {tried} of {schedules} ({} mode)", mode.name());
    f.evidence = vec![
        first,
        format!(
            "found in schedule {tried} of {schedules}: each schedule is one interleaving; a plain tokio test runs only its FIFO one"
        ),
        format!(
            "{} recorded operations in the failing interleaving",
            trace.len()
        ),
    ];
    if !trace.is_empty() {
        let mut lines: Vec<String> = trace
            .iter()
            .take(MAX_TRACE)
            .map(|e| {
                format!(
                    "{:>8}  {:<5} {}",
                    format!("t={}", format_duration(e.at)),
                    e.task,
                    e.op
                )
            })
            .collect();
        if trace.len() > MAX_TRACE {
            lines.push(format!("… {} more operations", trace.len() - MAX_TRACE));
        }
        f.picture = Some(("trace".into(), lines.join("\n")));
    }
    f.fix = "make the check and the act one atomic step: a unique constraint with ON CONFLICT DO NOTHING, SELECT … FOR UPDATE inside a transaction, or one lock held across both".into();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    async fn add(c: Rc<Cell<i32>>) {
        let v = c.get();
        record(format!("read {v}"));
        yield_point().await;
        c.set(v + 1);
        record(format!("write {}", v + 1));
    }

    #[test]
    fn random_and_pct_find_a_lost_update_that_fifo_misses() {
        let body = || async {
            let c = Rc::new(Cell::new(0));
            crate::join!(add(c.clone()), add(c.clone()));
            assert_eq!(c.get(), 2, "lost update");
        };
        let fifo = RaceTest::new()
            .iterations(50)
            .seed(1)
            .mode("fifo")
            .run(body);
        // Tokio's FIFO order alternates at every await (read, read, write, write), so this
        // simple lost update shows even there; the integration tests have one that FIFO hides.
        assert!(fifo.flagged(PATTERN), "{fifo}");
        for mode in ["random", "pct"] {
            let r = RaceTest::new().iterations(50).seed(1).mode(mode).run(body);
            r.assert_flagged(PATTERN);
            let text = r.render();
            assert!(text.contains("trace"), "{text}");
            assert!(
                text.contains("t0    read 0") || text.contains("t1    read 0"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_mutex_guarded_update_passes() {
        let r = RaceTest::new().iterations(200).seed(2).run(|| async {
            let c = Rc::new(tokio::sync::Mutex::new(0));
            let add = |c: Rc<tokio::sync::Mutex<i32>>| async move {
                let mut g = c.lock().await;
                let v = *g;
                yield_point().await;
                *g = v + 1;
            };
            crate::join!(add(c.clone()), add(c.clone()), add(c.clone()));
            assert_eq!(*c.lock().await, 3);
        });
        assert!(r.is_clean(), "{r}");
        // 200 schedules, or more under `WHATBREAKS_SEEDS`: every one of them ran.
        assert_eq!(
            r.figure("schedules"),
            Some(r.seeds.len().to_string().as_str())
        );
        assert!(r.seeds.len() >= 200);
    }

    #[test]
    fn spawned_tasks_are_explored_and_joinable() {
        let r = RaceTest::new().iterations(100).seed(3).run(|| async {
            let c = Rc::new(Cell::new(0));
            let a = spawn(add(c.clone()));
            let b = spawn(add(c.clone()));
            a.await;
            b.await;
            assert_eq!(c.get(), 2);
        });
        r.assert_flagged(PATTERN);
    }

    #[test]
    fn join_all_returns_outputs_in_order() {
        let r = RaceTest::new().iterations(20).seed(4).run(|| async {
            let out = join_all((0..5).map(|i| async move {
                yield_point().await;
                i * 10
            }))
            .await;
            assert_eq!(out, vec![0, 10, 20, 30, 40]);
        });
        assert!(r.is_clean(), "{r}");
    }

    #[test]
    fn a_deadlock_in_a_schedule_is_reported() {
        let r = RaceTest::new()
            .iterations(5)
            .seed(5)
            .time_limit(Duration::from_secs(5))
            .run(|| async {
                let gate = Rc::new(tokio::sync::Semaphore::new(0));
                let _ = gate.acquire().await;
            });
        r.assert_flagged(PATTERN);
        assert!(r.render().contains("deadlocked"), "{r}");
    }

    #[test]
    fn same_seed_same_interleaving() {
        let run = || {
            RaceTest::new()
                .iterations(100)
                .seed(9)
                .run(|| async {
                    let c = Rc::new(Cell::new(0));
                    crate::join!(add(c.clone()), add(c.clone()), add(c.clone()));
                    assert_eq!(c.get(), 3);
                })
                .render()
        };
        assert_eq!(run(), run());
    }
}
