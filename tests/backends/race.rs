//! The double-tap like on real PostgreSQL connections.

use crate::code::{likes_report, sign_up_report};
use whatbreaks::postgres::{PgConn, PgRaceTest};
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

/// Code written the way services write it: `client.transaction()` on a connection it owns,
/// its own error type. Both sign-ups succeed when nothing but a `SELECT` guards the email.
#[test]
fn a_check_then_insert_sign_up_in_a_transaction_is_flagged_by_its_results() {
    crate::need_postgres();
    let report = sign_up_report(false);
    report.assert_flagged(PATTERN);
    let rendered = report.render();
    assert!(
        rendered.contains("2 sign-ups with one email succeeded"),
        "{rendered}"
    );
    assert!(rendered.contains("connection 1: ok"), "{rendered}");
}

/// The primary key decides: every trial, one sign-up wins and the other says why it lost (its
/// error is an outcome the check judges, not a finding).
#[test]
fn a_unique_sign_up_has_exactly_one_winner_per_trial() {
    crate::need_postgres();
    let report = sign_up_report(true);
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("broken"), Some("0"));
    assert_eq!(report.figure("errors"), Some("0"));
}

/// A body that leaves a transaction open, holding a row lock: the harness rolls it back
/// before the next trial, so the next `reset` does not wait on the lock (it would until the
/// run's limit).
#[test]
fn a_transaction_left_open_is_rolled_back_between_trials() {
    crate::need_postgres();
    let started = std::time::Instant::now();
    let report = PgRaceTest::new()
        .trials(3)
        .connections(1)
        .limit(std::time::Duration::from_secs(15))
        .setup("CREATE TABLE t (x int PRIMARY KEY)")
        .reset("TRUNCATE t; INSERT INTO t VALUES (1)")
        .invariant("SELECT x FROM t WHERE x <> 1")
        .run(|db: PgConn| async move {
            db.batch_execute("BEGIN; UPDATE t SET x = 2 WHERE x = 1")
                .await
        });
    assert!(report.is_clean(), "{}", report.render());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// An application error with causes shows them (alternate `Display`), and a PostgreSQL error
/// shows the server's message, not only "db error".
#[test]
fn a_body_error_shows_its_message() {
    crate::need_postgres();
    let report = PgRaceTest::new()
        .trials(1)
        .connections(1)
        .run(|db: PgConn| async move { db.batch_execute("SELECT * FROM no_such_table").await });
    let rendered = report.render();
    assert!(rendered.contains("no_such_table"), "{rendered}");
}
