//! N+1 queries: the detector proven both ways over several seeds, and its attribute.

#[path = "../../examples/patterns/n_plus_one.rs"]
mod code;

use whatbreaks::n_plus_one::PATTERN;
use whatbreaks::{FindingKind, NPlusOneTest, QueryEnv};

fn seeds() -> impl Iterator<Item = u64> {
    (0..5u64).map(|i| 0x5eed + i)
}

#[test]
fn a_query_per_item_is_flagged_with_its_growth() {
    for seed in seeds() {
        let report = code::buggy(code::scenario().seed(seed));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert_eq!(
            f.verdict,
            "the query count grows with the result: 101 queries for 100 items"
        );
        assert!(f.fix.contains("ANY($1)"), "{}", f.fix);
        assert_eq!(report.figure("queries at 1"), Some("2"));
    }
}

#[test]
fn a_batched_query_passes() {
    for seed in seeds() {
        let report = code::fixed(code::scenario().seed(seed));
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.figure("queries at 100"), Some("2"));
        assert!(report.key_figure.starts_with("2 queries for 100 items"));
    }
}

#[test]
fn bad_sizes_are_a_configuration_finding() {
    let report = NPlusOneTest::new()
        .sizes(&[10])
        .run(|_env: QueryEnv| async {});
    assert_eq!(report.findings[0].kind, FindingKind::Config, "{report}");
    assert!(report.findings[0].verdict.contains("sizes"), "{report}");
}

#[test]
fn a_handler_that_never_queries_fails_as_a_premise_that_never_happened() {
    let report = NPlusOneTest::new().seed(1).run(|_env: QueryEnv| async {});
    assert_eq!(report.findings[0].kind, FindingKind::Config, "{report}");
    assert!(
        report.findings[0].verdict.contains("no database query"),
        "{report}"
    );
}

#[whatbreaks::n_plus_one_test(sizes = [1, 10, 100], seed = 7)]
async fn the_batched_handler_passes_as_an_attribute_test(env: QueryEnv) {
    code::seed_posts(&env.db(), env.size());
    let _ = code::list_posts_batched(&env.db()).await;
}

#[whatbreaks::n_plus_one_test(seed = 7)]
#[should_panic(expected = "N+1 queries")]
async fn the_query_per_item_fails_as_an_attribute_test(env: QueryEnv) {
    code::seed_posts(&env.db(), env.size());
    let _ = code::list_posts(&env.db()).await;
}
