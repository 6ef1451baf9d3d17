//! `#[stampede_test]` as users write it: passing tests, and failing ones that must fail.

use crate::code::{LeasedProducts, LockedProducts, Strategy, get_product};

#[whatbreaks::stampede_test(clients = 100, keys = 1, instances = 1, seed = 0x5eed, seeds = 5)]
async fn per_key_mutex_holds_on_one_instance(env: whatbreaks::StampedeEnv) {
    let svc = env.per_instance(|| LockedProducts::new(env.cache(), env.db(), env.ttl()));
    let _ = svc.get_product(&env.key()).await;
}

#[whatbreaks::stampede_test(clients = 100, keys = 1, instances = 2, seed = 0x5eed, seeds = 5)]
#[should_panic(
    expected = "cache stampede: in-process coalescing was defeated by a second instance"
)]
async fn per_key_mutex_breaks_on_two_instances(env: whatbreaks::StampedeEnv) {
    let svc = env.per_instance(|| LockedProducts::new(env.cache(), env.db(), env.ttl()));
    let _ = svc.get_product(&env.key()).await;
}

#[whatbreaks::stampede_test(clients = 100, instances = 3, seed = 0x5eed, seeds = 5)]
async fn lease_holds_on_three_instances(env: whatbreaks::StampedeEnv) {
    let svc = env.per_instance(|| LeasedProducts::new(env.cache(), env.db(), env.ttl()));
    let _ = svc.get_product(&env.key()).await;
}

#[whatbreaks::stampede_test(seed = 0x5eed, seeds = 5)]
#[should_panic(expected = "cache stampede: 100 database loads of key \"1\" in one cold start")]
async fn cache_aside_fails(env: whatbreaks::StampedeEnv) {
    let _ = get_product(&env.cache(), &env.db(), &env.key(), env.ttl()).await;
}

#[whatbreaks::stampede_test(
    scenario = "expiry",
    rps = 50,
    duration = "5s",
    ttl = "500ms",
    keys = 2,
    instances = 2,
    max_loads_per_key = 1,
    db_latency = "50ms",
    cache_latency = "1ms",
    failing_loads = "1s..2s",
    clients = 10,
    time_limit = "10m",
    watchdog = "30s",
    seed = "0x1"
)]
async fn every_argument_is_accepted(env: whatbreaks::StampedeEnv) {
    Strategy::Lease.serve(&env).await;
}

#[whatbreaks::stampede_test]
async fn defaults_apply(env: whatbreaks::StampedeEnv) {
    Strategy::SingleFlight.serve(&env).await;
}
