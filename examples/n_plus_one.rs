//! N+1 queries: a list handler with a query per item, and its batched fix, each through the
//! detector.
//!
//! `cargo run --example n_plus_one`
#[path = "patterns/n_plus_one.rs"]
mod n_plus_one;

fn main() {
    let buggy = n_plus_one::buggy(n_plus_one::scenario());
    println!("a query per post for its author:\n{buggy}\n");
    let fixed = n_plus_one::fixed(n_plus_one::scenario());
    println!("one batched query for every author:\n{fixed}");
}
