//! Third-party clocks on virtual time: a moka TTL cache and a tokio-cron-scheduler job,
//! unmodified, through the stampede and double-execution detectors.
//!
//! `cargo run --example clocks`

// The virtual system clock (Linux with glibc) and the counting allocator.
whatbreaks::install!();

#[path = "patterns/clocks.rs"]
mod clocks;

fn main() {
    if let Some(why) = whatbreaks::os_clock::unsupported() {
        println!("note: {why}");
    }
    let buggy = clocks::moka(clocks::expiry(), false);
    println!("moka cache-aside (get, load, insert), ttl 1s, under traffic:\n{buggy}\n");
    let fixed = clocks::moka(clocks::expiry(), true);
    println!("moka get_with, same traffic:\n{fixed}\n");
    let one = clocks::cron(1).run(clocks::cron_report_job);
    println!("tokio-cron-scheduler, per-minute job, one instance:\n{one}\n");
    let two = clocks::cron(2).run(clocks::cron_report_job);
    println!("the same job on two instances:\n{two}");
}
