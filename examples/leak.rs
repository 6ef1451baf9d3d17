//! Slow leak: the seed article's WebSocket listener leak, buggy and fixed, through the
//! detector. The counting allocator must be installed in every binary that measures memory.
//!
//! `cargo run --example leak`
whatbreaks::install_counting_allocator!();

#[path = "patterns/leak.rs"]
mod leak;

fn main() {
    let buggy = leak::buggy(leak::scenario());
    println!("listeners never removed:\n{buggy}\n");
    let fixed = leak::fixed(leak::scenario());
    println!("unsubscribe on close and on error, remove empty sets:\n{fixed}");
}
