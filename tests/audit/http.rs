//! An axum `Router` audited as it is: its routes are entry points, its dependencies come from
//! the world (a tower HTTP client on the payments upstream, redis-rs on the cache), and the
//! questions that apply are asked of each route. (The same app with reqwest to
//! `upstream.url()` runs in `examples/audit.rs`: the same verdicts, at 30x the cost per call,
//! too slow for a debug test; reqwest itself is proven in `tests/seams`.)

use crate::audit_http::{Payments, SHOP_BUGS};
use crate::{assert_breaks_exactly, seeds};
use whatbreaks::audit::{Audit, Ctx, Verdict, World};

fn shop(fixed: bool) -> Audit {
    crate::audit_http::shop(Payments::Tower, fixed)
}

#[test]
fn the_buggy_shop_breaks_where_it_was_seeded_and_nowhere_else() {
    for seed in seeds() {
        let report = shop(false).seed(seed).run();
        assert_breaks_exactly(&report, &SHOP_BUGS, seed);
    }
}

#[test]
fn the_fixed_shop_audits_clean() {
    for seed in seeds() {
        let report = shop(true).seed(seed).run();
        assert!(report.holds(), "seed {seed:#x}:\n{report}");
        // The route's code decided what applies: the product route touches the cache and
        // the database, the charge route the payments upstream.
        for (question, entry) in [
            ("stampede", "GET /products/{id}"),
            ("retry storm", "POST /charge"),
            ("hang", "POST /charge"),
            ("duplicates", "POST /charge"),
        ] {
            let row = report
                .rows
                .iter()
                .find(|r| r.question == question && r.entry == entry)
                .unwrap_or_else(|| panic!("no `{question}` row for `{entry}`:\n{report}"));
            assert_eq!(
                row.verdict,
                Verdict::Holds,
                "{question} / {entry}:\n{report}"
            );
        }
    }
}

/// A route before any router cannot be sent: the table says so in its first row, naming
/// the call to add, and the audit does not hold.
#[test]
fn a_route_without_a_router_is_a_configuration_error() {
    let report = Audit::new("nothing")
        .route("GET /", http::Method::GET, "/", None)
        .handler("noop", |_w: World, _c: Ctx| async {})
        .run();
    assert!(!report.holds());
    let first = &report.rows[0];
    assert_eq!(first.question, "configuration");
    let finding = &first.report.as_ref().unwrap().findings[0];
    assert!(finding.fix.contains(".router("), "{}", finding.fix);
}
