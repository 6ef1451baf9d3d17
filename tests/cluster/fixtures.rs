//! Tests that fail on purpose. They are `#[ignore]`d; `e2e` runs them in a child process and
//! checks what the user sees.

use crate::code;

#[whatbreaks::double_execution_test(every = "1m", pause = "0@62s+45s")]
#[ignore = "fails on purpose: run by e2e::failure_output_has_the_documented_shape"]
async fn lease_without_fencing(instance: whatbreaks::Instance) {
    code::leader_scheduler(instance, false).await;
}
