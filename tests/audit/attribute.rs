//! `#[whatbreaks::audit]`: the fixed showcase service as one test.

use crate::audit_code::checkout;

#[whatbreaks::audit]
fn the_fixed_checkout_service() -> whatbreaks::audit::Audit {
    checkout(true).seed(0x5eed)
}

#[whatbreaks::audit]
#[should_panic(expected = "BREAKS")]
fn the_buggy_checkout_service_fails_with_the_table() -> whatbreaks::audit::Audit {
    checkout(false).seed(0x5eed)
}
