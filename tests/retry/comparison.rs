//! The AWS "Exponential Backoff And Jitter" comparison: the post's claims hold in our output.

use whatbreaks::backoff::{BackoffComparison, Strategy};

#[test]
fn the_posts_claims_hold() {
    // A subset of the example's 10..190 (debug builds are slow); the example runs them all.
    let table = BackoffComparison::new().clients(&[50, 100]).runs(3).run();
    let claims = table.claims();
    assert_eq!(claims.len(), 6, "{table}");
    for (claim, holds) in &claims {
        assert!(holds, "claim does not hold: {claim}\n{table}");
    }
    let full = table.cell(Strategy::FullJitter, 100).unwrap().calls;
    let expo = table.cell(Strategy::Exponential, 100).unwrap().calls;
    assert!(full < expo / 2.0, "{table}");
    let report = table.to_report();
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .key_figure
            .starts_with("at 100 clients full jitter makes"),
        "{}",
        report.key_figure
    );
    let text = table.to_string();
    assert!(text.contains("full jitter"), "{text}");
    assert!(text.contains("[holds]"), "{text}");
}
