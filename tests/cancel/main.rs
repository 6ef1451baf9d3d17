//! Partial writes: the detector proven both ways over several seeds (cancelled at every await
//! point, crashed after every write, cut by its own deadline), what its finding shows, its
//! configuration findings, replay, and its attribute.

#[path = "../../examples/patterns/cancel.rs"]
mod code;

use whatbreaks::cancel::PATTERN;
use whatbreaks::{CancelEnv, CancelTest, FindingKind, Report};

fn seeds() -> impl Iterator<Item = u64> {
    (0..5u64).map(|i| 0x5eed + i)
}

/// The pattern file as its call sites name it (included through `#[path]`).
const FILE: &str = "tests/cancel/../../examples/patterns/cancel.rs";

/// The line of the pattern file that holds `text` (the first one).
fn line_of(text: &str) -> usize {
    include_str!("../../examples/patterns/cancel.rs")
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no `{text}` in the pattern file"))
        + 1
}

fn figure(report: &Report, name: &str) -> usize {
    report
        .figure(name)
        .unwrap_or_else(|| panic!("no figure `{name}`: {report}"))
        .parse()
        .unwrap()
}

#[test]
fn process_order_without_a_transaction_is_flagged_between_the_writes() {
    for seed in seeds() {
        let report = code::buggy(code::scenario().seed(seed));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert!(
            f.verdict.starts_with("cancelled at await point"),
            "{report}"
        );
        let text = f.render();
        // The cut's file:line, the statement that never ran, the rows that did and did not land.
        assert!(
            text.contains("cut during `INSERT shipments[o1]` at ")
                && text.contains(&format!("{FILE}:{}", line_of("db.insert(\"shipments\""))),
            "{text}"
        );
        assert!(
            text.contains(r#"landed inventory[sku-1]: "10" -> "8""#),
            "{text}"
        );
        assert!(
            text.contains(r#"not landed shipments[o1]: none -> "sku-1:2""#),
            "{text}"
        );
        assert!(
            text.contains("stock 8 + shipped 0 = 8, expected 10"),
            "{text}"
        );
        let (_, picture) = f.picture.as_ref().unwrap();
        assert!(
            picture.contains("✓ UPDATE inventory[sku-1]") && picture.contains("✂ INSERT"),
            "{picture}"
        );
        assert!(f.fix.contains("transaction"), "{}", f.fix);
        assert!(f.replay.contains("WHATBREAKS_SEED="), "{}", f.replay);
        // The HTML chart: rows as after / as before at each await point, the partial cuts marked.
        let chart = &report.charts[0];
        assert!(
            chart.title.starts_with("rows changed at each cancel cut"),
            "{chart:?}"
        );
        assert_eq!(
            chart.series[0].points.len(),
            figure(&report, "await points")
        );
        assert_eq!(
            chart.marks.len(),
            figure(&report, "partial cuts"),
            "{chart:?}"
        );
    }
}

#[test]
fn process_order_in_a_transaction_passes_cancelled_and_crashed() {
    for seed in seeds() {
        let report = code::fixed(code::scenario().cut("both").seed(seed));
        assert!(report.is_clean(), "{report}");
        // The premise happened: every await point was cut, and the commit was crashed after.
        assert!(figure(&report, "await points") >= 10, "{report}");
        assert_eq!(
            figure(&report, "cuts"),
            figure(&report, "await points") + 1,
            "{report}"
        );
        assert_eq!(figure(&report, "writes"), 2, "{report}");
    }
}

#[test]
fn writes_in_a_spawned_task_pass_when_cancelled_and_fail_when_crashed() {
    for seed in seeds() {
        let cancelled = code::spawned(code::scenario().seed(seed));
        assert!(cancelled.is_clean(), "{cancelled}");
        assert!(figure(&cancelled, "cuts") >= 1, "{cancelled}");
        let crashed = code::spawned(code::scenario().cut("crash").seed(seed));
        crashed.assert_flagged(PATTERN);
        let f = &crashed.findings[0];
        assert!(
            f.verdict.starts_with("crashed after write 1 of 2"),
            "{crashed}"
        );
        assert!(
            f.evidence[0].contains(&format!(
                "right after `UPDATE inventory[sku-1] = \"8\"` at {FILE}:{} landed",
                line_of("db.update(\"inventory\"")
            )) && f.evidence[0].contains("before `INSERT shipments[o1]`"),
            "{crashed}"
        );
        assert!(f.fix.contains("spawned task dies"), "{}", f.fix);
    }
}

#[test]
fn a_select_deadline_that_drops_a_half_done_write_is_flagged() {
    for seed in seeds() {
        let report = code::deadline(code::scenario().seed(seed));
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert!(f.verdict.starts_with("the request cut itself"), "{report}");
        let text = f.render();
        assert!(
            text.contains(&format!(
                "dropped in flight: `INSERT shipments[o1]` at {FILE}:{}",
                line_of("db.insert(\"shipments\"")
            )),
            "{text}"
        );
        assert!(
            text.contains(r#"landed inventory[sku-1]: "10" -> "8""#),
            "{text}"
        );
    }
}

#[test]
fn the_same_deadline_around_a_transaction_passes() {
    for seed in seeds() {
        let report = code::deadline_tx(code::scenario().cut("both").seed(seed));
        assert!(report.is_clean(), "{report}");
        assert!(figure(&report, "cuts") >= 5, "{report}");
    }
}

#[test]
fn nothing_to_cut_is_a_configuration_finding() {
    // No await point at all.
    let idle = CancelTest::new().seed(1).run(|env: CancelEnv| async move {
        env.db().seed("inventory", "sku-1", "10");
    });
    assert_eq!(idle.findings[0].kind, FindingKind::Config, "{idle}");
    assert!(
        idle.findings[0]
            .verdict
            .contains("nothing was cut: the body never awaited"),
        "{idle}"
    );
    // Awaits, but never writes.
    let reads = code::scenario().seed(1).run(|env: CancelEnv| async move {
        let _ = env.db().get("orders", "o1").await;
    });
    assert_eq!(reads.findings[0].kind, FindingKind::Config, "{reads}");
    assert!(
        reads.findings[0].verdict.contains("sent no write"),
        "{reads}"
    );
    // Crashes only, and nothing ever commits: no write to crash after.
    let never_commits = code::deadline_tx(code::scenario().cut("crash").seed(1));
    assert_eq!(
        never_commits.findings[0].kind,
        FindingKind::Config,
        "{never_commits}"
    );
    assert!(
        never_commits.findings[0]
            .verdict
            .contains("no write to crash after"),
        "{never_commits}"
    );
    // A bad knob names itself.
    let bad = CancelTest::new()
        .cut("sometimes")
        .run(|_env: CancelEnv| async {});
    assert_eq!(bad.findings[0].kind, FindingKind::Config, "{bad}");
    assert!(bad.findings[0].render().contains("`cut`"), "{bad}");
}

#[test]
fn same_seed_same_trace_and_verdict() {
    let run = |seed| {
        let r = code::buggy(code::scenario().seed(seed));
        (
            r.figure("trace hash").unwrap().to_string(),
            r.key_figure.clone(),
            r.findings[0].render(),
        )
    };
    assert_eq!(run(7), run(7));
    // The seed drives the statements' latencies, so another seed is another trace.
    assert_ne!(run(7).0, run(8).0);
    let fixed = |seed| {
        code::fixed(code::scenario().cut("both").seed(seed))
            .figure("trace hash")
            .unwrap()
            .to_string()
    };
    assert_eq!(fixed(7), fixed(7));
    // `tokio::select!` polls its branches in a random order; the deadline's run is the same.
    let deadline = |seed| {
        let r = code::deadline(code::scenario().seed(seed));
        (
            r.figure("trace hash").unwrap().to_string(),
            r.findings[0].render(),
        )
    };
    assert_eq!(deadline(7), deadline(7));
}

#[whatbreaks::cancel_test(cut = "both", seed = 3)]
async fn the_transaction_passes_as_an_attribute_test(env: CancelEnv) {
    code::seed_order(&env.db());
    let _ = code::process_order_tx(&env.db(), "o1").await;
}

#[whatbreaks::cancel_test(seed = 3)]
#[should_panic(expected = "partial write")]
async fn the_handler_without_a_transaction_fails_as_an_attribute_test(env: CancelEnv) {
    code::seed_order(&env.db());
    let _ = code::process_order(&env.db(), "o1").await;
}

#[test]
fn a_request_that_breaks_an_invariant_by_itself_is_flagged_as_such() {
    for seed in seeds() {
        // One write, so every cut is all or nothing; but the write itself loses the stock.
        let report = code::scenario()
            .seed(seed)
            .run(|env: CancelEnv| async move {
                env.db().update("inventory", "sku-1", "0").await;
            });
        report.assert_flagged(PATTERN);
        let f = &report.findings[0];
        assert!(
            f.verdict
                .starts_with("the request breaks an invariant even when nothing cuts it"),
            "{report}"
        );
        assert!(f.verdict.contains("stock 0 + shipped 0"), "{report}");
    }
}
