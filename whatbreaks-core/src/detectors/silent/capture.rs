//! The detector's own `tracing` subscriber: it keeps the spans (their fields as text and
//! their parent), the stack of entered spans per thread, and every event at warn or error
//! level with the fields of the event and of its enclosing spans.
//!
//! It is the default subscriber of the simulation thread while a run lasts (see
//! [`Capture::install`]). Field values are formatted before the lock is taken, so a `Debug`
//! implementation that logs (and so re-enters the subscriber) cannot deadlock it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;

/// One event at warn or error level, as the capture saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    /// `WARN` or `ERROR`.
    pub level: Level,
    /// Virtual time of the event.
    pub at: Duration,
    /// The client (request) whose task emitted it, if any.
    pub client: Option<u32>,
    /// The event's `message` field (empty when it has none).
    pub message: String,
    /// The event's other fields, then those of its enclosing spans (innermost first), as
    /// `(name, value)`; values as the subscriber received them (`Display` or `Debug` text).
    pub fields: Vec<(&'static str, String)>,
    /// The names of its enclosing spans, outermost first.
    pub spans: Vec<&'static str>,
    /// `file:line` of the call site, when the macro recorded it.
    pub location: Option<String>,
}

impl LoggedEvent {
    /// Every field value of the event and its spans, the message included.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.message.as_str()).chain(self.fields.iter().map(|(_, v)| v.as_str()))
    }
}

#[derive(Debug)]
struct SpanRec {
    meta: &'static Metadata<'static>,
    fields: Vec<(&'static str, String)>,
    parent: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    /// Span `i` has id `i + 1`.
    spans: Vec<SpanRec>,
    /// Entered spans per thread, innermost last.
    stacks: HashMap<ThreadId, Vec<u64>>,
    events: Vec<LoggedEvent>,
}

/// The capturing subscriber; clones share one record.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    state: Arc<Mutex<State>>,
    start: tokio::time::Instant,
}

/// Collects field values as text, the `message` field apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

impl Capture {
    /// A capture whose times count from now (call it inside the simulation's runtime).
    pub(crate) fn new() -> Self {
        Capture {
            state: Arc::default(),
            start: tokio::time::Instant::now(),
        }
    }

    /// Makes this capture the calling thread's default subscriber until the guard drops.
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.clone())
    }

    /// The warn and error events so far, in order.
    pub(crate) fn events(&self) -> Vec<LoggedEvent> {
        self.state.lock().events.clone()
    }

    fn contextual_parent(st: &State) -> Option<u64> {
        st.stacks
            .get(&std::thread::current().id())
            .and_then(|s| s.last().copied())
    }
}

impl Subscriber for Capture {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        // Every span (a request id may sit on an info span); events at warn and error only,
        // and none of whatbreaks' own.
        meta.is_span() || (*meta.level() <= Level::WARN && meta.target() != "whatbreaks")
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(m) = fields.message.take() {
            fields.fields.insert(0, ("message", m));
        }
        let mut st = self.state.lock();
        let parent = if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else if attrs.is_contextual() {
            Self::contextual_parent(&st)
        } else {
            None
        };
        st.spans.push(SpanRec {
            meta: attrs.metadata(),
            fields: fields.fields,
            parent,
        });
        Id::from_u64(st.spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(m) = fields.message.take() {
            fields.fields.push(("message", m));
        }
        let mut st = self.state.lock();
        if let Some(s) = st.spans.get_mut(span.into_u64() as usize - 1) {
            s.fields.extend(fields.fields);
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let client = crate::runtime::sim::current_client();
        let at = tokio::time::Instant::now().saturating_duration_since(self.start);
        let mut st = self.state.lock();
        let mut parent = if let Some(p) = event.parent() {
            Some(p.into_u64())
        } else if event.is_contextual() {
            Self::contextual_parent(&st)
        } else {
            None
        };
        let mut spans = Vec::new();
        let mut all = fields.fields;
        // Bounded walk: a parent always has a smaller id than its child.
        while let Some(id) = parent {
            let Some(s) = st.spans.get(id as usize - 1) else {
                break;
            };
            spans.push(s.meta.name());
            all.extend(s.fields.iter().cloned());
            parent = s.parent.filter(|p| *p < id);
        }
        spans.reverse();
        st.events.push(LoggedEvent {
            level: *meta.level(),
            at,
            client,
            message: fields.message.unwrap_or_default(),
            fields: all,
            spans,
            location: meta
                .file()
                .map(|f| format!("{f}:{}", meta.line().unwrap_or(0))),
        });
    }

    fn enter(&self, span: &Id) {
        let mut st = self.state.lock();
        st.stacks
            .entry(std::thread::current().id())
            .or_default()
            .push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut st = self.state.lock();
        if let Some(stack) = st.stacks.get_mut(&std::thread::current().id())
            && let Some(i) = stack.iter().rposition(|s| *s == span.into_u64())
        {
            stack.remove(i);
        }
    }

    fn current_span(&self) -> Current {
        let st = self.state.lock();
        match Self::contextual_parent(&st)
            .and_then(|id| st.spans.get(id as usize - 1).map(|s| (id, s)))
        {
            Some((id, s)) => Current::new(Id::from_u64(id), s.meta),
            None => Current::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(f: impl FnOnce()) -> Vec<LoggedEvent> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let _enter = rt.enter();
        let capture = Capture::new();
        {
            let _g = capture.install();
            f();
        }
        capture.events()
    }

    #[test]
    fn keeps_warn_and_error_events_with_the_fields_of_their_spans() {
        let events = captured(|| {
            let outer = tracing::info_span!("request", request_id = "req-3");
            let _o = outer.enter();
            let inner = tracing::debug_span!("lookup", key = 7);
            let _i = inner.enter();
            tracing::info!("not kept");
            tracing::error!(error = %"boom", "lookup failed");
        });
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(e.level, Level::ERROR);
        assert_eq!(e.message, "lookup failed");
        assert_eq!(e.spans, vec!["request", "lookup"]);
        assert!(e.fields.contains(&("request_id", "req-3".into())), "{e:?}");
        assert!(e.fields.contains(&("error", "boom".into())), "{e:?}");
        assert!(e.location.as_deref().unwrap().contains("capture.rs:"));
    }

    #[test]
    fn a_debug_impl_that_logs_does_not_deadlock() {
        struct Loud;
        impl fmt::Debug for Loud {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                tracing::warn!("formatting");
                f.write_str("loud")
            }
        }
        let events = captured(|| {
            let span = tracing::info_span!("s", v = ?Loud);
            let _g = span.enter();
            tracing::error!(v = ?Loud, "outer");
        });
        // tracing itself drops the events emitted while it dispatches one (its own re-entrance
        // guard); what matters here is that the call returned.
        assert!(events.iter().any(|e| e.message == "outer"), "{events:?}");
    }
}
