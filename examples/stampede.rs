//! Cache stampede: the seed article's `getProduct` cache-aside, its per-key mutex fix on one
//! and on two instances, and a fix that holds on two instances, through the detector.
//!
//! `cargo run --example stampede`
#[path = "patterns/stampede.rs"]
mod stampede;

fn main() {
    let buggy = stampede::buggy(stampede::cold(1));
    println!("cache-aside, 100 requests on a cold key:\n{buggy}\n");
    let one = stampede::per_key_mutex(stampede::cold(1));
    println!("per-key mutex with double-checked locking, 1 instance:\n{one}\n");
    let two = stampede::per_key_mutex(stampede::cold(2));
    println!("the same per-key mutex, 2 instances:\n{two}\n");
    let fixed = stampede::fixed(stampede::cold(2));
    println!("a lease in the shared cache (set_nx, then re-check), 2 instances:\n{fixed}\n");
    let expiring = stampede::buggy(stampede::expiry(1));
    println!("cache-aside, key expiring every second under 100 rps:\n{expiring}\n");
    let xfetch = stampede::Strategy::XFetch.run(stampede::expiry(1));
    println!("XFetch with singleflight, same traffic:\n{xfetch}\n");
    let swr = stampede::Strategy::StaleWhileRevalidate.run(stampede::expiry(1));
    println!("stale-while-revalidate with coalescing, same traffic:\n{swr}");
}
