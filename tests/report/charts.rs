//! Every detector fills the charts of its run; `WHATBREAKS_REPORT=1` writes a page per scenario.

use crate::child::run;
use crate::{herd, leak, pool, retry, scale, scheduler, stampede};
use std::sync::OnceLock;
use whatbreaks::Report;
use whatbreaks::report::ChartKind;

/// One row of the page: pattern, buggy run, fixed run.
pub(crate) type Row = (&'static str, Report, Report);

/// The tour's rows, scaled down for a debug build; computed once per test binary.
pub(crate) fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let herd_small = || herd::scenario().clients(200).seed(0x5eed);
        let pool_small = || pool::leak_scenario().clients(60).seed(0x5eed);
        let leak_small = || leak::scenario().iterations(300).warmup(50).seed(0x5eed);
        let sched = || scheduler::scenario().seed(0x5eed);
        vec![
            (
                "thundering herd",
                herd::buggy(herd_small()),
                herd::fixed(herd_small()),
            ),
            (
                "cache stampede, expiry",
                stampede::buggy(stampede::expiry(1).seed(0x5eed)),
                stampede::Strategy::XFetch.run(stampede::expiry(1).seed(0x5eed)),
            ),
            (
                "pool: leak",
                pool::buggy(pool_small()),
                pool::fixed(pool_small()),
            ),
            (
                "slow leak",
                leak::buggy(leak_small()),
                leak::fixed(leak_small()),
            ),
            (
                "unbounded memory",
                scale::buggy(scale::small_scenario().seed(0x5eed)),
                scale::fixed(scale::small_scenario().seed(0x5eed)),
            ),
            (
                "double execution",
                scheduler::in_process(sched()),
                scheduler::claimed(sched()),
            ),
            (
                "retry storm",
                retry::buggy(retry::storm().seed(0x5eed)),
                retry::fixed(retry::storm().seed(0x5eed)),
            ),
        ]
    })
}

fn chart<'a>(row: &'a Row, title: &str) -> &'a whatbreaks::report::Chart {
    row.1
        .charts
        .iter()
        .find(|c| c.title.contains(title))
        .unwrap_or_else(|| panic!("{}: no chart `{title}` in {:#?}", row.0, row.1.charts))
}

#[test]
fn every_detector_fills_the_charts_of_its_run() {
    let rows = rows();
    let find = |p: &str| rows.iter().find(|r| r.0 == p).unwrap();
    for (pattern, buggy, fixed) in rows {
        assert!(
            !buggy.is_clean(),
            "{pattern}: the buggy code is flagged:\n{buggy}"
        );
        assert!(
            !buggy.charts.is_empty(),
            "{pattern}: charts of the buggy run"
        );
        assert!(
            !fixed.charts.is_empty(),
            "{pattern}: charts of the fixed run"
        );
        for c in buggy.charts.iter().chain(&fixed.charts) {
            assert!(!c.is_empty(), "{pattern}: `{}` has points", c.title);
        }
    }
    let herd = chart(find("thundering herd"), "retry arrivals");
    assert_eq!(herd.kind, ChartKind::Line);
    // No jitter: the second retry wave (t=3s) holds every client in one 100 ms bucket.
    let wave = herd.series[0]
        .points
        .iter()
        .find(|(x, _)| (*x - 3.0).abs() < 1e-9)
        .unwrap();
    assert_eq!(wave.1, 200.0, "{:?}", herd.series[0].points);

    let loads = chart(find("cache stampede, expiry"), "database loads per key");
    assert_eq!(loads.kind, ChartKind::Bars);
    assert!(loads.marks.iter().any(|(_, l)| l == "expiry"), "{loads:?}");

    let pool = chart(find("pool: leak"), "pool occupancy");
    assert_eq!(pool.kind, ChartKind::Step);
    let names: Vec<_> = pool.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["in use", "waiting to acquire"]);

    let leak = chart(find("slow leak"), "heap against connections");
    assert!(leak.series[0].points.len() > 10, "{leak:?}");

    let scale = chart(find("unbounded memory"), "memory against input size");
    let sizes: Vec<f64> = scale.series[0].points.iter().map(|p| p.0).collect();
    assert_eq!(sizes, [500.0, 2_000.0, 8_000.0]);

    let timeline = chart(find("double execution"), "effects per instance");
    assert_eq!(timeline.kind, ChartKind::Scatter);
    assert!(
        timeline
            .series
            .iter()
            .any(|s| s.name.starts_with("double execution")),
        "{timeline:?}"
    );

    chart(find("retry storm"), "upstream arrivals");
}

#[test]
fn whatbreaks_report_writes_a_page_per_scenario() {
    let out = run("clean_herd", &[("WHATBREAKS_REPORT", "1")]);
    assert!(out.ok, "{}", out.text);
    let line = out
        .text
        .lines()
        .find_map(|l| l.strip_prefix("whatbreaks: report: "))
        .unwrap_or_else(|| panic!("the report's path is printed:\n{}", out.text));
    assert!(
        line.ends_with("whatbreaks/report.fixtures.clean_herd.herd.html"),
        "{line}"
    );
    let page = std::fs::read_to_string(line).expect("the page exists");
    assert!(
        page.contains("<svg class=\"chart\" data-chart=\"0\""),
        "{page}"
    );
    assert!(page.contains("whatbreaks: clean: herd"), "{page}");

    let quiet = run("clean_herd", &[]);
    assert!(
        !quiet.text.contains("whatbreaks: report:"),
        "{}",
        quiet.text
    );
}

/// Under `WHATBREAKS_REPORT=1` an audit writes one page (its table, each break linking to its
/// findings and charts) and lists it on the index; its questions write no page of their own.
#[test]
fn an_audit_writes_one_page_with_its_table() {
    let out = run("audit_page", &[("WHATBREAKS_REPORT", "1")]);
    assert!(out.ok, "{}", out.text);
    let pages: Vec<&str> = out
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("whatbreaks: report: "))
        .collect();
    assert_eq!(
        pages.len(),
        1,
        "one page for the whole audit:\n{}",
        out.text
    );
    assert!(
        pages[0].ends_with("whatbreaks/report.fixtures.audit_page.audit.likes.html"),
        "{}",
        pages[0]
    );
    let page = std::fs::read_to_string(pages[0]).expect("the page exists");
    for text in [
        "<th>question</th>",
        "the same request twice at once",
        "toggle_like",
        "href=\"#section-0\">BREAKS</a>",
        "id=\"section-0\"",
        "two identical requests at once left a state no serial order leaves",
        "class=\"clean\">holds</td>",
        "not applicable",
    ] {
        assert!(page.contains(text), "`{text}` in:\n{page}");
    }
    let index = std::path::Path::new(pages[0]).with_file_name(whatbreaks::report::index::PAGE);
    let index = std::fs::read_to_string(index).expect("the index exists");
    assert!(
        index.contains("report.fixtures.audit_page.audit.likes.html")
            && index.contains("audit of likes"),
        "{index}"
    );
}
