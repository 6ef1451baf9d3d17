//! The tour: every failure pattern's buggy and fixed code through its detector, as a table.
//!
//! `cargo run --release --example tour`
//!
//! Prints one row per pattern (the verdict on the buggy code with its key figure, the verdict
//! on the fixed code, the wall time) and writes every finding in full to
//! `target/whatbreaks/tour.txt`. `WHATBREAKS_SEED` picks the seed, as everywhere.
use std::time::Instant;
use whatbreaks::Report;

#[path = "patterns/herd.rs"]
mod herd;
#[path = "patterns/retry.rs"]
mod retry;

/// One pattern's row: its name, and the reports on the buggy and the fixed code.
struct Row {
    pattern: &'static str,
    buggy: Report,
    fixed: Report,
    wall: std::time::Duration,
}

fn row(pattern: &'static str, run: impl FnOnce() -> (Report, Report)) -> Row {
    let started = Instant::now();
    let (buggy, fixed) = run();
    Row {
        pattern,
        buggy,
        fixed,
        wall: started.elapsed(),
    }
}

fn verdict(report: &Report, expect_flagged: bool) -> String {
    let word = match (report.is_clean(), expect_flagged) {
        (false, true) => "FLAGGED",
        (true, false) => "passes",
        (true, true) => "MISSED",
        (false, false) => "FALSE ALARM",
    };
    format!("{word}: {}", report.key_figure)
}

fn main() {
    let rows = vec![
        row("thundering herd", || {
            (herd::buggy(herd::scenario()), herd::fixed(herd::scenario()))
        }),
        row("retry storm", || {
            (retry::buggy(retry::storm()), retry::fixed(retry::storm()))
        }),
        row("duplicate charges", || {
            (
                retry::buggy(retry::ambiguous()),
                retry::fixed(retry::ambiguous()),
            )
        }),
    ];
    let (w1, w2) = (18, 58);
    println!(
        "{:<w1$} | {:<w2$} | {:<w2$} | {:>8}",
        "pattern", "buggy code", "fixed code", "time"
    );
    println!("{}", "-".repeat(w1 + 2 * w2 + 17));
    let mut full = String::new();
    let mut wrong = 0;
    for r in &rows {
        let (b, f) = (verdict(&r.buggy, true), verdict(&r.fixed, false));
        wrong += usize::from(r.buggy.is_clean()) + usize::from(!r.fixed.is_clean());
        println!(
            "{:<w1$} | {:<w2$} | {:<w2$} | {:>6}ms",
            r.pattern,
            b,
            f,
            r.wall.as_millis()
        );
        full.push_str(&format!(
            "## {}\n\nbuggy code:\n{}\n\nfixed code:\n{}\n\n",
            r.pattern, r.buggy, r.fixed
        ));
    }
    let backoff = whatbreaks::backoff::BackoffComparison::new().run();
    full.push_str(&format!(
        "## backoff strategies (AWS \"Exponential Backoff And Jitter\", reproduced)\n\n{backoff}\n"
    ));
    println!("\nbackoff strategies: {}", backoff.to_report().key_figure);
    wrong += backoff.to_report().findings.len();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/whatbreaks");
    let path = dir.join("tour.txt");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, full)) {
        Ok(()) => println!("\nfull findings: {}", path.display()),
        Err(e) => eprintln!("whatbreaks: could not write {}: {e}", path.display()),
    }
    if wrong > 0 {
        eprintln!("whatbreaks: {wrong} verdict(s) differ from what the tour expects");
        std::process::exit(1);
    }
}
