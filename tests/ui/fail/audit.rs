// `#[whatbreaks::audit]`: arguments other than `crate`, parameters and `async` are errors at
// the token.
use whatbreaks::audit::Audit;

#[whatbreaks::audit(seeds = 3)]
fn with_an_argument() -> Audit {
    Audit::new("a")
}

#[whatbreaks::audit]
fn with_a_parameter(name: &str) -> Audit {
    Audit::new(name)
}

#[whatbreaks::audit]
async fn asynchronous() -> Audit {
    Audit::new("a")
}

fn main() {}
