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

#[test]
fn the_schema_is_dropped_when_the_body_panics_inside_an_open_transaction() {
    crate::need_postgres();
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let s = seen.clone();
    let started = std::time::Instant::now();
    let report = PgRaceTest::new()
        .trials(1)
        .connections(2)
        .setup("CREATE TABLE t (x int PRIMARY KEY)")
        .run(move |db: PgConn| {
            let s = s.clone();
            async move {
                *s.lock().unwrap() = Some(db.schema().to_string());
                // Holds a lock on `t` (and the schema) until the session ends.
                db.batch_execute(&format!("BEGIN; INSERT INTO t VALUES ({})", db.worker()))
                    .await?;
                if db.worker() == 0 {
                    panic!("the code under test panicked mid-transaction");
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    assert!(
        report.render().contains("mid-transaction"),
        "{}",
        report.render()
    );
    // The drop used to wait for the panicked session's locks: 10 s, the cleanup's own limit.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "the cleanup stalled for {took:?}"
    );
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
fn redis_cleanup_deletes_every_key_of_its_namespace_and_only_those() {
    crate::need_redis();
    use whatbreaks::redis::{Namespace, connect as redis_connect};
    let url = whatbreaks::redis::url();
    let mine = Namespace::new(&url);
    let other = Namespace::new(&url);
    // Prefixes carry a random part: `wb:<pid>:<n>:<16 hex digits>:`.
    let parts: Vec<&str> = mine.prefix().split(':').collect();
    assert_eq!(parts.len(), 5, "{}", mine.prefix());
    assert_eq!(parts[3].len(), 16, "{}", mine.prefix());
    assert_ne!(parts[3], other.prefix().split(':').nth(3).unwrap());
    let (mine_prefix, other_key) = (mine.prefix().to_string(), other.key("kept"));
    let (u, mp, ok) = (url.clone(), mine_prefix.clone(), other_key.clone());
    realtime::block_on(Duration::from_secs(10), move || async move {
        let mut c = redis_connect(&u).await.expect("Redis answers");
        // More keys than one SCAN batch.
        let mut pipe = whatbreaks::redis::client::pipe();
        for i in 0..2_500 {
            pipe.cmd("SET").arg(format!("{mp}k{i}")).arg(i).ignore();
        }
        pipe.cmd("SET").arg(&ok).arg("x").ignore();
        pipe.query_async::<()>(&mut c).await.expect("write");
    })
    .expect("in time");
    drop(mine);
    let (u, ok) = (url.clone(), other_key.clone());
    let (left, kept) = realtime::block_on(Duration::from_secs(10), move || async move {
        let mut c = redis_connect(&u).await.expect("Redis answers");
        let left: Vec<String> = whatbreaks::redis::client::cmd("KEYS")
            .arg(format!("{mine_prefix}*"))
            .query_async(&mut c)
            .await
            .expect("keys");
        let kept: Option<String> = whatbreaks::redis::client::cmd("GET")
            .arg(&ok)
            .query_async(&mut c)
            .await
            .expect("get");
        (left.len(), kept)
    })
    .expect("in time");
    assert_eq!(left, 0, "keys of the dropped namespace were left behind");
    assert_eq!(
        kept.as_deref(),
        Some("x"),
        "another namespace's key was deleted"
    );
    drop(other);
}
