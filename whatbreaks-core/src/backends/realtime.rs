//! Real-time mode: the same checks on real clocks, against real services.
//!
//! The simulation ([`crate::runtime::sim`]) pauses tokio's clock and jumps it forward whenever every
//! task waits. That is what makes a ten-minute scenario run in milliseconds, and it is wrong
//! the moment a task waits on a real socket: the runtime looks idle, the clock jumps, and
//! every timeout fires at once. Code that talks to a real PostgreSQL or Redis therefore runs
//! in **real time**:
//!
//! - [`block_on`] runs a scenario on its own thread, on a current-thread tokio runtime with
//!   I/O and a running clock (and a `LocalSet`, so `spawn_local` works), under a wall-clock
//!   limit; a scenario that does not finish in time is cut off, never left hanging. A body
//!   that blocks its thread (a blocking call, a loop that never awaits) cannot be cut off:
//!   the caller stops waiting for it and gets [`RealTimeError::Blocked`], and the thread is
//!   left running.
//! - **Scaled-down durations**: a production schedule (a job every minute, a 30 s lease)
//!   runs with its durations divided by a factor ([`scaled`]), e.g. a tick every 50 ms and a
//!   150 ms lease; the relations between them (lease longer than a tick, pause longer than
//!   the lease) are what the checks look at, and they survive the scaling.
//! - **Bounded loops**: every loop of a real-time scenario stops by itself, after a number
//!   of ticks or trials, or at a [`Deadline`]; nothing waits for a cancellation that might
//!   never come.
//! - Real time is not replayable by seed: a run shows what this run did. The harnesses make
//!   a race likely (start barriers, several trials) instead of replaying it.
//!
//! [`RealDoubleExecution`] runs the double-execution check on real-time instances (tasks in
//! one process) that coordinate through a real lease store; [`EffectLog`] is their effects
//! sink, with fencing-token checks, judged by [`double_execution::Analysis`].
//!
//! [`double_execution::Analysis`]: crate::detectors::double_execution::Analysis

use crate::components::cluster::{Effect, InstanceId, Occurrence};
use crate::detectors::double_execution::{self, Analysis};
use crate::report::{Finding, Report};
use crate::spec::format_duration;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Wall-clock limit of a real-time scenario unless it says otherwise.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(20);

/// Why a real-time scenario did not give its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RealTimeError {
    /// It ran past its wall-clock limit and was cut off.
    TimedOut(Duration),
    /// It ran past its wall-clock limit and its thread did not stop when cut off (a body
    /// that blocks its thread or loops without awaiting): the caller stopped waiting for it,
    /// and the thread is left running.
    Blocked(Duration),
    /// It panicked; the message.
    Panicked(String),
    /// The runtime could not be built.
    Runtime(String),
}

impl fmt::Display for RealTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealTimeError::TimedOut(d) => {
                write!(
                    f,
                    "did not finish within {} of wall time",
                    format_duration(*d)
                )
            }
            RealTimeError::Blocked(d) => write!(
                f,
                "did not finish within {} of wall time and its thread did not stop when cut off: something blocks the thread (a blocking call, or a loop that never awaits); the thread could not be stopped and is left running",
                format_duration(*d)
            ),
            RealTimeError::Panicked(m) => write!(f, "panicked: {m}"),
            RealTimeError::Runtime(m) => write!(f, "could not build a tokio runtime: {m}"),
        }
    }
}

impl std::error::Error for RealTimeError {}

impl RealTimeError {
    /// The error as a harness finding.
    pub fn finding(&self, scenario: &str) -> Finding {
        let mut f = Finding::harness("real-time harness", format!("the scenario {self}"));
        f.scenario = scenario.to_string();
        f.fix = match self {
            RealTimeError::TimedOut(_) => {
                "a query or lock that never returns: add timeouts, or raise the limit".into()
            }
            RealTimeError::Blocked(_) => {
                "never block the runtime's thread: use the async client (`tokio::time::sleep`, not `std::thread::sleep`), move blocking work to `tokio::task::spawn_blocking`, and await inside loops".into()
            }
            _ => "see the message above".into(),
        };
        f
    }
}

/// How long [`block_on`] waits past its limit for a cut-off scenario's thread to finish
/// before it stops waiting (the thread is then blocked, see [`RealTimeError::Blocked`]).
pub const CUT_OFF_GRACE: Duration = Duration::from_secs(2);

/// Runs `main` on a fresh thread with a real-time current-thread tokio runtime (I/O and
/// timers enabled, clock running, inside a `LocalSet`), cut off after `limit` of wall time.
///
/// The caller waits at most `limit` plus [`CUT_OFF_GRACE`]: when the scenario's thread is
/// blocked (the cut-off never gets to run), the result is [`RealTimeError::Blocked`] and the
/// thread is left running; that is why everything `main` uses must be owned (`'static`).
pub fn block_on<T, F, Fut>(limit: Duration, main: F) -> Result<T, RealTimeError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("whatbreaks-realtime".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| RealTimeError::Runtime(e.to_string()))?;
                let local = tokio::task::LocalSet::new();
                local
                    .block_on(
                        &rt,
                        async move { tokio::time::timeout(limit, main()).await },
                    )
                    .map_err(|_| RealTimeError::TimedOut(limit))
            }));
            let _ = tx.send(result.unwrap_or_else(|p| {
                Err(RealTimeError::Panicked(crate::runtime::sim::panic_message(
                    &*p,
                )))
            }));
        });
    if let Err(e) = spawned {
        return Err(RealTimeError::Runtime(format!(
            "cannot start the real-time thread: {e}"
        )));
    }
    match rx.recv_timeout(limit.saturating_add(CUT_OFF_GRACE)) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RealTimeError::Blocked(limit)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(RealTimeError::Panicked(
            "[whatbreaks internal bug] the real-time thread ended without a result".into(),
        )),
    }
}

/// A production duration divided by `factor` (at least 1 ms): the scaled-down duration a
/// real-time scenario waits instead.
pub fn scaled(production: Duration, factor: u32) -> Duration {
    (production / factor.max(1)).max(Duration::from_millis(1))
}

/// A point in wall time after which a bounded loop stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    /// `d` from now.
    pub fn after(d: Duration) -> Self {
        Deadline {
            end: Instant::now() + d,
        }
    }

    /// True once the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Wall time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }
}

#[derive(Debug, Default)]
struct LogState {
    effects: Vec<Effect>,
    highest: BTreeMap<String, u64>,
}

/// The effects sink of a real-time cluster: what each instance committed, with the fencing
/// check (a write whose token is lower than the highest token already accepted for its kind
/// is rejected, as a fenced storage would do).
#[derive(Clone, Debug)]
pub struct EffectLog {
    start: Instant,
    state: Arc<Mutex<LogState>>,
}

impl Default for EffectLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EffectLog {
    /// An empty log; times are measured from now.
    pub fn new() -> Self {
        EffectLog {
            start: Instant::now(),
            state: Arc::default(),
        }
    }

    /// Records that `instance` committed `kind` for `occurrence`. With a fencing `token`, the
    /// write is rejected (returns false) when a higher token already wrote this kind.
    pub fn record(
        &self,
        kind: &str,
        occurrence: impl Into<Occurrence>,
        instance: InstanceId,
        token: Option<u64>,
    ) -> bool {
        self.record_on(kind, kind, occurrence, instance, token)
    }

    /// As [`record`](Self::record), with the fencing check kept per `resource` (the row or
    /// file the write lands on) instead of per kind: for tokens drawn per occurrence.
    pub fn record_on(
        &self,
        resource: &str,
        kind: &str,
        occurrence: impl Into<Occurrence>,
        instance: InstanceId,
        token: Option<u64>,
    ) -> bool {
        let mut st = self.state.lock();
        let accepted = match token {
            None => true,
            Some(t) => {
                let highest = st.highest.entry(resource.to_string()).or_insert(0);
                if t >= *highest {
                    *highest = t;
                    true
                } else {
                    false
                }
            }
        };
        st.effects.push(Effect {
            kind: kind.to_string(),
            occurrence: occurrence.into(),
            instance,
            incarnation: 0,
            at: self.start.elapsed(),
            wall: SystemTime::now(),
            token,
            accepted,
        });
        accepted
    }

    /// Every write so far, in order.
    pub fn effects(&self) -> Vec<Effect> {
        self.state.lock().effects.clone()
    }
}

/// One real-time instance of a [`RealDoubleExecution`] scenario.
#[derive(Clone, Debug)]
pub struct RealInstance {
    id: InstanceId,
    ticks: u32,
    every: Duration,
    start: tokio::time::Instant,
    lag: Duration,
    log: EffectLog,
    end: Arc<tokio::sync::Barrier>,
}

impl RealInstance {
    /// This instance's id (0, 1, …).
    pub fn id(&self) -> InstanceId {
        self.id
    }

    /// The number of ticks the schedule runs (a bounded loop: `for k in 1..=ticks()`).
    pub fn ticks(&self) -> u32 {
        self.ticks
    }

    /// The scaled-down period.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// Sleeps until tick `k` (`k · every` after the shared start, plus this instance's lag;
    /// at once if it has passed).
    pub async fn until_tick(&self, k: u32) {
        tokio::time::sleep_until(self.start + self.every * k + self.lag).await;
    }

    /// How late this instance's timers fire (`id · lag`, see [`RealDoubleExecution::lag`]).
    pub fn lag(&self) -> Duration {
        self.lag
    }

    /// Waits until every instance has finished its ticks. A body calls it before it lets go
    /// of a lock or a session: real instances keep running after the last tick the test
    /// looks at, and a lock dropped by a bounded loop would be handed over mid-run.
    pub async fn finish(&self) {
        self.end.wait().await;
    }

    /// The occurrence of tick `k`, as the analysis names it.
    pub fn occurrence(k: u32) -> Occurrence {
        Occurrence::Key(format!("tick {k}"))
    }

    /// Commits `kind` for tick `k`, with an optional fencing token; false when rejected.
    pub fn effect(&self, kind: &str, k: u32, token: Option<u64>) -> bool {
        self.log.record(kind, Self::occurrence(k), self.id, token)
    }

    /// Commits `kind` for tick `k` to `resource`, fenced per resource; false when rejected.
    pub fn effect_on(&self, resource: &str, kind: &str, k: u32, token: Option<u64>) -> bool {
        self.log
            .record_on(resource, kind, Self::occurrence(k), self.id, token)
    }
}

/// The double/missed-execution check on real-time instances (builder): `instances` tasks in
/// one process each run the body, a scheduler loop of `ticks` ticks `every` apart; each tick
/// must be committed exactly once (see [`crate::detectors::double_execution`]).
#[derive(Clone, Debug)]
pub struct RealDoubleExecution {
    instances: u32,
    ticks: u32,
    every: Duration,
    limit: Duration,
    lag: Duration,
    backend: String,
}

impl Default for RealDoubleExecution {
    fn default() -> Self {
        Self::new()
    }
}

impl RealDoubleExecution {
    /// 3 instances, 8 ticks 50 ms apart (a one-minute job scaled down 1200×), 20 s limit.
    pub fn new() -> Self {
        RealDoubleExecution {
            instances: 3,
            ticks: 8,
            every: Duration::from_millis(50),
            limit: DEFAULT_LIMIT,
            lag: Duration::ZERO,
            backend: "no lease store".into(),
        }
    }

    /// Number of instances.
    pub fn instances(mut self, instances: u32) -> Self {
        self.instances = instances.max(1);
        self
    }

    /// Ticks of the schedule.
    pub fn ticks(mut self, ticks: u32) -> Self {
        self.ticks = ticks;
        self
    }

    /// The scaled-down period.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_millis(1));
        self
    }

    /// Wall-clock limit.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Instance `i`'s timers fire `i · lag` late (scheduling jitter, a slow host, clock skew).
    pub fn lag(mut self, lag: Duration) -> Self {
        self.lag = lag;
        self
    }

    /// The lease store's name, for the scenario line (e.g. `Redis SET NX PX`).
    pub fn backend(mut self, backend: &str) -> Self {
        self.backend = backend.to_string();
        self
    }

    fn scenario(&self) -> String {
        let lag = if self.lag.is_zero() {
            String::new()
        } else {
            format!(
                ", instance i's timers {} × i late",
                format_duration(self.lag)
            )
        };
        format!(
            "{} real-time instance(s), {} ticks every {}{lag}, {}, real time (no seed)",
            self.instances,
            self.ticks,
            format_duration(self.every),
            self.backend
        )
    }

    /// Runs every instance's body concurrently and judges the effects; never panics.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(RealInstance) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let began = Instant::now();
        let log = EffectLog::new();
        let scenario = self.scenario();
        let l = log.clone();
        let this = self.clone();
        let result = block_on(self.limit, move || async move {
            let start = tokio::time::Instant::now();
            let end = Arc::new(tokio::sync::Barrier::new(this.instances as usize));
            let all = (0..this.instances).map(|id| {
                body(RealInstance {
                    id,
                    ticks: this.ticks,
                    every: this.every,
                    start,
                    lag: this.lag * id,
                    log: l.clone(),
                    end: end.clone(),
                })
            });
            futures::future::join_all(all).await;
        });
        let mut findings = Vec::new();
        let effects = log.effects();
        let expected: Vec<Occurrence> = (1..=self.ticks).map(RealInstance::occurrence).collect();
        let analysis = Analysis::of(&effects, &expected);
        if !analysis.doubled.is_empty() {
            let mut f = Finding::bug(
                double_execution::PATTERN,
                format!(
                    "{} of {} occurrences committed more than once across real-time instances",
                    analysis.doubled.len(),
                    analysis.commits.len()
                ),
            );
            f.scenario = scenario.clone();
            for slot in analysis.doubled.iter().take(5) {
                let who: Vec<String> = analysis.commits[slot]
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>();
                f.evidence
                    .push(format!("`{}` {}: {}", slot.0, slot.1, who.join(", ")));
            }
            f.fix = "claim each occurrence in the shared store (`SET job:<occurrence> <token> NX PX <ttl>`, or an advisory lock), and check the fencing token where the effect lands".into();
            findings.push(f);
        }
        if !analysis.missing.is_empty() {
            let mut f = Finding::bug(
                double_execution::MISSED,
                format!(
                    "{} of {} occurrences never committed",
                    analysis.missing.len(),
                    analysis.expected
                ),
            );
            f.scenario = scenario.clone();
            for (kind, occ) in analysis.missing.iter().take(5) {
                f.evidence.push(format!("`{kind}` {occ}: no commit"));
            }
            f.fix = "a claim that is never released or a leader that never runs: let another instance take over when the holder's lease expires".into();
            findings.push(f);
        }
        if let Err(e) = result {
            findings.push(e.finding(&scenario));
        }
        let committed: usize = analysis.commits.values().map(Vec::len).sum();
        Report {
            charts: Vec::new(),
            scenario: format!("double execution (real time): {scenario}"),
            seeds: Vec::new(),
            findings,
            key_figure: analysis.key_figure(),
            figures: vec![
                ("committed".into(), committed.to_string()),
                ("doubled".into(), analysis.doubled.len().to_string()),
                ("missing".into(), analysis.missing.len().to_string()),
                ("rejected".into(), analysis.rejected.len().to_string()),
            ],
            wall_time: began.elapsed(),
        }
    }
}

fn describe(e: &Effect) -> String {
    let token = e.token.map(|t| format!(" token {t}")).unwrap_or_default();
    format!("#{} at {}{token}", e.instance, format_duration(e.at))
}

/// A report of one finding: the service cannot be reached (see [`Unreachable`]).
pub fn unreachable_report(u: &Unreachable, scenario: &str) -> Report {
    let mut f = Finding::harness("backend unreachable", u.to_string());
    f.scenario = scenario.to_string();
    Report::stopped(scenario, f)
}

/// A real service that did not answer: says which, where (the URL with its password
/// redacted), and what to do, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    /// `PostgreSQL` or `Redis`.
    pub service: &'static str,
    /// The URL tried, its password redacted ([`redact_url`]).
    pub url: String,
    /// The variable that sets the URL.
    pub variable: &'static str,
    /// What the client said (any password of the URL in it redacted).
    pub error: String,
}

impl Unreachable {
    /// The service at `url` did not answer with `error`; the password of `url` is redacted
    /// from both.
    pub fn new(service: &'static str, url: &str, variable: &'static str, error: &str) -> Self {
        Unreachable {
            service,
            url: redact_url(url),
            variable,
            error: redact_in(error, url),
        }
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.error.replace('\n', " ");
        write!(
            f,
            "{} is unreachable at {} ({error}): start the service, or set {} to the URL of a server you can reach",
            self.service, self.url, self.variable
        )
    }
}

impl std::error::Error for Unreachable {}

/// The URL a real-time harness connects to: the builder's `given` one, else the variable's
/// value or `default`. A value that is not UTF-8 is a configuration finding that names the
/// variable (its text redacted), never a silent fall-back to another server.
pub fn server_url(
    given: Option<&SecretUrl>,
    variable: &str,
    default: &str,
    scenario: &str,
) -> Result<String, Box<Report>> {
    if let Some(u) = given {
        return Ok(u.expose().to_string());
    }
    crate::scenario::config::backend_url(variable, default).map_err(|e| {
        let f = Finding::config(format!(
            "{}={:?} cannot be used: {}",
            e.variable,
            redact_url(&e.value),
            e.problem
        ))
        .with_scenario(scenario)
        .with_fix(format!(
            "set {variable} to the server's URL in plain text (UTF-8), or unset it for {default}"
        ));
        Box::new(Report::stopped(scenario, f))
    })
}

/// A server URL whose password never shows: `Display` and `Debug` print it redacted
/// (`postgres://user:***@host/db`), and only [`expose`](SecretUrl::expose) gives the text a
/// client connects with.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps `url`.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL as written, password included: for connecting only, never for messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", redact_url(&self.0))
    }
}

/// The passwords written in `url`: the one of its user info (`user:PASSWORD@`, also
/// percent-decoded) and any `password=` parameter (URL query or key-value connection string).
fn passwords(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, pw)) = userinfo.split_once(':')
            && !pw.is_empty()
        {
            out.push(pw.to_string());
            let decoded = percent_decode(pw);
            if decoded != pw {
                out.push(decoded);
            }
        }
    }
    let mut rest = url;
    while let Some(i) = rest.find("password=") {
        let value = &rest[i + "password=".len()..];
        let end = value.find(['&', ' ', '\t', '\n']).unwrap_or(value.len());
        let pw = value[..end].trim_matches(['\'', '"']);
        if !pw.is_empty() {
            out.push(pw.to_string());
        }
        rest = &value[end..];
    }
    // Longest first, so that a password containing another is replaced whole.
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with its password replaced by `***`: `postgres://app:***@db:5432/prod`,
/// `redis://:***@cache:6379/`, `host=db password=***`. A URL without one is unchanged.
pub fn redact_url(url: &str) -> String {
    redact_in(url, url)
}

/// `text` with every password written in `url` replaced by `***` (for error messages of a
/// client that may quote the URL it was given).
pub fn redact_in(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    for pw in passwords(url) {
        out = out.replace(&pw, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_print_without_their_password() {
        for (url, shown) in [
            (
                "postgres://app:s3cret@db:5432/prod",
                "postgres://app:***@db:5432/prod",
            ),
            ("redis://:s3cret@cache:6379/", "redis://:***@cache:6379/"),
            (
                "postgres://app@db/prod?password=s3cret&sslmode=require",
                "postgres://app@db/prod?password=***&sslmode=require",
            ),
            (
                "host=db user=app password=s3cret",
                "host=db user=app password=***",
            ),
            ("postgres://app:p%40ss@db/x", "postgres://app:***@db/x"),
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
        ] {
            assert_eq!(redact_url(url), shown);
            let secret = SecretUrl::new(url);
            assert_eq!(secret.to_string(), shown);
            assert!(!format!("{secret:?}").contains("s3cret"));
            assert_eq!(secret.expose(), url);
        }
        let u = Unreachable::new(
            "PostgreSQL",
            "postgres://app:p%40ss@db/x",
            "WHATBREAKS_PG_URL",
            "bad password p@ss for postgres://app:p%40ss@db/x",
        );
        let text = format!("{u} {u:?}");
        assert!(!text.contains("p@ss") && !text.contains("p%40ss"), "{text}");
        assert!(
            text.contains("start the service, or set WHATBREAKS_PG_URL"),
            "{text}"
        );
    }

    #[test]
    fn fencing_rejects_a_lower_token_after_a_higher_one() {
        let log = EffectLog::new();
        assert!(log.record("job", "a", 0, Some(1)));
        assert!(log.record("job", "b", 1, Some(2)));
        assert!(!log.record("job", "c", 0, Some(1)));
        assert!(log.record("job", "c", 0, None));
        let a = Analysis::of(&log.effects(), &[]);
        assert_eq!(a.rejected.len(), 1);
    }

    #[test]
    fn block_on_cuts_off_a_scenario_that_never_ends() {
        let r = block_on(Duration::from_millis(30), std::future::pending::<()>);
        assert_eq!(r, Err(RealTimeError::TimedOut(Duration::from_millis(30))));
        let r = block_on(Duration::from_secs(5), || async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        });
        assert_eq!(r, Ok(7));
    }

    #[test]
    fn an_uncoordinated_schedule_doubles_and_a_single_runner_passes() {
        let quick = RealDoubleExecution::new()
            .instances(2)
            .ticks(3)
            .every(Duration::from_millis(5));
        let doubled = quick.run(|i: RealInstance| async move {
            for k in 1..=i.ticks() {
                i.until_tick(k).await;
                i.effect("report", k, None);
            }
        });
        assert!(doubled.flagged(double_execution::PATTERN), "{doubled}");
        let once = quick.run(|i: RealInstance| async move {
            for k in 1..=i.ticks() {
                i.until_tick(k).await;
                if i.id() == 0 {
                    i.effect("report", k, None);
                }
            }
        });
        assert!(once.is_clean(), "{once}");
    }

    #[test]
    fn scaled_divides_and_keeps_a_floor() {
        assert_eq!(
            scaled(Duration::from_secs(60), 1200),
            Duration::from_millis(50)
        );
        assert_eq!(
            scaled(Duration::from_micros(10), 100),
            Duration::from_millis(1)
        );
    }
}
