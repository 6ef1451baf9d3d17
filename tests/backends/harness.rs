//! The harness itself: cleanup after failures, one clear line for a missing service.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use whatbreaks::postgres::{PgConn, PgRaceTest, connect, schema_exists};
use whatbreaks::realtime::{self, RealTimeError};
use whatbreaks::redis::RedisStampedeEnv;

#[test]
fn the_temporary_schema_is_dropped_even_when_the_body_panics() {
    crate::need_postgres();
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let s = seen.clone();
    let report = PgRaceTest::new()
        .trials(1)
        .setup("CREATE TABLE t (x int)")
        .run(move |db: PgConn| {
            let s = s.clone();
            async move {
                *s.lock().unwrap() = Some(db.schema().to_string());
                db.execute("INSERT INTO t VALUES (1)", &[]).await?;
                panic!("the code under test panicked");
            }
        });
    assert!(!report.is_clean());
    assert!(report.render().contains("panicked"), "{}", report.render());
    let schema = seen.lock().unwrap().clone().expect("the body ran");
    let url = whatbreaks::postgres::url();
    let exists = realtime::block_on(Duration::from_secs(10), || async move {
        let c = connect(&url).await.expect("PostgreSQL answers");
        schema_exists(&c, &schema).await.expect("query")
    })
    .expect("in time");
    assert!(!exists, "the temporary schema was left behind");
}

#[test]
fn a_clean_run_leaves_no_schema_behind() {
    crate::need_postgres();
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let s = seen.clone();
    let report = PgRaceTest::new().trials(2).run(move |db: PgConn| {
        let s = s.clone();
        async move {
            *s.lock().unwrap() = Some(db.schema().to_string());
            db.simple_query("SELECT 1").await.map(|_| ())
        }
    });
    assert!(report.is_clean(), "{}", report.render());
    let schema = seen.lock().unwrap().clone().expect("the body ran");
    let url = whatbreaks::postgres::url();
    let exists = realtime::block_on(Duration::from_secs(10), || async move {
        let c = connect(&url).await.expect("PostgreSQL answers");
        schema_exists(&c, &schema).await.expect("query")
    })
    .expect("in time");
    assert!(!exists);
}

#[test]
fn an_unreachable_postgres_is_one_line_naming_it_its_url_and_what_to_do() {
    let url = "postgres://postgres@127.0.0.1:1/test";
    let report = PgRaceTest::new()
        .url(url)
        .run(|db: PgConn| async move { db.simple_query("SELECT 1").await.map(|_| ()) });
    assert_eq!(
        report.findings[0].pattern,
        "backend unreachable",
        "{}",
        report.render()
    );
    let verdict = &report.findings[0].verdict;
    assert!(!verdict.contains('\n'), "{verdict}");
    for part in [
        "PostgreSQL",
        url,
        "start the service, or set WHATBREAKS_PG_URL",
    ] {
        assert!(verdict.contains(part), "`{part}` missing from: {verdict}");
    }
    // This project's own start commands are no business of a library message.
    for own in ["pg_ctlcluster", "redis-server", "/var/lib/redis"] {
        assert!(!verdict.contains(own), "{verdict}");
    }
}

#[test]
fn an_unreachable_redis_is_one_line_naming_it_its_url_and_what_to_do() {
    let url = "redis://127.0.0.1:1/";
    let report = whatbreaks::redis::RedisStampedeTest::new()
        .url(url)
        .run(|env: RedisStampedeEnv| async move { Ok(env.load().await) });
    assert_eq!(
        report.findings[0].pattern,
        "backend unreachable",
        "{}",
        report.render()
    );
    let verdict = &report.findings[0].verdict;
    assert!(!verdict.contains('\n'), "{verdict}");
    for part in [
        "Redis",
        url,
        "start the service, or set WHATBREAKS_REDIS_URL",
    ] {
        assert!(verdict.contains(part), "`{part}` missing from: {verdict}");
    }
    // This project's own start commands are no business of a library message.
    for own in ["pg_ctlcluster", "redis-server", "/var/lib/redis"] {
        assert!(!verdict.contains(own), "{verdict}");
    }
}

#[test]
fn a_real_time_scenario_that_hangs_is_cut_off() {
    let r = realtime::block_on(Duration::from_millis(50), std::future::pending::<()>);
    assert_eq!(r, Err(RealTimeError::TimedOut(Duration::from_millis(50))));
}
