//! The canonical races, each found within its schedule budget.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use whatbreaks::{RaceTest, SimDb};

/// How a task waits at each of its await points.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Yield,
    Sleep,
    Db,
    Channel,
}

async fn wait(how: Wait, db: &SimDb) {
    match how {
        Wait::Yield => tokio::task::yield_now().await,
        Wait::Sleep => tokio::time::sleep(Duration::from_millis(1)).await,
        Wait::Db => {
            let _ = db.get("t", "k").await;
        }
        Wait::Channel => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
            tokio::task::spawn_local(async move {
                let _ = tx.send(()).await;
            });
            let _ = rx.recv().await;
        }
    }
}

/// A lost update that needs the writer held back for `depth` of the other task's awaits:
/// A reads, waits once, writes; B waits `depth` times, then increments at once. Only when B's
/// increment lands between A's read and A's write is an update lost.
async fn lost_update(depth: u32, how: Wait) {
    let db = SimDb::builder("db")
        .table_latency(Duration::from_millis(1))
        .build();
    let x = Rc::new(Cell::new(0));
    let (a, b) = (x.clone(), x.clone());
    whatbreaks::join!(
        async {
            let v = a.get();
            wait(how, &db).await;
            a.set(v + 1);
        },
        async {
            for _ in 0..depth {
                wait(how, &db).await;
            }
            b.set(b.get() + 1);
        }
    );
    assert_eq!(x.get(), 2, "lost update");
}

/// The share of schedules that break the invariant, over `n` single-schedule runs.
fn rate(depth: u32, how: Wait, mode: &str, n: u64) -> f64 {
    let found = (0..n)
        .filter(|seed| {
            let report = RaceTest::new()
                .seed(1000 + seed)
                .iterations(1)
                .mode(mode)
                .run(move || lost_update(depth, how));
            !report.is_clean()
        })
        .count();
    found as f64 / n as f64
}

const WAITS: [Wait; 4] = [Wait::Yield, Wait::Sleep, Wait::Db, Wait::Channel];

/// Every lost update of the catalogue, at depth 1, 2 and 3, through every kind of await, is
/// found within 100 schedules by the random and the PCT explorer, for every seed: tasks
/// woken by a timer or a deferred wake can be held back for several of the other's steps.
#[test]
fn every_catalogued_lost_update_is_found_within_its_budget() {
    for how in WAITS {
        for depth in 1..=3 {
            for seed in crate::SEEDS {
                for mode in ["random", "pct"] {
                    let report = RaceTest::new()
                        .seed(seed)
                        .iterations(100)
                        .mode(mode)
                        .run(move || lost_update(depth, how));
                    assert!(
                        report.flagged(whatbreaks::race::PATTERN),
                        "{how:?} at depth {depth}, {mode}, seed {seed:#x}: {}",
                        report.key_figure
                    );
                }
            }
        }
    }
}

/// What a plain tokio test sees (FIFO, no latency jitter) never shows the lost updates that
/// need the writer held back behind a timer: the catalogue is not trivially found.
#[test]
fn fifo_order_never_shows_the_held_back_lost_updates() {
    for how in [Wait::Sleep, Wait::Channel] {
        for depth in 1..=3 {
            let report = RaceTest::new()
                .seed(1)
                .iterations(100)
                .mode("fifo")
                .run(move || lost_update(depth, how));
            assert!(report.is_clean(), "{how:?} depth {depth}: {report}");
        }
    }
    for depth in 2..=3 {
        let report = RaceTest::new()
            .seed(1)
            .iterations(100)
            .mode("fifo")
            .run(move || lost_update(depth, Wait::Yield));
        assert!(report.is_clean(), "yield depth {depth}: {report}");
    }
}

/// The share of schedules that find each race (200 single schedules), next to PCT's lower
/// bound for two tasks: run with `--ignored --nocapture` to print the table.
#[test]
#[ignore = "a measurement: cargo test --test race catalogue::rates -- --ignored --nocapture"]
fn rates() {
    for how in WAITS {
        for depth in 1..=3 {
            for mode in ["fifo", "random", "pct"] {
                eprintln!(
                    "{how:?} depth {depth} {mode}: {:.3} per schedule",
                    rate(depth, how, mode, 200)
                );
            }
        }
    }
}

/// A body that sleeps 4 s is not cut off by the time limit after many schedules: the limit
/// is each schedule's, and every schedule starts at virtual time zero.
#[test]
fn the_time_limit_is_per_schedule() {
    let report = RaceTest::new()
        .seed(1)
        .iterations(1_000)
        .time_limit(Duration::from_secs(10))
        .run(|| async {
            whatbreaks::join!(
                tokio::time::sleep(Duration::from_secs(4)),
                tokio::time::sleep(Duration::from_secs(2))
            );
        });
    assert!(report.is_clean(), "{report}");
    // (`WHATBREAKS_SEEDS=n` runs n times as many.)
    let schedules: u32 = report
        .figure("schedules")
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(schedules >= 1_000, "{report}");
}

/// A failing schedule found after others, replayed alone from its seed, shows the identical
/// trace, times included: each schedule starts at virtual time zero.
#[test]
fn a_late_failing_schedule_replays_with_the_same_times() {
    let mut late = 0;
    for seed in crate::SEEDS {
        let run = RaceTest::new()
            .seed(seed)
            .iterations(200)
            .mode("fifo")
            .run(|| lost_update(3, Wait::Db));
        let Some(found) = run.findings.first() else {
            continue;
        };
        let replay = RaceTest::new()
            .seed(run.seed())
            .iterations(1)
            .mode("fifo")
            .run(|| lost_update(3, Wait::Db));
        if run.seeds.len() > 1 {
            late += 1;
        }
        assert_eq!(found.picture, replay.findings[0].picture, "seed {seed:#x}");
        let (_, trace) = found.picture.clone().expect("a trace");
        assert!(trace.contains("t="), "{trace}");
    }
    assert!(
        late > 0,
        "no seed failed after its first schedule: nothing was replayed late"
    );
}
