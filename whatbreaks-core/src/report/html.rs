//! The HTML report: every finding in its text shape next to the charts of its run, as one
//! self-contained page (inline SVG and CSS, no external files, no network).
//!
//! The tour writes `target/whatbreaks/tour.html`. Any scenario writes one when
//! `WHATBREAKS_REPORT=1` is set: `target/whatbreaks/<test binary>.<test path>.<scenario>.html`
//! (a later run of the same test overwrites it), and prints its path on stderr.
//!
//! Charts come from the detectors ([`Report::charts`]): arrivals over virtual time (herd,
//! retry storm), database loads per key around an expiry (stampede), pool occupancy and
//! waiting (pool), memory against cycles (leak) and against input size (scale), and the
//! effects of each instance over time (double execution).
//!
//! The page carries a small inline script that counts the charts the browser laid out and
//! records it on `<body data-charts-rendered="N" data-charts-expected="M">`, so a headless
//! browser's DOM dump can prove every chart rendered.

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

/// Renders a whole page.
pub fn render_page(title: &str, sections: &[Section]) -> String {
    let expected: usize = sections.iter().map(|s| s.charts.len()).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body data-charts-expected=\"{expected}\">\n<h1>{}</h1>",
        escape(title),
        escape(title)
    );
    let mut index = 0;
    for s in sections {
        let class = if s.clean { "clean" } else { "flagged" };
        let _ = writeln!(
            out,
            "<section>\n<h2 class=\"{class}\">{}</h2>\n<pre>{}</pre>",
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;max-width:820px;color:#222}\
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}\
h2.flagged{color:#b00020}h2.clean{color:#1b5e20}\
figure{margin:12px 0 24px}figcaption{font-weight:600;margin-bottom:4px}\
svg text{font-size:11px;fill:#333}\
ul.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:12px;font-size:12px}\
ul.legend span{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}";

const SCRIPT: &str = "(function(){var n=0;document.querySelectorAll('svg.chart').forEach(function(s){\
var r=s.getBoundingClientRect();if(r.width>0&&r.height>0&&s.querySelector('.data'))n++;});\
document.body.setAttribute('data-charts-rendered',String(n));})();";

/// One chart as a `<figure>` with an inline SVG and a legend.
pub fn render_chart(chart: &Chart, index: usize) -> String {
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
        x0 = x0.min(*x);
        x1 = x1.max(*x);
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
            }
            ChartKind::Bars => {
                let w = ((sx(x0 + step) - sx(x0)) / n).max(0.5);
                for &(x, y) in pts.iter().filter(|(_, y)| *y != 0.0) {
                    let (top, bottom) = (sy(y.max(0.0)), sy(y.min(0.0)));
                    let _ = write!(
                        svg,
                        "<rect x=\"{:.2}\" y=\"{top:.1}\" width=\"{w:.2}\" height=\"{:.1}\" fill=\"{color}\"/>",
                        sx(x) + w * i as f64,
                        (bottom - top).max(0.5)
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
                            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"7\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>"
                        );
                    } else {
                        let _ = write!(
                            svg,
                            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"{color}\"/>"
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

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The directory reports go to: `<target dir>/whatbreaks`.
///
/// The target directory is `CARGO_TARGET_DIR` when set, else the nearest ancestor of the
/// running executable that holds cargo's `CACHEDIR.TAG`, else `target` under
/// `CARGO_MANIFEST_DIR`, else the system's temporary directory. (Cargo's own variables are
/// read here rather than through `scenario::config`, which sits above this layer.)
pub fn report_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("whatbreaks");
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(target) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return target.join("whatbreaks");
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        return Path::new(&dir).join("target").join("whatbreaks");
    }
    std::env::temp_dir().join("whatbreaks")
}

/// Writes `html` to `<report dir>/<name>.html` and returns the path.
pub fn write_page(name: &str, html: &str) -> std::io::Result<PathBuf> {
    let dir = report_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.html", file_name(name)));
    std::fs::write(&path, html)?;
    Ok(path)
}

/// A file name from a test path or label: `::` becomes `.`, anything unusual `_`.
fn file_name(name: &str) -> String {
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

/// Writes the report of one scenario when `WHATBREAKS_REPORT=1` asks for it (called by the
/// seed driver); prints the path on stderr. Failing to write is a warning, never a panic.
pub(crate) fn write_scenario_report(report: &Report, label: &str) {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| crate::report::strip_hash(&s).to_string())
        .unwrap_or_else(|| "whatbreaks".into());
    let thread = std::thread::current();
    let name = match thread.name().filter(|n| *n != "main") {
        Some(test) => format!("{binary}.{test}.{label}"),
        None => format!("{binary}.{label}"),
    };
    let title = format!("whatbreaks: {name}");
    let seeds: Vec<String> = report.seeds.iter().map(|s| format!("{s:#x}")).collect();
    let heading = format!("{label}, seed(s) {}", seeds.join(", "));
    let page = render_page(&title, &[Section::of(heading, report)]);
    match write_page(&name, &page) {
        Ok(path) => notes::note(format!("whatbreaks: report: {}", path.display())),
        Err(e) => notes::note(format!(
            "whatbreaks: warning: could not write the HTML report {name}: {e}"
        )),
    }
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
