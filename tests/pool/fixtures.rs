//! Tests that fail on purpose. They are `#[ignore]`d; `e2e` runs them in a child process and
//! checks what the user sees.

use crate::code;
use whatbreaks::SimPool;

#[whatbreaks::pool_test(size = 4, clients = 200, error_rate = 0.1)]
#[ignore = "fails on purpose: run by e2e::failure_output_has_the_documented_shape"]
async fn process_order_leaks(pool: SimPool) {
    let _ = code::process_order(&pool, "order-1").await;
}
