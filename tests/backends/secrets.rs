//! Secrets: the password of a database or Redis URL never shows in a report, a panic
//! message, an HTML page or a `Debug` print.

use std::time::Duration;
use whatbreaks::html::{Section, render_page};
use whatbreaks::postgres::{PgConn, PgRaceTest, TempSchema, connect};
use whatbreaks::realtime;
use whatbreaks::redis::{Namespace, RedisStampedeEnv, RedisStampedeTest};

const PASSWORD: &str = "s3cr3t-Pa55word";

/// Everything a person could see of `report`: text, `Debug`, the HTML page.
fn seen(report: &whatbreaks::Report) -> String {
    format!(
        "{}\n{report:?}\n{}",
        report.render(),
        render_page("secrets", &[Section::of("a run", report)])
    )
}

#[test]
fn unreachable_servers_show_their_url_without_the_password() {
    let pg = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/test");
    let test = PgRaceTest::new().url(&pg);
    let report =
        test.run(|db: PgConn| async move { db.simple_query("SELECT 1").await.map(|_| ()) });
    let text = format!("{}\n{test:?}", seen(&report));
    assert!(
        text.contains("postgres://postgres:***@127.0.0.1:1/test"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");

    let redis = format!("redis://:{PASSWORD}@127.0.0.1:1/");
    let test = RedisStampedeTest::new().url(&redis);
    let report = test.run(|env: RedisStampedeEnv| async move { Ok(env.load().await) });
    let text = format!("{}\n{test:?}\n{:?}", seen(&report), Namespace::new(&redis));
    assert!(text.contains("redis://:***@127.0.0.1:1/"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[test]
fn a_temporary_schema_prints_its_url_without_the_password() {
    crate::need_postgres();
    // Trust authentication accepts any password: the URL below connects.
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:5432/test");
    let debug = realtime::block_on(Duration::from_secs(10), move || async move {
        let c = connect(&url).await.expect("PostgreSQL answers");
        let schema = TempSchema::create(&c, &url).await.expect("create");
        let debug = format!("{schema:?}");
        schema.drop_with(&c).await.expect("drop");
        debug
    })
    .expect("in time");
    assert!(debug.contains("***"), "{debug}");
    assert!(!debug.contains(PASSWORD), "{debug}");
}

#[test]
fn the_panic_of_require_shows_no_password() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "secrets::require_fixture",
            "--nocapture",
        ])
        .env(
            "WHATBREAKS_PG_URL",
            format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/test"),
        )
        .output()
        .expect("run the fixture");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("PostgreSQL is unreachable at postgres://postgres:***@"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}

#[test]
#[ignore = "fixture: run by the_panic_of_require_shows_no_password"]
fn require_fixture() {
    whatbreaks::postgres::require();
}

#[test]
fn a_url_variable_that_is_not_utf8_is_named_not_replaced_by_the_default_server() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"postgres://postgres:pw@127.0.0.1:5432/t\xffst");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "secrets::non_utf8_url_fixture",
            "--nocapture",
        ])
        .env("WHATBREAKS_PG_URL", bad)
        .env("WHATBREAKS_REDIS_URL", bad)
        .output()
        .expect("run the fixture");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
}

#[test]
#[ignore = "fixture: run by a_url_variable_that_is_not_utf8_is_named_not_replaced_by_the_default_server"]
fn non_utf8_url_fixture() {
    let pg = PgRaceTest::new()
        .run(|db: PgConn| async move { db.simple_query("SELECT 1").await.map(|_| ()) });
    let redis =
        RedisStampedeTest::new().run(|env: RedisStampedeEnv| async move { Ok(env.load().await) });
    for (report, var) in [(pg, "WHATBREAKS_PG_URL"), (redis, "WHATBREAKS_REDIS_URL")] {
        let f = &report.findings[0];
        assert_eq!(f.kind, whatbreaks::report::FindingKind::Config, "{report}");
        assert!(
            f.verdict.contains(var) && f.verdict.contains("not UTF-8"),
            "{}",
            f.verdict
        );
        assert!(!f.verdict.contains(":pw@"), "{}", f.verdict);
    }
}
