//! The tour: every failure pattern's buggy and fixed code through its detector, as a table.
//!
//! `cargo run --release --example tour`
//!
//! Prints one row per pattern (the verdict on the buggy code with its key figure, the verdict
//! on the fixed code, the wall time) and writes every finding in full to
//! `target/whatbreaks/tour.txt`, and the same runs with charts to `target/whatbreaks/tour.html`
//! (arrivals per retry strategy, loads per key, pool occupancy, memory curves, the effects of
//! each instance). `WHATBREAKS_SEED` picks the seed, as everywhere.
use std::time::Instant;
use whatbreaks::Report;

#[path = "patterns/herd.rs"]
mod herd;
#[path = "patterns/http.rs"]
mod http;
#[path = "patterns/leak.rs"]
mod leak;
#[path = "patterns/scale.rs"]
mod scale;
// The leak and scale rows measure the heap: the counting allocator must be installed.
whatbreaks::install_counting_allocator!();
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
#[path = "patterns/stampede.rs"]
mod stampede;

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
    // Panics inside simulated code are part of the findings; keep the table readable.
    std::panic::set_hook(Box::new(|_| {}));
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
        row("cache stampede", || {
            (
                stampede::buggy(stampede::cold(1)),
                stampede::fixed(stampede::cold(2)),
            )
        }),
        row("stampede, 2 inst.", || {
            (
                stampede::per_key_mutex(stampede::cold(2)),
                stampede::fixed(stampede::cold(2)),
            )
        }),
        row("stampede, expiry", || {
            (
                stampede::buggy(stampede::expiry(1)),
                stampede::Strategy::XFetch.run(stampede::expiry(1)),
            )
        }),
        row("pool: leak", || {
            (
                pool::buggy(pool::leak_scenario()),
                pool::fixed(pool::leak_scenario()),
            )
        }),
        row("pool: slow hold", || {
            (
                pool::slow_upstream(pool::slow_upstream_scenario(), true),
                pool::slow_upstream(pool::slow_upstream_scenario(), false),
            )
        }),
        row("pool: deadlock", || {
            (
                pool::nested(pool::nested_scenario(), true),
                pool::nested(pool::nested_scenario(), false),
            )
        }),
        row("pool: lost conns", || {
            (
                pool::lost_connections(pool::lost_scenario(), false),
                pool::lost_connections(pool::lost_scenario(), true),
            )
        }),
        row("check-then-act race", || {
            (race::buggy(race::scenario()), race::fixed(race::scenario()))
        }),
        row("double execution", || {
            (
                scheduler::in_process(scheduler::scenario()),
                scheduler::claimed(scheduler::scenario().crash("0@5m")),
            )
        }),
        row("lease w/o fencing", || {
            let t = || scheduler::scenario().pause(scheduler::HOLDER_PAUSE);
            (scheduler::lease_only(t()), scheduler::lease_fenced(t()))
        }),
        row("slow leak", || {
            (leak::buggy(leak::scenario()), leak::fixed(leak::scenario()))
        }),
        row("unbounded memory", || {
            (
                scale::buggy(scale::scenario()),
                scale::fixed(scale::scenario()),
            )
        }),
        row("auth context, input", || {
            (http::tour(false), http::tour(true))
        }),
    ];
    let (w1, w2) = (22, 58);
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
    let charted: Vec<(&str, &Report, &Report)> = rows
        .iter()
        .filter(|r| !r.buggy.charts.is_empty() || !r.fixed.charts.is_empty())
        .map(|r| (r.pattern, &r.buggy, &r.fixed))
        .collect();
    match report::write("tour", vec![report::strategies(1000)], &charted) {
        Ok(path) => println!("charts (HTML): {}", path.display()),
        Err(e) => eprintln!("whatbreaks: could not write the HTML report: {e}"),
    }
    if wrong > 0 {
        eprintln!("whatbreaks: {wrong} verdict(s) differ from what the tour expects");
        std::process::exit(1);
    }
}
