//! Trust boundaries: the orders API (auth context) and the profile update (mass assignment,
//! unvalidated input), buggy and fixed, through the probes; then the accounts API (a JSON
//! write by numeric id) with no ownership check, one after the write, and the fix.
//!
//! `cargo run --example http` (the examples build with the `http` feature on)
#[path = "patterns/http.rs"]
mod http;

fn main() {
    println!("buggy:\n{}\n", http::tour(false));
    println!("fixed:\n{}\n", http::tour(true));
    for check in [
        http::AccountsCheck::None,
        http::AccountsCheck::AfterTheWrite,
        http::AccountsCheck::Before,
    ] {
        let report = http::block_on(http::probe_accounts(check));
        println!("accounts, ownership check {check:?}:\n{report}\n");
    }
}
