//! Retry storm and duplicate charges: the seed article's naive payment retry, buggy and
//! fixed, through the detector; then the AWS "Exponential Backoff And Jitter" comparison.
//!
//! `cargo run --release --example retry`
#[path = "patterns/retry.rs"]
mod retry;

use whatbreaks::backoff::BackoffComparison;

fn main() {
    println!(
        "three immediate attempts of POST /charge, provider down 10s..40s:\n{}\n",
        retry::buggy(retry::storm())
    );
    println!(
        "the same, with 5% of charges losing their response:\n{}\n",
        retry::buggy(retry::ambiguous())
    );
    println!(
        "the fix (idempotency key, full jitter, classification, retry budget):\n{}\n{}\n",
        retry::fixed(retry::storm_with_ambiguity()),
        retry::fixed(retry::ambiguous())
    );
    for (name, policy, _) in retry::VARIANTS {
        let report = retry::with_policy(retry::storm_with_ambiguity(), policy);
        println!("{name}: {}", report.key_figure);
    }
    println!();
    let table = BackoffComparison::new().run();
    println!("{table}");
    let report = table.to_report();
    println!("{}", report.key_figure);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/whatbreaks");
    let path = dir.join("backoff.txt");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, table.to_string())) {
        Ok(()) => println!("table written to {}", path.display()),
        Err(e) => eprintln!("whatbreaks: could not write {}: {e}", path.display()),
    }
    if !report.is_clean() {
        eprintln!("{report}");
        std::process::exit(1);
    }
}
