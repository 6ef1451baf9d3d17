//! Tests that fail (or print) on purpose. They are `#[ignore]`d; `persistence`, `clock` and
//! `charts` run them in a child process and check what the user sees.

use crate::herd::{retry_request, retry_request_jittered};
use std::time::{Duration, SystemTime};
use whatbreaks::{HerdTest, Request, Upstream};

#[whatbreaks::herd_test(clients = 50)]
#[ignore = "fails on purpose: run by persistence::*"]
async fn failing_herd(upstream: Upstream) {
    let _ = retry_request(&upstream, Request::get("/price"), 4, Duration::from_secs(1)).await;
}

#[whatbreaks::herd_test(clients = 50)]
#[should_panic(expected = "thundering herd: retry arrivals are synchronized")]
#[ignore = "run by persistence::should_panic_tests_save_nothing"]
async fn failing_herd_should_panic(upstream: Upstream) {
    let _ = retry_request(&upstream, Request::get("/price"), 4, Duration::from_secs(1)).await;
}

#[test]
#[ignore = "run by persistence::builder_tests_save_nothing"]
fn builder_flags_buggy_code() {
    HerdTest::new()
        .clients(50)
        .run(|up: Upstream| async move {
            let _ = retry_request(&up, Request::get("/price"), 4, Duration::from_secs(1)).await;
        })
        .assert_flagged(whatbreaks::herd::PATTERN);
}

#[whatbreaks::herd_test(clients = 50, seed = 0x5eed)]
#[ignore = "run by charts::whatbreaks_report_writes_a_page_per_scenario"]
async fn clean_herd(upstream: Upstream) {
    let _ =
        retry_request_jittered(&upstream, Request::get("/price"), 4, Duration::from_secs(1)).await;
}

/// A job that waits for the real wall clock to reach a minute from now before it calls the
/// upstream: virtual time runs to the limit, the real clock hardly moves, nothing is called.
#[test]
#[ignore = "run by clock::a_scenario_that_reads_the_real_clock_is_pointed_at_the_virtual_one"]
fn waits_for_the_real_clock() {
    let report = HerdTest::new()
        .clients(3)
        .seed(1)
        .time_limit(Duration::from_secs(600))
        .run(|up: Upstream| async move {
            let due = SystemTime::now() + Duration::from_secs(60);
            while SystemTime::now() < due {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let _ = up.call(Request::get("/price")).await;
        });
    println!("{report}");
}

/// A two-handler service whose like toggle races (check, then act) and whose reader holds:
/// the audit page's table has a break and rows that hold or do not apply.
pub(crate) fn likes_audit() -> whatbreaks::audit::AuditReport {
    use whatbreaks::audit::{Audit, Ctx, World};
    Audit::new("likes")
        .handler("toggle_like", |world: World, _ctx: Ctx| async move {
            crate::race::toggle_like(&world.db(), "u1", "p1").await;
        })
        .handler("count", |world: World, _ctx: Ctx| async move {
            let _ = world.db().get("posts", "p1").await;
        })
        .seed(0x5eed)
        .run()
}

#[test]
#[ignore = "run by charts::an_audit_writes_one_page_with_its_table"]
fn audit_page() {
    let report = likes_audit();
    assert!(report.breaks("race"), "{report}");
}
