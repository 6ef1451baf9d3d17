//! `#[race_test]` as users write it.

use crate::code::{toggle_like, toggle_like_locked};

#[whatbreaks::race_test(schedules = 500)]
#[should_panic(expected = "check-then-act race: an invariant failed")]
async fn double_tap_like() {
    let db = whatbreaks::SimDb::new();
    whatbreaks::join!(toggle_like(&db, "u1", "p1"), toggle_like(&db, "u1", "p1"));
    assert!(db.count("likes", "u1:p1") <= 1);
}

#[whatbreaks::race_test(schedules = 200, mode = "pct", seed = 42)]
async fn double_tap_like_with_a_row_lock() {
    let db = crate::code::seeded_db().await.unique("likes");
    whatbreaks::join!(
        toggle_like_locked(&db, "u1", "p1"),
        toggle_like_locked(&db, "u1", "p1")
    );
    crate::code::check_likes(&db);
}
