//! An axum `Router` audited as it is: its routes are entry points, its dependencies come from
//! the world (a tower HTTP client on the payments upstream, redis-rs on the cache), and the
//! questions that apply are asked of each route, as its principals (`alice`, `bob`) and as
//! another principal on their orders, and with hostile bodies. (The same app with reqwest to
//! `upstream.url()` runs in `examples/audit.rs`: the same verdicts, at 30x the cost per call,
//! too slow for a debug test; reqwest itself is proven in `tests/seams`.)

use crate::audit_http::{Payments, SHOP_BUGS};
use crate::{assert_breaks_exactly, seeds};
use whatbreaks::audit::{Audit, AuditReport, Ctx, Verdict, World};

fn shop(fixed: bool) -> Audit {
    crate::audit_http::shop(Payments::Tower, fixed)
}

#[test]
fn the_buggy_shop_breaks_where_it_was_seeded_and_nowhere_else() {
    for seed in seeds() {
        let report = shop(false).seed(seed).run();
        assert_breaks_exactly(&report, &SHOP_BUGS, seed);
        assert_orders_findings(&report);
        assert_auth_premises(&report);
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
            ("auth", "GET /orders/{id}"),
            ("auth", "PATCH /orders/{id}"),
            ("mass assignment", "PATCH /orders/{id}"),
            ("validation", "PATCH /orders/{id}"),
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
        assert_auth_premises(&report);
    }
}

/// The buggy orders routes of the shop, asked as another principal and with hostile
/// bodies, break with the probes' findings: evidence, fix, a replay of just that question.
fn assert_orders_findings(buggy: &AuditReport) {
    let read = buggy.row("auth", "GET /orders/{id}").expect("an auth row");
    let finding = &read.report.as_ref().expect("a report").findings[0];
    assert!(
        finding.verdict.contains("returns another principal's data"),
        "{buggy}"
    );
    assert!(
        finding
            .evidence
            .iter()
            .any(|e| e.starts_with("as bob: GET /orders/1 -> 200 with alice's `1`")),
        "{finding}"
    );
    assert!(finding.fix.contains("owns every resource"), "{finding}");
    assert!(
        finding
            .replay
            .starts_with("WHATBREAKS_AUDIT_ONLY='auth:GET /orders/{id}' WHATBREAKS_SEED="),
        "{}",
        finding.replay
    );
    let write = buggy.row("auth", "PATCH /orders/{id}").unwrap();
    let finding = &write.report.as_ref().unwrap().findings[0];
    assert!(
        finding
            .verdict
            .contains("change another principal's resource"),
        "{finding}"
    );
    assert!(
        finding
            .evidence
            .iter()
            .any(|e| e.contains("alice's row orders[1]")),
        "{finding}"
    );
    let mass = buggy.row("mass assignment", "PATCH /orders/{id}").unwrap();
    let finding = &mass.report.as_ref().unwrap().findings[0];
    assert!(finding.verdict.contains("privileged field"), "{finding}");
    assert!(finding.fix.contains("deny_unknown_fields"), "{finding}");
    let invalid = buggy.row("validation", "PATCH /orders/{id}").unwrap();
    let patterns: Vec<&str> = invalid
        .report
        .as_ref()
        .unwrap()
        .findings
        .iter()
        .map(|f| f.verdict.as_str())
        .collect();
    assert!(
        patterns.iter().any(|v| v.contains("oversized string")),
        "{patterns:?}"
    );
}

/// Either shop: a public route is not asked about principals; a route whose owner's answer
/// cannot show a leak says so.
fn assert_auth_premises(report: &AuditReport) {
    assert_eq!(
        report.row("auth", "GET /products/{id}").unwrap().verdict,
        Verdict::NotApplicable("declared public (`Audit::public`)".into())
    );
    let charge = &report.row("auth", "POST /charge").unwrap().verdict;
    assert!(
        matches!(charge, Verdict::NotApplicable(why) if why.contains("could not be told apart")),
        "{charge:?}"
    );
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

/// The orders routes of the shop alone (the fixed app), for the questions' premises.
fn orders(audit: Audit) -> Audit {
    audit
        .router(|world: World| {
            crate::audit_http::app(crate::audit_http::state_on(&world, Payments::Tower, true))
        })
        .setup(crate::audit_http::seed_orders)
        .route("GET /orders/{id}", http::Method::GET, "/orders/{key}", None)
        .route(
            "PATCH /orders/{id}",
            http::Method::PATCH,
            "/orders/{key}",
            Some(serde_json::json!({ "note": "ring twice" })),
        )
        .route("GET /orders/1", http::Method::GET, "/orders/1", None)
}

#[test]
fn without_principals_auth_is_not_applicable_and_says_what_to_give() {
    let report = orders(Audit::new("orders")).run();
    for entry in ["GET /orders/{id}", "PATCH /orders/{id}"] {
        assert_eq!(
            report.row("auth", entry).unwrap().verdict,
            Verdict::NotApplicable("no principals: give .principal(..) and .resource(..)".into()),
            "{report}"
        );
    }
    let fixed_path = &report.row("auth", "GET /orders/1").unwrap().verdict;
    assert!(
        matches!(fixed_path, Verdict::NotApplicable(why) if why.contains("no `{key}`")),
        "{fixed_path:?}"
    );
    // Without credentials the fixed update answers 401: nothing to compare, and it says so.
    let mass = &report
        .row("mass assignment", "PATCH /orders/{id}")
        .unwrap()
        .verdict;
    assert!(
        matches!(mass, Verdict::NotApplicable(why) if why.contains("was answered 401")),
        "{mass:?}"
    );
    // A read takes no body.
    assert!(matches!(
        &report.row("validation", "GET /orders/{id}").unwrap().verdict,
        Verdict::NotApplicable(why) if why.contains("takes no body")
    ));
    let one = orders(Audit::new("orders"))
        .principal("alice", "Bearer alice-token")
        .resource("alice", "1")
        .run();
    assert!(matches!(
        &one.row("auth", "GET /orders/{id}").unwrap().verdict,
        Verdict::NotApplicable(why) if why.contains("one principal (`alice`)")
    ));
}

/// A resource of a principal nobody named is bad input: a configuration row naming it and
/// the principals there are, never a panic; the other resources are still asked.
#[test]
fn a_resource_of_an_unknown_principal_is_a_configuration_row() {
    let report = orders(Audit::new("orders"))
        .principal("alice", "Bearer alice-token")
        .principal("bob", "Bearer bob-token")
        .resource("alice", "1")
        .resource("carol", "2")
        .public("GET /nowhere")
        .seed(0x5eed)
        .run();
    assert!(!report.holds());
    let first = &report.rows[0];
    assert_eq!(first.question, "configuration", "{report}");
    let finding = &first.report.as_ref().unwrap().findings[0];
    assert!(finding.verdict.contains("`2` of `carol`"), "{finding}");
    assert!(finding.fix.contains("alice, bob"), "{finding}");
    // A public route that names no route is bad input too.
    let second = &report.rows[1];
    assert_eq!(second.question, "configuration", "{report}");
    let finding = &second.report.as_ref().unwrap().findings[0];
    assert!(finding.verdict.contains("`GET /nowhere`"), "{finding}");
    assert!(finding.fix.contains("PATCH /orders/{id}"), "{finding}");
    assert_eq!(
        report.row("auth", "GET /orders/{id}").unwrap().verdict,
        Verdict::Holds,
        "{report}"
    );
}

/// A route that panics on a body of the wrong shape breaks the validation question (a
/// panic is the 5xx a client would get); one that rejects it with 422 holds.
#[test]
fn a_route_that_panics_on_a_hostile_body_breaks_validation() {
    use axum::Json;
    use axum::routing::post;
    for (panics, seed) in [
        (true, 0x5eed),
        (false, 0x5eed),
        (true, 0x5eef),
        (false, 0x5eef),
    ] {
        let report = Audit::new("profiles")
            .router(move |world: World| {
                let db = world.db();
                axum::Router::new().route(
                    "/profiles",
                    post(move |Json(body): Json<serde_json::Value>| async move {
                        let name = if panics {
                            body["name"].as_str().unwrap().to_string()
                        } else {
                            match body["name"].as_str() {
                                Some(n) if n.len() <= 100 => n.to_string(),
                                _ => return http::StatusCode::UNPROCESSABLE_ENTITY,
                            }
                        };
                        let profile = serde_json::json!({ "name": name });
                        db.update("profiles", "me", profile.to_string()).await;
                        http::StatusCode::OK
                    }),
                )
            })
            .setup(|world: World| async move {
                world.db().seed("profiles", "me", r#"{"name":""}"#);
            })
            .route(
                "POST /profiles",
                http::Method::POST,
                "/profiles",
                Some(serde_json::json!({ "name": "Zoë" })),
            )
            .seed(seed)
            .run();
        let row = report.row("validation", "POST /profiles").unwrap();
        if panics {
            assert_eq!(row.verdict, Verdict::Breaks, "{report}");
            let f = &row.report.as_ref().unwrap().findings[0];
            assert!(f.verdict.contains("crashes the handler"), "{f}");
            assert!(f.evidence.iter().any(|e| e.contains("panicked")), "{f}");
        } else {
            assert_eq!(row.verdict, Verdict::Holds, "{report}");
        }
        assert_eq!(
            report
                .row("mass assignment", "POST /profiles")
                .unwrap()
                .verdict,
            Verdict::Holds,
            "{report}"
        );
    }
}
