//! Hung upstreams: the detector proven both ways over several seeds, and its attribute.

#[path = "../../examples/patterns/hang.rs"]
mod code;

use std::time::Duration;
use whatbreaks::hang::PATTERN;
use whatbreaks::{FindingKind, HangTest, Request, Upstream};

fn seeds() -> impl Iterator<Item = u64> {
    (0..5u64).map(|i| 0x5eed + i)
}

#[test]
fn a_retry_loop_without_a_timeout_is_flagged() {
    for seed in seeds() {
        let report = code::buggy(code::scenario().seed(seed));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert!(
            f.verdict
                .starts_with("calls into a hung upstream never end"),
            "{report}"
        );
        assert!(f.evidence[0].starts_with("peak "), "{report}");
        assert!(
            f.evidence[1].starts_with("still waiting: client #"),
            "{report}"
        );
        assert!(f.fix.contains("tokio::time::timeout"), "{}", f.fix);
    }
}

#[test]
fn a_timeout_longer_than_max_wait_is_reported_with_its_value() {
    for seed in seeds() {
        let report = code::slow_timeout(code::scenario().seed(seed));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert!(f.verdict.contains("waited up to 30s"), "{report}");
    }
}

#[test]
fn a_timeout_per_attempt_and_an_overall_deadline_pass() {
    for seed in seeds() {
        let report = code::fixed(code::scenario().seed(seed));
        assert!(report.is_clean(), "{report}");
        let hung: usize = report
            .figure("calls into the hang")
            .unwrap()
            .parse()
            .unwrap();
        assert!(hung > 100, "the premise happened: {report}");
    }
}

#[test]
fn a_hang_outside_the_traffic_is_a_configuration_finding() {
    let report =
        HangTest::new()
            .run_for(Duration::from_secs(5))
            .seed(1)
            .run(|up: Upstream| async move {
                let _ = up.call(Request::get("/price")).await;
            });
    assert_eq!(report.findings[0].kind, FindingKind::Config, "{report}");
    let bad = HangTest::new().rps(0.0).run(|_up: Upstream| async {});
    assert_eq!(bad.findings[0].kind, FindingKind::Config, "{bad}");
    assert!(bad.findings[0].render().contains("rps"), "{bad}");
}

#[whatbreaks::hang_test(hang = "10s..40s", max_wait = "5s", seed = 3)]
async fn the_fixed_client_passes_as_an_attribute_test(upstream: Upstream) {
    let _ = code::fetch_price_fixed(&upstream).await;
}

#[whatbreaks::hang_test(seed = 3)]
#[should_panic(expected = "hung upstream")]
async fn the_client_without_a_timeout_fails_as_an_attribute_test(upstream: Upstream) {
    let _ = code::fetch_price(&upstream).await;
}
