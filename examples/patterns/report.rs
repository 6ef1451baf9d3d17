//! The tour's HTML report: every row's buggy and fixed run with its charts, and the herd's
//! arrivals per retry strategy side by side. Shared by examples/tour.rs and tests/report.

use std::path::PathBuf;
use whatbreaks::Report;
use whatbreaks::html::{Section, merge_series, render_page, write_page};
use whatbreaks::report::Chart;

use crate::herd::Backoff;

/// Arrivals over virtual time for every retry strategy of the herd example (`clients`
/// clients, base 100 ms): the synchronized waves next to the jittered spread.
pub(crate) fn strategies(clients: u32) -> Section {
    let runs: Vec<(String, Report)> = Backoff::ALL
        .iter()
        .map(|&(strategy, _)| {
            let report = whatbreaks::HerdTest::new()
                .clients(clients)
                .name("payments")
                .run(move |up: whatbreaks::Upstream| async move { strategy.fetch(&up, 100).await });
            (format!("{strategy:?}"), report)
        })
        .collect();
    let arrivals = |name: &str| -> Option<(&str, &Chart)> {
        let (n, r) = runs.iter().find(|(n, _)| n == name)?;
        Some((n.as_str(), r.charts.first()?))
    };
    let mut charts = Vec::new();
    let pair: Vec<_> = ["Exponential", "FullJitter"]
        .iter()
        .filter_map(|n| arrivals(n))
        .collect();
    if let Some(mut c) = merge_series(&pair) {
        c.title = "arrivals over virtual time: exponential backoff vs full jitter".into();
        charts.push(c);
    }
    let all: Vec<_> = runs
        .iter()
        .filter_map(|(n, r)| Some((n.as_str(), r.charts.first()?)))
        .collect();
    if let Some(mut c) = merge_series(&all) {
        c.title = "arrivals over virtual time, every retry strategy (first 5 s)".into();
        for s in &mut c.series {
            s.points.retain(|(x, _)| *x <= 5.0);
        }
        charts.push(c);
    }
    let verdicts: Vec<String> = runs
        .iter()
        .map(|(n, r)| {
            let word = if r.is_clean() { "passes" } else { "FLAGGED" };
            format!("{n:<20} {word}: {}", r.key_figure)
        })
        .collect();
    Section::charts(
        format!("thundering herd: arrivals per retry strategy ({clients} clients, base 100 ms)"),
        verdicts.join("\n"),
        charts,
    )
}

/// Writes `target/whatbreaks/<name>.html` from the rows (pattern, buggy, fixed) and extra
/// sections put first; returns the path.
pub(crate) fn write(
    name: &str,
    first: Vec<Section>,
    rows: &[(&str, &Report, &Report)],
) -> std::io::Result<PathBuf> {
    let mut sections = first;
    for (pattern, buggy, fixed) in rows {
        sections.push(Section::of(format!("{pattern}: buggy code"), buggy));
        sections.push(Section::of(format!("{pattern}: fixed code"), fixed));
    }
    write_page(
        name,
        &render_page("whatbreaks: what breaks, in charts", &sections),
    )
}
