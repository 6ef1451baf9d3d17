//! Connection pools: the seed article's `processOrder` leak, a connection held across a slow
//! upstream call, nested acquires that deadlock, and queries that hang without timeouts; each
//! buggy and fixed, through the pool detectors.
//!
//! `cargo run --example pool`
#[path = "patterns/pool.rs"]
mod pool;

fn main() {
    let cases = [
        (
            "processOrder, release skipped by `?` on the error path",
            pool::buggy(pool::leak_scenario()),
        ),
        (
            "processOrder in a transaction wrapper with timeouts",
            pool::fixed(pool::leak_scenario()),
        ),
        (
            "connection held across a 2 s payment call",
            pool::slow_upstream(pool::slow_upstream_scenario(), true),
        ),
        (
            "connection released before the payment call",
            pool::slow_upstream(pool::slow_upstream_scenario(), false),
        ),
        (
            "nested acquire, 4 clients on 4 connections",
            pool::nested(pool::nested_scenario(), true),
        ),
        (
            "one connection passed down",
            pool::nested(pool::nested_scenario(), false),
        ),
        (
            "hanging queries, no timeouts anywhere",
            pool::lost_connections(pool::lost_scenario(), false),
        ),
        (
            "query timeouts and an acquire timeout",
            pool::lost_connections(pool::lost_scenario(), true),
        ),
    ];
    for (title, report) in cases {
        println!("== {title}\n{report}\n");
    }
}
