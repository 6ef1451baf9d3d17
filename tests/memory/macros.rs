//! `#[leak_test]` and `#[scale_test]` as users write them: passing tests, and failing ones
//! that must fail.

use crate::leak_code::{self, Handler, NotificationService, WebSocket};
use crate::scale_code::{self, Exporter};
use whatbreaks::LeakEnv;

// The Contract, with the fixed handler.
#[whatbreaks::leak_test(cycles = 1_000, seed = 0x5eed, seeds = 5, unit = "connection")]
async fn notification_listeners(env: whatbreaks::LeakEnv) {
    let svc = env.shared(NotificationService::new); // one instance across all cycles
    env.gauge("listeners", {
        let s = svc.clone();
        move || s.listener_count()
    });
    leak_code::handle_connection(&svc, WebSocket::connect()).await; // the body is one cycle
}

#[whatbreaks::leak_test(cycles = 500, seed = 0x5eed, unit = "connection")]
#[should_panic(expected = "slow leak: memory grows with every connection")]
async fn listeners_without_unsubscribe_fail(env: LeakEnv) {
    Handler::Leaky.cycle(&env).await;
}

#[whatbreaks::leak_test(
    cycles = 300,
    warmup = 0,
    extrapolate = 10_000_000,
    max_growth_per_cycle = "64B",
    unit = "request",
    time_limit = "1h",
    watchdog = "30s",
    seed = "0x1"
)]
async fn every_leak_argument_is_accepted(env: LeakEnv) {
    leak_code::broadcast_cycle(&env).await;
}

// Defaults: 2,000 cycles, enough for the 256-entry cache to reach its bound early on.
#[whatbreaks::leak_test]
async fn leak_defaults_apply(env: LeakEnv) {
    leak_code::bounded_cycle(&env).await;
}

// The Contract, with the streaming exporter (smaller sizes to stay fast).
#[whatbreaks::scale_test(sizes = [500, 2_000, 8_000], target = 500_000_000, max_peak = "1GiB")]
async fn export_orders(n: u64) {
    let table = whatbreaks::store::Table::generated(n, scale_code::order_row);
    scale_code::export_to_csv(&table, whatbreaks::sink::discard())
        .await
        .unwrap();
}

#[whatbreaks::scale_test(sizes = [500, 2_000, 8_000], target = 500_000_000, max_peak = "1GiB", seed = 0x5eed, seeds = 3)]
#[should_panic(expected = "unbounded memory at scale: peak memory grows with input size")]
async fn fetch_all_then_write_fails(n: u64) {
    let table = whatbreaks::store::Table::generated(n, scale_code::order_row);
    scale_code::export_to_csv_fetch_all(&table, whatbreaks::sink::discard())
        .await
        .unwrap();
}

#[whatbreaks::scale_test(
    sizes = [500, 5_000],
    target = 1_000_000,
    max_peak = "64MiB",
    max_time = "10m",
    unit = "order",
    seed = 7
)]
async fn every_scale_argument_is_accepted(n: u64) {
    Exporter::Streaming.export(n).await;
}
