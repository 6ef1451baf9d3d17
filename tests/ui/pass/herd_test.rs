use whatbreaks::Upstream;

#[whatbreaks::herd_test(clients = 10, outage = "0s..1s", seed = 0x5eed, seeds = 2, max_cohort = 0.25)]
async fn typed_fully(upstream: whatbreaks::Upstream) {
    let _ = upstream.call(whatbreaks::Request::get("/")).await;
}

#[whatbreaks::herd_test]
#[ignore]
async fn with_defaults_and_extra_attributes(_upstream: Upstream) {}

fn main() {}
