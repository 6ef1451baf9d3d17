//! Silent errors: a handler that swallows its errors into a 200, one that logs them without
//! the request id, and the fix, each through the detector.
//!
//! `cargo run --example silent`
#[path = "patterns/silent.rs"]
mod silent;

fn main() {
    println!(
        "errors mapped to a default value and a 200:\n{}\n",
        silent::buggy(silent::scenario())
    );
    println!(
        "errors logged without the request id:\n{}\n",
        silent::unkeyed(silent::scenario())
    );
    println!(
        "a span with the request id, a log and a 502:\n{}",
        silent::fixed(silent::scenario())
    );
}
