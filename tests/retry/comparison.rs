//! The AWS "Exponential Backoff And Jitter" comparison: the post's claims hold in our output,
//! and our means reproduce those of the post's simulator (`backoff::REFERENCE`, 500 runs per
//! cell) within 5% on calls and 10% on completion time.
//!
//! The normal suite checks a subset of cells (debug builds are slow); the full grid, 95 cells,
//! is `cargo test --release --test retry -- --ignored every_cell` (and the tour runs it).

use whatbreaks::backoff::{self, BackoffComparison, ComparisonTable, Strategy};

#[test]
fn the_posts_claims_hold() {
    // A subset of the example's 10..190 (debug builds are slow); the example runs them all.
    let table = BackoffComparison::new().clients(&[50, 100]).runs(3).run();
    let claims = table.claims();
    assert_eq!(claims.len(), 6, "{table}");
    for (claim, holds) in &claims {
        assert!(holds, "claim does not hold: {claim}\n{table}");
    }
    let full = table.cell(Strategy::FullJitter, 100).unwrap().calls;
    let expo = table.cell(Strategy::Exponential, 100).unwrap().calls;
    assert!(full < expo / 2.0, "{table}");
    let report = table.to_report();
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .key_figure
            .starts_with("at 100 clients full jitter makes"),
        "{}",
        report.key_figure
    );
    let text = table.to_string();
    assert!(text.contains("full jitter"), "{text}");
    assert!(text.contains("[holds]"), "{text}");
}

/// Every cell of `table` within tolerance of the reference, or a message naming those that stray.
fn assert_reproduces(table: &ComparisonTable) {
    assert!(table.judged_by_reference(), "{table}");
    let deviations = table.against_reference();
    assert_eq!(deviations.len(), table.outcomes.len(), "{table}");
    let strays: Vec<String> = deviations
        .iter()
        .filter(|d| !d.holds() || !d.ours.stable)
        .map(|d| format!("{d} (stable: {})", d.ours.stable))
        .collect();
    assert!(strays.is_empty(), "{}\n{table}", strays.join("\n"));
    let report = table.to_report();
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .figures
            .iter()
            .any(|(k, v)| k == "against Brooker's simulator" && v.starts_with("all ")),
        "{:?}",
        report.figures
    );
    eprintln!("{}", table.reference_summary());
}

#[test]
fn reproduces_brookers_simulator() {
    // Every strategy at 10 clients (the widest spread: up to 339 runs a cell) and at 40, until
    // the means are stable (the default).
    let table = BackoffComparison::new().clients(&[10, 40]).run();
    assert_reproduces(&table);
    // The same seed, the same numbers (a cell's runs do not depend on the other cells).
    let again = BackoffComparison::new().clients(&[10]).run();
    let ten: Vec<_> = table.outcomes.iter().filter(|o| o.clients == 10).collect();
    assert_eq!(ten, again.outcomes.iter().collect::<Vec<_>>());
}

#[test]
#[ignore = "the full grid: run in release (cargo test --release --test retry -- --ignored every_cell)"]
fn reproduces_brookers_simulator_in_every_cell() {
    let started = std::time::Instant::now();
    let table = BackoffComparison::new().run();
    assert_eq!(table.outcomes.len(), backoff::REFERENCE.len());
    assert_reproduces(&table);
    for d in table.against_reference() {
        let o = &d.ours;
        eprintln!(
            "{d}; standard errors {:.2} calls, {:.1} ms",
            o.calls_se, o.time_ms_se
        );
    }
    let runs: u32 = table.outcomes.iter().map(|o| o.runs).sum();
    eprintln!("{runs} runs in {:?}\n{table}", started.elapsed());
}

#[test]
fn a_fixed_run_count_shows_the_reference_but_is_not_judged() {
    let table = BackoffComparison::new().clients(&[10]).runs(2).run();
    assert!(!table.judged_by_reference());
    assert!(table.outcomes.iter().all(|o| o.runs == 2 && o.stable));
    assert!(table.to_report().is_clean(), "{table}");
    let text = table.to_string();
    assert!(text.contains("Brooker's simulator"), "{text}");
    assert!(
        text.contains("(not judged: a fixed number of runs)"),
        "{text}"
    );
}
