//! Unbounded memory at scale: the seed article's PostgreSQL-to-CSV export, `fetch_all()`
//! versus a streaming cursor, through the detector.
//!
//! `cargo run --release --example scale`
whatbreaks::install_counting_allocator!();

#[path = "patterns/scale.rs"]
mod scale;

fn main() {
    let buggy = scale::buggy(scale::scenario());
    println!("fetch_all() then write:\n{buggy}\n");
    let fixed = scale::fixed(scale::scenario());
    println!("server-side cursor, bounded buffer:\n{fixed}");
}
