// `crate = "…"` for a renamed dependency (`wb = { package = "whatbreaks", … }`): the expansion
// names every item through the given path instead of `::whatbreaks`.
extern crate whatbreaks as wb;

#[wb::herd_test(crate = "wb", clients = 10)]
async fn renamed(upstream: wb::Upstream) {
    let _ = upstream.call(wb::Request::get("/")).await;
}

mod deps {
    pub use ::whatbreaks;
}

#[wb::race_test(crate = "crate::deps::whatbreaks", iterations = 10)]
async fn through_a_module() {}

fn main() {}
