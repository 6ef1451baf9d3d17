//! `#[double_execution_test]` as users write it: the Contract, passing and failing.

use crate::code::{self, run_scheduler};
use std::time::Duration;
use whatbreaks::Instance;

// The Contract, verbatim, on one instance: the in-process scheduler is fine there.
#[whatbreaks::double_execution_test(
    instances = 1,
    run_for = "10m",
    every = "1m",
    seed = 0x5eed,
    seeds = 5
)]
async fn in_process_lock_on_one_instance_passes(instance: whatbreaks::Instance) {
    // one instance's main: start the scheduler under test and run until cancelled
    run_scheduler(instance.clone(), |slot| {
        instance.effect("daily_report", slot)
    })
    .await;
}

// The Contract, verbatim, on two instances: every occurrence runs twice.
#[whatbreaks::double_execution_test(
    instances = 2,
    run_for = "10m",
    every = "1m",
    seed = 0x5eed,
    seeds = 5
)]
#[should_panic(
    expected = "double execution: 9 of 9 occurrences committed more than once across instances"
)]
async fn in_process_lock_on_two_instances_fails(instance: whatbreaks::Instance) {
    run_scheduler(instance.clone(), |slot| {
        instance.effect("daily_report", slot)
    })
    .await;
}

#[whatbreaks::double_execution_test(every = "1m", pause = "0@62s+45s", seed = 1, seeds = 5)]
#[should_panic(expected = "double execution: 1 of 9 occurrences committed more than once")]
async fn lease_without_fencing_fails_when_the_holder_pauses(instance: Instance) {
    code::leader_scheduler(instance, false).await;
}

#[whatbreaks::double_execution_test(every = "1m", pause = "0@62s+45s", seed = 1, seeds = 5)]
async fn lease_with_fencing_passes(instance: Instance) {
    code::leader_scheduler(instance, true).await;
}

// The fault examples, all at once.
#[whatbreaks::double_execution_test(
    instances = 2,
    run_for = "10m",
    every = "1m",
    pause = "1@90s+45s",
    skew = "1:+2s",
    crash = "0@5m",
    seed = 3,
    seeds = 5
)]
async fn claim_per_occurrence_passes_under_every_fault(instance: Instance) {
    code::claiming_scheduler(instance).await;
}

#[whatbreaks::double_execution_test(
    instances = 3,
    run_for = "5m",
    every = "30s",
    pause = "0@1m+10s, 2@2m+5s",
    crash = "1@1m+30s",
    skew = "0:-500ms",
    jump = "2@3m+1h",
    partition = "1@4m+20s",
    time_limit = "1h",
    watchdog = "30s",
    seed = "0x1"
)]
async fn every_argument_is_accepted(instance: Instance) {
    // Every instance tries every 30 s slot and claims it in the shared store.
    let (store, clock) = (instance.store(), instance.clock());
    loop {
        let slot = code::next_slot(clock.now(), Duration::from_secs(30));
        clock.sleep_until(slot).await;
        if store.insert_if_absent(&format!("job:{slot:?}"), "") {
            instance.effect("job", slot);
        }
    }
}

#[whatbreaks::double_execution_test]
async fn defaults_apply(instance: Instance) {
    assert!(instance.id() < 2);
    assert_eq!(instance.every(), None);
    // A run that commits nothing fails (its premise never happened): commit one effect each.
    instance.effect("started", u64::from(instance.id()));
}
