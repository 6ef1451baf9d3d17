//! The tour's HTML report: `tour.html` with the table and the herd's arrivals per retry
//! strategy side by side, a page per row with its buggy and fixed runs side by side on shared
//! axes, and both runs of every row on the index. Shared by examples/tour.rs and tests/report.

use std::path::{Path, PathBuf};
use std::time::Duration;
use whatbreaks::Report;
use whatbreaks::html::{
    Cell, Section, merge_series, render_comparison, render_page_with_table, run_anchor, table,
    write_page_in,
};
use whatbreaks::report::Chart;
use whatbreaks::report::index::{self, Entry};

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

/// The pages the tour wrote.
pub(crate) struct Pages {
    /// `tour.html`: the table, linking to each pattern's page, and the retry strategies.
    pub(crate) overview: PathBuf,
    /// One page per row, in the order of the rows.
    pub(crate) patterns: Vec<PathBuf>,
    /// The index of every report page in `dir`.
    pub(crate) index: PathBuf,
}

/// The file name of a row's page: `tour.<pattern>.html`, the pattern in lower case with
/// anything but letters and digits as `-`.
pub(crate) fn page_name(pattern: &str) -> String {
    let mut slug = String::new();
    for c in pattern.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    format!("tour.{}", slug.trim_matches('-'))
}

fn verdict(report: &Report, expect_flagged: bool) -> (&'static str, String) {
    let word = match (report.is_clean(), expect_flagged) {
        (false, true) => "FLAGGED",
        (true, false) => "passes",
        (true, true) => "MISSED",
        (false, false) => "FALSE ALARM",
    };
    let class = if report.is_clean() {
        "clean"
    } else {
        "flagged"
    };
    (class, format!("{word}: {}", report.key_figure))
}

/// Writes the tour's pages into `dir`: `tour.html` (the table and `first`, the herd's
/// arrivals per retry strategy), one page per row with the buggy and the fixed run side by
/// side on shared axes, and lists both runs of every row on `dir/index.html`.
pub(crate) fn write(dir: &Path, first: Section, rows: &[Row]) -> std::io::Result<Pages> {
    let back = [("tour.html", "the tour"), (index::PAGE, "all reports")];
    let mut patterns = Vec::new();
    let mut entries = Vec::new();
    let mut cells = Vec::new();
    for row in rows {
        let name = page_name(row.pattern);
        let runs = [("buggy code", &row.buggy), ("fixed code", &row.fixed)];
        let sections: Vec<Section> = runs
            .iter()
            .zip(&row.notes)
            .map(|((side, report), notes)| {
                let mut section = Section::of(format!("{}: {side}", row.pattern), report);
                section.text = text(notes, report);
                section
            })
            .collect();
        let title = format!("whatbreaks tour: {}", row.pattern);
        let path = write_page_in(dir, &name, &render_comparison(&title, &back, &sections))?;
        let file = format!("{name}.html");
        for (i, (side, report)) in runs.iter().enumerate() {
            let page = format!("{file}#{}", run_anchor(i));
            let entry = Entry::of(report, "tour", page).named(format!("{}: {side}", row.pattern));
            entries.push(entry);
        }
        let ((bc, b), (fc, f)) = (verdict(&row.buggy, true), verdict(&row.fixed, false));
        cells.push(vec![
            Cell::new(row.pattern).link(file),
            Cell::new(b).class(bc),
            Cell::new(f).class(fc),
            Cell::new(format!("{} ms", row.wall.as_millis())),
        ]);
        patterns.push(path);
    }
    // The table goes under the links, before the sections.
    let page = render_page_with_table(
        "whatbreaks tour: what breaks, buggy and fixed code",
        &[(index::PAGE, "all reports")],
        &table(&["pattern", "buggy code", "fixed code", "time"], &cells),
        &[first],
    );
    let overview = write_page_in(dir, "tour", &page)?;
    // The index lists newest first: the runs of one tour are one moment, recorded in reverse
    // so that they read in the table's order.
    let now = entries.iter().map(|e| e.when).max().unwrap_or(0);
    for e in &mut entries {
        e.when = now;
    }
    entries.reverse();
    let index = index::record(dir, &whatbreaks::config::run_id(), &entries)?;
    Ok(Pages {
        overview,
        patterns,
        index,
    })
}
