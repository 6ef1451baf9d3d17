//! The audit: a small checkout service described once, every production question that
//! applies asked of it, with no per-pattern test written. The buggy service, then the fixed;
//! then an axum `Router` audited as it is, route by route.
//!
//! `cargo run --release --example audit`
#[path = "patterns/audit.rs"]
mod audit_code;
#[path = "patterns/audit_http.rs"]
mod audit_http;
#[path = "patterns/herd.rs"]
mod herd;
#[path = "patterns/leak.rs"]
mod leak;
#[path = "patterns/n_plus_one.rs"]
mod n_plus_one;
#[path = "patterns/pool.rs"]
mod pool;
#[path = "patterns/race.rs"]
mod race;
#[path = "patterns/retry.rs"]
mod retry;
#[path = "patterns/scale.rs"]
mod scale;
#[path = "patterns/scheduler.rs"]
mod scheduler;
#[path = "patterns/seams.rs"]
mod seams;
#[path = "patterns/stampede.rs"]
mod stampede;

// The leak question counts the heap (and the clock follows the simulation).
whatbreaks::install!();

fn main() {
    let buggy = audit_code::checkout(false).run();
    println!("{}", buggy.table());
    let fixed = audit_code::checkout(true).run();
    println!("{}", fixed.table());
    println!(
        "wall time: {:.2?} (buggy) + {:.2?} (fixed); `{{report}}` of a run shows every break's finding\n",
        buggy.wall_time, fixed.wall_time
    );
    // An axum Router audited as it is: reqwest to `upstream.url()`, redis-rs on the cache.
    let payments = audit_http::Payments::Reqwest;
    let buggy = audit_http::shop(payments, false).run();
    println!("{}", buggy.table());
    let fixed = audit_http::shop(payments, true).run();
    println!("{}", fixed.table());
    println!(
        "wall time: {:.2?} (buggy) + {:.2?} (fixed)",
        buggy.wall_time, fixed.wall_time
    );
}
