// `#[whatbreaks::audit]` over a function that returns the description, with and without
// `crate = "…"`.
use whatbreaks::audit::{Audit, Ctx, World};

#[whatbreaks::audit]
fn plain() -> Audit {
    Audit::new("plain").handler("noop", |_w: World, _c: Ctx| async {})
}

#[whatbreaks::audit(crate = "::whatbreaks")]
fn with_crate_path() -> Audit {
    Audit::new("path")
}

fn main() {}
