//! Required verdicts, each over several seeds: flagged buggy code, passing fixed code.

use crate::SEEDS;
use crate::code::{self, HOLDER_PAUSE, scenario};
use whatbreaks::double_execution::{MISSED, PATTERN};
use whatbreaks::{Instance, Report};

fn seeds(t: whatbreaks::DoubleExecutionTest, first: u64) -> whatbreaks::DoubleExecutionTest {
    t.seed(first).seeds(SEEDS)
}

fn assert_clean_over_all_seeds(report: &Report) {
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.seeds.len(),
        crate::support::expected_seeds(SEEDS),
        "every seed ran"
    );
}

#[test]
fn the_in_process_lock_passes_on_one_instance_and_is_flagged_on_two() {
    let one = code::in_process(seeds(scenario().instances(1), 0x5eed));
    assert_clean_over_all_seeds(&one);
    assert_eq!(one.key_figure, "9/9 occurrences exactly once");

    let two = code::in_process(seeds(scenario(), 0x5eed));
    two.assert_flagged(PATTERN);
    let f = &two.findings[0];
    assert_eq!(
        f.verdict,
        "9 of 9 occurrences committed more than once across instances"
    );
    assert_eq!(
        f.evidence[0],
        "`daily_report` 00:01:00: 2 commits: #0 at 1m, #1 at 1m"
    );
    assert!(f.fix.contains("in-process lock"), "{}", f.fix);
    let (_, picture) = f.picture.as_ref().expect("a timeline");
    assert!(picture.contains("#0   ······D·····D"), "{picture}");
    assert!(picture.contains("#1   ······D·····D"), "{picture}");
    assert_eq!(two.key_figure, "9/9 occurrences doubled (up to 2×)");
}

#[test]
fn a_lease_alone_is_flagged_when_the_holder_pauses_past_it() {
    let report = code::lease_only(seeds(scenario().pause(HOLDER_PAUSE), 0x1ea5e));
    report.assert_flagged(PATTERN);
    let f = &report.findings[0];
    assert_eq!(
        f.verdict,
        "1 of 9 occurrences committed more than once across instances"
    );
    // The new leader commits the 1m occurrence, then the old one wakes up and commits it too.
    assert!(
        f.evidence[0].starts_with("`daily_report` 00:01:00: 2 commits: #1 at 1m")
            && f.evidence[0].ends_with("#0 at 1m47s"),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l == "#0 paused 1m2s..1m47s (45s): no progress, its timers fired late"),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence.iter().any(|l| l.starts_with(
            "lease `scheduler` went from #0 (token 1, 30s lease, expired at 1m30s) to #1 (token 2)"
        )),
        "{:?}",
        f.evidence
    );
    assert!(
        f.fix.starts_with(
            "a lease alone cannot stop a holder that pauses past it (a 45s pause, a 30s lease)"
        ),
        "{}",
        f.fix
    );
}

#[test]
fn a_lease_alone_passes_when_the_pause_is_shorter_than_the_lease() {
    // The fault, not the design alone, produces the double: a 10 s pause is survived.
    let report = code::lease_only(seeds(scenario().pause("0@62s+10s"), 0x1ea5e));
    assert_clean_over_all_seeds(&report);
}

#[test]
fn fencing_tokens_checked_at_the_sink_pass_under_the_same_pause() {
    let report = code::lease_fenced(seeds(scenario().pause(HOLDER_PAUSE), 0x1ea5e));
    assert_clean_over_all_seeds(&report);
    assert_eq!(report.figure("rejected"), Some("1"), "{:?}", report.figures);
    assert_eq!(
        report.key_figure,
        "9/9 exactly once, 1 stale write(s) rejected"
    );
}

#[test]
fn a_claim_per_occurrence_passes_under_pause_and_skew() {
    let t = scenario().pause("1@90s+45s").skew("1:+2s");
    let report = code::claimed(seeds(t, 0xc1a1));
    assert_clean_over_all_seeds(&report);
}

#[test]
fn a_claim_per_occurrence_still_runs_every_occurrence_when_an_instance_crashes() {
    let report = code::claimed(seeds(scenario().crash("0@5m"), 0xc1a1));
    assert_clean_over_all_seeds(&report);
    assert_eq!(report.key_figure, "9/9 occurrences exactly once");
    assert_eq!(report.figure("committed"), Some("9"));
    assert_eq!(report.figure("missing"), Some("0"));
}

/// A scheduler pinned to one instance ("only instance 0 runs jobs"): no doubles, but when that
/// instance crashes, nobody runs the job.
async fn pinned(instance: Instance) {
    if instance.id() != 0 {
        return std::future::pending().await;
    }
    code::run_scheduler(instance.clone(), |slot| {
        instance.effect("daily_report", slot)
    })
    .await;
}

#[test]
fn a_schedule_pinned_to_a_crashed_instance_is_flagged_as_missed() {
    let healthy = seeds(scenario(), 7).run(pinned);
    assert_clean_over_all_seeds(&healthy);
    let crashed = seeds(scenario().crash("0@270s"), 7).run(pinned);
    crashed.assert_flagged(MISSED);
    assert!(!crashed.flagged(PATTERN));
    let f = &crashed.findings[0];
    assert_eq!(
        f.verdict,
        "5 of 9 scheduled occurrences never committed while an instance was healthy"
    );
    assert_eq!(
        f.evidence[0],
        "`daily_report` 00:05:00: no commit; healthy at that time: #1"
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l == "#0 crashed at 4m30s and stayed down")
    );
    assert!(f.fix.contains("any healthy instance"), "{}", f.fix);
    let (_, picture) = f.picture.as_ref().expect("a timeline");
    assert!(
        picture.contains("miss                               !     !     !     !     !"),
        "{picture}"
    );
}

#[test]
fn occurrences_are_excused_when_no_instance_is_healthy() {
    let report =
        seeds(scenario().instances(1).crash("0@270s+1m"), 7).run(|i: Instance| async move {
            code::run_scheduler(i.clone(), |slot| i.effect("daily_report", slot)).await;
        });
    // 00:05:00 falls in the downtime: excused; the rest ran, after the restart too.
    assert_clean_over_all_seeds(&report);
    assert_eq!(report.figure("excused"), Some("1"));
    assert_eq!(report.key_figure, "8/8 occurrences exactly once");
}

#[test]
fn a_restart_that_reruns_an_occurrence_is_a_double() {
    // Commits at the slot, then crashes 1 s later and restarts at once: the restarted
    // instance's fresh in-process scheduler does not run it again (next slot only), so a
    // double needs a scheduler that catches up on start. This one does.
    let report =
        seeds(scenario().instances(1).crash("0@61s+1s"), 3).run(|i: Instance| async move {
            let slot = code::last_slot(i.now(), code::EVERY);
            if slot > whatbreaks::clock::epoch() {
                i.effect("daily_report", slot); // "run the last occurrence on start-up"
            }
            code::run_scheduler(i.clone(), |slot| i.effect("daily_report", slot)).await;
        });
    report.assert_flagged(PATTERN);
    assert!(
        report.findings[0].evidence[0]
            .contains("2 commits: #0 at 1m, #0 at 1m2s (after restart 1)"),
        "{report}"
    );
}

#[test]
fn a_scheduler_on_the_real_clock_never_fires_and_the_finding_says_why() {
    // This binary does not install the virtual system clock (`whatbreaks::install!()`), so
    // `SystemTime::now()` does not follow virtual time: ten virtual minutes pass in a few
    // milliseconds of real time, and no slot is ever due. (tests/clocks runs such code with
    // the clock installed.)
    let report = seeds(scenario(), 11).run(|i: Instance| async move {
        // Hourly on the real clock, so that no real slot falls inside the test's few ms.
        let every = std::time::Duration::from_secs(3_600);
        let mut next = code::next_slot(std::time::SystemTime::now(), every);
        loop {
            if std::time::SystemTime::now() >= next {
                i.effect("daily_report", next);
                next += every;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    // Nothing was committed at all: not a missed schedule but a premise that never happened.
    assert!(!report.flagged(MISSED), "{report}");
    let f = &report.findings[0];
    assert_eq!(f.kind, whatbreaks::FindingKind::Config, "{report}");
    assert!(
        f.verdict
            .contains("the code under test made no effect (`instance.effect(..)`)"),
        "{}",
        f.verdict
    );
    assert!(f.fix.contains("whatbreaks::install!();"), "{}", f.fix);
    assert!(f.fix.contains("SystemTime"), "{}", f.fix);
}
