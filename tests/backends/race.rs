//! The double-tap like on real PostgreSQL connections.

use crate::code::{
    LIKES_INVARIANT, LIKES_RESET, LIKES_SETUP_BUGGY, LIKES_SETUP_FIXED, toggle_like,
    toggle_like_locked,
};
use whatbreaks::postgres::{PgConn, PgRaceTest};
use whatbreaks::race::PATTERN;

fn likes(setup: &str) -> PgRaceTest {
    PgRaceTest::new()
        .connections(2)
        .trials(15)
        .setup(setup)
        .reset(LIKES_RESET)
        .invariant(LIKES_INVARIANT)
}

#[test]
fn select_then_insert_toggle_is_flagged_on_the_real_server() {
    crate::need_postgres();
    let report = likes(LIKES_SETUP_BUGGY)
        .run(|db: PgConn| async move { toggle_like(&db, "u1", "p1").await });
    report.assert_flagged(PATTERN);
    let rendered = report.render();
    assert!(rendered.contains("doubled like") || rendered.contains("counter drift"), "{rendered}");
    assert!(rendered.contains("trials broke the invariant"), "{rendered}");
}

#[test]
fn for_update_and_on_conflict_do_nothing_pass_on_the_real_server() {
    crate::need_postgres();
    let report = likes(LIKES_SETUP_FIXED)
        .connections(4)
        .run(|db: PgConn| async move { toggle_like_locked(&db, "u1", "p1").await });
    assert!(report.is_clean(), "{report:?}\n{}", report.render());
    assert_eq!(report.figure("broken"), Some("0"));
}
