//! Hangs: real-time cut-offs, the watchdog, runaway configurations, lost panics.

use std::time::{Duration, Instant};
use whatbreaks::realtime::{self, RealTimeError};
use whatbreaks::report::FindingKind;
use whatbreaks::sim::{self, RunEnd, RunLimits};

fn limits(watchdog_ms: u64) -> RunLimits {
    RunLimits {
        watchdog: Duration::from_millis(watchdog_ms),
        ..RunLimits::new(7)
    }
}

#[test]
fn a_real_time_body_that_blocks_its_thread_is_reported_not_waited_for() {
    let started = Instant::now();
    let r = realtime::block_on(Duration::from_millis(100), || async {
        // Blocks the runtime's thread: the cut-off timer never gets to run.
        std::thread::sleep(Duration::from_secs(120));
    });
    assert_eq!(r, Err(RealTimeError::Blocked(Duration::from_millis(100))));
    assert!(started.elapsed() < Duration::from_secs(30), "it waited");
    let f = r.unwrap_err().finding("a scenario");
    assert!(f.verdict.contains("left running"), "{}", f.verdict);
    assert!(f.fix.contains("spawn_blocking"), "{}", f.fix);

    // The harnesses built on it report it as a finding.
    let report = realtime::RealDoubleExecution::new()
        .instances(2)
        .ticks(2)
        .limit(Duration::from_millis(100))
        .run(|_i: realtime::RealInstance| async move {
            std::thread::sleep(Duration::from_secs(120));
        });
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.verdict.contains("its thread did not stop")),
        "{report}"
    );
}

#[test]
fn code_that_never_awaits_names_its_clients_and_says_the_thread_is_left_running() {
    let run = sim::simulate(&limits(300), || async {
        sim::run_clients(&[Duration::ZERO; 3], |id| async move {
            if id == 1 {
                // Never awaits: no poll returns, the abort flag is never looked at.
                std::thread::sleep(Duration::from_secs(120));
            }
            tokio::time::sleep(Duration::from_secs(3_000)).await;
        })
        .await;
    });
    assert_eq!(run.end, RunEnd::Watchdog { stopped: false });
    assert_eq!(run.pending, vec![0, 1]);
    assert_eq!(run.not_started, 1);
    let stuck = run.stuck.clone().expect("what the watchdog saw");
    assert_eq!(stuck.polling, Some(1));
    assert!(!stuck.stopped);
    let findings = whatbreaks::scenario::harness_findings(&run, &limits(300), "3 clients");
    let text = format!("{:?}", findings[0]);
    for part in [
        "clients running or pending: #0, #1",
        "client #1's poll never returned",
        "could not be stopped",
        "left running",
        "clients not yet started: 1",
    ] {
        assert!(text.contains(part), "`{part}` missing: {text}");
    }
}

#[test]
fn a_busy_wait_on_yield_point_is_named_as_such() {
    let run = sim::simulate(&limits(300), || async {
        sim::run_clients(&[Duration::ZERO], |_| async {
            loop {
                whatbreaks::race::yield_point().await;
            }
        })
        .await;
    });
    assert_eq!(run.end, RunEnd::Watchdog { stopped: true });
    assert!(
        run.stuck.as_ref().is_some_and(|s| s.yield_points > 0),
        "{:?}",
        run.stuck
    );
    let f = &whatbreaks::scenario::harness_findings(&run, &limits(300), "1 client")[0];
    let text = format!("{:?}", f);
    assert!(
        text.contains("busy-wait on `whatbreaks::race::yield_point()`"),
        "{text}"
    );

    // A loop of `yield_now` is not called that.
    let run = sim::simulate(&limits(300), || async {
        sim::run_clients(&[Duration::ZERO], |_| async {
            loop {
                tokio::task::yield_now().await;
            }
        })
        .await;
    });
    let f = &whatbreaks::scenario::harness_findings(&run, &limits(300), "1 client")[0];
    let text = format!("{:?}", f);
    assert!(!text.contains("busy-wait on"), "{text}");
    assert!(text.contains("stopped at their next await"), "{text}");
}

#[test]
fn a_spawned_task_that_panics_is_reported_with_the_seed() {
    let report = whatbreaks::RetryStormTest::new()
        .rps(5.0)
        .run_for(Duration::from_secs(2))
        .seed(0x5eed)
        .run(|up: whatbreaks::Upstream| async move {
            tokio::spawn(async { panic!("the background refresh failed") });
            let _ = up.call(whatbreaks::Request::get("/price")).await;
        });
    let f = report
        .findings
        .iter()
        .find(|f| f.pattern == "task panic")
        .unwrap_or_else(|| panic!("no task panic finding: {report}"));
    assert_eq!(f.seed, 0x5eed);
    assert!(f.replay.contains("WHATBREAKS_SEED=0x5eed"), "{}", f.replay);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("the background refresh failed")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn a_tiny_period_over_a_huge_run_is_a_configuration_finding() {
    let report = whatbreaks::DoubleExecutionTest::new()
        .every(Duration::from_millis(1))
        .run_for(Duration::from_secs(365 * 24 * 3_600))
        .seed(1)
        .run(|_i: whatbreaks::Instance| async {});
    assert_eq!(report.findings.len(), 1, "{report}");
    let f = &report.findings[0];
    assert_eq!(f.kind, FindingKind::Config);
    assert!(
        f.verdict.contains("`every`") && f.verdict.contains("at most 1000000"),
        "{}",
        f.verdict
    );
}

#[test]
fn an_http_handler_that_never_answers_is_cut_off_and_reported() {
    use axum::Router;
    use axum::routing::get;
    let app = Router::new().route("/users/{owner}", get(std::future::pending::<String>));
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(
            whatbreaks::http::AuthProbe::new(app)
                .principal("alice", |r| r.bearer("a"))
                .principal("bob", |r| r.bearer("b"))
                .endpoint(axum::http::Method::GET, "/users/{owner}")
                .request_limit(Duration::from_millis(50))
                .run(),
        );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.verdict.contains("got no answer within 50ms")),
        "{report}"
    );
}

#[test]
fn a_watchdog_run_keeps_its_regressions_line_and_its_html() {
    let dir = std::env::temp_dir().join(format!("wb-reliability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let regressions = dir.join("regressions");
    let target = dir.join("target");
    let (ok, text) = crate::child(
        "herd_that_never_awaits",
        &[
            ("WHATBREAKS_REGRESSIONS_DIR", regressions.to_str().unwrap()),
            ("WHATBREAKS_REPORT", "1"),
            ("CARGO_TARGET_DIR", target.to_str().unwrap()),
        ],
    );
    assert!(!ok, "the fixture fails: {text}");
    assert!(
        text.contains("wall-clock watchdog fired after 300ms"),
        "{text}"
    );
    assert!(text.contains("left running"), "{text}");
    assert!(text.contains("saved     seed 0x2a"), "{text}");
    assert!(text.contains("whatbreaks: report: "), "{text}");
    let saved = std::fs::read_dir(&regressions)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(saved, 1, "{text}");
    let pages = std::fs::read_dir(target.join("whatbreaks"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(pages >= 1, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hostile_input_probe_whose_handler_never_answers_stops_with_a_finding() {
    use axum::Router;
    use axum::routing::post;
    let report = whatbreaks::http::MassAssignmentProbe::new(
        || {
            (
                Router::new().route("/profile", post(std::future::pending::<String>)),
                || serde_json::json!({"name": "a"}),
            )
        },
        axum::http::Method::POST,
        "/profile",
    )
    .valid_body(serde_json::json!({"name": "a"}))
    .request_limit(Duration::from_millis(50))
    .run();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.verdict.contains("got no answer within 50ms")),
        "{report}"
    );
}
