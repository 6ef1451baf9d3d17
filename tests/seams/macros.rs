//! The seams under the attribute macros, as users write them.

use crate::code::{RetryFailures, fetch_price, get_product, get_product_leased};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::retry::Retry;

#[whatbreaks::stampede_test(clients = 100, keys = 1, seed = 0x5eed, seeds = 5)]
#[should_panic(expected = "cache stampede: 100 database loads of key \"1\" in one cold start")]
async fn redis_cache_aside_fails(env: whatbreaks::StampedeEnv) {
    let mut conn = env.redis();
    let _ = get_product(&mut conn, &env.db(), &env.key(), 60).await;
}

#[whatbreaks::stampede_test(clients = 100, keys = 1, instances = 1, seed = 0x5eed, seeds = 5)]
async fn redis_lease_holds_on_one_instance(env: whatbreaks::StampedeEnv) {
    let mut conn = env.redis();
    let _ = get_product_leased(&mut conn, &env.db(), &env.key(), 60).await;
}

#[whatbreaks::stampede_test(clients = 100, keys = 2, instances = 2, seed = 0x5eed, seeds = 5)]
async fn redis_lease_holds_on_two_instances(env: whatbreaks::StampedeEnv) {
    let mut conn = env.redis();
    let _ = get_product_leased(&mut conn, &env.db(), &env.key(), 60).await;
}

#[whatbreaks::retry_storm_test(
    rps = 50,
    run_for = "30s",
    outage = "5s..20s",
    seed = 0x5eed,
    seeds = 3
)]
#[should_panic(expected = "retry storm: retries amplify load")]
async fn hyper_retry_without_budget_fails(upstream: whatbreaks::Upstream) {
    let client = Client::builder(TokioExecutor::new()).build(upstream.connector());
    let _ = fetch_price(Retry::new(RetryFailures::unbudgeted(), client)).await;
}

#[whatbreaks::retry_storm_test(
    rps = 50,
    run_for = "30s",
    outage = "5s..20s",
    seed = 0x5eed,
    seeds = 3
)]
async fn hyper_retry_with_tps_budget_holds(upstream: whatbreaks::Upstream) {
    let client = Client::builder(TokioExecutor::new()).build(upstream.connector());
    let _ = fetch_price(Retry::new(RetryFailures::budgeted(), client)).await;
}
