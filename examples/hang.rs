//! Hung upstreams and missing timeouts: a retry loop without a timeout, one with a timeout
//! too long, and the fix, each through the detector.
//!
//! `cargo run --example hang`
#[path = "patterns/hang.rs"]
mod hang;

fn main() {
    println!("retries, no timeout:\n{}\n", hang::buggy(hang::scenario()));
    println!(
        "a 30 s timeout per attempt:\n{}\n",
        hang::slow_timeout(hang::scenario())
    );
    println!(
        "1 s per attempt, 5 s overall:\n{}",
        hang::fixed(hang::scenario())
    );
}
