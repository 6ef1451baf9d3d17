//! Testing the code you already have: a tower retry stack over hyper-util's client, and
//! cache-aside over redis-rs, unchanged, against the simulated upstream and cache, each
//! buggy/fixed pair through its detector.
//!
//! `cargo run --release --example seams`
#[path = "patterns/seams.rs"]
mod seams;

fn main() {
    let buggy = seams::hyper_retry_unbudgeted(1);
    println!("tower Retry over hyper-util's Client, 3 retries, no budget:\n{buggy}\n");
    let fixed = seams::hyper_retry_budgeted(1);
    println!("the same stack with tower's TpsBudget:\n{fixed}\n");
    let buggy = seams::redis_cache_aside(seams::cold(1, 2));
    println!(
        "redis-rs cache-aside (GET, load, SETEX), 100 requests on a cold key, 2 instances:\n{buggy}\n"
    );
    let fixed = seams::redis_leased(seams::cold(1, 2));
    println!(
        "redis-rs SET NX PX lease with a re-check and a compare-and-delete unlock, 2 instances:\n{fixed}"
    );
}
