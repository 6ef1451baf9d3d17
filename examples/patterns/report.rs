//! The tour's HTML report: every row's buggy and fixed run with its charts, and the herd's
//! arrivals per retry strategy side by side. Shared by examples/tour.rs and tests/report.

use std::path::PathBuf;
use std::time::Duration;
use whatbreaks::Report;
use whatbreaks::html::{Section, merge_series, render_page, write_page};
use whatbreaks::report::Chart;

use crate::herd::Backoff;

/// One row of the tour: a pattern, the reports on its buggy and its fixed code, what the run
/// path noted while each ran (seed lines, warnings: captured with
/// `whatbreaks::report::notes::capture` instead of printed), and the wall time of both runs.
pub(crate) struct Row {
    pub(crate) pattern: &'static str,
    pub(crate) buggy: Report,
    pub(crate) fixed: Report,
    /// The notes of the buggy run and of the fixed run.
    pub(crate) notes: [Vec<String>; 2],
    pub(crate) wall: Duration,
}

/// The text of a run's section: the run path's notes, then the findings.
fn text(notes: &[String], report: &Report) -> String {
    let mut text = notes.join("\n");
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&report.render());
    text
}

/// Arrivals over virtual time for every retry strategy of the herd example (`clients`
/// clients, base 100 ms): the synchronized waves next to the jittered spread.
pub(crate) fn strategies(clients: u32) -> Section {
    let (runs, notes): (Vec<(String, Report)>, _) = whatbreaks::report::notes::capture(|| {
        Backoff::ALL
            .iter()
            .map(|&(strategy, _)| {
                let report =
                    whatbreaks::HerdTest::new()
                        .clients(clients)
                        .name("payments")
                        .run(move |up: whatbreaks::Upstream| async move {
                            strategy.fetch(&up, 100).await
                        });
                (format!("{strategy:?}"), report)
            })
            .collect()
    });
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
    let verdicts: Vec<String> = notes
        .into_iter()
        .chain(std::iter::once(String::new()))
        .chain(runs.iter().map(|(n, r)| {
            let word = if r.is_clean() { "passes" } else { "FLAGGED" };
            format!("{n:<20} {word}: {}", r.key_figure)
        }))
        .collect();
    Section::charts(
        format!("thundering herd: arrivals per retry strategy ({clients} clients, base 100 ms)"),
        verdicts.join("\n"),
        charts,
    )
}

/// Writes `target/whatbreaks/<name>.html` from the rows and extra sections put first; returns
/// the path.
pub(crate) fn write(name: &str, first: Vec<Section>, rows: &[&Row]) -> std::io::Result<PathBuf> {
    let mut sections = first;
    for row in rows {
        let runs = [("buggy code", &row.buggy), ("fixed code", &row.fixed)];
        for ((side, report), notes) in runs.into_iter().zip(&row.notes) {
            let heading = format!(
                "{}: {side} ({} ms both runs)",
                row.pattern,
                row.wall.as_millis()
            );
            let mut section = Section::of(heading, report);
            section.text = text(notes, report);
            sections.push(section);
        }
    }
    write_page(
        name,
        &render_page("whatbreaks: what breaks, in charts", &sections),
    )
}
