//! The checkout service, buggy and fixed.

use crate::audit_code::{SEEDED_BUGS, checkout};
use crate::{assert_breaks_exactly, seeds};
use whatbreaks::audit::Verdict;

#[test]
fn every_seeded_bug_is_found_by_the_right_question() {
    for seed in seeds() {
        let report = checkout(false).seed(seed).run();
        assert_breaks_exactly(&report, &SEEDED_BUGS, seed);
    }
}

#[test]
fn the_fixed_service_audits_clean() {
    for seed in seeds() {
        let report = checkout(true).seed(seed).run();
        assert!(report.holds(), "seed {seed:#x}:\n{report}");
        // Each question that applied held; the rest say why they did not apply.
        assert!(
            report
                .rows
                .iter()
                .filter(|r| r.verdict == Verdict::Holds)
                .count()
                >= 8,
            "{report}"
        );
        for r in &report.rows {
            if let Verdict::NotApplicable(why) = &r.verdict {
                assert!(!why.is_empty(), "{report}");
            }
        }
    }
}
