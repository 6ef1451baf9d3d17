//! Same seed, same run: reports of equal seeds are equal, to the byte.

use crate::leak_code::{self, Handler};
use crate::scale_code::{self, Exporter};
use whatbreaks::LeakEnv;

#[test]
fn leak_reports_of_equal_seeds_are_equal() {
    let run = |handler: Handler| {
        leak_code::scenario()
            .iterations(400)
            .warmup(40)
            .seed(77)
            .seeds(3)
            .run(move |env: LeakEnv| async move { handler.cycle(&env).await })
    };
    for handler in [Handler::Leaky, Handler::Fixed] {
        let (a, b) = (run(handler), run(handler));
        assert_eq!(a.render(), b.render(), "{handler:?}");
        assert_eq!(a.figures, b.figures, "{handler:?}");
    }
}

#[test]
fn scale_reports_of_equal_seeds_are_equal() {
    let run = || {
        scale_code::small_scenario()
            .seed(5)
            .run(|n: u64| async move { Exporter::Collected.export(n).await })
    };
    let (a, b) = (run(), run());
    assert_eq!(a.render(), b.render());
    assert_eq!(a.figures, b.figures);
}

#[test]
fn reference_leak_run_is_pinned() {
    // Memory is measured, not simulated, but the cycle schedule and the gauge are seeded: the
    // key figure of the reference run stays the same across refactors.
    let report = leak_code::scenario()
        .iterations(400)
        .warmup(40)
        .seed(0x5eed)
        .run(move |env: LeakEnv| async move { Handler::Leaky.cycle(&env).await });
    assert_eq!(
        report.key_figure, "+1.5 KiB per connection (+1.4 GiB at 1,000,000)",
        "reference leak run changed"
    );
}
