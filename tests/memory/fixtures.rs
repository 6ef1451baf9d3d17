//! Tests that fail on purpose. They are `#[ignore]`d; `e2e` runs them in a child process and
//! checks what the user sees.

use crate::leak_code::Handler;
use crate::scale_code::Exporter;
use whatbreaks::LeakEnv;

#[whatbreaks::leak_test(cycles = 1_000, warmup = 100, unit = "connection")]
#[ignore = "fails on purpose: run by e2e::leak_failure_output_has_the_documented_shape"]
async fn listeners_never_removed(env: LeakEnv) {
    Handler::Leaky.cycle(&env).await;
}

#[whatbreaks::scale_test(sizes = [500, 2_000, 8_000], target = 500_000_000, max_peak = "1GiB")]
#[ignore = "fails on purpose: run by e2e::scale_failure_output_has_the_documented_shape"]
async fn export_with_fetch_all(n: u64) {
    Exporter::FetchAll.export(n).await;
}
