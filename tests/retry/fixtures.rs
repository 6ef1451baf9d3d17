//! Tests that fail on purpose. They are `#[ignore]`d; `e2e` runs them in a child process and
//! checks what the user sees.

use crate::code;
use whatbreaks::Upstream;

#[whatbreaks::retry_storm_test(rps = 50, degraded = "10s..40s")]
#[ignore = "fails on purpose: run by e2e::failure_output_has_the_documented_shape"]
async fn naive_payment_retry(upstream: Upstream) {
    let _ = code::charge_naive(&upstream).await;
}
