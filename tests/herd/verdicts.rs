//! Required verdicts, each over several seeds: flagged buggy code, passing fixed code.

use crate::SEEDS;
use crate::code::{self, Backoff};
use whatbreaks::{HerdTest, Upstream};

fn run(strategy: Backoff, base_ms: u64, first_seed: u64) -> whatbreaks::Report {
    HerdTest::new()
        .clients(1000)
        .seed(first_seed)
        .seeds(SEEDS)
        .run(move |up: Upstream| async move { strategy.fetch(&up, base_ms).await })
}

#[test]
fn every_strategy_gets_its_verdict_over_several_seeds() {
    for (strategy, flagged) in Backoff::ALL {
        // Base 1 s is the seed article's; at 10 ms full jitter puts about 100 of the 1000
        // clients in each millisecond, which the round's own spread explains.
        for base_ms in [10, 100, 1_000] {
            let report = run(strategy, base_ms, 0x5eed + base_ms);
            if flagged {
                report.assert_flagged(whatbreaks::herd::PATTERN);
            } else {
                assert!(
                    report.is_clean(),
                    "{strategy:?} (base {base_ms} ms) should pass:\n{report}"
                );
                assert_eq!(
                    report.seeds.len(),
                    crate::support::expected_seeds(SEEDS),
                    "every seed ran"
                );
            }
        }
    }
}

#[test]
fn the_seed_articles_wrapper_is_flagged_and_its_fix_passes() {
    for first in [1, 2] {
        let buggy = code::buggy(code::scenario().seed(first).seeds(SEEDS));
        buggy.assert_flagged("thundering herd");
        let text = buggy.render();
        assert!(
            text.contains("retry 1: 1000/1000 clients in the same 1 ms (t=1s)"),
            "{text}"
        );
        assert!(
            text.contains("retry 2: 1000/1000 clients in the same 1 ms (t=3s)"),
            "{text}"
        );
        let fixed = code::fixed(code::scenario().seed(first).seeds(SEEDS));
        assert!(fixed.is_clean(), "{fixed}");
    }
}

#[test]
fn the_clamped_floor_gets_the_narrow_jitter_hint() {
    let report = run(Backoff::ClampedToFloor, 1_000, 9);
    let f = &report.findings[0];
    assert!(f.fix.contains("too narrow or clamped"), "{}", f.fix);
    let exp = run(Backoff::Exponential, 1_000, 9);
    assert!(
        exp.findings[0].fix.starts_with("add jitter"),
        "{}",
        exp.findings[0].fix
    );
}

#[test]
fn small_populations_are_judged_too() {
    let flagged = run_clients(Backoff::Exponential, 10);
    flagged.assert_flagged("thundering herd");
    let clean = run_clients(Backoff::FullJitter, 10);
    assert!(clean.is_clean(), "{clean}");
}

fn run_clients(strategy: Backoff, clients: u32) -> whatbreaks::Report {
    HerdTest::new()
        .clients(clients)
        .seed(3)
        .seeds(SEEDS)
        .run(move |up: Upstream| async move { strategy.fetch(&up, 1_000).await })
}
