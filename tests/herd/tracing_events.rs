//! Simulation events reach the user's own `tracing` subscriber, stamped with virtual time.
//!
//! A minimal hand-written `Subscriber` collects every event (no tracing-subscriber needed).
//! It is the process's global default, as `tracing_subscriber::fmt().init()` would be (scoped
//! defaults on several test threads at once make tracing's per-call-site cache drop events),
//! so events are told apart by the simulation thread that sent them: it keeps the events of
//! the simulation threads that announced one of its seeds (other tests' runs are not
//! recorded).

use crate::code::retry_request;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use whatbreaks::{HerdTest, Request, Upstream};

/// One event: sending thread, target, message and the other fields as text (`t_ms` also as
/// a number).
#[derive(Debug)]
struct Seen {
    thread: ThreadId,
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
    t_ms: Option<f64>,
}

impl Visit for Seen {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "t_ms" {
            self.t_ms = Some(value);
        }
        self.fields.insert(field.name().into(), value.to_string());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().into(), format!("{value:?}"));
        }
    }
}

/// The seed of the run whose events are kept…
const SEED: u64 = 0x7ace_5eed;
/// …and of the runs that check a subscriber changes nothing (recorded, never inspected).
const OTHER_SEED: u64 = SEED + 1;

struct Collector;

impl Subscriber for Collector {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("whatbreaks")
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        static WATCHED: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
        let thread = std::thread::current().id();
        let mut watched = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
        if !watched.contains(&thread) {
            // Only `simulation starts` has a `seed` field: start watching a thread there.
            if event.metadata().fields().field("seed").is_none() {
                return;
            }
            let mut seen = Seen {
                thread,
                target: String::new(),
                message: String::new(),
                fields: BTreeMap::new(),
                t_ms: None,
            };
            event.record(&mut seen);
            let seed = &seen.fields["seed"];
            if *seed != SEED.to_string() && *seed != OTHER_SEED.to_string() {
                return;
            }
            watched.push(thread);
        }
        drop(watched);
        let mut seen = Seen {
            thread,
            target: event.metadata().target().into(),
            message: String::new(),
            fields: BTreeMap::new(),
            t_ms: None,
        };
        event.record(&mut seen);
        events()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(seen);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Every event of the process so far (the collector is installed on first use).
fn events() -> &'static Mutex<Vec<Seen>> {
    static EVENTS: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(Collector).expect("no other global subscriber");
    });
    &EVENTS
}

#[test]
fn simulation_events_carry_virtual_time() {
    events();
    let report = HerdTest::new()
        .clients(20)
        .seed(SEED)
        .run(|up: Upstream| async move {
            let _ = retry_request(&up, Request::get("/price"), 3, Duration::from_secs(1)).await;
        });
    report.assert_flagged(whatbreaks::herd::PATTERN);
    let all = events().lock().unwrap_or_else(|e| e.into_inner());
    // This run's events: those of the simulation thread that announced our seed.
    let thread = all
        .iter()
        .find(|e| e.message == "simulation starts" && e.fields["seed"] == SEED.to_string())
        .map(|e| e.thread)
        .expect("a `simulation starts` event with the seed");
    let events: Vec<&Seen> = all.iter().filter(|e| e.thread == thread).collect();
    let named = |m: &str| {
        events
            .iter()
            .copied()
            .filter(|e| e.message == m)
            .collect::<Vec<&Seen>>()
    };

    assert!(events.iter().all(|e| e.target == "whatbreaks"));
    assert!(
        events.iter().all(|e| e.t_ms.is_some()),
        "every event has t_ms: {events:?}"
    );
    assert_eq!(named("client arrives").len(), 20);
    // 20 clients x 3 tries, all inside the 10 s outage.
    let calls = named("upstream call");
    assert_eq!(calls.len(), 60);
    assert!(calls.iter().all(|e| e.fields.contains_key("upstream")
        && e.fields.contains_key("client")
        && e.fields["path"] == "/price"));
    let faults = named("upstream fault");
    assert_eq!(faults.len(), 60);
    assert!(faults.iter().all(|e| e.fields["fault"] == "outage"));
    assert_eq!(named("upstream answer").len(), 60);
    // Virtual, not wall time: the retries come 1 s and 3 s into the run, which took far less.
    let retry_times: Vec<f64> = calls
        .iter()
        .filter(|e| e.fields["attempt"] != "0")
        .map(|e| e.t_ms.unwrap_or_default())
        .collect();
    assert_eq!(retry_times.len(), 40);
    assert!(
        retry_times.iter().all(|t| *t == 1_000.0 || *t == 3_000.0),
        "{retry_times:?}"
    );
    assert_eq!(named("simulation ends").len(), 1);
}

#[test]
fn a_subscriber_does_not_change_the_run() {
    // With this binary's collector listening and recording: the same seed still gives the
    // same trace.
    events();
    let body = |up: Upstream| async move {
        let _ = retry_request(&up, Request::get("/"), 3, Duration::from_secs(1)).await;
    };
    let first = HerdTest::new().clients(20).seed(OTHER_SEED).run(body);
    let second = HerdTest::new().clients(20).seed(OTHER_SEED).run(body);
    assert_eq!(first.figure("trace hash"), second.figure("trace hash"));
}
