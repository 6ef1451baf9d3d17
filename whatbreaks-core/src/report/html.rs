//! The HTML report: every finding in its text shape next to the charts of its run, as
//! self-contained pages (inline SVG and CSS, no external files, no network), listed on one
//! index, `target/whatbreaks/index.html` ([`crate::report::index`]).
//!
//! The tour writes `target/whatbreaks/tour.html` (its table) and a page per pattern that puts
//! the buggy and the fixed run side by side ([`render_comparison`]: charts of the same title on
//! shared axes). Any scenario writes one when `WHATBREAKS_REPORT=1` is set:
//! `target/whatbreaks/<test binary>.<test path>.<scenario>.html` (a later run of the same test
//! overwrites it), and prints its path on stderr.
//!
//! Charts come from the detectors ([`Report::charts`]): arrivals over virtual time (herd,
//! retry storm), database loads per key around an expiry (stampede), pool occupancy and
//! waiting (pool), memory against cycles (leak) and against input size (scale), and the
//! effects of each instance over time (double execution). Axis labels carry their units;
//! every chart has a legend naming its series; hovering a point, bar or mark shows its values
//! (SVG `<title>`s). Pages read at 1280 px and narrower without sideways scrolling: text
//! wraps and charts scale to their column.
//!
//! Each page carries a small inline script that records on `<body>` how many charts the
//! browser laid out with a non-empty plot area (`data-charts-rendered`, against
//! `data-charts-expected`) and how many elements are wider than the window
//! (`data-too-wide`), so a headless browser's DOM dump can check the layout.

pub use crate::report::page::escape;
use crate::report::page::{SCRIPT, STYLE};
use crate::report::{Chart, ChartKind, Report, notes};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One section of a page: a heading, the report (its findings as text) and its charts.
#[derive(Clone, Debug)]
pub struct Section {
    /// The heading, e.g. `"thundering herd: buggy code"`.
    pub heading: String,
    /// The report's text ([`Report::render`]).
    pub text: String,
    /// Whether the report was clean (the heading is coloured by it).
    pub clean: bool,
    /// The charts to draw under the text.
    pub charts: Vec<Chart>,
}

impl Section {
    /// A section showing `report`'s text and charts.
    pub fn of(heading: impl Into<String>, report: &Report) -> Self {
        Section {
            heading: heading.into(),
            text: report.render(),
            clean: report.is_clean(),
            charts: report.charts.clone(),
        }
    }

    /// A section of charts alone, with a line of text.
    pub fn charts(heading: impl Into<String>, text: impl Into<String>, charts: Vec<Chart>) -> Self {
        Section {
            heading: heading.into(),
            text: text.into(),
            clean: true,
            charts,
        }
    }
}

/// Puts same-titled charts of several runs into one chart, one series per run, each series
/// renamed `"<name>"` (one series) or `"<name>: <series>"`: e.g. the arrivals of every retry
/// strategy side by side. The first chart gives the title, kind and labels.
pub fn merge_series(charts: &[(&str, &Chart)]) -> Option<Chart> {
    let (_, first) = charts.first()?;
    let mut out = Chart::new(
        first.title.clone(),
        first.kind,
        first.x_label.clone(),
        first.y_label.clone(),
    );
    for (name, chart) in charts {
        for s in &chart.series {
            let label = if chart.series.len() == 1 {
                name.to_string()
            } else {
                format!("{name}: {}", s.name)
            };
            out = out.series(label, s.points.clone());
        }
    }
    Some(out)
}

/// Series colours (colour-blind friendly: Okabe–Ito, then grey).
const COLORS: [&str; 9] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442",
    "#7f7f7f",
];

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 44.0;

/// The start of a page up to its `<h1>`, with `expected` charts to count, and a line of
/// links (`(href, text)`) under the heading.
fn head(title: &str, expected: usize, links: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body data-charts-expected=\"{expected}\">\n<h1>{}</h1>",
        escape(title),
        escape(title)
    );
    if !links.is_empty() {
        let links: Vec<String> = links
            .iter()
            .map(|(href, text)| format!("<a href=\"{}\">{}</a>", escape(href), escape(text)))
            .collect();
        let _ = writeln!(out, "<nav>{}</nav>", links.join(" · "));
    }
    out
}

/// Renders a whole page: the sections one under the other.
pub fn render_page(title: &str, sections: &[Section]) -> String {
    render_page_with(title, &[], sections)
}

/// Like [`render_page`], with a line of links (`(href, text)`) under the heading, e.g. back
/// to the index.
pub fn render_page_with(title: &str, links: &[(&str, &str)], sections: &[Section]) -> String {
    render_page_with_table(title, links, "", sections)
}

/// Like [`render_page_with`], with `table` (HTML, e.g. from [`table`]) between the links and
/// the sections. Section `i` gets the id `section-<i>`, for links from the table.
pub fn render_page_with_table(
    title: &str,
    links: &[(&str, &str)],
    table: &str,
    sections: &[Section],
) -> String {
    let expected: usize = sections.iter().map(|s| s.charts.len()).sum();
    let mut out = head(title, expected, links);
    out.push_str(table);
    let mut index = 0;
    for (i, s) in sections.iter().enumerate() {
        let class = if s.clean { "clean" } else { "flagged" };
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2 class=\"{class}\">{}</h2>\n<pre>{}</pre>",
            section_anchor(i),
            escape(&s.heading),
            escape(&s.text)
        );
        for chart in &s.charts {
            out.push_str(&render_chart(chart, index));
            index += 1;
        }
        out.push_str("</section>\n");
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

/// A page that puts runs side by side (e.g. buggy and fixed code of one pattern): their
/// texts in one row, then one row per chart title with each run's chart of that title, all
/// on the same axes, so the runs compare at a glance. Columns stack when the window is
/// narrow. Each run's column gets the id `run-<i>` (its heading's anchor).
pub fn render_comparison(title: &str, links: &[(&str, &str)], runs: &[Section]) -> String {
    let expected: usize = runs.iter().map(|s| s.charts.len()).sum();
    let mut out = head(title, expected, links);
    out.push_str("<div class=\"pair\">\n");
    for (i, s) in runs.iter().enumerate() {
        let class = if s.clean { "clean" } else { "flagged" };
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2 class=\"{class}\">{}</h2>\n<pre>{}</pre>\n</section>",
            run_anchor(i),
            escape(&s.heading),
            escape(&s.text)
        );
    }
    out.push_str("</div>\n");
    let mut titles: Vec<&str> = Vec::new();
    for c in runs.iter().flat_map(|s| &s.charts) {
        if !titles.contains(&c.title.as_str()) {
            titles.push(&c.title);
        }
    }
    let mut index = 0;
    for t in titles {
        let charts: Vec<Option<&Chart>> = runs
            .iter()
            .map(|s| s.charts.iter().find(|c| c.title == t))
            .collect();
        let range = charts
            .iter()
            .flatten()
            .map(|c| Range::of(c))
            .reduce(Range::union)
            .unwrap_or_default();
        out.push_str("<div class=\"pair\">\n");
        for (s, chart) in runs.iter().zip(&charts) {
            match chart {
                Some(chart) => {
                    let mut chart = (*chart).clone();
                    chart.title = format!("{}: {}", chart.title, s.heading);
                    out.push_str(&render_chart_in(&chart, index, range));
                    index += 1;
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<p class=\"none\">{}: no chart “{}” in this run</p>",
                        escape(&s.heading),
                        escape(t)
                    );
                }
            }
        }
        out.push_str("</div>\n");
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

/// The anchor of section `i` of a [`render_page_with_table`] page: `section-<i>`.
pub fn section_anchor(i: usize) -> String {
    format!("section-{i}")
}

/// One cell of a [`table`]: its text, a class (`"clean"`, `"flagged"`, or empty) and a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// The text, escaped when drawn.
    pub text: String,
    /// The class that colours it (`"clean"`, `"flagged"`), or empty.
    pub class: &'static str,
    /// Where the text links to, if anywhere.
    pub href: Option<String>,
}

impl Cell {
    /// A plain cell.
    pub fn new(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            ..Cell::default()
        }
    }

    /// The cell coloured by `class`.
    pub fn class(mut self, class: &'static str) -> Cell {
        self.class = class;
        self
    }

    /// The cell linking to `href`.
    pub fn link(mut self, href: impl Into<String>) -> Cell {
        self.href = Some(href.into());
        self
    }
}

/// A table in the index's style (wrapping text, full width): `header`, then `rows`.
pub fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from("<table class=\"index\">\n<thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let text = match &c.href {
                Some(href) => format!("<a href=\"{}\">{}</a>", escape(href), escape(&c.text)),
                None => escape(&c.text),
            };
            if c.class.is_empty() {
                let _ = write!(out, "<td>{text}</td>");
            } else {
                let _ = write!(out, "<td class=\"{}\">{text}</td>", c.class);
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The anchor of run `i` of a [`render_comparison`] page: `run-<i>`.
pub fn run_anchor(i: usize) -> String {
    format!("run-{i}")
}

/// The data range a chart's axes must cover (before rounding to ticks).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Range {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Default for Range {
    fn default() -> Self {
        Range {
            x0: 0.0,
            x1: 1.0,
            y0: 0.0,
            y1: 0.0,
        }
    }
}

impl Range {
    fn of(chart: &Chart) -> Range {
        let points = chart.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        let mut y0 = 0.0f64;
        for &(x, y) in points {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        for (x, _) in &chart.marks {
            if x.is_finite() {
                x0 = x0.min(*x);
                x1 = x1.max(*x);
            }
        }
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if chart.kind == ChartKind::Bars {
            // Room for the last bar.
            let step = min_step(chart).unwrap_or(1.0);
            x1 += step;
        }
        if chart.kind == ChartKind::Scatter {
            y0 -= 0.5;
            y1 += 0.5;
        }
        Range { x0, x1, y0, y1 }
    }

    fn union(self, o: Range) -> Range {
        Range {
            x0: self.x0.min(o.x0),
            x1: self.x1.max(o.x1),
            y0: self.y0.min(o.y0),
            y1: self.y1.max(o.y1),
        }
    }
}

/// A point's hover text: `series: x label x, y label y`.
fn point_title(chart: &Chart, series: &str, x: f64, y: f64) -> String {
    escape(&format!(
        "{series}: {} {}, {} {}",
        chart.x_label,
        number(x),
        chart.y_label,
        number(y)
    ))
}

/// Hover marks drawn per line series at most (the highest point of each stretch is kept).
const MAX_HOVER_POINTS: usize = 240;

/// One chart as a `<figure>` with an inline SVG and a legend; hovering a point shows its
/// values.
pub fn render_chart(chart: &Chart, index: usize) -> String {
    render_chart_in(chart, index, Range::of(chart))
}

/// Like [`render_chart`], with axes that cover `range` (shared by the charts of one row).
fn render_chart_in(chart: &Chart, index: usize, range: Range) -> String {
    let Range { x0, x1, y0, y1 } = range;
    let (xt, x0, x1) = ticks(x0, x1);
    let (mut yt, y0, y1) = ticks(y0, y1);
    if chart.kind == ChartKind::Scatter {
        // Rows of a timeline are whole numbers (instance ids).
        yt.retain(|t| t.fract() == 0.0);
    }
    let pw = WIDTH - LEFT - RIGHT;
    let ph = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + ph - (y - y0) / (y1 - y0) * ph;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<figure id=\"chart-{index}\"><figcaption>{}</figcaption>\n<svg class=\"chart\" data-chart=\"{index}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(&chart.title),
        escape(&chart.title)
    );
    // Grid and axes.
    for &t in &yt {
        let y = sy(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            number(t)
        );
    }
    for &t in &xt {
        let x = sx(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + ph,
            TOP + ph + 4.0,
            TOP + ph + 16.0,
            number(t)
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#666\"/><line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#666\"/>",
        TOP + ph,
        WIDTH - RIGHT,
        TOP + ph,
        TOP + ph
    );
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT + pw / 2.0,
        HEIGHT - 6.0,
        escape(&chart.x_label),
        TOP + ph / 2.0,
        escape(&chart.y_label)
    );
    // Data.
    svg.push_str("<g class=\"data\">\n");
    if chart.is_empty() {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no data in this run</text>",
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        );
    }
    let n = chart.series.len().max(1) as f64;
    let step = min_step(chart).unwrap_or(1.0);
    // Scatter marks already drawn by earlier series.
    let mut drawn: std::collections::BTreeSet<(String, String)> = Default::default();
    for (i, s) in chart.series.iter().enumerate() {
        let mut later = Vec::new();
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        match chart.kind {
            ChartKind::Line | ChartKind::Step => {
                let mut d = String::new();
                for (j, &(x, y)) in pts.iter().enumerate() {
                    if j == 0 {
                        let _ = write!(d, "M{:.1},{:.1}", sx(x), sy(y));
                    } else if chart.kind == ChartKind::Step {
                        let _ = write!(d, "H{:.1}V{:.1}", sx(x), sy(y));
                    } else {
                        let _ = write!(d, "L{:.1},{:.1}", sx(x), sy(y));
                    }
                }
                if pts.len() == 1 {
                    let (x, y) = pts[0];
                    let _ = write!(
                        svg,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                        sx(x),
                        sy(y)
                    );
                }
                let _ = writeln!(
                    svg,
                    "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"><title>{}</title></path>",
                    escape(&s.name)
                );
                // Invisible marks that show each point's values on hover.
                let stretch = pts.len().div_ceil(MAX_HOVER_POINTS).max(1);
                for group in pts.chunks(stretch) {
                    let Some(&(x, y)) = group.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
                        continue;
                    };
                    let _ = write!(
                        svg,
                        "<circle class=\"hover\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"transparent\"><title>{}</title></circle>",
                        sx(x),
                        sy(y),
                        point_title(chart, &s.name, x, y)
                    );
                }
                svg.push('\n');
            }
            ChartKind::Bars => {
                let w = ((sx(x0 + step) - sx(x0)) / n).max(0.5);
                for &(x, y) in pts.iter().filter(|(_, y)| *y != 0.0) {
                    let (top, bottom) = (sy(y.max(0.0)), sy(y.min(0.0)));
                    let _ = write!(
                        svg,
                        "<rect x=\"{:.2}\" y=\"{top:.1}\" width=\"{w:.2}\" height=\"{:.1}\" fill=\"{color}\"><title>{}</title></rect>",
                        sx(x) + w * i as f64,
                        (bottom - top).max(0.5),
                        point_title(chart, &s.name, x, y)
                    );
                }
                svg.push('\n');
            }
            ChartKind::Scatter => {
                for &(x, y) in &pts {
                    let (cx, cy) = (sx(x), sy(y));
                    // A mark on top of an earlier series' mark is drawn as a ring around it.
                    let key = (format!("{cx:.1}"), format!("{cy:.1}"));
                    if drawn.contains(&key) {
                        let _ = write!(
                            svg,
                            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"7\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{}</title></circle>",
                            point_title(chart, &s.name, x, y)
                        );
                    } else {
                        let _ = write!(
                            svg,
                            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}</title></circle>",
                            point_title(chart, &s.name, x, y)
                        );
                    }
                    later.push(key);
                }
                svg.push('\n');
            }
        }
        drawn.extend(later);
    }
    for (x, label) in &chart.marks {
        let px = sx(*x);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#b00020\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b00020\">{}</text>",
            TOP + ph,
            px + 4.0,
            TOP + 12.0,
            escape(label)
        );
    }
    svg.push_str("</g>\n</svg>\n<ul class=\"legend\">");
    for (i, s) in chart.series.iter().enumerate() {
        let _ = write!(
            svg,
            "<li><span style=\"background:{}\"></span>{}</li>",
            COLORS[i % COLORS.len()],
            escape(&s.name)
        );
    }
    svg.push_str("</ul></figure>\n");
    svg
}

/// The smallest distance between consecutive x values of any series (the bar width).
fn min_step(chart: &Chart) -> Option<f64> {
    chart
        .series
        .iter()
        .flat_map(|s| s.points.windows(2).map(|w| (w[1].0 - w[0].0).abs()))
        .filter(|d| *d > 0.0 && d.is_finite())
        .min_by(f64::total_cmp)
}

/// About five round tick values covering `lo..hi`, and the axis range they span.
fn ticks(lo: f64, hi: f64) -> (Vec<f64>, f64, f64) {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut out = Vec::new();
    let mut t = start;
    while t <= end + step * 1e-9 && out.len() < 50 {
        out.push(t);
        t += step;
    }
    (out, start, end.max(start + step))
}

/// A tick label: `1.5k`, `2M`, `0.25`.
fn number(v: f64) -> String {
    let a = v.abs();
    let (v, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    let text = if text == "-0" { "0" } else { text };
    format!("{text}{suffix}")
}

/// Writes `html` to `<dir>/<name>.html` (`name` made a file name by [`file_name`]) and
/// returns the path.
pub fn write_page_in(dir: &Path, name: &str, html: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.html", file_name(name)));
    std::fs::write(&path, html)?;
    Ok(path)
}

/// Writes the page of one scenario's `report` to `<dir>/<name>.html`, with a link to the
/// index, and lists it on the index in `dir` ([`crate::report::index`]) under the run `run`
/// as run by `source` (`"<test binary> <test path>"`). Returns the page's path.
///
/// Where pages go and which run this process belongs to are read from the environment by
/// the scenario layer (`scenario::config::report_dir`, `scenario::config::run_id`).
pub fn write_report(
    dir: &Path,
    run: &str,
    name: &str,
    source: &str,
    report: &Report,
) -> std::io::Result<PathBuf> {
    let seeds: Vec<String> = report.seeds.iter().map(|s| format!("{s:#x}")).collect();
    let heading = if seeds.is_empty() {
        report.scenario.clone()
    } else {
        format!("{}, seed(s) {}", report.scenario, seeds.join(", "))
    };
    let page = render_page_with(
        &format!("whatbreaks: {name}"),
        &[(crate::report::index::PAGE, "all reports")],
        &[Section::of(heading, report)],
    );
    write_listed(dir, run, name, source, &page, report)
}

/// Writes the page `html` to `<dir>/<name>.html` and lists it on the index in `dir` under the
/// run `run`, as run by `source`, with the verdict, key figure and seed of `summary`.
/// Returns the page's path.
pub fn write_listed(
    dir: &Path,
    run: &str,
    name: &str,
    source: &str,
    html: &str,
    summary: &Report,
) -> std::io::Result<PathBuf> {
    let path = write_page_in(dir, name, html)?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::report::index::record(
        dir,
        run,
        &[crate::report::index::Entry::of(summary, source, file)],
    )?;
    Ok(path)
}

/// Says where the page `name` went (`whatbreaks: report: <path>` on stderr), or, when it
/// could not be written, warns: a report that cannot be written never fails a test.
pub fn announce(written: std::io::Result<PathBuf>, name: &str) {
    match written {
        Ok(path) => notes::note(format!("whatbreaks: report: {}", path.display())),
        Err(e) => notes::note(format!(
            "whatbreaks: warning: could not write the HTML report {name}: {e}"
        )),
    }
}

/// A file name from a test path or label: `::` becomes `.`, anything unusual `_`.
pub fn file_name(name: &str) -> String {
    name.replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The page name and the index's source of a page labelled `label` written by the running
/// test: `("<test binary>.<test path>.<label>", "<test binary> <test path>")` (without the
/// test path outside a test).
pub fn page_of(label: &str) -> (String, String) {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| crate::report::strip_hash(&s).to_string())
        .unwrap_or_else(|| "whatbreaks".into());
    let thread = std::thread::current();
    match thread.name().filter(|n| *n != "main") {
        Some(test) => (
            format!("{binary}.{test}.{label}"),
            format!("{binary} {test}"),
        ),
        None => (format!("{binary}.{label}"), binary),
    }
}

/// Writes the report of one scenario to `dir` when `WHATBREAKS_REPORT=1` asks for it (called
/// by the scenario's run path, which knows `dir` and `run`) and lists it on the index; prints
/// the path on stderr. Failing to write is a warning, never a panic.
pub fn write_scenario_report(dir: &Path, run: &str, report: &Report, label: &str) {
    let (name, source) = page_of(label);
    announce(write_report(dir, run, &name, &source, report), &name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: ChartKind) -> Chart {
        Chart::new("t <1>", kind, "x (s)", "y")
            .series("a", vec![(0.0, 1.0), (1.0, 3.0), (2.0, 0.0)])
            .series("b & c", vec![(0.5, 2.0)])
            .mark(1.5, "expiry")
    }

    #[test]
    fn every_kind_draws_an_svg_with_its_data() {
        for kind in [
            ChartKind::Line,
            ChartKind::Step,
            ChartKind::Bars,
            ChartKind::Scatter,
        ] {
            let svg = render_chart(&chart(kind), 3);
            assert!(
                svg.contains("<svg class=\"chart\" data-chart=\"3\""),
                "{svg}"
            );
            assert!(svg.contains("<g class=\"data\">"));
            assert!(svg.contains("t &lt;1&gt;"));
            assert!(svg.contains("b &amp; c"));
            assert!(svg.contains("expiry"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn a_page_counts_its_charts() {
        let report = Report {
            charts: vec![chart(ChartKind::Line), chart(ChartKind::Bars)],
            ..Report::default()
        };
        let page = render_page("p", &[Section::of("s", &report)]);
        assert!(page.contains("data-charts-expected=\"2\""));
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 2);
        assert!(page.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let (t, lo, hi) = ticks(0.0, 7.3);
        assert_eq!(t.first(), Some(&0.0));
        assert!(hi >= 7.3 && lo <= 0.0);
        assert!(t.len() <= 7, "{t:?}");
        assert_eq!(number(12_000.0), "12k");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(2_500_000.0), "2.5M");
        let empty = render_chart(&Chart::new("e", ChartKind::Line, "x", "y"), 0);
        assert!(empty.contains("no data"));
    }

    #[test]
    fn merged_series_are_named_by_run() {
        let a = Chart::new("arrivals", ChartKind::Line, "t", "n").series("x", vec![(0.0, 1.0)]);
        let b = a.clone();
        let m = merge_series(&[("no jitter", &a), ("full jitter", &b)]).unwrap();
        let names: Vec<_> = m.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["no jitter", "full jitter"]);
        assert_eq!(
            file_name("herd.retry::no_jitter.herd"),
            "herd.retry.no_jitter.herd"
        );
    }
}
