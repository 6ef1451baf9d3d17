//! Double execution: the seed article's scheduler with an in-process lock, the lease without
//! fencing tokens, and the two fixes, each through the detector.
//!
//! `cargo run --example scheduler`
#[path = "patterns/scheduler.rs"]
mod scheduler;

use scheduler::{HOLDER_PAUSE, scenario};

fn main() {
    let one = scheduler::in_process(scenario().instances(1));
    println!("in-process lock, one instance:\n{one}\n");
    let two = scheduler::in_process(scenario());
    println!("in-process lock, two instances:\n{two}\n");
    let lease = scheduler::lease_only(scenario().pause(HOLDER_PAUSE));
    println!("leader lease without fencing, the leader pauses past its lease:\n{lease}\n");
    let fenced = scheduler::lease_fenced(scenario().pause(HOLDER_PAUSE));
    println!("leader lease with fencing tokens checked at the sink, same pause:\n{fenced}\n");
    let claimed = scheduler::claimed(scenario().pause("1@90s+45s").skew("1:+2s").crash("0@5m"));
    println!("claim per occurrence in the shared store, instance 0 crashes at 5m:\n{claimed}");
}
