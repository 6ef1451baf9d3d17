//! Trust boundaries: the auth probe and the hostile-input probe, proven both ways.

#[path = "../../examples/patterns/http.rs"]
mod code;

use code::block_on;
use whatbreaks::http::{AUTH_PATTERN, INVALID_INPUT_PATTERN, MASS_ASSIGNMENT_PATTERN};

#[test]
fn the_query_string_user_id_is_flagged_and_the_verified_principal_passes() {
    let buggy = block_on(code::probe_orders(false));
    buggy.assert_flagged(AUTH_PATTERN);
    let text = buggy.render();
    assert!(
        text.contains("GET /api/orders?userId={owner} returns another principal's data"),
        "{text}"
    );
    assert!(text.contains("the query parameter `userId`"), "{text}");
    assert!(
        text.contains("as alice: GET /api/orders?userId=bob -> 200 with bob's order-b1"),
        "{text}"
    );
    let fixed = block_on(code::probe_orders(true));
    assert!(fixed.is_clean(), "{fixed}");
}

#[test]
fn a_delete_without_an_ownership_check_is_flagged_and_read_back() {
    let buggy = block_on(code::probe_orders(false));
    let text = buggy.render();
    assert!(
        text.contains(
            "DELETE /api/orders/{resource} lets a principal change another principal's resource"
        ),
        "{text}"
    );
    assert!(
        text.contains("read back as bob: GET /api/orders/order-b1 -> 404 (it is gone)"),
        "{text}"
    );
}

#[test]
fn a_probe_that_cannot_see_owners_data_says_so_instead_of_passing() {
    let report = block_on(
        whatbreaks::http::AuthProbe::new(code::orders_app(true, code::seeded()))
            .principal("alice", |req| req.bearer("wrong"))
            .principal("bob", |req| req.bearer("wrong"))
            .resource("bob", "order-b1")
            .endpoint(axum::http::Method::GET, "/api/orders/{resource}")
            .run(),
    );
    assert!(
        report.findings.iter().any(|f| f.pattern == "probe set-up"),
        "{report}"
    );
}

#[test]
fn storing_the_body_as_the_model_is_flagged_over_several_seeds() {
    for seed in [1, 2, 3, 0x5eed, 0xbeef] {
        let buggy = code::probe_profile(false, seed);
        buggy.assert_flagged(MASS_ASSIGNMENT_PATTERN);
        buggy.assert_flagged(INVALID_INPUT_PATTERN);
        let text = buggy.render();
        assert!(
            text.contains("a client can set the privileged field `role`"),
            "{text}"
        );
        assert!(text.contains("shrunk counterexample"), "{text}");
        assert!(text.contains(&format!("proptest seed {seed:#x}")), "{text}");
    }
}

#[test]
fn an_allow_listed_validated_dto_passes_over_several_seeds() {
    for seed in [1, 2, 3, 0x5eed, 0xbeef] {
        let fixed = code::probe_profile(true, seed);
        assert!(fixed.is_clean(), "{fixed}");
    }
}

#[test]
fn unvalidated_email_and_oversized_names_are_named() {
    let text = code::probe_profile(false, 7).render();
    assert!(
        text.contains("invalid input (invalid email) is stored")
            || text.contains("invalid input (oversized string) is stored"),
        "{text}"
    );
    // Shrinking brings the oversized name down to just over the limit.
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("characters") && l.contains("shrunk"))
    {
        assert!(
            line.contains("`name` of 10001 characters")
                || line.contains("`email` of 10001 characters"),
            "{line}"
        );
    }
}

/// A JSON write to another account (axum's `Json` answers 415 to a request without a body, so
/// the probe sends the endpoint's valid body): flagged by what changed in the stored state.
#[test]
fn a_json_write_to_another_account_is_flagged_by_the_stored_state() {
    let buggy = block_on(code::probe_accounts(code::AccountsCheck::None));
    buggy.assert_flagged(AUTH_PATTERN);
    let text = buggy.render();
    assert!(
        text.contains(
            "PUT /api/accounts/{owner}/name lets a principal change another principal's resource"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "as alice: PUT /api/accounts/2/name body {\"display_name\":\"renamed by probe"
        ),
        "{text}"
    );
    assert!(text.contains("bob's stored state changed"), "{text}");
    assert!(text.contains("alice's stored state changed"), "{text}");
}

/// A handler that writes, then refuses: its 403 hides nothing from the state oracle.
#[test]
fn a_write_that_lands_before_its_403_is_flagged() {
    let report = block_on(code::probe_accounts(code::AccountsCheck::AfterTheWrite));
    report.assert_flagged(AUTH_PATTERN);
    let text = report.render();
    assert!(text.contains("-> 403 accepted"), "{text}");
    assert!(text.contains("(though it answered 403)"), "{text}");
}

/// Refusing before the write passes; the admin's reads of others' orders are allowed; and
/// Alice's total of 20250 cents does not count as Bob's order 202 (ids match whole JSON
/// values, not digits inside other numbers).
#[test]
fn an_ownership_check_before_the_write_passes_with_numeric_ids_and_an_admin() {
    let report = block_on(code::probe_accounts(code::AccountsCheck::Before));
    assert!(report.is_clean(), "{report}");
}

/// A camelCase DTO over a snake_case model: the body's `displayName` is matched to the stored
/// `display_name`, so an unvalidated oversized name or a bad email is seen; validation passes.
#[test]
fn a_camel_case_dto_over_a_snake_case_model_is_judged_field_by_field() {
    for seed in [1, 2, 3] {
        let buggy = code::probe_settings(false, seed);
        buggy.assert_flagged(INVALID_INPUT_PATTERN);
        let text = buggy.render();
        assert!(
            text.contains("displayName") || text.contains("contactEmail"),
            "{text}"
        );
        let fixed = code::probe_settings(true, seed);
        assert!(fixed.is_clean(), "{fixed}");
    }
}

/// An oracle that shows none of the body's fields cannot judge what was stored: a set-up
/// finding, not a pass.
#[test]
fn an_oracle_that_shows_none_of_the_fields_says_so() {
    let report = whatbreaks::http::MassAssignmentProbe::new(
        || {
            let db = code::SharedSettings::default();
            (
                code::settings_app(false, db),
                || serde_json::json!({"unrelated": 1}),
            )
        },
        axum::http::Method::PUT,
        "/api/settings",
    )
    .principal(|req| req.bearer(code::token_for("alice")))
    .valid_body(serde_json::json!({"displayName": "Alice", "contactEmail": "alice@example.org"}))
    .cases(8)
    .seed(1)
    .run();
    assert!(
        report.findings.iter().any(|f| f.pattern == "probe set-up"
            && f.verdict.contains("none of the valid body's fields")),
        "{report}"
    );
}

/// One probe, two endpoints of one app (the profile update and the camelCase settings), as
/// two principals: each endpoint's problems are found, as each principal, and the fixed app
/// passes them all.
#[test]
fn one_probe_covers_several_endpoints_and_principals() {
    let probe = |fixed: bool| {
        whatbreaks::http::MassAssignmentProbe::new(
            move || {
                let (users, settings) = (code::seeded(), code::SharedSettings::default());
                let (u, st) = (users.clone(), settings.clone());
                let app =
                    code::profile_app(fixed, users).merge(code::settings_app(fixed, settings));
                (app, move || {
                    let mut state = code::alice_profile(&u);
                    let settings = serde_json::to_value(&*st.lock().unwrap()).unwrap_or_default();
                    if let (Some(a), Some(b)) = (state.as_object_mut(), settings.as_object()) {
                        a.extend(b.clone());
                    }
                    state
                })
            },
            axum::http::Method::PUT,
            "/api/profile",
        )
        .principal(|req| req.bearer(code::token_for("alice")))
        .principal(|req| req.bearer(code::token_for("alice")).header("x-tenant", "2"))
        .valid_body(serde_json::json!({"name": "Alice", "email": "alice@example.org"}))
        .endpoint(
            axum::http::Method::PUT,
            "/api/settings",
            serde_json::json!({"displayName": "Alice", "contactEmail": "alice@example.org"}),
        )
        .cases(16)
        .seed(7)
        .run()
    };
    let buggy = probe(false);
    let text = buggy.render();
    for part in [
        "PUT /api/profile",
        "PUT /api/settings",
        "principal #1",
        "principal #2",
    ] {
        assert!(text.contains(part), "`{part}` in:\n{text}");
    }
    buggy.assert_flagged(MASS_ASSIGNMENT_PATTERN);
    buggy.assert_flagged(INVALID_INPUT_PATTERN);
    let fixed = probe(true);
    assert!(fixed.is_clean(), "{fixed}");
    assert!(fixed.key_figure.contains("hostile bodies"), "{fixed}");
}

/// From async code (an async test) the hostile-input probe runs as it does from a plain test:
/// it blocks the calling thread with a clock of its own, never starting a runtime inside the
/// caller's.
#[test]
fn the_hostile_input_probe_runs_inside_an_async_test() {
    let inside = block_on(async { code::probe_profile(false, 0x5eed) });
    let outside = code::probe_profile(false, 0x5eed);
    inside.assert_flagged(MASS_ASSIGNMENT_PATTERN);
    assert_eq!(inside.render(), outside.render());
    let fixed = block_on(async { code::probe_profile(true, 0x5eed) });
    assert!(fixed.is_clean(), "{fixed}");
}

/// The auth probe, too, runs from synchronous code (`run_blocking`) and gives the verdicts of
/// its async `run`.
#[test]
fn the_auth_probe_runs_from_a_plain_test() {
    let probe = |fixed| {
        whatbreaks::http::AuthProbe::new(code::orders_app(fixed, code::seeded()))
            .principal("alice", |req| req.bearer(code::token_for("alice")))
            .principal("bob", |req| req.bearer(code::token_for("bob")))
            .resource("alice", "order-a1")
            .resource("bob", "order-b1")
            .endpoint(axum::http::Method::GET, "/api/orders/{resource}")
    };
    let sync = probe(false).run_blocking();
    sync.assert_flagged(AUTH_PATTERN);
    assert_eq!(sync.render(), block_on(probe(false).run()).render());
    assert!(probe(true).run_blocking().is_clean());
}
