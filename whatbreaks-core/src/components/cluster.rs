//! Several instances of the code under test on one virtual clock, with cluster faults.
//!
//! A [`Cluster`] runs `instances` copies of one instance's main (the body) concurrently.
//! Each copy has its own in-process state (whatever the body creates: a `Mutex`, a task
//! list, a cache) and shares **only** the explicit backends handed to it through its
//! [`Instance`]:
//!
//! - [`LeaseStore`]: a lease store with Redis `SET key value NX PX ttl` semantics on the
//!   virtual clock, and a fencing token from one monotonically increasing counter with every
//!   new lease (Kleppmann, "How to do distributed locking", 2016).
//! - [`SharedStore`]: a key-value store (the database double) with insert-if-absent.
//! - [`Ledger`]: the effects sink. [`Instance::effect`] records a committed side effect (an
//!   email sent, a payment made); [`Instance::fenced_effect`] carries a fencing token and is
//!   rejected when a higher token has already written to that kind of effect.
//!
//! # Faults
//! All faults are scheduled on virtual time ([`Faults`], parsed with the grammars of
//! [`crate::spec`]):
//! - **pause** (`1@90s+45s`): a stop-the-world pause (a GC pause, a VM migration, `SIGSTOP`).
//!   The instance's futures are not polled while it lasts: its tasks make no progress and its
//!   timers fire late, all at once when the pause ends. Nothing else is told.
//! - **crash** (`0@5m`, or `0@5m+30s` to restart after 30 s): every task of the instance is
//!   dropped (its in-process state is lost, its leases are *not* released: they expire); a
//!   restart calls the body again with the same [`Instance`] and a new incarnation.
//! - **skew** (`1:+2s`) and **jump** (`0@4m+1h`): the instance's wall clock
//!   ([`crate::runtime::clock`]) runs ahead or behind, or jumps at a point of virtual time.
//! - **partition** (`1@3m+1m`): the instance cannot reach the lease store; every call returns
//!   [`LeaseError::Unreachable`].
//!
//! Pause and crash apply to the instance's main and to tasks started with [`Instance::spawn`].
//! A task started with a bare `tokio::task::spawn_local` escapes them (and loses the
//! instance's clock in [`crate::runtime::clock::system_now`]): spawn through the instance.

use crate::runtime::clock::{self, Clock};
use crate::runtime::sim;
use crate::spec::{self, InstanceFault, format_duration};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

/// An instance's id inside a cluster, `0..instances`.
pub type InstanceId = u32;

/// What an effect was done for: one occurrence of a scheduled job.
///
/// Pass the occurrence's scheduled wall time ([`SystemTime`], e.g. the cron slot) so that the
/// double-execution detector can also tell which occurrences are missing; any other key
/// (`&str`, `String`, `u64`) works for the doubled check.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Occurrence {
    /// A scheduled wall time.
    At(SystemTime),
    /// Any other key.
    Key(String),
}

impl From<SystemTime> for Occurrence {
    fn from(t: SystemTime) -> Self {
        Occurrence::At(t)
    }
}
impl From<&str> for Occurrence {
    fn from(k: &str) -> Self {
        Occurrence::Key(k.to_string())
    }
}
impl From<String> for Occurrence {
    fn from(k: String) -> Self {
        Occurrence::Key(k)
    }
}
impl From<u64> for Occurrence {
    fn from(k: u64) -> Self {
        Occurrence::Key(k.to_string())
    }
}

impl fmt::Display for Occurrence {
    /// Wall times show as the time of day after the simulation's epoch (`00:01:00`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Occurrence::At(t) => match clock::since_epoch(*t) {
                Some(d) => {
                    let s = d.as_secs();
                    let (days, s) = (s / 86_400, s % 86_400);
                    if days > 0 {
                        write!(f, "day {} ", days + 1)?;
                    }
                    write!(f, "{:02}:{:02}:{:02}", s / 3_600, s / 60 % 60, s % 60)?;
                    if d.subsec_millis() > 0 {
                        write!(f, ".{:03}", d.subsec_millis())?;
                    }
                    Ok(())
                }
                None => write!(f, "{t:?}"),
            },
            Occurrence::Key(k) => f.write_str(k),
        }
    }
}

/// One write that reached the effects sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// What kind of effect (`"daily_report"`).
    pub kind: String,
    /// The occurrence it was done for.
    pub occurrence: Occurrence,
    /// The instance that wrote it.
    pub instance: InstanceId,
    /// The instance's incarnation (0, then 1 after the first restart, …).
    pub incarnation: u32,
    /// Virtual time of the write.
    pub at: Duration,
    /// The writer's wall clock at the write.
    pub wall: SystemTime,
    /// The fencing token it carried, if any.
    pub token: Option<u64>,
    /// False when the sink rejected it (a stale fencing token): nothing was committed.
    pub accepted: bool,
}

/// A write rejected because a higher fencing token already wrote to that kind of effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleToken {
    /// The token the write carried.
    pub token: u64,
    /// The highest token the sink has accepted for that kind.
    pub highest: u64,
}

impl fmt::Display for StaleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stale fencing token {} (the sink has seen {})",
            self.token, self.highest
        )
    }
}

impl std::error::Error for StaleToken {}

#[derive(Debug, Default)]
struct LedgerState {
    effects: Vec<Effect>,
    highest: BTreeMap<String, u64>,
}

/// The effects sink shared by every instance: records every write, checks fencing tokens.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    inner: Arc<Mutex<LedgerState>>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a write. With a token, it is rejected (and recorded as rejected) when a higher
    /// token has already been accepted for `effect.kind`; equal tokens are accepted.
    pub fn record(&self, mut effect: Effect) -> Result<(), StaleToken> {
        let mut s = self.inner.lock();
        let mut result = Ok(());
        if let Some(token) = effect.token {
            let highest = s.highest.entry(effect.kind.clone()).or_insert(0);
            if token < *highest {
                result = Err(StaleToken {
                    token,
                    highest: *highest,
                });
            } else {
                *highest = token;
            }
        }
        effect.accepted = result.is_ok();
        s.effects.push(effect);
        result
    }

    /// Every write so far (accepted and rejected), in order.
    pub fn effects(&self) -> Vec<Effect> {
        self.inner.lock().effects.clone()
    }

    /// A hash of every write (for same-seed-same-run checks).
    pub fn trace_hash(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for e in &self.inner.lock().effects {
            let line = format!(
                "{}|{}|{}|{}|{}|{:?}|{}",
                e.kind,
                e.occurrence,
                e.instance,
                e.incarnation,
                e.at.as_millis(),
                e.token,
                e.accepted
            );
            for b in line.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }
}

/// A lease granted by the [`LeaseStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The key.
    pub key: String,
    /// The holder.
    pub owner: InstanceId,
    /// The fencing token: higher than every token granted before it.
    pub token: u64,
    /// Virtual time when it was granted (or last renewed).
    pub since: Duration,
    /// Virtual time when it expires unless renewed.
    pub expires: Duration,
}

/// Why a lease-store call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseError {
    /// The instance has lost contact with the lease store (a partition fault).
    Unreachable,
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lease store is unreachable from this instance")
    }
}

impl std::error::Error for LeaseError {}

/// A lease that changed hands, for findings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The key.
    pub key: String,
    /// The new holder.
    pub owner: InstanceId,
    /// Its token.
    pub token: u64,
    /// When it was granted.
    pub at: Duration,
    /// Its time to live.
    pub ttl: Duration,
    /// When it expired (or will expire), after its last renewal.
    pub expires: Duration,
}

#[derive(Debug, Default)]
struct LeaseState {
    held: BTreeMap<String, Lease>,
    next_token: u64,
    grants: Vec<LeaseGrant>,
}

/// A lease store with `SET key owner NX PX ttl` semantics and fencing tokens.
///
/// Expiry follows virtual time as the *store* sees it (unskewed): a lease granted at `t` with
/// time to live `ttl` is free again from `t + ttl` on. Each new grant takes the next token
/// from one counter, so tokens only grow.
#[derive(Clone, Debug, Default)]
pub struct LeaseStore {
    inner: Arc<Mutex<LeaseState>>,
}

impl LeaseStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn live(s: &mut LeaseState, key: &str, now: Duration) -> Option<Lease> {
        match s.held.get(key) {
            Some(l) if l.expires > now => Some(l.clone()),
            Some(_) => {
                s.held.remove(key);
                None
            }
            None => None,
        }
    }

    fn acquire(&self, key: &str, owner: InstanceId, ttl: Duration) -> Option<Lease> {
        let now = sim::now();
        let mut s = self.inner.lock();
        if Self::live(&mut s, key, now).is_some() {
            return None;
        }
        s.next_token += 1;
        let lease = Lease {
            key: key.to_string(),
            owner,
            token: s.next_token,
            since: now,
            expires: now + ttl,
        };
        s.held.insert(key.to_string(), lease.clone());
        s.grants.push(LeaseGrant {
            key: key.to_string(),
            owner,
            token: lease.token,
            at: now,
            ttl,
            expires: now + ttl,
        });
        Some(lease)
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Option<Lease> {
        let now = sim::now();
        let mut s = self.inner.lock();
        match Self::live(&mut s, &lease.key, now) {
            Some(l) if l.owner == lease.owner && l.token == lease.token => {
                let renewed = Lease {
                    since: now,
                    expires: now + ttl,
                    ..l
                };
                s.held.insert(lease.key.clone(), renewed.clone());
                if let Some(g) = s.grants.iter_mut().rev().find(|g| g.token == lease.token) {
                    g.expires = renewed.expires;
                }
                Some(renewed)
            }
            _ => None,
        }
    }

    fn release(&self, lease: &Lease) -> bool {
        let now = sim::now();
        let mut s = self.inner.lock();
        match Self::live(&mut s, &lease.key, now) {
            Some(l) if l.owner == lease.owner && l.token == lease.token => {
                s.held.remove(&lease.key);
                true
            }
            _ => false,
        }
    }

    /// The live lease on `key`, if any.
    pub fn holder(&self, key: &str) -> Option<Lease> {
        let now = sim::now();
        Self::live(&mut self.inner.lock(), key, now)
    }

    /// Every grant so far (renewals are not grants), in order.
    pub fn grants(&self) -> Vec<LeaseGrant> {
        self.inner.lock().grants.clone()
    }
}

/// One instance's connection to the [`LeaseStore`]: the owner is the instance.
#[derive(Clone, Debug)]
pub struct Leases {
    store: LeaseStore,
    owner: InstanceId,
    faults: Arc<Faults>,
}

impl Leases {
    fn reach(&self) -> Result<(), LeaseError> {
        if self.faults.partitioned(self.owner, sim::now()) {
            Err(LeaseError::Unreachable)
        } else {
            Ok(())
        }
    }

    /// `SET key owner NX PX ttl`: a new lease with a new fencing token, or `None` while
    /// another lease on `key` is live (even one this instance holds).
    pub fn acquire(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, LeaseError> {
        self.reach()?;
        Ok(self.store.acquire(key, self.owner, ttl))
    }

    /// Extends `lease` to `ttl` from now if it is still live and still this holder's (same
    /// token); `None` when it was lost.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, LeaseError> {
        self.reach()?;
        Ok(self.store.renew(lease, ttl))
    }

    /// Renews this instance's live lease on `key`, or acquires a new one: the leader-election
    /// step. `None` while another instance holds it.
    pub fn acquire_or_renew(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, LeaseError> {
        self.reach()?;
        match self.store.holder(key) {
            Some(l) if l.owner == self.owner => Ok(self.store.renew(&l, ttl)),
            Some(_) => Ok(None),
            None => Ok(self.store.acquire(key, self.owner, ttl)),
        }
    }

    /// Releases `lease` if it is still live and this holder's; returns whether it did.
    pub fn release(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.reach()?;
        Ok(self.store.release(lease))
    }

    /// The live lease on `key`, if any.
    pub fn holder(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        self.reach()?;
        Ok(self.store.holder(key))
    }
}

/// The database double shared by every instance: keys and values, with insert-if-absent
/// (`INSERT … ON CONFLICT DO NOTHING`, `SETNX`) for claims.
#[derive(Clone, Debug, Default)]
pub struct SharedStore {
    inner: Arc<Mutex<BTreeMap<String, String>>>,
}

impl SharedStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `key` unless it exists; returns whether this call inserted it (the claim).
    pub fn insert_if_absent(&self, key: &str, value: impl Into<String>) -> bool {
        let mut m = self.inner.lock();
        if m.contains_key(key) {
            return false;
        }
        m.insert(key.to_string(), value.into());
        true
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.inner.lock().get(key).cloned()
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: impl Into<String>) {
        self.inner.lock().insert(key.to_string(), value.into());
    }

    /// Removes `key`; returns whether it existed.
    pub fn remove(&self, key: &str) -> bool {
        self.inner.lock().remove(key).is_some()
    }
}

/// An instance fault over a window of virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The instance.
    pub instance: InstanceId,
    /// Start (inclusive).
    pub start: Duration,
    /// End (exclusive); `None` for "until the end of the run".
    pub end: Option<Duration>,
}

impl Window {
    fn contains(&self, t: Duration) -> bool {
        t >= self.start && self.end.is_none_or(|e| t < e)
    }
}

/// The fault schedule of a cluster run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Stop-the-world pauses.
    pub pauses: Vec<Window>,
    /// Crashes: from the crash to the restart (`end: None` when it stays down).
    pub crashes: Vec<Window>,
    /// Lost contact with the lease store.
    pub partitions: Vec<Window>,
    /// Constant clock skew per instance, in signed milliseconds.
    pub skews: BTreeMap<InstanceId, i64>,
    /// Clock jumps: `(instance, at, signed milliseconds)`.
    pub jumps: Vec<(InstanceId, Duration, i64)>,
}

fn windows(list: &[InstanceFault]) -> Vec<Window> {
    list.iter()
        .map(|f| Window {
            instance: f.instance,
            start: f.at,
            end: f
                .has_amount
                .then(|| f.at + Duration::from_millis(f.amount_ms.unsigned_abs())),
        })
        .collect()
}

impl Faults {
    /// Adds pauses written as `1@90s+45s, …`.
    pub fn add_pauses(&mut self, text: &str) -> Result<(), String> {
        self.pauses.extend(windows(&spec::parse_pauses(text)?));
        Ok(())
    }

    /// Adds crashes written as `0@5m` or `0@5m+30s`.
    pub fn add_crashes(&mut self, text: &str) -> Result<(), String> {
        self.crashes.extend(windows(&spec::parse_crashes(text)?));
        Ok(())
    }

    /// Adds lease-store partitions written as `1@3m+1m`.
    pub fn add_partitions(&mut self, text: &str) -> Result<(), String> {
        self.partitions.extend(windows(&spec::parse_pauses(text)?));
        Ok(())
    }

    /// Adds clock skews written as `1:+2s`.
    pub fn add_skews(&mut self, text: &str) -> Result<(), String> {
        for (i, ms) in spec::parse_skews(text)? {
            *self.skews.entry(i).or_default() += ms;
        }
        Ok(())
    }

    /// Adds clock jumps written as `0@4m+1h`.
    pub fn add_jumps(&mut self, text: &str) -> Result<(), String> {
        for f in spec::parse_jumps(text)? {
            self.jumps.push((f.instance, f.at, f.amount_ms));
        }
        Ok(())
    }

    /// The highest instance id any fault names.
    pub fn max_instance(&self) -> Option<InstanceId> {
        self.pauses
            .iter()
            .chain(&self.crashes)
            .chain(&self.partitions)
            .map(|w| w.instance)
            .chain(self.skews.keys().copied())
            .chain(self.jumps.iter().map(|j| j.0))
            .max()
    }

    /// When the pause covering `t` ends, if `instance` is paused at `t`.
    pub fn paused_until(&self, instance: InstanceId, t: Duration) -> Option<Duration> {
        self.pauses
            .iter()
            .filter(|w| w.instance == instance && w.contains(t))
            .filter_map(|w| w.end)
            .max()
    }

    /// Whether `instance` cannot reach the lease store at `t`.
    pub fn partitioned(&self, instance: InstanceId, t: Duration) -> bool {
        self.partitions
            .iter()
            .any(|w| w.instance == instance && w.contains(t))
    }

    /// Whether `instance` is down (crashed, not yet restarted) at `t`.
    pub fn down(&self, instance: InstanceId, t: Duration) -> bool {
        self.crashes
            .iter()
            .any(|w| w.instance == instance && w.contains(t))
    }

    /// Every window in which `instance` is paused, down or cut off from the lease store.
    pub fn unhealthy(&self, instance: InstanceId) -> Vec<Window> {
        self.pauses
            .iter()
            .chain(&self.crashes)
            .chain(&self.partitions)
            .filter(|w| w.instance == instance)
            .copied()
            .collect()
    }

    /// The instance's wall clock.
    pub fn clock(&self, instance: InstanceId) -> Clock {
        Clock::new(
            self.skews.get(&instance).copied().unwrap_or(0),
            self.jumps
                .iter()
                .filter(|j| j.0 == instance)
                .map(|j| (j.1, j.2))
                .collect(),
        )
    }

    /// One line per fault, for scenario lines: `pause 1@90s+45s, crash 0@5m`.
    pub fn describe(&self) -> Vec<String> {
        let w = |kind: &str, w: &Window| match w.end {
            Some(e) => format!(
                "{kind} {}@{}+{}",
                w.instance,
                format_duration(w.start),
                format_duration(e - w.start)
            ),
            None => format!("{kind} {}@{}", w.instance, format_duration(w.start)),
        };
        let signed = |ms: i64| {
            let d = format_duration(Duration::from_millis(ms.unsigned_abs()));
            if ms < 0 {
                format!("-{d}")
            } else {
                format!("+{d}")
            }
        };
        let mut out: Vec<String> = Vec::new();
        out.extend(self.pauses.iter().map(|p| w("pause", p)));
        out.extend(self.crashes.iter().map(|p| w("crash", p)));
        out.extend(self.partitions.iter().map(|p| w("partition", p)));
        out.extend(
            self.skews
                .iter()
                .map(|(i, ms)| format!("skew {i}:{}", signed(*ms))),
        );
        out.extend(
            self.jumps
                .iter()
                .map(|(i, at, ms)| format!("jump {i}@{}{}", format_duration(*at), signed(*ms))),
        );
        out
    }
}

/// A panic inside an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePanic {
    /// The instance.
    pub instance: InstanceId,
    /// Virtual time of the panic.
    pub at: Duration,
    /// The message.
    pub message: String,
}

#[derive(Debug)]
struct Shared {
    ledger: Ledger,
    leases: LeaseStore,
    store: SharedStore,
    faults: Arc<Faults>,
    every: Option<Duration>,
    panics: Mutex<Vec<InstancePanic>>,
}

#[derive(Debug)]
struct InstanceInner {
    id: InstanceId,
    clock: Clock,
    incarnation: AtomicU32,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    shared: Arc<Shared>,
}

/// One instance of the code under test: its id, its clock, and the shared backends.
///
/// Cheap to clone; every clone is the same instance.
#[derive(Clone, Debug)]
pub struct Instance {
    inner: Arc<InstanceInner>,
}

thread_local! {
    static CURRENT: RefCell<Option<Instance>> = const { RefCell::new(None) };
}

/// The instance the calling task belongs to, inside a cluster run.
pub fn current() -> Option<Instance> {
    CURRENT.with(|c| c.borrow().clone())
}

impl Instance {
    /// This instance's id, `0..instances`.
    pub fn id(&self) -> InstanceId {
        self.inner.id
    }

    /// 0 at the start, +1 at each crash.
    pub fn incarnation(&self) -> u32 {
        self.inner.incarnation.load(Ordering::SeqCst)
    }

    /// This instance's wall clock (with its skew and jumps).
    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    /// This instance's wall time now: `self.clock().now()`.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The schedule period the scenario checks (`every`), if it set one.
    pub fn every(&self) -> Option<Duration> {
        self.inner.shared.every
    }

    /// This instance's connection to the shared lease store.
    pub fn leases(&self) -> Leases {
        Leases {
            store: self.inner.shared.leases.clone(),
            owner: self.inner.id,
            faults: self.inner.shared.faults.clone(),
        }
    }

    /// The shared database double.
    pub fn store(&self) -> SharedStore {
        self.inner.shared.store.clone()
    }

    fn write(&self, kind: &str, occurrence: Occurrence, token: Option<u64>) -> Effect {
        Effect {
            kind: kind.to_string(),
            occurrence,
            instance: self.inner.id,
            incarnation: self.incarnation(),
            at: sim::now(),
            wall: self.now(),
            token,
            accepted: true,
        }
    }

    /// Records a committed side effect of `kind` for `occurrence` in the shared ledger.
    pub fn effect(&self, kind: &str, occurrence: impl Into<Occurrence>) {
        let e = self.write(kind, occurrence.into(), None);
        let _ = self.inner.shared.ledger.record(e);
    }

    /// Writes a side effect carrying a fencing token; the sink rejects it (nothing is
    /// committed) when a higher token has already written an effect of this `kind`.
    pub fn fenced_effect(
        &self,
        kind: &str,
        occurrence: impl Into<Occurrence>,
        token: u64,
    ) -> Result<(), StaleToken> {
        let e = self.write(kind, occurrence.into(), Some(token));
        self.inner.shared.ledger.record(e)
    }

    /// Spawns a task that belongs to this instance: it pauses and crashes with it and sees its
    /// clock. Must be called inside a cluster run.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + 'static,
    {
        spawn_in(self, fut);
    }
}

fn spawn_in<F>(instance: &Instance, fut: F)
where
    F: Future<Output = ()> + 'static,
{
    let gated = Gated {
        instance: instance.clone(),
        incarnation: instance.incarnation(),
        gate: None,
        inner: Box::pin(fut),
    };
    let handle = tokio::task::spawn_local(gated);
    instance.inner.tasks.lock().push(handle.abort_handle());
    let shared = instance.inner.shared.clone();
    let id = instance.id();
    tokio::task::spawn_local(async move {
        if let Err(e) = handle.await
            && e.is_panic()
        {
            shared.panics.lock().push(InstancePanic {
                instance: id,
                at: sim::now(),
                message: sim::panic_message(&*e.into_panic()),
            });
        }
    });
}

/// An instance's future: not polled while the instance is paused, and polled with the
/// instance as the current one.
struct Gated {
    instance: Instance,
    incarnation: u32,
    gate: Option<Pin<Box<tokio::time::Sleep>>>,
    inner: Pin<Box<dyn Future<Output = ()>>>,
}

impl Future for Gated {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.instance.incarnation() != self.incarnation {
            return Poll::Ready(());
        }
        loop {
            let now = sim::now();
            let Some(end) = self
                .instance
                .inner
                .shared
                .faults
                .paused_until(self.instance.id(), now)
            else {
                self.gate = None;
                break;
            };
            let gate = self
                .gate
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(end - now)));
            match gate.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => self.gate = None,
            }
        }
        let previous = CURRENT.with(|c| c.replace(Some(self.instance.clone())));
        let clock = clock::enter(Some(self.instance.inner.clock.clone()));
        // Its panic is collected by `spawn_in` (an instance panic), not a lost task's.
        let result = sim::poll_owned(|| self.inner.as_mut().poll(cx));
        clock::enter(clock);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    }
}

/// N instances of the code under test on one virtual clock (see the module docs).
#[derive(Clone, Debug)]
pub struct Cluster {
    instances: u32,
    shared: Arc<Shared>,
}

impl Cluster {
    /// A cluster of `instances` instances with this fault schedule; `every` is handed to
    /// instances as [`Instance::every`].
    pub fn new(instances: u32, faults: Faults, every: Option<Duration>) -> Self {
        Cluster {
            instances,
            shared: Arc::new(Shared {
                ledger: Ledger::new(),
                leases: LeaseStore::new(),
                store: SharedStore::new(),
                faults: Arc::new(faults),
                every,
                panics: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The effects sink.
    pub fn ledger(&self) -> Ledger {
        self.shared.ledger.clone()
    }

    /// The lease store.
    pub fn lease_store(&self) -> LeaseStore {
        self.shared.leases.clone()
    }

    /// The database double.
    pub fn store(&self) -> SharedStore {
        self.shared.store.clone()
    }

    /// The fault schedule.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Panics inside instances so far.
    pub fn panics(&self) -> Vec<InstancePanic> {
        self.shared.panics.lock().clone()
    }

    /// Runs every instance's `body` for `run_for` of virtual time, applies the crash
    /// schedule, then cancels every instance. Must be called inside [`sim::simulate`].
    pub async fn run<B, Fut>(&self, run_for: Duration, body: B)
    where
        B: Fn(Instance) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let body = std::rc::Rc::new(body);
        let instances: Vec<Instance> = (0..self.instances)
            .map(|id| Instance {
                inner: Arc::new(InstanceInner {
                    id,
                    clock: self.shared.faults.clock(id),
                    incarnation: AtomicU32::new(0),
                    tasks: Mutex::new(Vec::new()),
                    shared: self.shared.clone(),
                }),
            })
            .collect();
        for i in &instances {
            if !self.shared.faults.down(i.id(), Duration::ZERO) {
                spawn_in(i, body(i.clone()));
            }
        }
        let mut crashes = self.shared.faults.crashes.clone();
        crashes.sort_by_key(|w| (w.start, w.instance));
        for w in crashes {
            let Some(instance) = instances.get(w.instance as usize).cloned() else {
                continue;
            };
            let body = body.clone();
            tokio::task::spawn_local(async move {
                sleep_to(w.start).await;
                crash(&instance);
                if let Some(end) = w.end {
                    sleep_to(end).await;
                    spawn_in(&instance, body(instance.clone()));
                }
            });
        }
        sleep_to(run_for).await;
        for i in &instances {
            crash(i);
        }
        // Let the aborted tasks unwind before the caller reads the ledger.
        tokio::task::yield_now().await;
    }
}

async fn sleep_to(t: Duration) {
    let now = sim::now();
    if t > now {
        tokio::time::sleep(t - now).await;
    }
}

fn crash(instance: &Instance) {
    instance.inner.incarnation.fetch_add(1, Ordering::SeqCst);
    for t in instance.inner.tasks.lock().drain(..) {
        t.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sim::{RunLimits, simulate};

    fn limits() -> RunLimits {
        RunLimits::new(1)
    }

    #[test]
    fn leases_have_set_nx_px_semantics_and_growing_tokens() {
        let run = simulate(&limits(), || async {
            let mut faults = Faults::default();
            faults.add_partitions("1@100s+10s").unwrap();
            let cluster = Cluster::new(2, faults, None);
            let log = Arc::new(Mutex::new(Vec::new()));
            let l = log.clone();
            cluster
                .run(Duration::from_secs(200), move |i| {
                    let l = l.clone();
                    async move {
                        let leases = i.leases();
                        tokio::time::sleep(Duration::from_secs(u64::from(i.id()))).await;
                        let a = leases.acquire("k", Duration::from_secs(30)).unwrap();
                        l.lock().push((i.id(), a.as_ref().map(|a| a.token)));
                        tokio::time::sleep(Duration::from_secs(31)).await;
                        let b = leases.acquire("k", Duration::from_secs(30)).unwrap();
                        l.lock().push((i.id(), b.as_ref().map(|a| a.token)));
                        if let Some(b) = b {
                            assert!(leases.renew(&b, Duration::from_secs(30)).unwrap().is_some());
                        }
                        tokio::time::sleep(Duration::from_secs(100 - 32)).await;
                        if i.id() == 1 {
                            assert_eq!(leases.holder("k"), Err(LeaseError::Unreachable));
                        }
                    }
                })
                .await;
            log.lock().clone()
        });
        assert!(run.is_clean(), "{:?}", run.end);
        // #0 gets token 1 at 0s; #1 is refused at 1s; #0 gets token 2 at 31s (expired at
        // 30s); #1 is refused at 32s because #0 holds it again.
        assert_eq!(
            run.value.unwrap(),
            vec![(0, Some(1)), (1, None), (0, Some(2)), (1, None)]
        );
    }

    #[test]
    fn a_paused_instance_makes_no_progress_and_its_timers_fire_late() {
        let run = simulate(&limits(), || async {
            let mut faults = Faults::default();
            faults.add_pauses("0@10s+45s").unwrap();
            let cluster = Cluster::new(2, faults, None);
            let ledger = cluster.ledger();
            cluster
                .run(Duration::from_secs(120), |i| async move {
                    for n in 0..3u64 {
                        tokio::time::sleep(Duration::from_secs(20)).await;
                        i.effect("tick", n);
                    }
                })
                .await;
            ledger.effects()
        });
        let effects = run.value.unwrap();
        let at = |inst: u32| -> Vec<u64> {
            effects
                .iter()
                .filter(|e| e.instance == inst)
                .map(|e| e.at.as_secs())
                .collect()
        };
        assert_eq!(at(1), vec![20, 40, 60]);
        assert_eq!(
            at(0),
            vec![55, 75, 95],
            "the 20 s timer fires at the pause's end"
        );
    }

    #[test]
    fn crash_drops_state_and_restart_runs_the_body_again() {
        let run = simulate(&limits(), || async {
            let mut faults = Faults::default();
            faults.add_crashes("0@30s+30s").unwrap();
            faults.add_skews("0:+2s").unwrap();
            let cluster = Cluster::new(1, faults, None);
            let ledger = cluster.ledger();
            cluster
                .run(Duration::from_secs(100), |i| async move {
                    let mut n = 0u64;
                    loop {
                        tokio::time::sleep(Duration::from_secs(25)).await;
                        n += 1;
                        assert_eq!(
                            clock::system_now(),
                            clock::epoch() + sim::now() + Duration::from_secs(2)
                        );
                        i.effect("tick", format!("{}-{n}", i.incarnation()));
                    }
                })
                .await;
            ledger.effects()
        });
        let keys: Vec<String> = run
            .value
            .unwrap()
            .iter()
            .map(|e| format!("{}@{}", e.occurrence, e.at.as_secs()))
            .collect();
        assert_eq!(keys, vec!["0-1@25", "1-1@85"]);
    }

    #[test]
    fn the_sink_rejects_stale_tokens() {
        let ledger = Ledger::new();
        let e = |token| Effect {
            kind: "k".into(),
            occurrence: Occurrence::from(1u64),
            instance: 0,
            incarnation: 0,
            at: Duration::ZERO,
            wall: clock::epoch(),
            token: Some(token),
            accepted: true,
        };
        assert!(ledger.record(e(2)).is_ok());
        assert!(ledger.record(e(2)).is_ok());
        assert_eq!(
            ledger.record(e(1)),
            Err(StaleToken {
                token: 1,
                highest: 2
            })
        );
        assert!(!ledger.effects()[2].accepted);
    }

    #[test]
    fn occurrences_display_as_time_of_day() {
        let at = |s| Occurrence::from(clock::epoch() + Duration::from_secs(s));
        assert_eq!(at(60).to_string(), "00:01:00");
        assert_eq!(at(86_400 + 3_661).to_string(), "day 2 01:01:01");
        assert_eq!(Occurrence::from("x").to_string(), "x");
    }
}
