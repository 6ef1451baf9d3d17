//! Check-then-act races: the double-tap "like", buggy and fixed, through the explorer.
//!
//! `cargo run --example race`
#[path = "patterns/race.rs"]
mod race;

fn main() {
    let buggy = race::buggy(race::scenario());
    println!("select, then insert, then update the counter:\n{buggy}\n");
    let fixed = race::fixed(race::scenario());
    println!("row lock in a transaction, unique constraint:\n{fixed}");
}
