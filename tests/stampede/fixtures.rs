//! Tests that fail on purpose. They are `#[ignore]`d; `e2e` runs them in a child process and
//! checks what the user sees.

use crate::code::LockedProducts;

#[whatbreaks::stampede_test(clients = 100, instances = 2)]
#[ignore = "fails on purpose: run by e2e::failure_output_has_the_documented_shape"]
async fn per_key_mutex_on_two_instances(env: whatbreaks::StampedeEnv) {
    let svc = env.per_instance(|| LockedProducts::new(env.cache(), env.db(), env.ttl()));
    let _ = svc.get_product(&env.key()).await;
}
