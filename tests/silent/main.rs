//! Silent errors: the detector proven both ways over several seeds, and its attribute.

#[path = "../../examples/patterns/silent.rs"]
mod code;

use http::StatusCode;
use tracing::Instrument;
use whatbreaks::silent::{PATTERN, UNCORRELATED};
use whatbreaks::{FindingKind, Request, SilentEnv, SilentErrorTest};

fn seeds() -> impl Iterator<Item = u64> {
    (0..5u64).map(|i| 0x5eed + i)
}

#[test]
fn a_handler_that_maps_every_error_to_a_default_and_200_is_flagged() {
    for seed in seeds() {
        let report = code::buggy(code::scenario().seed(seed));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert_eq!(f.pattern, PATTERN, "{report}");
        assert!(
            f.verdict.starts_with("requests fail without a trace: "),
            "{report}"
        );
        assert!(f.verdict.contains("swallowed the error"), "{report}");
        // The first silent request: its id, the error it met on its call path, its answer.
        assert!(f.evidence[0].starts_with("req-"), "{report}");
        assert!(
            f.evidence[0].contains("GET /price at upstream `prices`: upstream answered 503")
                || f.evidence[0].contains("load stock:1 at db `db`: load failed"),
            "{report}"
        );
        assert!(f.evidence[0].contains("swallowed"), "{report}");
        assert!(f.fix.contains("request id"), "{}", f.fix);
        assert!(f.fix.contains("instrument"), "{}", f.fix);
        assert!(f.replay.contains("WHATBREAKS_SEED="), "{report}");
        let silent: usize = report.figure("silent").unwrap().parse().unwrap();
        assert!(silent > 50, "{report}");
        assert!(
            !report.flagged(UNCORRELATED),
            "nothing was logged: {report}"
        );
    }
}

#[test]
fn logging_without_the_request_id_is_flagged_as_uncorrelated() {
    for seed in seeds() {
        let report = code::unkeyed(code::scenario().seed(seed));
        report.assert_flagged(UNCORRELATED);
        assert!(
            !report.flagged(PATTERN),
            "every failure was logged: {report}"
        );
        let f = &report.findings[0];
        assert!(
            f.verdict
                .starts_with("errors are logged without a correlation id: "),
            "{report}"
        );
        // The event's call site, its task and its fields.
        assert!(f.evidence[0].starts_with("ERROR at "), "{report}");
        assert!(f.evidence[0].contains("patterns/silent.rs:"), "{report}");
        assert!(f.evidence[0].contains("in req-"), "{report}");
        assert!(f.evidence[0].contains("price lookup failed"), "{report}");
        assert!(f.fix.contains("request_id"), "{}", f.fix);
    }
}

#[test]
fn a_span_with_the_request_id_a_log_and_a_502_pass() {
    for seed in seeds() {
        let report = code::fixed(code::scenario().seed(seed));
        assert!(report.is_clean(), "{report}");
        let failed: usize = report.figure("failed").unwrap().parse().unwrap();
        assert!(failed > 50, "the premise happened: {report}");
        assert_eq!(report.figure("silent"), Some("0"), "{report}");
        assert_eq!(report.figure("without a request id"), Some("0"), "{report}");
    }
}

#[test]
fn a_retry_that_succeeds_is_not_a_swallowed_error() {
    let report = code::scenario()
        .db_fail_rate(0.0)
        .seed(1)
        .run(|env: SilentEnv| async move {
            for _ in 0..20 {
                if env.upstream().call(Request::get("/price")).await.is_ok() {
                    return StatusCode::OK;
                }
            }
            tracing::error!(request_id = env.request_id(), "gave up");
            StatusCode::BAD_GATEWAY
        });
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_panic_is_a_failure_and_an_error_from_the_handler_is_judged_by_its_display() {
    let report = code::scenario().seed(2).run(|env: SilentEnv| async move {
        let price = env.upstream().call(Request::get("/price")).await;
        if env.request() % 2 == 0 {
            price.as_ref().expect("the price");
        }
        price.map(|_| ())
    });
    report.assert_flagged(PATTERN);
    let f = &report.findings[0];
    let text = f.evidence.join("\n");
    assert!(text.contains("panicked: the price"), "{report}");
    assert!(
        text.contains("returned Err(upstream answered 503)"),
        "{report}"
    );
}

#[test]
fn a_handler_that_never_meets_an_error_is_a_configuration_finding() {
    // It never calls the dependencies: nothing could fail.
    let report = code::scenario().seed(1).run(|_env: SilentEnv| async {});
    let f = &report.findings[0];
    assert_eq!(f.kind, FindingKind::Config, "{report}");
    assert!(f.verdict.contains("premise never happened"), "{report}");
    assert!(
        f.verdict.contains("call to its upstream or database"),
        "{report}"
    );
    // It calls only the upstream, which never fails here.
    let report = code::scenario()
        .error_rate(0.0)
        .seed(1)
        .run(|env: SilentEnv| async move { code_upstream_only(&env).await });
    let f = &report.findings[0];
    assert_eq!(f.kind, FindingKind::Config, "{report}");
    assert!(f.verdict.contains("no request met an error"), "{report}");
    assert!(f.fix.contains("error_rate"), "{report}");
}

async fn code_upstream_only(env: &SilentEnv) -> StatusCode {
    match env.upstream().call(Request::get("/price")).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

#[test]
fn bad_knobs_are_configuration_findings_naming_them() {
    let report = SilentErrorTest::new()
        .error_rate(1.5)
        .rps(0.0)
        .run(|_env: SilentEnv| async {});
    let f = &report.findings[0];
    assert_eq!(f.kind, FindingKind::Config, "{report}");
    assert!(f.verdict.contains("`error_rate` = 1.5"), "{report}");
    assert!(f.verdict.contains("`rps` = 0.0"), "{report}");
    let none = SilentErrorTest::new()
        .error_rate(0.0)
        .db_fail_rate(0.0)
        .run(|_env: SilentEnv| async {});
    assert!(
        none.findings[0]
            .verdict
            .contains("no request can meet an error"),
        "{none}"
    );
}

#[test]
fn same_seed_same_finding() {
    let a = code::buggy(code::scenario().seed(0x5eed));
    let b = code::buggy(code::scenario().seed(0x5eed));
    assert_eq!(a.findings, b.findings);
    assert_eq!(a.figures, b.figures);
    let a = code::unkeyed(code::scenario().seed(0x5eed));
    let b = code::unkeyed(code::scenario().seed(0x5eed));
    assert_eq!(a.findings[0].render(), b.findings[0].render());
    let c = code::buggy(code::scenario().seed(0x5eee));
    assert_ne!(
        c.findings[0].evidence,
        code::buggy(code::scenario().seed(0x5eed)).findings[0].evidence
    );
}

#[whatbreaks::silent_error_test(seed = 3)]
async fn the_fixed_handler_passes_as_an_attribute_test(env: SilentEnv) -> StatusCode {
    code::get_price_fixed(&env).await
}

#[whatbreaks::silent_error_test(seed = 3)]
#[should_panic(expected = "silent error")]
async fn the_handler_that_swallows_errors_fails_as_an_attribute_test(env: SilentEnv) -> StatusCode {
    code::get_price(&env).await
}

#[whatbreaks::silent_error_test(seed = 3, db_fail_rate = 0.0)]
async fn a_result_and_the_question_mark_work_in_an_attribute_test(
    env: SilentEnv,
) -> Result<(), whatbreaks::UpstreamError> {
    let span = tracing::info_span!("request", request_id = %env.request_id());
    async {
        if let Err(e) = env.upstream().call(Request::get("/price")).await {
            tracing::warn!(error = %e, "price lookup failed");
            return Err(e);
        }
        env.upstream()
            .call(Request::get("/stock"))
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "stock lookup failed"))?;
        Ok(())
    }
    .instrument(span)
    .await
}
