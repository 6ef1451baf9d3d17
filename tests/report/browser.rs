//! The HTML report in a real browser: headless Chromium loads the page without errors and
//! lays out every chart; one screenshot is kept as `target/whatbreaks/report-test.png`.
//!
//! These tests need Chromium (Debian package `chromium`), so they are opt-in: `cargo test`
//! lists them as ignored with the command that runs them,
//! `cargo test --test report -- --ignored browser::`, which `.ci/run` runs in its own step
//! (it installs Chromium first, and fails when no test ran). Without Chromium they fail with
//! one line saying how to install it.

use crate::charts::rows;
use std::path::Path;
use std::process::Command;

/// The Chromium binary, or a test failure saying how to get one (one clear line).
fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return name;
        }
    }
    panic!(
        "chromium is not installed: this test renders the HTML report in headless Chromium; install it with `apt-get install -y chromium` (.ci/run does)"
    );
}

/// Runs headless Chromium on `page` with `extra` arguments; returns stdout and stderr.
/// A browser that does not finish within two minutes is killed and fails the test.
fn headless(page: &Path, extra: &[&str]) -> (String, String) {
    let profile = crate::child::TempDir::new("chromium-profile");
    let (out_path, err_path) = (profile.0.join("stdout"), profile.0.join("stderr"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.0.join("data").display()
        ))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run chromium");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait for chromium").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("headless chromium did not finish within 2 minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (
        std::fs::read_to_string(out_path).unwrap_or_default(),
        std::fs::read_to_string(err_path).unwrap_or_default(),
    )
}

/// The value of `attr="…"` on the `<body>` tag of a DOM dump.
fn body_attr(dom: &str, attr: &str) -> Option<usize> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let start = body.find(&format!("{attr}=\""))? + attr.len() + 2;
    body[start..].split('"').next()?.parse().ok()
}

#[test]
#[ignore = "needs Chromium: run `cargo test --test report -- --ignored browser::`"]
fn every_chart_renders_in_headless_chromium() {
    let rows: Vec<_> = rows()
        .iter()
        .map(|(pattern, buggy, fixed)| crate::report::Row {
            pattern,
            buggy: buggy.clone(),
            fixed: fixed.clone(),
            notes: Default::default(),
            wall: Default::default(),
        })
        .collect();
    let refs: Vec<_> = rows.iter().collect();
    let page = crate::report::write("report-test", vec![crate::report::strategies(100)], &refs)
        .expect("write the page");
    let html = std::fs::read_to_string(&page).unwrap();
    let expected = html.matches("<svg class=\"chart\"").count();
    // 2 strategy charts + every run's charts.
    let charts: usize = rows
        .iter()
        .map(|r| r.buggy.charts.len() + r.fixed.charts.len())
        .sum();
    assert_eq!(expected, charts + 2);

    let (dom, log) = headless(&page, &["--dump-dom"]);
    assert!(dom.contains("<body"), "chromium dumped no DOM:\n{log}");
    assert!(
        !log.contains("Uncaught") && !log.contains("CONSOLE"),
        "the page logged errors:\n{log}"
    );
    // The page's script counted the charts the browser laid out with their data.
    assert_eq!(
        body_attr(&dom, "data-charts-expected"),
        Some(expected),
        "{dom}"
    );
    assert_eq!(
        body_attr(&dom, "data-charts-rendered"),
        Some(expected),
        "not every chart rendered"
    );
    for i in 0..expected {
        assert!(
            dom.contains(&format!("data-chart=\"{i}\"")),
            "chart {i} is missing from the DOM"
        );
    }

    let shot = page.with_file_name("report-test.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = headless(
        &page,
        &[
            "--window-size=900,2400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{log}"));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{log}");
}
