//! Required verdicts, each over several seeds: flagged buggy code, passing fixed code.

use crate::SEEDS;
use crate::code;
use std::time::Duration;
use whatbreaks::pool::{DEADLOCK, HELD_ACROSS_SLOW_WORK, LEAK, STARVATION, WAITS_FOREVER};
use whatbreaks::{PoolTest, SimPool};

fn clean(report: &whatbreaks::Report) {
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.seeds.len(),
        crate::support::expected_seeds(SEEDS),
        "every seed ran"
    );
}

#[test]
fn a_release_skipped_on_the_error_path_leaks() {
    for first in [1, 2] {
        let report = code::buggy(code::leak_scenario().seed(first).seeds(SEEDS));
        report.assert_flagged(LEAK);
        let f = &report.findings[0];
        assert_eq!(f.pattern, LEAK);
        assert!(
            f.evidence[0].contains("examples/patterns/pool.rs:")
                && f.evidence[0].contains("dropped without release()"),
            "the checkout site is named: {report}"
        );
        // Without an acquire timeout the next client would wait forever: reported too.
        report.assert_flagged(WAITS_FOREVER);
    }
}

#[test]
fn a_forgotten_guard_leaks() {
    let report = code::leak_scenario()
        .acquire_timeout(Duration::from_secs(1))
        .seed(3)
        .seeds(SEEDS)
        .run(|pool: SimPool| async move {
            let _ = code::process_order_forget(&pool, "order-1").await;
        });
    report.assert_flagged(LEAK);
    let text = report.render();
    assert!(text.contains("guard never dropped"), "{text}");
}

#[test]
fn raii_with_timeouts_and_a_transaction_wrapper_pass() {
    for first in [1, 2] {
        clean(&code::fixed(code::leak_scenario().seed(first).seeds(SEEDS)));
    }
    // Errors, hangs and slow queries together: the wrapper still releases on every path.
    let report = code::leak_scenario()
        .hang_rate(0.02)
        .slow_rate(0.02)
        .slow_latency(Duration::from_millis(100))
        .seed(4)
        .seeds(SEEDS);
    clean(&code::fixed(report));
}

#[test]
fn holding_a_connection_across_a_slow_upstream_starves_the_others() {
    let report = code::slow_upstream(code::slow_upstream_scenario().seed(5).seeds(SEEDS), true);
    report.assert_flagged(STARVATION);
    report.assert_flagged(HELD_ACROSS_SLOW_WORK);
    let text = report.render();
    assert!(text.contains("of which queries"), "{text}");
    assert!(
        text.contains("waiting  "),
        "the picture shows waiting: {text}"
    );
    let fixed = code::slow_upstream(code::slow_upstream_scenario().seed(5).seeds(SEEDS), false);
    clean(&fixed);
}

#[test]
fn nested_acquires_deadlock_at_size_n_under_n_clients_and_are_reported_not_hung() {
    for n in [1usize, 2, 4, 8] {
        let started = std::time::Instant::now();
        let scenario = code::nested_scenario()
            .size(n)
            .clients(n as u32)
            .seed(6)
            .seeds(SEEDS);
        let report = code::nested(scenario.clone(), true);
        report.assert_flagged(DEADLOCK);
        let f = &report.findings[0];
        assert_eq!(f.pattern, DEADLOCK, "{report}");
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains("the run was stopped here")),
            "{report}"
        );
        assert_eq!(
            f.evidence
                .iter()
                .filter(|e| e.contains("and waits at"))
                .count(),
            n,
            "every holder named with its sites: {report}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "never hung");
        clean(&code::nested(scenario, false));
    }
}

#[test]
fn a_nested_acquire_is_a_latent_deadlock_even_when_this_run_never_overlaps() {
    for first in [1, 2] {
        // Five requests over ten seconds on ten connections: never two at once.
        let quiet = PoolTest::new()
            .size(10)
            .clients(5)
            .arrivals(Duration::ZERO..Duration::from_secs(10))
            .seed(first)
            .seeds(SEEDS);
        let report = code::nested(quiet.clone(), true);
        report.assert_flagged(DEADLOCK);
        let f = &report.findings[0];
        assert!(f.verdict.starts_with("latent pool deadlock"), "{report}");
        assert!(f.verdict.contains("10 such requests at once"), "{report}");
        let sites = &f.evidence[0];
        assert!(
            sites.matches("examples/patterns/pool.rs:").count() == 2,
            "both checkout sites are named: {sites}"
        );
        clean(&code::nested(quiet, false));
    }
}

#[test]
fn nested_acquires_are_flagged_under_load_and_with_acquire_timeouts() {
    let under_load = code::nested(
        PoolTest::new()
            .size(4)
            .clients(200)
            .arrivals(Duration::ZERO..Duration::from_millis(500))
            .seed(7)
            .seeds(SEEDS),
        true,
    );
    under_load.assert_flagged(DEADLOCK);
    let with_timeout = code::nested(
        code::nested_scenario()
            .acquire_timeout(Duration::from_millis(500))
            .seed(7)
            .seeds(SEEDS),
        true,
    );
    with_timeout.assert_flagged(DEADLOCK);
    assert!(
        with_timeout
            .render()
            .contains("only the acquire timeout (500ms) breaks it"),
        "{with_timeout}"
    );
}

#[test]
fn a_missing_acquire_timeout_is_flagged_when_connections_are_lost() {
    let started = std::time::Instant::now();
    let report = code::lost_connections(code::lost_scenario().seed(8).seeds(SEEDS), false);
    report.assert_flagged(WAITS_FOREVER);
    assert!(
        report.render().contains("in queries that never returned"),
        "{report}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "never hung");
    clean(&code::lost_connections(
        code::lost_scenario().seed(8).seeds(SEEDS),
        true,
    ));
}

#[test]
fn an_undersized_pool_is_starvation_without_slow_work() {
    let report = PoolTest::new()
        .size(1)
        .clients(100)
        .arrivals(Duration::ZERO..Duration::from_secs(1))
        .latency(Duration::from_millis(40))
        .seed(9)
        .seeds(SEEDS)
        .run(|pool: SimPool| async move {
            let conn = pool.get().await.unwrap();
            let _ = conn.query("SELECT 1").await;
        });
    report.assert_flagged(STARVATION);
    assert!(!report.flagged(HELD_ACROSS_SLOW_WORK), "{report}");
    assert!(report.findings[0].fix.contains("too small"), "{report}");
}
