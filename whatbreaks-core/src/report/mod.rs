//! Findings and reports, and the one renderer that gives every failure the same shape.
//!
//! ```text
//! whatbreaks: thundering herd: retry arrivals are synchronized
//!   scenario  1000 clients, upstream `payments` down 0s..10s, seed 0x5eed1234
//!   evidence  retry 1: 1000/1000 clients in the same 1 ms (t=1s)
//!             retry 2: 1000/1000 clients in the same 1 ms (t=3s)
//!   arrivals  ▁█▁▁▁▁▁▁█▁▁▁…  0s..7.250s, 250ms per column, peak 1000
//!   fix       add jitter to the backoff: sleep a random time in [0, base * 2^attempt]
//!   replay    WHATBREAKS_SEED=0x5eed1234 cargo test -p app --test herd -- retry::no_jitter --exact
//! ```
//!
//! Detectors return findings; they never panic. The attribute macros panic with
//! [`Report::render`] when a report is not clean; the builder API hands the report back.

pub mod html;
pub mod index;
pub mod notes;
mod page;

use std::fmt;
use std::time::Duration;

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// A production failure pattern in the code under test.
    Bug,
    /// The scenario could not run to the end: time limit, watchdog, a panic in a client.
    Harness,
    /// The configuration was unusable (a bad `WHATBREAKS_*` value).
    Config,
}

/// The pattern name of [`FindingKind::Config`] findings.
pub const CONFIGURATION: &str = "configuration";

/// One thing that breaks, with its evidence and its fix.
///
/// Built with [`Finding::bug`], [`Finding::harness`] or [`Finding::config`] and the
/// `with_*` setters; the fields are public to read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The failure mode, e.g. `"thundering herd"`; see the detector's docs for its name.
    pub pattern: &'static str,
    /// Bug, harness problem or configuration error.
    pub kind: FindingKind,
    /// One line: what is wrong.
    pub verdict: String,
    /// The scenario: clients, faults, seed.
    pub scenario: String,
    /// The evidence, one line each, as numbers.
    pub evidence: Vec<String>,
    /// A small text picture, with its label (e.g. `"arrivals"`).
    pub picture: Option<(String, String)>,
    /// One actionable hint.
    pub fix: String,
    /// The seed of the run that found it.
    pub seed: u64,
    /// One line that replays the run.
    pub replay: String,
}

impl Finding {
    fn new(kind: FindingKind, pattern: &'static str, verdict: impl Into<String>) -> Self {
        Finding {
            pattern,
            kind,
            verdict: verdict.into(),
            scenario: String::new(),
            evidence: Vec::new(),
            picture: None,
            fix: String::new(),
            seed: 0,
            replay: String::new(),
        }
    }

    /// A failure pattern in the code under test ([`FindingKind::Bug`]), with empty evidence
    /// to be filled in.
    pub fn bug(pattern: &'static str, verdict: impl Into<String>) -> Self {
        Finding::new(FindingKind::Bug, pattern, verdict)
    }

    /// The scenario could not run to the end ([`FindingKind::Harness`]): a time limit, the
    /// watchdog, a panic, an unreachable backend.
    pub fn harness(pattern: &'static str, verdict: impl Into<String>) -> Self {
        Finding::new(FindingKind::Harness, pattern, verdict)
    }

    /// The configuration was unusable ([`FindingKind::Config`], pattern `configuration`): a
    /// builder value, an attribute argument or a `WHATBREAKS_*` variable.
    pub fn config(verdict: impl Into<String>) -> Self {
        Finding::new(FindingKind::Config, CONFIGURATION, verdict)
    }

    /// Sets the scenario line (without the seed: the run path adds it).
    pub fn with_scenario(mut self, scenario: impl Into<String>) -> Self {
        self.scenario = scenario.into();
        self
    }

    /// Sets the evidence, one line each.
    pub fn with_evidence(mut self, evidence: Vec<String>) -> Self {
        self.evidence = evidence;
        self
    }

    /// Sets the small text picture and its label.
    pub fn with_picture(mut self, label: impl Into<String>, picture: impl Into<String>) -> Self {
        self.picture = Some((label.into(), picture.into()));
        self
    }

    /// Sets the one actionable hint.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }

    /// The finding in the fixed message shape, without the trailing newline.
    pub fn render(&self) -> String {
        let mut out = format!("whatbreaks: {}: {}", self.pattern, self.verdict);
        let mut field = |label: &str, text: &str| {
            for (i, line) in text.lines().enumerate() {
                let label = if i == 0 { label } else { "" };
                out.push_str(&format!("\n  {label:<9} {line}"));
            }
        };
        if !self.scenario.is_empty() {
            field("scenario", &self.scenario);
        }
        for (i, line) in self.evidence.iter().take(MAX_EVIDENCE).enumerate() {
            field(if i == 0 { "evidence" } else { "" }, line);
        }
        if self.evidence.len() > MAX_EVIDENCE {
            field(
                "",
                &format!("… {} more lines", self.evidence.len() - MAX_EVIDENCE),
            );
        }
        if let Some((label, picture)) = &self.picture {
            field(label, picture);
        }
        if !self.fix.is_empty() {
            field("fix", &self.fix);
        }
        if !self.replay.is_empty() {
            field("replay", &self.replay);
        }
        out
    }
}

/// Evidence lines shown per finding; the rest is summarised (the message shape is bounded).
pub const MAX_EVIDENCE: usize = 12;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The result of running a scenario: the seeds that ran, the findings, and key figures.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// What ran, in one line (for tables).
    pub scenario: String,
    /// The seeds that ran, in order; the last is the one the findings came from.
    pub seeds: Vec<u64>,
    /// Findings of the first failing seed (empty when clean).
    pub findings: Vec<Finding>,
    /// The headline number of the last run, e.g. `"1000/1000 clients retry in the same ms"`.
    pub key_figure: String,
    /// Named figures of the last run, in order, for tools and tables.
    pub figures: Vec<(String, String)>,
    /// Wall-clock time of all runs.
    pub wall_time: Duration,
    /// Charts of the last run (the failing seed's, or the last clean one's), for the HTML
    /// report ([`crate::report::html`]).
    pub charts: Vec<Chart>,
}

impl Report {
    /// An empty report of a scenario (`scenario` is its one-line name).
    pub fn new(scenario: impl Into<String>) -> Self {
        Report {
            scenario: scenario.into(),
            ..Report::default()
        }
    }

    /// A report of one finding that stopped the scenario before any seed ran (bad
    /// configuration, an unreachable backend).
    pub fn stopped(scenario: impl Into<String>, finding: Finding) -> Self {
        Report {
            findings: vec![finding],
            ..Report::new(scenario)
        }
    }

    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// True when a finding of this pattern (e.g. `"thundering herd"`) was reported.
    pub fn flagged(&self, pattern: &str) -> bool {
        self.findings
            .iter()
            .any(|f| f.kind == FindingKind::Bug && f.pattern == pattern)
    }

    /// The seed the findings came from (or the last seed run).
    pub fn seed(&self) -> u64 {
        self.findings
            .first()
            .map(|f| f.seed)
            .or_else(|| self.seeds.last().copied())
            .unwrap_or(0)
    }

    /// A named figure, if the detector reported it.
    pub fn figure(&self, name: &str) -> Option<&str> {
        self.figures
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every finding in the message shape, separated by blank lines.
    pub fn render(&self) -> String {
        if self.findings.is_empty() {
            return format!(
                "whatbreaks: clean: {} ({} seed(s): {})",
                self.scenario,
                self.seeds.len(),
                self.key_figure
            );
        }
        self.findings
            .iter()
            .map(Finding::render)
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// Panics with the rendered findings unless the report is clean.
    #[track_caller]
    pub fn assert_clean(&self) {
        if !self.is_clean() {
            panic!("\n{}\n", self.render());
        }
    }

    /// Panics unless a finding of `pattern` was reported (for tests of buggy code).
    #[track_caller]
    pub fn assert_flagged(&self, pattern: &str) {
        if !self.flagged(pattern) {
            panic!(
                "expected whatbreaks to flag `{pattern}`, but it did not.\n{}\nseeds: {}",
                self.render(),
                self.seeds
                    .iter()
                    .map(|s| format!("{s:#x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// How a [`Chart`] draws its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    /// Points joined by straight lines (memory against cycles).
    Line,
    /// A value held until the next point (pool occupancy over time).
    Step,
    /// One bar per point, series side by side (arrivals per time bucket).
    Bars,
    /// Points only, one row of marks per series (a timeline per instance).
    Scatter,
}

/// One named series of `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry, e.g. `"no jitter"` or `"key user:7"`.
    pub name: String,
    /// The points, in order of `x`.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from its name and points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A chart a detector fills from one run, drawn by the HTML report as SVG.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// What the chart shows, e.g. `"arrivals over virtual time"`.
    pub title: String,
    /// How the series are drawn.
    pub kind: ChartKind,
    /// The series, drawn in order with distinct colours.
    pub series: Vec<Series>,
    /// The label of the x axis, with its unit, e.g. `"virtual time (s)"`.
    pub x_label: String,
    /// The label of the y axis, with its unit.
    pub y_label: String,
    /// Vertical reference lines: `(x, label)`, e.g. the instant a key expired.
    pub marks: Vec<(f64, String)>,
}

impl Chart {
    /// An empty chart; add series with [`Chart::series`].
    pub fn new(
        title: impl Into<String>,
        kind: ChartKind,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Chart {
            title: title.into(),
            kind,
            series: Vec::new(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            marks: Vec::new(),
        }
    }

    /// Adds a vertical reference line at `x`.
    pub fn mark(mut self, x: f64, label: impl Into<String>) -> Self {
        self.marks.push((x, label.into()));
        self
    }

    /// Adds a series.
    pub fn series(mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series::new(name, points));
        self
    }

    /// The number of points over all series.
    pub fn len(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    /// True when no series has a point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Event counts per time bucket, as chart points `(bucket start in s, count)`.
///
/// `bucket` is the bucket width; buckets run from 0 to the last event, empty ones included
/// (so a line drops to zero between waves). At most `max_buckets` buckets: a wider bucket is
/// used when the events span more.
pub fn time_buckets(times: &[Duration], bucket: Duration, max_buckets: usize) -> Vec<(f64, f64)> {
    match times.iter().max() {
        Some(last) => time_buckets_to(times, bucket, *last, max_buckets),
        None => Vec::new(),
    }
}

/// Arrivals per 100 ms of virtual time, as one series named `name`, on a chart titled
/// "`what` arrivals over virtual time" (the herd's retries, the storm's upstream calls). The
/// tour puts one series per retry strategy side by side with [`html::merge_series`].
pub fn arrivals_chart(times: &[Duration], what: &str, name: &str) -> Chart {
    Chart::new(
        format!("{what} arrivals over virtual time"),
        ChartKind::Line,
        "virtual time (s)",
        "arrivals per 100 ms",
    )
    .series(name, time_buckets(times, Duration::from_millis(100), 600))
}

/// Like [`time_buckets`], with buckets up to `last` (so series of one chart share an axis).
pub fn time_buckets_to(
    times: &[Duration],
    bucket: Duration,
    last: Duration,
    max_buckets: usize,
) -> Vec<(f64, f64)> {
    let last = times.iter().copied().max().unwrap_or_default().max(last);
    let mut width = bucket.as_micros().max(1);
    let max = max_buckets.max(1) as u128;
    if last.as_micros() / width + 1 > max {
        width = (last.as_micros() + 1).div_ceil(max);
    }
    let n = (last.as_micros() / width + 1) as usize;
    let mut counts = vec![0u64; n];
    for t in times {
        counts[(t.as_micros() / width) as usize] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| ((i as u128 * width) as f64 / 1e6, c as f64))
        .collect()
}

pub(crate) fn strip_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    }
}

/// Eight levels of bar for text pictures.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line histogram of event times: one column per bucket, at most `max_columns`.
///
/// The bucket width is the smallest of 1, 5, 10, 25, 50, 100, 250, 500 ms, 1, 5, 10, 30 s,
/// 1, 5, 10 min that fits the span in `max_columns`. Empty buckets show as `·`.
pub fn histogram(times: &[Duration], max_columns: usize) -> String {
    let Some(last) = times.iter().max() else {
        return "(no events)".into();
    };
    let span = last.as_millis() as u64 + 1;
    const WIDTHS: [u64; 15] = [
        1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000,
    ];
    let width = WIDTHS
        .iter()
        .copied()
        .find(|w| span.div_ceil(*w) as usize <= max_columns)
        .unwrap_or(span.div_ceil(max_columns as u64));
    let columns = span.div_ceil(width) as usize;
    let mut counts = vec![0usize; columns];
    for t in times {
        counts[(t.as_millis() as u64 / width) as usize] += 1;
    }
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    let bars: String = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                '·'
            } else {
                BARS[((c * 8).div_ceil(peak) - 1).min(7)]
            }
        })
        .collect();
    format!(
        "{bars}  0s..{}, {} per column, peak {peak}",
        crate::spec::format_duration(Duration::from_millis(columns as u64 * width)),
        crate::spec::format_duration(Duration::from_millis(width)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_has_the_fixed_shape() {
        let mut f = Finding::bug("thundering herd", "retry arrivals are synchronized");
        f.scenario = "10 clients, seed 0x1".into();
        f.evidence = vec!["retry 1: 10/10".into(), "retry 2: 10/10".into()];
        f.picture = Some(("arrivals".into(), "█·█".into()));
        f.fix = "add jitter".into();
        f.replay = "WHATBREAKS_SEED=0x1 cargo test".into();
        let text = f.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "whatbreaks: thundering herd: retry arrivals are synchronized"
        );
        assert_eq!(lines[1], "  scenario  10 clients, seed 0x1");
        assert_eq!(lines[2], "  evidence  retry 1: 10/10");
        assert_eq!(lines[3], "            retry 2: 10/10");
        assert_eq!(lines[4], "  arrivals  █·█");
        assert_eq!(lines[5], "  fix       add jitter");
        assert_eq!(lines[6], "  replay    WHATBREAKS_SEED=0x1 cargo test");
    }

    #[test]
    fn evidence_is_capped() {
        let mut f = Finding::bug("x", "y");
        f.evidence = (0..40).map(|i| format!("line {i}")).collect();
        let text = f.render();
        assert!(text.contains("… 28 more lines"));
        assert!(!text.contains("line 39"));
    }

    #[test]
    fn histogram_buckets() {
        let times: Vec<_> = [0u64, 0, 1_000, 1_000, 1_000, 3_000]
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        let h = histogram(&times, 60);
        assert!(h.starts_with("▆·"), "{h}");
        assert!(h.contains("100ms per column"), "{h}");
        assert!(h.contains("peak 3"), "{h}");
    }

    #[test]
    fn hashes_are_stripped_from_binary_names() {
        assert_eq!(strip_hash("herd-0123456789abcdef"), "herd");
        assert_eq!(strip_hash("my-tool"), "my-tool");
    }
}
