//! Trust boundaries: the orders API (auth context) and the profile update (mass assignment,
//! unvalidated input), buggy and fixed, through the probes.
//!
//! `cargo run --example http` (the examples build with the `http` feature on)
#[path = "patterns/http.rs"]
mod http;

fn main() {
    println!("buggy:\n{}\n", http::tour(false));
    println!("fixed:\n{}", http::tour(true));
}
