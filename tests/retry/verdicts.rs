//! Required verdicts, each over several seeds: flagged buggy code, passing fixed code.

use crate::SEEDS;
use crate::code::{self, Policy};
use std::time::Duration;
use whatbreaks::storm::{CLASSIFICATION_PATTERN, DUPLICATE_PATTERN, PATTERN};
use whatbreaks::{Request, RetryStormTest, Upstream};

#[test]
fn immediate_retries_are_flagged_as_a_storm() {
    for first in [1, 2] {
        let report = code::buggy(code::storm().seed(first).seeds(SEEDS));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert!(f.verdict.starts_with("retries amplify load"), "{report}");
        assert!(f.fix.starts_with("retries are immediate"), "{report}");
        let text = report.render();
        assert!(text.contains("calls per request"), "{text}");
        assert!(text.contains("worst second"), "{text}");
        assert!(
            text.contains("after the degradation ended (t=40s)"),
            "{text}"
        );
    }
    // Four immediate GETs, under a smaller load: flagged too.
    let report = RetryStormTest::new()
        .rps(20.0)
        .run_for(Duration::from_secs(30))
        .outage(Duration::from_secs(5)..Duration::from_secs(25))
        .seed(3)
        .seeds(SEEDS)
        .run(|up: Upstream| async move {
            for _ in 0..4 {
                if up.call(Request::get("/price")).await.is_ok() {
                    return;
                }
            }
        });
    report.assert_flagged(PATTERN);
}

#[test]
fn fixed_count_retries_without_a_budget_are_flagged_in_a_sustained_outage() {
    let no_budget = Policy {
        budget: false,
        ..Policy::FIXED
    };
    for first in [1, 2] {
        let report = code::with_policy(code::storm().seed(first).seeds(SEEDS), no_budget);
        report.assert_flagged(PATTERN);
        assert!(
            report.findings[0]
                .fix
                .starts_with("cap retries with a retry budget")
        );
        assert!(!report.flagged(DUPLICATE_PATTERN), "{report}");
        assert!(!report.flagged(CLASSIFICATION_PATTERN), "{report}");
    }
}

#[test]
fn a_post_without_a_key_retried_after_ambiguous_failures_is_flagged() {
    for first in [1, 2] {
        let report = code::buggy(code::ambiguous().seed(first).seeds(SEEDS));
        report.assert_flagged(DUPLICATE_PATTERN);
        assert!(
            !report.flagged(PATTERN),
            "amplification stays low:\n{report}"
        );
        let text = report.render();
        assert!(
            text.contains("committed, response lost [no key]"),
            "the evidence names the lost response:\n{text}"
        );
        assert!(
            report.findings[0]
                .fix
                .starts_with("send an idempotency key")
        );

        let no_key = Policy {
            key: code::KeyPolicy::None,
            ..Policy::FIXED
        };
        let report = code::with_policy(code::ambiguous().seed(first).seeds(SEEDS), no_key);
        report.assert_flagged(DUPLICATE_PATTERN);

        let per_attempt = Policy {
            key: code::KeyPolicy::PerAttempt,
            ..Policy::FIXED
        };
        let report = code::with_policy(code::ambiguous().seed(first).seeds(SEEDS), per_attempt);
        report.assert_flagged(DUPLICATE_PATTERN);
        let f = report
            .findings
            .iter()
            .find(|f| f.pattern == DUPLICATE_PATTERN)
            .unwrap();
        assert!(f.fix.contains("key changes between attempts"), "{}", f.fix);
    }
}

#[test]
fn slow_responses_and_timeouts_duplicate_charges_too() {
    // No lost responses: the upstream is slow in the window, the client times out after 2 s
    // and retries; the abandoned call has committed its charge.
    let scenario = || {
        RetryStormTest::new()
            .rps(20.0)
            .run_for(Duration::from_secs(30))
            .outage(Duration::from_secs(5)..Duration::from_secs(15))
            .error_rate(0.0)
            .outage_latency(Duration::from_secs(5))
            .max_amplification(3.0)
            .seed(4)
            .seeds(SEEDS)
    };
    let no_key = Policy {
        key: code::KeyPolicy::None,
        budget: false,
        ..Policy::FIXED
    };
    code::with_policy(scenario(), no_key).assert_flagged(DUPLICATE_PATTERN);
    let keyed = Policy {
        budget: false,
        ..Policy::FIXED
    };
    let report = code::with_policy(scenario(), keyed);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn retrying_400s_is_flagged() {
    let retry_everything = Policy {
        classify: false,
        ..Policy::FIXED
    };
    for first in [1, 2] {
        let report = code::with_policy(
            code::storm().bad_requests(0.05).seed(first).seeds(SEEDS),
            retry_everything,
        );
        report.assert_flagged(CLASSIFICATION_PATTERN);
        assert!(!report.flagged(PATTERN), "{report}");
        let text = report.render();
        assert!(text.contains("answered 400"), "{text}");
    }
}

#[test]
fn the_fix_passes_budget_keys_and_classification() {
    // 20 charges/s instead of 50 keeps this test fast; the example and the tour run 50/s.
    for first in [1, 2] {
        for (name, scenario) in [
            ("storm", code::storm()),
            ("storm with ambiguity", code::storm_with_ambiguity()),
            ("ambiguous", code::ambiguous()),
            ("many 400s", code::storm().bad_requests(0.05)),
        ] {
            let report = code::fixed(scenario.rps(20.0).seed(first).seeds(SEEDS));
            assert!(report.is_clean(), "the fix under {name}:\n{report}");
            assert_eq!(
                report.seeds.len(),
                crate::support::expected_seeds(SEEDS),
                "every seed ran"
            );
            let amp: f64 = report.figure("amplification").unwrap().parse().unwrap();
            assert!(
                amp < 1.2,
                "a 10% budget keeps amplification near 1.1: {amp}"
            );
        }
    }
}

#[test]
fn the_contract_limit_of_1_2_holds_for_the_budget_in_a_whole_run_outage() {
    let report = code::fixed(
        RetryStormTest::new()
            .rps(50.0)
            .run_for(Duration::from_secs(60))
            .outage(Duration::ZERO..Duration::from_secs(60))
            .max_amplification(1.2)
            .seed(9)
            .seeds(SEEDS),
    );
    assert!(report.is_clean(), "{report}");
}

#[test]
fn every_variant_gets_its_verdict() {
    for (name, policy, patterns) in code::VARIANTS {
        let scenario = code::storm_with_ambiguity().rps(20.0).seed(11).seeds(SEEDS);
        let report = code::with_policy(scenario, policy);
        if patterns.is_empty() {
            assert!(report.is_clean(), "{name} should pass:\n{report}");
        }
        for p in patterns {
            assert!(
                report.flagged(p),
                "{name} should be flagged `{p}`:\n{report}"
            );
        }
    }
}
