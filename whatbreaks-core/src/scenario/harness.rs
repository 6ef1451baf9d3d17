//! What a run that did not go to plan turns into: harness findings (time limit, watchdog,
//! panics) and the real-clock hints.

use crate::report::Finding;
use crate::runtime::sim::{ClientId, Run, RunEnd, RunLimits};
use crate::spec::format_duration;
use std::time::Duration;

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
        let mut f = Finding::harness(pattern, verdict).with_scenario(scenario);
        f.evidence = evidence;
        // A wait on the real clock looks like a deadlock or an endless loop here.
        if run.end == crate::runtime::sim::RunEnd::TimeLimit {
            f.evidence.push(REAL_CLOCK_LOOP.into());
        }
        f.fix = fix;
        out.push(f);
    }
    if !run.panics.is_empty() {
        let mut f = Finding::harness(
            "client panic",
            format!("{} client(s) panicked", run.panics.len()),
        );
        f.scenario = scenario.to_string();
        f.evidence = run
            .panics
            .iter()
            .map(|p| {
                format!(
                    "client #{} at t={}: {}",
                    p.client,
                    format_duration(p.at),
                    p.message
                )
            })
            .collect();
        f.fix = "a panic inside the code under test: see the first message (the panic's location is printed above it)".into();
        out.push(f);
    }
    if !run.task_panics.is_empty() {
        let mut f = Finding::harness(
            "task panic",
            format!(
                "{} task(s) spawned by the code under test panicked",
                run.task_panics.len()
            ),
        )
        .with_scenario(scenario);
        f.evidence = run
            .task_panics
            .iter()
            .take(10)
            .map(|p| format!("spawned task, {p}"))
            .collect();
        f.fix = "a task started with `tokio::spawn` or `spawn_local` panicked and nobody awaited its `JoinHandle`, so production would lose that work silently: fix the panic, and await (or supervise) the handles of tasks whose work matters".into();
        out.push(f);
    }
    out
}

/// The hint for a loop that waits for the real clock to pass a deadline.
pub const REAL_CLOCK_LOOP: &str = "if a loop waits for `std::time::Instant::now()` or `SystemTime::now()` to pass a deadline, it never will: only the virtual clock moves here; read `tokio::time::Instant::now()` or `whatbreaks::clock::system_now()` instead";

/// What to do when a scenario's premise did not happen (nothing expired, nothing was called,
/// nothing committed): the system-clock line when the binary lacks it, and the other likely
/// causes.
pub fn premise_fix() -> String {
    use crate::runtime::os_clock;
    let clock = if let Some(why) = os_clock::unsupported() {
        format!(
            "{why}: give such code a clock (`whatbreaks::clock::system_now()`, a `WallClock` parameter) or sleep with `tokio::time::sleep`"
        )
    } else if os_clock::installed() {
        "the system clock already follows the simulation in this binary, so the cause is elsewhere"
            .into()
    } else {
        format!(
            "if the code (or a crate it uses: moka, cached, a cron scheduler, a backoff policy) reads `std::time::Instant`, `SystemTime` or `chrono::Utc::now()`, add `{}` at the top of the test binary (`tests/<area>/main.rs`) so the system clock follows the simulation",
            os_clock::INSTALL_LINE
        )
    };
    format!(
        "{clock}; otherwise check that the code uses what the scenario hands it (its upstream, cache, database or instance, not a client or cache of its own) and that nothing blocks the thread (`std::thread::sleep`)"
    )
}

/// The hint for a run in which virtual time advanced but the code under test did nothing
/// whatbreaks can see (`count` of `what` is zero). `None` when there is nothing to say.
pub fn real_clock_hint(virtual_elapsed: Duration, count: usize, what: &str) -> Option<String> {
    (count == 0 && !virtual_elapsed.is_zero()).then(|| {
        format!(
            "virtual time advanced to t={} but the code under test made no {what}",
            format_duration(virtual_elapsed)
        )
    })
}

/// The configuration finding of a run whose premise did not happen: virtual time moved and
/// the code under test made no `what` at all, so the scenario measured nothing. A pass here
/// would be a pass of nothing; the test fails and says why. `None` when the premise happened.
pub fn premise_finding(virtual_elapsed: Duration, count: usize, what: &str) -> Option<Finding> {
    let verdict = real_clock_hint(virtual_elapsed, count, what)?;
    Some(
        Finding::config(format!(
            "the scenario's premise never happened: {verdict}, so there was nothing to judge"
        ))
        .with_fix(premise_fix()),
    )
}

/// A one-line description of why a run did not complete, for findings.
fn describe_end<T>(run: &Run<T>, limits: &RunLimits) -> Option<(String, Vec<String>, String)> {
    let pending = list_clients(&run.pending);
    match &run.end {
        RunEnd::Completed => None,
        RunEnd::TimeLimit => {
            let idle = run.virtual_elapsed.saturating_sub(run.last_activity);
            // Only what whatbreaks' own components record counts as activity: say that, and
            // do not call a wait a deadlock (a real-clock wait or an unbounded sleep looks the
            // same from here).
            let probable = if idle >= run.virtual_elapsed / 2 {
                format!(
                    "no simulated component (upstream, cache, database, pool) saw a call after t={} while {} client(s) were still pending: they wait on something that never came (a lock, a channel, a connection never released, a very long sleep, or the real clock); which, whatbreaks cannot see",
                    format_duration(run.last_activity),
                    run.pending.len()
                )
            } else {
                format!(
                    "simulated components saw calls until t={}: the pending clients kept working (a retry or polling loop without a bound)",
                    format_duration(run.last_activity)
                )
            };
            Some((
                format!(
                    "virtual time limit {} reached with work still pending",
                    format_duration(limits.time_limit)
                ),
                vec![
                    probable,
                    format!("pending clients: {pending}"),
                    format!("clients not yet started: {}", run.not_started),
                ],
                "look for a wait that nothing wakes (a lock or connection never released) or a retry loop without a bound; raise `time_limit` if the scenario really needs longer".into(),
            ))
        }
        RunEnd::Watchdog { stopped } => {
            let stuck = run.stuck.as_ref();
            let busy_yield = stuck.is_some_and(|s| s.yield_points > 0);
            let mut evidence = vec![
                format!(
                    "virtual time stood at t={} with clients running or pending: {pending}",
                    format_duration(run.virtual_elapsed)
                ),
                format!("clients not yet started: {}", run.not_started),
            ];
            if let Some(id) = stuck.and_then(|s| s.polling) {
                evidence.push(format!("client #{id}'s poll never returned"));
            }
            let fix = if !*stopped {
                evidence.push("the simulation thread could not be stopped (code that never awaits cannot be interrupted from outside): it is left running, spinning, until the test process exits; this report is complete".into());
                "some code loops without ever awaiting (a spin on an atomic or a flag, blocking code): wait on something async (a `tokio::sync::Notify`, a channel, a timer) instead, or raise `watchdog`"
            } else if busy_yield {
                evidence.push(format!(
                    "a busy-wait on `whatbreaks::race::yield_point()`: {} calls in 20 ms of wall time while virtual time stood still",
                    stuck.map_or(0, |s| s.yield_points)
                ));
                evidence.push("the clients were stopped at their next await".into());
                "a loop polls a condition with `yield_point()` that only another task can change, and that task never runs to change it (or nothing will): wait on the condition (a `Notify`, a channel, a lock) or sleep with `tokio::time::sleep` between checks, or raise `watchdog`"
            } else {
                evidence.push("the clients were stopped at their next await".into());
                "a task keeps running without letting virtual time advance (a busy loop of `yield_now`); await a timer or a simulated component inside the loop, or raise `watchdog`"
            };
            Some((
                format!(
                    "wall-clock watchdog fired after {}",
                    format_duration(limits.watchdog)
                ),
                evidence,
                fix.into(),
            ))
        }
        RunEnd::Panicked(message) => Some((
            "the scenario panicked".into(),
            vec![format!("panic: {message}")],
            "the panic came from the scenario set-up, not from one client: see the message".into(),
        )),
    }
}

fn list_clients(ids: &[ClientId]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = ids.iter().take(10).map(|id| format!("#{id}")).collect();
    if ids.len() > 10 {
        format!(
            "{} (+{} more, {} in all)",
            shown.join(", "),
            ids.len() - 10,
            ids.len()
        )
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_stuck_at_the_time_limit_is_a_probable_deadlock() {
        let limits = RunLimits {
            time_limit: Duration::from_secs(60),
            ..RunLimits::new(3)
        };
        let run = crate::runtime::sim::simulate(&limits, || async {
            let lock = std::rc::Rc::new(tokio::sync::Semaphore::new(0));
            crate::runtime::sim::run_clients(&[Duration::ZERO; 3], move |_| {
                let lock = lock.clone();
                async move {
                    let _p = lock.acquire().await;
                }
            })
            .await;
        });
        let (verdict, evidence, _) = describe_end(&run, &limits).unwrap();
        assert!(verdict.contains("time limit 1m"), "{verdict}");
        assert!(
            evidence[0].contains("no simulated component") && evidence[0].contains("3 client(s)"),
            "{evidence:?}"
        );
        assert!(!evidence[0].contains("deadlock"), "{evidence:?}");
    }

    #[test]
    fn idle_runs_fail_with_the_clock_line() {
        let f = premise_finding(Duration::from_secs(3_600), 0, "effect").unwrap();
        assert_eq!(f.kind, crate::report::FindingKind::Config);
        assert!(f.verdict.contains("t=60m"), "{}", f.verdict);
        assert!(f.verdict.contains("no effect"), "{}", f.verdict);
        // This unit-test binary does not install the virtual clock: the fix names the line.
        assert!(
            f.fix.contains(crate::runtime::os_clock::INSTALL_LINE),
            "{}",
            f.fix
        );
        assert!(f.fix.contains("SystemTime"), "{}", f.fix);
        assert!(premise_finding(Duration::from_secs(1), 3, "effect").is_none());
        assert!(premise_finding(Duration::ZERO, 0, "effect").is_none());
    }
}
