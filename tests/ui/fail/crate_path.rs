// A bad `crate = "…"` path is reported at its value.
use whatbreaks::Upstream;

#[whatbreaks::herd_test(crate = "not a path")]
async fn spaces(upstream: Upstream) {
    let _ = upstream;
}

#[whatbreaks::herd_test(crate = whatbreaks)]
async fn not_a_string(upstream: Upstream) {
    let _ = upstream;
}

fn main() {}
