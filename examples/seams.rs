//! Testing the code you already have: a tower retry stack over hyper-util's client,
//! reqwest + reqwest-retry against `upstream.url()` (a loopback socket on virtual time), and
//! cache-aside over redis-rs, unchanged, against the simulated upstream and cache, each
//! buggy/fixed pair through its detector.
//!
//! `cargo run --release --example seams`
#[path = "patterns/seams.rs"]
mod seams;

// reqwest-retry schedules its retries on `chrono::Utc::now()`: the system clock follows the
// simulation.
whatbreaks::install!();

fn main() {
    let buggy = seams::hyper_retry_unbudgeted(1);
    println!("tower Retry over hyper-util's Client, 3 retries, no budget:\n{buggy}\n");
    let fixed = seams::hyper_retry_budgeted(1);
    println!("the same stack with tower's TpsBudget:\n{fixed}\n");
    let buggy = seams::reqwest_herd_unjittered(1);
    println!("reqwest-retry, exponential backoff without jitter, 200 clients:\n{buggy}\n");
    let fixed = seams::reqwest_herd_jittered(1);
    println!("reqwest-retry's default full jitter:\n{fixed}\n");
    let buggy = seams::reqwest_charges(1, false);
    println!("POST /charge through reqwest-retry, no idempotency key:\n{buggy}\n");
    let fixed = seams::reqwest_charges(1, true);
    println!("the same POST with one Idempotency-Key per order:\n{fixed}\n");
    let buggy = seams::redis_cache_aside(seams::cold(1, 2));
    println!(
        "redis-rs cache-aside (GET, load, SETEX), 100 requests on a cold key, 2 instances:\n{buggy}\n"
    );
    let fixed = seams::redis_leased(seams::cold(1, 2));
    println!(
        "redis-rs SET NX PX lease with a re-check and a compare-and-delete unlock, 2 instances:\n{fixed}"
    );
}
