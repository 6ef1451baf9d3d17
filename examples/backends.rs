//! Real backends: the double-tap like and the double sign-up (`transaction()`, an app error
//! type) on real PostgreSQL connections, a leaked connection of
//! a real deadpool-postgres pool, schedulers coordinating through Redis claims and PostgreSQL
//! advisory locks, and cache-aside on a real Redis; each buggy and fixed, in real time.
//!
//! Needs PostgreSQL and Redis (`WHATBREAKS_PG_URL`, `WHATBREAKS_REDIS_URL`, defaulting to the
//! local ones): `cargo run --features postgres,redis --example backends`
#[path = "patterns/backends.rs"]
mod backends;

fn main() {
    whatbreaks::postgres::require();
    whatbreaks::redis::require();
    let cases = [
        (
            "like toggle: select, then insert",
            backends::likes_report(false),
        ),
        (
            "like toggle: FOR UPDATE + ON CONFLICT DO NOTHING",
            backends::likes_report(true),
        ),
        (
            "sign-up: select, then insert, in a transaction",
            backends::sign_up_report(false),
        ),
        (
            "sign-up: primary key + ON CONFLICT DO NOTHING",
            backends::sign_up_report(true),
        ),
        (
            "pooled connection mem::forget-ed",
            backends::pool_report(true),
        ),
        (
            "pooled connection dropped (RAII)",
            backends::pool_report(false),
        ),
        (
            "scheduler on every instance",
            backends::cluster().run(backends::run_everywhere),
        ),
        (
            "Redis claims, holder pauses, no fencing",
            backends::claims_report(false),
        ),
        (
            "Redis claims, holder pauses, fencing tokens",
            backends::claims_report(true),
        ),
        (
            "advisory lock: lock, run, unlock",
            backends::advisory_report(false),
        ),
        (
            "advisory lock: leader keeps it",
            backends::advisory_report(true),
        ),
        (
            "cache-aside on a cold key",
            backends::stampede_report(false),
        ),
        (
            "Redis lock around the load",
            backends::stampede_report(true),
        ),
    ];
    for (name, report) in cases {
        println!("== {name}\n{}\n", report.render());
    }
}
