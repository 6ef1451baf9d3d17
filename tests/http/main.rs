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
