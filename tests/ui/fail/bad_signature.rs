// Signature mistakes: each points at the offending token.
use whatbreaks::Upstream;

#[whatbreaks::herd_test]
fn missing_async(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::herd_test]
async fn wrong_parameter_type(upstream: String) {
    let _ = upstream;
}

#[whatbreaks::herd_test]
async fn no_parameter() {}

#[whatbreaks::herd_test]
async fn two_parameters(a: Upstream, b: Upstream) {
    let _ = (a, b);
}

#[whatbreaks::herd_test]
#[test]
async fn second_test_attribute(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::herd_test]
async fn returns_a_value(upstream: Upstream) -> u32 {
    let _ = upstream;
    1
}

#[whatbreaks::herd_test]
async fn generic<T>(upstream: Upstream) {
    let _ = upstream;
}

fn main() {}
