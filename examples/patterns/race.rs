//! Pattern 6, check-then-act races: the seed article's double-tap "like" (select, then
//! insert, then update the counter), a lost update that tokio's FIFO order hides, and double
//! registration of one email, each with its fix.
//!
//! Shared by `examples/race.rs`, `examples/tour.rs` and `tests/race/`.
#![allow(dead_code)]

use whatbreaks::{RaceTest, Report, SimDb};

/// A database with post `p1` at zero likes.
pub(crate) async fn seeded_db() -> SimDb {
    let db = SimDb::new();
    db.insert("posts", "p1", "0").await.expect("fresh table");
    db
}

async fn add_to_counter(db: &SimDb, post: &str, delta: i64) {
    let n: i64 = db
        .get("posts", post)
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    db.update("posts", post, (n + delta).to_string()).await;
}

/// BUGGY: check, then act, with awaits in between. Two taps at once both see "not liked",
/// both insert a like and both bump the counter.
pub(crate) async fn toggle_like(db: &SimDb, user: &str, post: &str) {
    let key = format!("{user}:{post}");
    if db.get("likes", &key).await.is_some() {
        db.delete("likes", &key).await;
        add_to_counter(db, post, -1).await;
    } else {
        let _ = db.insert("likes", &key, "1").await;
        add_to_counter(db, post, 1).await;
    }
}

/// FIXED: one transaction that locks the post row (`SELECT … FOR UPDATE`) before checking,
/// so the second tap waits for the first to commit and then sees its like; the insert is
/// `ON CONFLICT DO NOTHING` against a unique constraint as a second line of defence.
pub(crate) async fn toggle_like_locked(db: &SimDb, user: &str, post: &str) {
    let key = format!("{user}:{post}");
    let mut tx = db.begin().await;
    let likes: i64 = tx
        .select_for_update("posts", post)
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if tx.get("likes", &key).await.is_some() {
        tx.delete("likes", &key).await;
        tx.update("posts", post, (likes - 1).to_string()).await;
    } else {
        tx.insert_or_ignore("likes", &key, "1").await;
        tx.update("posts", post, (likes + 1).to_string()).await;
    }
    tx.commit()
        .await
        .expect("the likes insert ignores conflicts");
}

/// The invariant of the like table: at most one like per user and post, and the counter
/// equal to the number of likes.
pub(crate) fn check_likes(db: &SimDb) {
    assert!(
        db.count("likes", "u1:p1") <= 1,
        "double like: {} rows for u1:p1",
        db.count("likes", "u1:p1")
    );
    let counter: usize = db.count_table("likes");
    let stored = db.peek("posts", "p1").unwrap_or_default();
    assert_eq!(
        stored,
        counter.to_string(),
        "like counter drifted from the likes table"
    );
}

/// BUGGY: a balance update that reads early and writes three awaits later.
pub(crate) async fn apply_fee(db: &SimDb) {
    let balance: i64 = db
        .get("accounts", "a1")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _rate = db.get("config", "fee_rate").await;
    let _cap = db.get("config", "fee_cap").await;
    db.update("accounts", "a1", (balance - 10).to_string())
        .await;
}

/// BUGGY: a deposit whose read-modify-write comes after three checks. In tokio's FIFO order
/// its read always lands after `apply_fee`'s write, so a plain test never loses an update;
/// when `apply_fee` is delayed, both read the same balance and one update is lost.
pub(crate) async fn deposit(db: &SimDb) {
    let _user = db.get("users", "u1").await;
    let _fraud = db.get("fraud", "u1").await;
    let _limits = db.get("limits", "u1").await;
    let balance: i64 = db
        .get("accounts", "a1")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    db.update("accounts", "a1", (balance + 100).to_string())
        .await;
}

/// FIXED: the same two operations, each holding one `tokio::sync::Mutex` across its
/// read-modify-write.
pub(crate) async fn apply_fee_guarded(db: &SimDb, lock: &tokio::sync::Mutex<()>) {
    let _held = lock.lock().await;
    apply_fee(db).await;
}

/// FIXED: see [`apply_fee_guarded`].
pub(crate) async fn deposit_guarded(db: &SimDb, lock: &tokio::sync::Mutex<()>) {
    let _user = db.get("users", "u1").await;
    let _held = lock.lock().await;
    let balance: i64 = db
        .get("accounts", "a1")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    db.update("accounts", "a1", (balance + 100).to_string())
        .await;
}

/// The fee and the deposit, raced; the balance must be 1000 - 10 + 100.
pub(crate) async fn fee_and_deposit(db: SimDb, guarded: bool) {
    db.insert("accounts", "a1", "1000")
        .await
        .expect("fresh table");
    if guarded {
        let lock = tokio::sync::Mutex::new(());
        whatbreaks::join!(apply_fee_guarded(&db, &lock), deposit_guarded(&db, &lock));
    } else {
        whatbreaks::join!(apply_fee(&db), deposit(&db));
    }
    assert_eq!(
        db.peek("accounts", "a1").as_deref(),
        Some("1090"),
        "lost update"
    );
}

/// BUGGY: check that the email is free, then insert: two sign-ups at once both pass the check.
pub(crate) async fn register(db: &SimDb, email: &str) -> Result<(), &'static str> {
    if db.get("users_by_email", email).await.is_some() {
        return Err("email taken");
    }
    db.insert("users_by_email", email, "user")
        .await
        .map_err(|_| "email taken")
}

/// FIXED: reserve atomically: the unique constraint decides, and the loser gets an error.
pub(crate) async fn register_atomic(db: &SimDb, email: &str) -> Result<(), &'static str> {
    db.insert("users_by_email", email, "user")
        .await
        .map_err(|_| "email taken")
}

/// The tour's scenario: 300 schedules.
pub(crate) fn scenario() -> RaceTest {
    RaceTest::new().iterations(300)
}

/// Two taps of the buggy toggle.
pub(crate) fn buggy(scenario: RaceTest) -> Report {
    scenario.run(|| async {
        let db = seeded_db().await;
        whatbreaks::join!(toggle_like(&db, "u1", "p1"), toggle_like(&db, "u1", "p1"));
        check_likes(&db);
    })
}

/// Two taps of the fixed toggle.
pub(crate) fn fixed(scenario: RaceTest) -> Report {
    scenario.run(|| async {
        let db = seeded_db().await.unique("likes");
        whatbreaks::join!(
            toggle_like_locked(&db, "u1", "p1"),
            toggle_like_locked(&db, "u1", "p1")
        );
        check_likes(&db);
    })
}
