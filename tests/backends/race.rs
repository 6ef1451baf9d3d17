//! The double-tap like on real PostgreSQL connections.

use crate::code::likes_report;
use whatbreaks::race::PATTERN;

#[test]
fn select_then_insert_toggle_is_flagged_on_the_real_server() {
    crate::need_postgres();
    let report = likes_report(false);
    report.assert_flagged(PATTERN);
    let rendered = report.render();
    assert!(
        rendered.contains("doubled like") || rendered.contains("counter drift"),
        "{rendered}"
    );
    assert!(
        rendered.contains("trials broke the invariant"),
        "{rendered}"
    );
}

#[test]
fn for_update_and_on_conflict_do_nothing_pass_on_the_real_server() {
    crate::need_postgres();
    let report = likes_report(true);
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("broken"), Some("0"));
}
