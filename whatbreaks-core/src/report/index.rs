//! The index of every report page: `target/whatbreaks/index.html`, one table per run of
//! every scenario the run wrote a page for (tests with `WHATBREAKS_REPORT=1`, the tour), with
//! its verdict, key figure, seed and time, linking to its page; newest run first. Like
//! criterion's `target/criterion/report/index.html`, it is one self-contained file (no
//! external assets, no script) that works offline.
//!
//! Each page written appends one line per scenario to `index.tsv` next to it and rewrites
//! `index.html` from that file, so test binaries and processes that write at the same time
//! (cargo-nextest runs every test in its own process) all end up in the index: lines are
//! appended whole, the page is written to a temporary file and renamed into place, and a
//! writer that sees the list grow while it wrote writes the page again.
//!
//! A run is one `cargo test` or `cargo run` invocation: the processes it starts share their
//! parent process (cargo), or nextest's `NEXTEST_RUN_ID`. A page written again (the same test
//! run later) is listed once, under its newest run; entries whose page no longer exists are
//! left out.

use crate::report::page::{SCRIPT, STYLE, escape};
use crate::report::{FindingKind, Report};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file the entries are kept in, next to the pages.
pub const ENTRIES: &str = "index.tsv";

/// The index page, next to the pages.
pub const PAGE: &str = "index.html";

/// Runs shown on the index page, newest first.
pub const MAX_RUNS: usize = 30;

/// One scenario on the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it was recorded, in seconds since the Unix epoch.
    pub when: u64,
    /// The run it belongs to (see the module docs); [`record`] sets it.
    pub run: String,
    /// What ran it: `"<test binary> <test path>"`, or `"tour"`.
    pub source: String,
    /// The scenario, e.g. `"herd"` or `"thundering herd: buggy code"`.
    pub scenario: String,
    /// `"clean"`, `"flagged"`, `"harness"` or `"configuration"`.
    pub verdict: String,
    /// The first finding's verdict (empty when clean).
    pub finding: String,
    /// The headline number of the run.
    pub key_figure: String,
    /// The seed of the findings (or of the last clean run), `0x…`; empty for real-time runs.
    pub seed: String,
    /// Wall-clock time of the scenario.
    pub wall: Duration,
    /// The page, relative to the index (with an `#anchor` when one page holds several).
    pub page: String,
}

impl Entry {
    /// The entry of `report`, run by `source`, shown on `page` (relative to the index).
    pub fn of(report: &Report, source: impl Into<String>, page: impl Into<String>) -> Entry {
        let first = report.findings.first();
        let verdict = match first.map(|f| f.kind) {
            None => "clean",
            Some(FindingKind::Bug) => "flagged",
            Some(FindingKind::Harness) => "harness",
            Some(FindingKind::Config) => "configuration",
        };
        Entry {
            when: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            run: String::new(),
            source: source.into(),
            scenario: report.scenario.clone(),
            verdict: verdict.into(),
            finding: first
                .map(|f| format!("{}: {}", f.pattern, f.verdict))
                .unwrap_or_default(),
            key_figure: report.key_figure.clone(),
            seed: if report.seeds.is_empty() {
                String::new()
            } else {
                format!("{:#x}", report.seed())
            },
            wall: report.wall_time,
            page: page.into(),
        }
    }

    /// Sets the scenario's name on the index.
    pub fn named(mut self, scenario: impl Into<String>) -> Entry {
        self.scenario = scenario.into();
        self
    }

    fn to_line(&self) -> String {
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.when,
            clean(&self.run),
            clean(&self.source),
            clean(&self.scenario),
            clean(&self.verdict),
            clean(&self.finding),
            clean(&self.key_figure),
            clean(&self.seed),
            self.wall.as_micros(),
            clean(&self.page)
        )
    }

    fn from_line(line: &str) -> Option<Entry> {
        let f: Vec<&str> = line.split('\t').collect();
        let [
            when,
            run,
            source,
            scenario,
            verdict,
            finding,
            key,
            seed,
            wall,
            page,
        ] = f[..]
        else {
            return None;
        };
        Some(Entry {
            when: when.parse().ok()?,
            run: run.into(),
            source: source.into(),
            scenario: scenario.into(),
            verdict: verdict.into(),
            finding: finding.into(),
            key_figure: key.into(),
            seed: seed.into(),
            wall: Duration::from_micros(wall.parse().ok()?),
            page: page.into(),
        })
    }
}

/// Appends `entries` to the index in `dir` as entries of the run `run` (see the module docs;
/// `scenario::config::run_id` names the current one) and rewrites `index.html`; returns its
/// path.
pub fn record(dir: &Path, run: &str, entries: &[Entry]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let list = dir.join(ENTRIES);
    let lines: String = entries
        .iter()
        .map(|e| {
            Entry {
                run: run.to_string(),
                ..e.clone()
            }
            .to_line()
        })
        .collect();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&list)?
        .write_all(lines.as_bytes())?;
    let page = dir.join(PAGE);
    // Another process may append while this one writes: write again until the list read is
    // the list on disk (a few rounds at most).
    for _ in 0..5 {
        let before = std::fs::metadata(&list).map_or(0, |m| m.len());
        let tmp = dir.join(format!(".index.{}.html", std::process::id()));
        std::fs::write(&tmp, render(&read(dir)))?;
        std::fs::rename(&tmp, &page)?;
        if std::fs::metadata(&list).map_or(0, |m| m.len()) == before {
            break;
        }
    }
    Ok(page)
}

/// The entries of the index in `dir`, newest first: one per page (the newest), only pages
/// that exist. Unreadable lines are skipped.
pub fn read(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join(ENTRIES)).unwrap_or_default();
    let mut all: Vec<(usize, Entry)> = text
        .lines()
        .filter_map(Entry::from_line)
        .enumerate()
        .collect();
    // Newest first; among equal times, the later line first.
    all.sort_by(|(i, a), (j, b)| b.when.cmp(&a.when).then(j.cmp(i)));
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .map(|(_, e)| e)
        .filter(|e| seen.insert(e.page.clone()))
        .filter(|e| {
            let file = e.page.split('#').next().unwrap_or_default();
            !file.is_empty() && !file.contains('/') && dir.join(file).is_file()
        })
        .collect()
}

/// `2026-12-03 11:39:29 UTC` from seconds since the Unix epoch.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The index page of `entries` (newest first): one table per run, newest run first.
pub fn render(entries: &[Entry]) -> String {
    let mut runs: Vec<(&str, Vec<&Entry>)> = Vec::new();
    for e in entries {
        match runs.iter_mut().find(|(r, _)| *r == e.run) {
            Some((_, list)) => list.push(e),
            None => runs.push((&e.run, vec![e])),
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>whatbreaks: reports</title>\n<style>{}</style>\n</head>\n<body data-charts-expected=\"0\">\n<h1>whatbreaks: reports</h1>",
        STYLE
    );
    if runs.is_empty() {
        out.push_str("<p>No report pages yet: run the tour (<code>cargo run --release --example tour</code>) or tests with <code>WHATBREAKS_REPORT=1</code>.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p>{} scenario page(s) from {} run(s), newest first{}.</p>",
            entries.len(),
            runs.len(),
            if runs.len() > MAX_RUNS {
                format!(" (the last {MAX_RUNS} runs shown)")
            } else {
                String::new()
            }
        );
    }
    for (run, list) in runs.iter().take(MAX_RUNS) {
        let flagged = list.iter().filter(|e| e.verdict != "clean").count();
        let started = list.iter().map(|e| e.when).min().unwrap_or(0);
        let _ = writeln!(
            out,
            "<section class=\"run\">\n<h2>{} <small>({}, {} scenario(s), {flagged} not clean)</small></h2>\n<table class=\"index\">\n<colgroup><col class=\"c-scenario\"><col class=\"c-verdict\"><col class=\"c-figure\"><col class=\"c-seed\"><col class=\"c-time\"><col class=\"c-when\"></colgroup>\n<thead><tr><th>scenario</th><th>verdict</th><th>key figure</th><th>seed</th><th>time</th><th>written</th></tr></thead>\n<tbody>",
            escape(&utc(started)),
            escape(run),
            list.len()
        );
        for e in list {
            let class = if e.verdict == "clean" {
                "clean"
            } else {
                "flagged"
            };
            let verdict = if e.finding.is_empty() {
                e.verdict.clone()
            } else {
                format!("{}: {}", e.verdict, e.finding)
            };
            let _ = writeln!(
                out,
                "<tr><td><a href=\"{}\">{}</a><div class=\"source\">{}</div></td><td class=\"{class}\">{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&e.page),
                escape(&e.scenario),
                escape(&e.source),
                escape(&verdict),
                escape(&e.key_figure),
                escape(&e.seed),
                crate::spec::format_duration(Duration::from_millis(e.wall.as_millis() as u64)),
                escape(&utc(e.when)[11..]),
            );
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }
    let _ = writeln!(out, "<script>{}</script>\n</body>\n</html>", SCRIPT);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(when: u64, run: &str, page: &str) -> Entry {
        Entry {
            when,
            run: run.into(),
            source: "herd retry::no_jitter".into(),
            scenario: "herd".into(),
            verdict: "flagged".into(),
            finding: "thundering herd: retry\tarrivals are synchronized".into(),
            key_figure: "1000/1000 <clients>".into(),
            seed: "0x2a".into(),
            wall: Duration::from_millis(12),
            page: page.into(),
        }
    }

    #[test]
    fn lines_round_trip_and_bad_lines_are_skipped() {
        let e = entry(5, "cargo 1", "a.html");
        let back = Entry::from_line(e.to_line().trim_end_matches('\n')).unwrap();
        assert_eq!(
            back.finding,
            "thundering herd: retry arrivals are synchronized"
        );
        assert_eq!(back.wall, e.wall);
        assert_eq!(Entry::from_line("garbage"), None);
        assert_eq!(Entry::from_line("x\t\t\t\t\t\t\t\t\t"), None);
    }

    #[test]
    fn newest_first_one_per_page_existing_pages_only() {
        let dir = std::env::temp_dir().join(format!("whatbreaks-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for page in ["a.html", "b.html"] {
            std::fs::write(dir.join(page), "<p>").unwrap();
        }
        record(
            &dir,
            "cargo 1",
            &[entry(1, "", "a.html"), entry(1, "", "gone.html")],
        )
        .unwrap();
        std::fs::write(dir.join(ENTRIES).with_extension("junk"), "").unwrap();
        let page = record(
            &dir,
            "cargo 2",
            &[entry(2, "", "b.html#x"), entry(3, "", "a.html")],
        )
        .unwrap();
        let list = read(&dir);
        let pages: Vec<_> = list.iter().map(|e| e.page.as_str()).collect();
        assert_eq!(pages, ["a.html", "b.html#x"]);
        let html = std::fs::read_to_string(page).unwrap();
        assert!(html.contains("href=\"a.html\""), "{html}");
        assert!(html.contains("1000/1000 &lt;clients&gt;"), "{html}");
        assert!(!html.contains("gone.html"));
        assert!(html.find("cargo 2").is_some() && !html.contains("cargo 1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_297_969), "2026-12-03 11:39:29 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
