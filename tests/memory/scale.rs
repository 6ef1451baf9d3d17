//! Required verdicts of the scale detector, each over several seeds.

use crate::SEEDS;
use crate::scale_code::{self as code, Exporter};
use std::time::Duration;
use whatbreaks::FindingKind;
use whatbreaks::scale::{PATTERN, PATTERN_TIME};

fn verdict(exporter: Exporter, flagged: bool) {
    let report = code::small_scenario()
        .seed(0x5eed)
        .seeds(SEEDS)
        .run(move |n: u64| async move { exporter.export(n).await });
    if flagged {
        report.assert_flagged(PATTERN);
    } else {
        assert!(report.is_clean(), "{exporter:?} should pass:\n{report}");
        assert_eq!(report.seeds.len(), crate::support::expected_seeds(SEEDS));
    }
}

#[test]
fn every_exporter_is_listed_with_its_verdict() {
    assert_eq!(
        Exporter::ALL.map(|(e, _)| e),
        [
            Exporter::FetchAll,
            Exporter::Collected,
            Exporter::BufferedInMemory,
            Exporter::Streaming
        ]
    );
}

#[test]
fn fetch_all_then_write_is_flagged() {
    verdict(Exporter::FetchAll, true);
}

#[test]
fn collecting_the_stream_into_a_vec_is_flagged() {
    verdict(Exporter::Collected, true);
}

#[test]
fn an_unbounded_output_buffer_is_flagged() {
    verdict(Exporter::BufferedInMemory, true);
}

#[test]
fn streaming_through_a_bounded_buffer_passes() {
    verdict(Exporter::Streaming, false);
}

#[test]
fn fetch_all_then_write_is_extrapolated_to_500_million_rows() {
    let report = code::buggy(code::small_scenario().seed(1));
    report.assert_flagged(PATTERN);
    let f = &report.findings[0];
    assert_eq!(f.verdict, "peak memory grows with input size");
    let text = f.render();
    assert!(text.contains("n=8,000  peak"), "{text}");
    assert!(text.contains("peak grows as n^1.0"), "{text}");
    assert!(text.contains("500,000,000 rows need ~"), "{text}");
    assert!(text.contains("GiB, above max_peak 1.0 GiB"), "{text}");
    let (label, picture) = f.picture.as_ref().expect("a picture");
    assert_eq!(label, "memory");
    assert_eq!(picture.lines().count(), 4, "{picture}");
    assert!(picture.contains("(extrapolated"), "{picture}");
    assert!(f.fix.contains("server-side cursor"), "{}", f.fix);
    assert!(
        report.key_figure.starts_with("peak ∝ n^1.0"),
        "{}",
        report.key_figure
    );
    let fixed = code::fixed(code::small_scenario().seed(1));
    assert!(fixed.is_clean(), "{fixed}");
    assert!(
        fixed.key_figure.starts_with("peak ∝ n^0.0"),
        "{}",
        fixed.key_figure
    );
}

#[test]
fn a_collect_then_write_exporter_is_extrapolated_within_15_percent_of_its_bytes_per_row() {
    // A `Vec` collected row by row grows by doubling: between two sizes it reads as n^0.9,
    // and a power law would report half the memory 500 million rows need.
    for seed in crate::seeds().take(2) {
        let report = code::scenario()
            .seed(seed)
            .run(|n: u64| async move { code::Exporter::Collected.export(n).await });
        report.assert_flagged(PATTERN);
        let figure = |name: &str| -> f64 { report.figure(name).unwrap().parse().unwrap() };
        let per_row = figure("peak at 100000") / 100_000.0 * 500_000_000.0;
        let estimate = figure("peak at target");
        assert!(
            (estimate / per_row - 1.0).abs() < 0.15,
            "estimate {estimate:.3e} vs bytes per row x rows {per_row:.3e}\n{report}"
        );
        assert!(report.render().contains("range"), "{report}");
    }
}

#[test]
fn max_time_flags_an_export_too_slow_at_scale() {
    // 1 ms per batch of 1,000 rows: 500,000,000 rows take ~8m20s of virtual time.
    let report = code::small_scenario()
        .max_time(Duration::from_secs(60))
        .seed(2)
        .run(|n: u64| async move { Exporter::Streaming.export(n).await });
    report.assert_flagged(PATTERN_TIME);
    assert!(!report.flagged(PATTERN), "{report}");
    assert!(
        report.render().contains("500,000,000 rows take ~8m20s"),
        "{report}"
    );
    let ok = code::small_scenario()
        .max_time(Duration::from_secs(3_600))
        .seed(2)
        .run(|n: u64| async move { Exporter::Streaming.export(n).await });
    assert!(ok.is_clean(), "{ok}");
}

#[test]
fn a_single_size_is_a_configuration_error_not_a_panic() {
    let report = code::small_scenario()
        .sizes(&[1_000])
        .run(|n: u64| async move { Exporter::Streaming.export(n).await });
    assert_eq!(report.findings[0].kind, FindingKind::Config);
    assert!(report.render().contains("at least two sizes"), "{report}");
}
