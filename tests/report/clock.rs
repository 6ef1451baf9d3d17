//! Code that reads the real clock inside a simulation is pointed at the virtual clock.

use crate::child::run;

#[test]
fn a_scenario_that_reads_the_real_clock_is_pointed_at_the_virtual_one() {
    let out = run("waits_for_the_real_clock", &[]);
    assert!(out.ok, "{}", out.text);
    // The time limit finding says why the loop never ended.
    assert!(
        out.text
            .contains("whatbreaks: time limit: virtual time limit 10m reached"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains(whatbreaks::scenario::REAL_CLOCK_LOOP),
        "{}",
        out.text
    );
    // And the run that called nothing fails: its premise never happened. This binary does
    // not install the virtual system clock, so the fix names the line that does.
    assert!(
        out.text.contains(
            "whatbreaks: configuration: the scenario's premise never happened: virtual time advanced to t=10m but the code under test made no upstream call"
        ),
        "{}",
        out.text
    );
    assert!(out.text.contains("whatbreaks::install!();"), "{}", out.text);
    assert!(
        out.text.contains("whatbreaks::clock::system_now()"),
        "{}",
        out.text
    );
}

#[test]
fn busy_code_draws_no_warning() {
    assert_eq!(
        whatbreaks::scenario::real_clock_hint(
            std::time::Duration::from_secs(5),
            12,
            "upstream call"
        ),
        None
    );
}
