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
            format_duration(virtual_elapsed)
        )
    })
}

/// Prints [`real_clock_hint`] as a warning on stderr ([`crate::report::notes`]; never fails the test: the code may
/// simply have had nothing to do), and returns it.
pub fn warn_real_clock(
    label: &str,
    virtual_elapsed: Duration,
    count: usize,
    what: &str,
) -> Option<String> {
    let hint = real_clock_hint(virtual_elapsed, count, what)?;
    crate::report::notes::note(format!("whatbreaks: warning: {label}: {hint}"));
    Some(hint)
}

/// A one-line description of why a run did not complete, for findings.
fn describe_end<T>(run: &Run<T>, limits: &RunLimits) -> Option<(String, Vec<String>, String)> {
    let pending = list_clients(&run.pending);
    match &run.end {
        RunEnd::Completed => None,
        RunEnd::TimeLimit => {
            let idle = run.virtual_elapsed.saturating_sub(run.last_activity);
            let probable = if idle >= run.virtual_elapsed / 2 {
                format!(
                    "probable deadlock: nothing happened after t={} while {} client(s) waited",
                    format_duration(run.last_activity),
                    run.pending.len()
                )
            } else {
                format!(
                    "probable endless loop: activity went on until t={}",
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
        RunEnd::Watchdog { stopped } => Some((
            format!(
                "wall-clock watchdog fired after {:?}",
                limits.watchdog
            ),
            vec![
                format!(
                    "virtual time stood at t={} with clients pending: {pending}",
                    format_duration(run.virtual_elapsed)
                ),
                if *stopped {
                    "the clients were stopped at their next await".into()
                } else {
                    "the simulation thread did not stop: some code loops without ever awaiting".into()
                },
            ],
            "a task keeps running without letting virtual time advance (a busy loop of `yield_now`, or blocking code); await a timer or a simulated component inside the loop, or raise `watchdog`".into(),
        )),
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
        assert!(evidence[0].contains("probable deadlock"), "{evidence:?}");
    }

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
