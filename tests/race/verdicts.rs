//! Required verdicts, each for five different explorer seeds.

use crate::SEEDS;
use crate::code;
use std::time::Duration;
use whatbreaks::race::PATTERN;
use whatbreaks::{RaceTest, SimDb};

fn explorer(seed: u64) -> RaceTest {
    RaceTest::new().seed(seed).iterations(300)
}

#[test]
fn the_toggle_like_is_flagged_and_the_locked_toggle_passes() {
    for seed in SEEDS {
        let buggy = code::buggy(explorer(seed));
        buggy.assert_flagged(PATTERN);
        let text = buggy.render();
        assert!(
            text.contains("INSERT likes[u1:p1]"),
            "the trace shows the inserts:\n{text}"
        );
        let fixed = code::fixed(explorer(seed));
        assert!(fixed.is_clean(), "{fixed}");
    }
}

#[test]
fn a_lost_update_that_fifo_order_hides_is_found_by_the_explorer() {
    let body = || async {
        code::fee_and_deposit(
            SimDb::builder("db").table_latency(Duration::ZERO).build(),
            false,
        )
        .await
    };
    // What a plain tokio test sees: FIFO order, every schedule the same, always passes.
    let fifo = RaceTest::new()
        .seed(1)
        .iterations(50)
        .mode("fifo")
        .run(body);
    assert!(fifo.is_clean(), "FIFO order must not expose it:\n{fifo}");
    for seed in SEEDS {
        for mode in ["random", "pct"] {
            let report = RaceTest::new()
                .seed(seed)
                .iterations(500)
                .mode(mode)
                .run(body);
            report.assert_flagged(PATTERN);
            assert!(report.render().contains("lost update"), "{report}");
        }
    }
}

#[test]
fn seeded_latency_alone_varies_interleavings() {
    // With the default 0-2 ms latency per operation even FIFO order meets the bug sometimes.
    let body = || async { code::fee_and_deposit(SimDb::new(), false).await };
    RaceTest::new()
        .seed(7)
        .iterations(300)
        .mode("fifo")
        .run(body)
        .assert_flagged(PATTERN);
}

#[test]
fn a_tokio_mutex_across_the_read_modify_write_passes() {
    for seed in SEEDS {
        let report =
            explorer(seed).run(|| async { code::fee_and_deposit(SimDb::new(), true).await });
        assert!(report.is_clean(), "{report}");
    }
}

#[test]
fn double_registration_is_flagged_and_the_atomic_reservation_passes() {
    for seed in SEEDS {
        let buggy = explorer(seed).run(|| async {
            let db = SimDb::new();
            let (a, b) =
                whatbreaks::join!(code::register(&db, "a@x.io"), code::register(&db, "a@x.io"));
            assert!(a.is_err() || b.is_err(), "both sign-ups succeeded");
            assert_eq!(db.count("users_by_email", "a@x.io"), 1);
        });
        buggy.assert_flagged(PATTERN);
        let fixed = explorer(seed).run(|| async {
            let db = SimDb::new().unique("users_by_email");
            let (a, b) = whatbreaks::join!(
                code::register_atomic(&db, "a@x.io"),
                code::register_atomic(&db, "a@x.io")
            );
            assert!(a.is_ok() != b.is_ok(), "exactly one sign-up wins");
            assert_eq!(db.count("users_by_email", "a@x.io"), 1);
        });
        assert!(fixed.is_clean(), "{fixed}");
    }
}

#[test]
fn the_same_seed_replays_the_same_interleaving() {
    let run = || code::buggy(explorer(0x5eed)).render();
    assert_eq!(run(), run());
    let first = code::buggy(explorer(0x5eed));
    // Replaying only the failing schedule's seed fails the same way, in its first schedule.
    let replay = code::buggy(RaceTest::new().seed(first.seed()).iterations(1));
    replay.assert_flagged(PATTERN);
    assert_eq!(first.findings[0].picture, replay.findings[0].picture);
}

#[test]
fn reference_schedule_is_pinned() {
    // The explorer's choices are part of the trace: the failing schedule of seed 0x5eed and the
    // number of schedules it took to find it stay the same across refactors.
    use std::hash::{Hash, Hasher};
    let report = code::buggy(explorer(0x5eed));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    report.findings[0].evidence.hash(&mut h);
    // The pin is of the default run: `WHATBREAKS_SEEDS` (as `.ci/stress` sets it) changes
    // what the evidence counts.
    if std::env::var_os("WHATBREAKS_SEEDS").is_some() {
        eprintln!("reference_schedule_is_pinned: WHATBREAKS_SEEDS is set, the pin is not checked");
        return;
    }
    let found = (report.findings[0].seed, report.seeds.len(), h.finish());
    assert_eq!(
        found,
        // Was 16987200950410397369 before the explorer could hold a ready task back.
        (0x5eed, 1, 5983104533579690911),
        "reference race run changed: {found:?}"
    );
}
