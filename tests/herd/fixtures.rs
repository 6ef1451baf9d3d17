//! Tests that fail on purpose. They are `#[ignore]`d; `e2e` runs them in a child process and
//! checks what the user sees.

use crate::code;
use std::time::Duration;
use whatbreaks::{Request, Upstream};

#[whatbreaks::herd_test(clients = 1000)]
#[ignore = "fails on purpose: run by e2e::failure_output_has_the_documented_shape"]
async fn herd_without_jitter(upstream: Upstream) {
    let _ = code::retry_request(&upstream, Request::get("/price"), 4, Duration::from_secs(1)).await;
}
