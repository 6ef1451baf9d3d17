//! The tour: every failure pattern's buggy and fixed code through its detector, as a table.
//!
//! `cargo run --release --example tour`
//!
//! Prints a header, one line of progress per pattern while it runs (on stderr), then one row
//! per pattern (the verdict on the buggy code with its key figure, the verdict on the fixed
//! code, the wall time). Every finding in full, with the seed lines and replay lines of each
//! run, goes to `target/whatbreaks/tour.txt`; the same runs with charts go to
//! `target/whatbreaks/tour.html` (the table, and arrivals per retry strategy) and a page per
//! pattern, `tour.<pattern>.html`, with the buggy and the fixed run side by side on shared
//! axes (arrivals, loads per key, pool occupancy, memory curves, the effects of each
//! instance), all listed on `target/whatbreaks/index.html`. Seed lines reach stderr only for a
//! run whose verdict is not the expected one. `WHATBREAKS_SEED` picks the seed, as everywhere.
//!
//! To add a pattern, add a line to [`ROWS`]: its name, then a function that runs the buggy
//! code and one that runs the fixed code, each returning the detector's `Report`.
use std::io::Write as _;
use std::time::Instant;
use whatbreaks::Report;
use whatbreaks::report::notes;

#[path = "patterns/audit.rs"]
mod audit_code;
#[path = "patterns/audit_http.rs"]
mod audit_http;
#[path = "patterns/cancel.rs"]
mod cancel;
#[path = "patterns/clocks.rs"]
mod clocks;
#[path = "patterns/hang.rs"]
mod hang;
#[path = "patterns/herd.rs"]
mod herd;
#[path = "patterns/http.rs"]
mod http;
#[path = "patterns/leak.rs"]
mod leak;
#[path = "patterns/scale.rs"]
mod scale;
// The leak and scale rows measure the heap (the counting allocator); the third-party clock
// rows need the system clock to follow the simulation (Linux with glibc).
whatbreaks::install!();
#[path = "patterns/n_plus_one.rs"]
mod n_plus_one;
#[path = "patterns/pool.rs"]
mod pool;
#[path = "patterns/race.rs"]
mod race;
#[path = "patterns/report.rs"]
mod report;
#[path = "patterns/retry.rs"]
mod retry;
#[path = "patterns/scheduler.rs"]
mod scheduler;
#[path = "patterns/seams.rs"]
mod seams;
#[path = "patterns/silent.rs"]
mod silent;
#[path = "patterns/stampede.rs"]
mod stampede;

use report::Row;

/// A run of buggy or fixed code through its detector.
type Run = fn() -> Report;

/// The rows of the table, in order: the pattern's name (at most 22 characters), the run of
/// the buggy code (expected to be flagged), the run of the fixed code (expected to pass).
const ROWS: &[(&str, Run, Run)] = &[
    (
        "thundering herd",
        || herd::buggy(herd::scenario()),
        || herd::fixed(herd::scenario()),
    ),
    (
        "retry storm",
        || retry::buggy(retry::storm()),
        || retry::fixed(retry::storm()),
    ),
    (
        "duplicate charges",
        || retry::buggy(retry::ambiguous()),
        || retry::fixed(retry::ambiguous()),
    ),
    (
        "cache stampede",
        || stampede::buggy(stampede::cold(1)),
        || stampede::fixed(stampede::cold(2)),
    ),
    (
        "stampede, 2 inst.",
        || stampede::per_key_mutex(stampede::cold(2)),
        || stampede::fixed(stampede::cold(2)),
    ),
    (
        "stampede, expiry",
        || stampede::buggy(stampede::expiry(1)),
        || stampede::Strategy::XFetch.run(stampede::expiry(1)),
    ),
    (
        "pool: leak",
        || pool::buggy(pool::leak_scenario()),
        || pool::fixed(pool::leak_scenario()),
    ),
    (
        "pool: slow hold",
        || pool::slow_upstream(pool::slow_upstream_scenario(), true),
        || pool::slow_upstream(pool::slow_upstream_scenario(), false),
    ),
    (
        "pool: deadlock",
        || pool::nested(pool::nested_scenario(), true),
        || pool::nested(pool::nested_scenario(), false),
    ),
    (
        "pool: lost conns",
        || pool::lost_connections(pool::lost_scenario(), false),
        || pool::lost_connections(pool::lost_scenario(), true),
    ),
    (
        "check-then-act race",
        || race::buggy(race::scenario()),
        || race::fixed(race::scenario()),
    ),
    (
        "double execution",
        || scheduler::in_process(scheduler::scenario()),
        || scheduler::claimed(scheduler::scenario().crash("0@5m")),
    ),
    (
        "lease w/o fencing",
        || scheduler::lease_only(scheduler::scenario().pause(scheduler::HOLDER_PAUSE)),
        || scheduler::lease_fenced(scheduler::scenario().pause(scheduler::HOLDER_PAUSE)),
    ),
    (
        "storm via tower+hyper",
        || seams::hyper_retry_unbudgeted(rand::random::<u64>()),
        || seams::hyper_retry_budgeted(rand::random::<u64>()),
    ),
    (
        "herd via reqwest-retry",
        || seams::reqwest_herd_unjittered(rand::random::<u64>()),
        || seams::reqwest_herd_jittered(rand::random::<u64>()),
    ),
    (
        "2x charge via reqwest",
        || seams::reqwest_charges(rand::random::<u64>(), false),
        || seams::reqwest_charges(rand::random::<u64>(), true),
    ),
    (
        "stampede via redis-rs",
        || seams::redis_cache_aside(seams::cold(rand::random::<u64>(), 2)),
        || seams::redis_leased(seams::cold(rand::random::<u64>(), 2)),
    ),
    (
        "3rd-party TTL (moka)",
        || clocks::moka(clocks::expiry(), false),
        || clocks::moka(clocks::expiry(), true),
    ),
    (
        "cron crate, 2 inst.",
        || clocks::cron(2).run(clocks::cron_report_job),
        || clocks::cron(1).run(clocks::cron_report_job),
    ),
    (
        "hung upstream",
        || hang::buggy(hang::scenario()),
        || hang::fixed(hang::scenario()),
    ),
    (
        "partial write, cancel",
        || cancel::buggy(cancel::scenario()),
        || cancel::fixed(cancel::scenario().cut("both")),
    ),
    (
        "select! deadline cut",
        || cancel::deadline(cancel::scenario()),
        || cancel::deadline_tx(cancel::scenario()),
    ),
    (
        "N+1 queries",
        || n_plus_one::buggy(n_plus_one::scenario()),
        || n_plus_one::fixed(n_plus_one::scenario()),
    ),
    (
        "silent errors",
        || silent::buggy(silent::scenario()),
        || silent::fixed(silent::scenario()),
    ),
    (
        "slow leak",
        || leak::buggy(leak::scenario()),
        || leak::fixed(leak::scenario()),
    ),
    (
        "unbounded memory",
        || scale::buggy(scale::scenario()),
        || scale::fixed(scale::scenario()),
    ),
    (
        "auth context, input",
        || http::tour(false),
        || http::tour(true),
    ),
];

/// Runs one row, capturing the run path's notes (seed lines) of each run.
fn run(pattern: &'static str, buggy: Run, fixed: Run) -> Row {
    let started = Instant::now();
    let (buggy, buggy_notes) = notes::capture(buggy);
    let (fixed, fixed_notes) = notes::capture(fixed);
    Row {
        pattern,
        buggy,
        fixed,
        notes: [buggy_notes, fixed_notes],
        wall: started.elapsed(),
    }
}

/// The runs whose verdict is not the expected one: the buggy code passed, or the fixed code
/// was flagged.
fn surprises(row: &Row) -> Vec<(&'static str, &Report, &[String])> {
    let mut out = Vec::new();
    if row.buggy.is_clean() {
        out.push(("buggy code", &row.buggy, &row.notes[0][..]));
    }
    if !row.fixed.is_clean() {
        out.push(("fixed code", &row.fixed, &row.notes[1][..]));
    }
    out
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

/// Runs an audit of a buggy and a fixed service, prints both tables and appends them to
/// `full`; returns how many of `seeded` the buggy one missed, plus one if the fixed one broke.
fn audit_section(
    full: &mut String,
    label: &str,
    what: &str,
    seeded: &[(&str, &str)],
    buggy: impl FnOnce() -> whatbreaks::audit::AuditReport,
    fixed: impl FnOnce() -> whatbreaks::audit::AuditReport,
) -> usize {
    eprint!("[  +  ] {label:<22}");
    let _ = std::io::stderr().flush();
    let started = Instant::now();
    let ((buggy, fixed), lines) = notes::capture(|| (buggy(), fixed()));
    eprintln!(" {:>6} ms", started.elapsed().as_millis());
    println!(
        "\naudit of {what} ({:.0?} + {:.0?}):\n{}\n{}",
        buggy.wall_time,
        fixed.wall_time,
        buggy.table(),
        fixed.table()
    );
    let missed = seeded
        .iter()
        .filter(|(q, e)| {
            !buggy.rows.iter().any(|r| {
                r.question == *q && r.entry == *e && r.verdict == whatbreaks::audit::Verdict::Breaks
            })
        })
        .count();
    full.push_str(&format!(
        "## audit of {what}\n\n{}{buggy}\n{fixed}\n",
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    ));
    missed + usize::from(!fixed.holds())
}

fn main() {
    // Panics inside simulated code are part of the findings; keep the table readable.
    std::panic::set_hook(Box::new(|_| {}));
    let seed = std::env::var("WHATBREAKS_SEED").map_or_else(
        |_| "a fresh seed per run (WHATBREAKS_SEED=<seed> fixes it)".to_string(),
        |s| format!("WHATBREAKS_SEED={s}"),
    );
    println!(
        "whatbreaks tour: {} patterns, buggy and fixed code through each detector; {seed}\n",
        ROWS.len()
    );
    let mut rows = Vec::new();
    let mut wrong = 0;
    for (i, &(pattern, buggy, fixed)) in ROWS.iter().enumerate() {
        eprint!("[{:>2}/{}] {pattern:<22}", i + 1, ROWS.len());
        let _ = std::io::stderr().flush();
        let row = run(pattern, buggy, fixed);
        let surprises = surprises(&row);
        eprintln!(
            " {:>6} ms{}",
            row.wall.as_millis(),
            if surprises.is_empty() {
                ""
            } else {
                "  unexpected verdict"
            }
        );
        for (side, report, notes) in &surprises {
            wrong += 1;
            eprintln!("whatbreaks: tour: {pattern}: unexpected verdict on the {side}:");
            for line in *notes {
                eprintln!("{line}");
            }
            eprintln!("{report}\n");
        }
        rows.push(row);
    }
    eprint!("[  +  ] {:<22}", "backoff strategies");
    let _ = std::io::stderr().flush();
    let started = Instant::now();
    let ((backoff, strategies), backoff_notes) = notes::capture(|| {
        // Every cell until its means are stable, judged against Brooker's simulator.
        let backoff = whatbreaks::backoff::BackoffComparison::new().run();
        (backoff, report::strategies(1000))
    });
    let backoff_report = backoff.to_report();
    eprintln!(
        " {:>6} ms{}",
        started.elapsed().as_millis(),
        if backoff_report.is_clean() {
            ""
        } else {
            "  unexpected verdict"
        }
    );
    for f in &backoff_report.findings {
        eprintln!("whatbreaks: tour: backoff strategies: {}", f.verdict);
    }
    let (w1, w2) = (22, 58);
    println!(
        "\n{:<w1$} | {:<w2$} | {:<w2$} | {:>8}",
        "pattern", "buggy code", "fixed code", "time"
    );
    println!("{}", "-".repeat(w1 + 2 * w2 + 17));
    let mut full = String::new();
    for r in &rows {
        println!(
            "{:<w1$} | {:<w2$} | {:<w2$} | {:>6}ms",
            r.pattern,
            verdict(&r.buggy, true),
            verdict(&r.fixed, false),
            r.wall.as_millis()
        );
        full.push_str(&format!(
            "## {}\n\nbuggy code:\n{}\n{}\n\nfixed code:\n{}\n{}\n\n",
            r.pattern,
            r.notes[0].join("\n"),
            r.buggy,
            r.notes[1].join("\n"),
            r.fixed
        ));
    }
    full.push_str(&format!(
        "## backoff strategies (AWS \"Exponential Backoff And Jitter\", reproduced)\n\n{}{backoff}\n",
        backoff_notes
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    ));
    println!(
        "\nbackoff strategies: {}; {}",
        backoff_report.key_figure,
        backoff.reference_summary()
    );
    // The audit: the checkout service described once, every question asked unprompted; then
    // an axum Router audited as it is, route by route (its payment client a tower service;
    // `examples/audit.rs` runs it with reqwest to `upstream.url()`).
    wrong += audit_section(
        &mut full,
        "audit (buggy, fixed)",
        "the checkout service, no per-pattern test written",
        &audit_code::SEEDED_BUGS,
        || audit_code::checkout(false).run(),
        || audit_code::checkout(true).run(),
    );
    let payments = audit_http::Payments::Tower;
    wrong += audit_section(
        &mut full,
        "audit of an axum app",
        "an axum Router, its routes as entry points",
        &audit_http::SHOP_BUGS,
        move || audit_http::shop(payments, false).run(),
        move || audit_http::shop(payments, true).run(),
    );
    wrong += backoff_report.findings.len();
    let dir = whatbreaks::config::report_dir();
    let path = dir.join("tour.txt");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, full)) {
        Ok(()) => println!(
            "\nfull findings, seeds and replay lines: {}",
            path.display()
        ),
        Err(e) => eprintln!("whatbreaks: could not write {}: {e}", path.display()),
    }
    match report::write(&whatbreaks::config::report_dir(), strategies, &rows) {
        Ok(pages) => {
            println!(
                "charts (HTML): {}, with a page per pattern ({} pages)",
                pages.overview.display(),
                pages.patterns.len()
            );
            println!(
                "every report of this and earlier runs: {}",
                pages.index.display()
            );
        }
        Err(e) => eprintln!("whatbreaks: could not write the HTML report: {e}"),
    }
    if wrong > 0 {
        eprintln!("whatbreaks: {wrong} verdict(s) differ from what the tour expects");
        std::process::exit(1);
    }
}
