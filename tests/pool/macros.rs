//! `#[pool_test]` as users write it: the Contract, passing and failing.

use crate::code;
use whatbreaks::SimPool;

async fn process_order_with(pool: &SimPool, order_id: &str) -> Result<(), whatbreaks::QueryError> {
    code::process_order_fixed(pool, order_id).await
}

#[whatbreaks::pool_test(size = 4, clients = 200, error_rate = 0.1, seed = 1, seeds = 5)]
async fn process_order(pool: whatbreaks::SimPool) {
    let _ = process_order_with(&pool, "order-1").await;
}

#[whatbreaks::pool_test(size = 4, clients = 200, error_rate = 0.1, seed = 1, seeds = 5)]
#[should_panic(expected = "connection leak: 4 connection(s) never returned to the pool")]
async fn process_order_leaks(pool: whatbreaks::SimPool) {
    let _ = code::process_order(&pool, "order-1").await;
}

#[whatbreaks::pool_test(size = 4, clients = 4, window = "0s..1ms", seed = 2)]
#[should_panic(expected = "pool deadlock: every connection is held by a task")]
async fn nested_acquire_deadlocks(pool: SimPool) {
    let _ = code::show_order(&pool).await;
}

#[whatbreaks::pool_test(
    size = 8,
    clients = 50,
    window = "0s..2s",
    acquire_timeout = "1s",
    error_rate = 0.05,
    hang_rate = 0.01,
    slow_rate = 0.01,
    slow_latency = "100ms",
    latency = "2ms",
    max_wait = "2s",
    slow_hold = "200ms",
    time_limit = "10m",
    watchdog = "30s",
    seed = "0x1"
)]
async fn every_argument_is_accepted(pool: SimPool) {
    let _ = code::report_stock_fixed(&pool).await;
}

#[whatbreaks::pool_test(acquire_timeout = "none", clients = 20)]
async fn defaults_apply(pool: SimPool) {
    let _ = code::show_order_fixed(&pool).await;
}
