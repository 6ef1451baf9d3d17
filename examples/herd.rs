//! Thundering herd: the seed article's retry wrapper, buggy and fixed, through the detector.
//!
//! `cargo run --example herd`
#[path = "patterns/herd.rs"]
mod herd;

fn main() {
    let buggy = herd::buggy(herd::scenario());
    println!("deterministic exponential backoff:\n{buggy}\n");
    let fixed = herd::fixed(herd::scenario());
    println!("full jitter:\n{fixed}");
}
