//! The audit: describe a service once, every question that applies is asked; the showcase's
//! seeded bugs are each found by the right question, the fixed service audits clean, and the
//! oracles are proven both ways, over several seeds.

#[path = "../../examples/patterns/audit.rs"]
mod audit_code;
#[path = "../../examples/patterns/audit_http.rs"]
mod audit_http;
#[path = "../../examples/patterns/herd.rs"]
mod herd;
#[path = "../../examples/patterns/leak.rs"]
mod leak;
#[path = "../../examples/patterns/n_plus_one.rs"]
mod n_plus_one;
#[path = "../../examples/patterns/pool.rs"]
mod pool;
#[path = "../../examples/patterns/race.rs"]
mod race;
#[path = "../../examples/patterns/retry.rs"]
mod retry;
#[path = "../../examples/patterns/scale.rs"]
mod scale;
#[path = "../../examples/patterns/scheduler.rs"]
mod scheduler;
#[path = "../../examples/patterns/seams.rs"]
mod seams;
#[path = "../../examples/patterns/stampede.rs"]
mod stampede;

// The leak question counts the heap (and the clock follows the simulation).
whatbreaks::install!();

mod attribute;
mod http;
mod oracles;
mod showcase;

/// Asserts that `report` breaks each (question, entry point) of `seeded`, and nothing else.
pub(crate) fn assert_breaks_exactly(
    report: &whatbreaks::audit::AuditReport,
    seeded: &[(&str, &str)],
    seed: u64,
) {
    use whatbreaks::audit::Verdict;
    for &(question, entry) in seeded {
        assert!(
            report.rows.iter().any(|r| r.question == question
                && r.entry == entry
                && r.verdict == Verdict::Breaks),
            "seed {seed:#x}: `{question}` should break for `{entry}`:\n{report}"
        );
    }
    for r in report.rows.iter().filter(|r| r.verdict == Verdict::Breaks) {
        assert!(
            seeded.contains(&(r.question, r.entry.as_str())),
            "seed {seed:#x}: unexpected break {} / {}:\n{report}",
            r.question,
            r.entry
        );
    }
}

/// The first seeds of the both-ways runs.
pub(crate) fn seeds() -> impl Iterator<Item = u64> {
    (0..3u64).map(|i| 0x5eed + i)
}
