//! `#[ignore]`d fixtures run in child processes by the tests (they need their own
//! environment: `WHATBREAKS_SEED`, `WHATBREAKS_SEEDS`).

use whatbreaks::report::FindingKind;

/// A race test with the default iterations; prints its report and passes when its only
/// finding is a configuration finding.
#[test]
#[ignore = "fixture: run by input::whatbreaks_seeds_is_bounded"]
fn race_under_env() {
    let r = whatbreaks::race::RaceTest::new()
        .iterations(1_000)
        .run(|| async {});
    eprintln!("{r}");
    assert!(
        r.findings.iter().all(|f| f.kind == FindingKind::Config) && !r.findings.is_empty(),
        "{r}"
    );
}

/// The hostile-input probe with whatever `WHATBREAKS_SEED` says.
#[test]
#[ignore = "fixture: run by input::hostile_inputs_report_a_bad_seed"]
fn hostile_inputs_under_env() {
    use axum::Router;
    use axum::routing::post;
    let r = whatbreaks::http::MassAssignmentProbe::new(
        || {
            (
                Router::new().route("/profile", post(|| async { "ok" })),
                || serde_json::json!({"name": "a"}),
            )
        },
        axum::http::Method::POST,
        "/profile",
    )
    .valid_body(serde_json::json!({"name": "a"}))
    .cases(2)
    .run();
    eprintln!("{r}");
    assert!(
        r.findings.iter().any(|f| f.kind == FindingKind::Config),
        "{r}"
    );
}

/// A herd whose client 0 never awaits; short watchdog.
#[whatbreaks::herd_test(clients = 2, watchdog = "300ms", seed = 0x2a)]
#[ignore = "fixture: run by hangs::a_watchdog_run_keeps_its_regressions_line_and_its_html"]
async fn herd_that_never_awaits(upstream: whatbreaks::Upstream) {
    if whatbreaks::sim::current_client() == Some(0) {
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
    let _ = upstream.call(whatbreaks::Request::get("/price")).await;
}

/// A herd without jitter: fails, and saves its seed.
#[whatbreaks::herd_test(clients = 50, outage = "0s..10s", seed = 0x77)]
#[ignore = "fixture: run by input::the_default_regressions_location_is_used_when_nothing_is_set"]
async fn herd_without_jitter(upstream: whatbreaks::Upstream) {
    for attempt in 0..4 {
        if upstream.call(whatbreaks::Request::get("/")).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1 << attempt)).await;
    }
}

/// A two-handler audit under whatever `WHATBREAKS_AUDIT_ONLY` says; prints each row as
/// `row: question / entry / verdict`.
#[test]
#[ignore = "fixture: run by input::audit_only_asks_one_question"]
fn audit_under_env() {
    use whatbreaks::audit::{Audit, Ctx, World};
    let report = Audit::new("likes")
        .handler("toggle", |w: World, _c: Ctx| async move {
            let db = w.db();
            if db.get("likes", "u1").await.is_some() {
                db.delete("likes", "u1").await;
            } else {
                let _ = db.insert("likes", "u1", "1").await;
            }
        })
        .handler("noop", |_w: World, _c: Ctx| async {})
        .seed(1)
        .run();
    for r in &report.rows {
        println!("row: {} / {} / {:?}", r.question, r.entry, r.verdict);
    }
    println!("{report}");
}
