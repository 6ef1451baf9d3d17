//! Every attribute's knobs, declared once: the keys each `#[…_test]` attribute takes, the kind
//! of value each key takes, its default and its meaning.
//!
//! `whatbreaks-macros` reads these tables to parse and check attribute arguments (and to list
//! the valid keys in its errors); the `knobs` test of the `whatbreaks` crate reads them to check
//! that every key has a row, with this default, in the documentation of its macro, and that it
//! compiles into a builder call. A key expands into the builder method of the same name.

use crate::grammar::{
    BYTES_FORM, CRASH_FORM, DURATION_FORM, JUMP_FORM, PAUSE_FORM, SEED_FORM, SKEW_FORM,
    TIMEOUT_FORM, WINDOW_FORM, check_crashes, check_jumps, check_pauses, check_skews, parse_bytes,
    parse_duration, parse_seed, parse_timeout, parse_window,
};

/// The kind of value an argument takes, and how it is checked.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A whole number of at least `min`.
    Count {
        /// The smallest value accepted.
        min: u64,
    },
    /// A `u64` seed: an integer literal (decimal or hex) or a string such as `"0x5eed"`.
    Seed,
    /// A number in `(0, max]`, passed as `f64`: a share that must not be zero. A share that
    /// may be zero (and is, by default) is a [`Kind::Number`] from 0 to 1.
    Share {
        /// The largest value accepted.
        max: f64,
    },
    /// A duration string such as `"10s"`, passed as a `Duration`.
    Duration {
        /// Whether zero is rejected.
        positive: bool,
    },
    /// A window string such as `"0s..10s"`, passed as a `Range<Duration>`.
    Window,
    /// A number in `[min, max]` (integer or float literal), passed as `f64`.
    Number {
        /// The smallest value accepted.
        min: f64,
        /// The largest value accepted.
        max: f64,
    },
    /// One of a fixed set of strings, passed as `&'static str`.
    Choice(&'static [&'static str]),
    /// A byte size string such as `"1GiB"` or `"512KiB"`, passed as `u64`.
    Bytes,
    /// A list of whole numbers such as `[1_000, 10_000]`, passed as `&[u64]`.
    Counts,
    /// A string checked at compile time by `check` (`form` describes what it accepts), passed
    /// as `&'static str` for the builder to parse again.
    Checked {
        /// Accepts the text, or says what is wrong with it.
        check: fn(&str) -> Result<(), String>,
        /// The accepted forms, for error messages.
        form: &'static str,
    },
    /// A path to the `whatbreaks` crate as a string, such as `"wb"` for a renamed dependency:
    /// not a builder call, but the path every item of the expansion is named through.
    CratePath,
}

impl Kind {
    /// What a value of this kind looks like, for error messages: `a whole number of at least 1`.
    pub fn expected(self) -> String {
        match self {
            Kind::Count { min } => format!("a whole number of at least {min}"),
            Kind::Seed => SEED_FORM.to_string(),
            Kind::Share { max } => format!("a number greater than 0 and at most {max}"),
            Kind::Duration { .. } => format!("a string with {DURATION_FORM}"),
            Kind::Window => format!("a string with {WINDOW_FORM}"),
            Kind::Number { min, max } => format!("a number from {min} to {max}"),
            Kind::Choice(choices) => format!(
                "one of {}",
                choices
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Bytes => format!("a string with {BYTES_FORM}"),
            Kind::Counts => "a list of whole numbers, e.g. `[1_000, 10_000]`".into(),
            Kind::Checked { form, .. } => format!("a string with {form}"),
            Kind::CratePath => format!("a string with {PATH_FORM}"),
        }
    }

    /// Checks a whole number against a [`Kind::Count`] (other kinds accept any).
    pub fn check_count(self, value: u64) -> Result<(), String> {
        match self {
            Kind::Count { min } if value < min => Err(format!("{value} is too small")),
            _ => Ok(()),
        }
    }

    /// Checks a number against the range of a [`Kind::Share`] or [`Kind::Number`] (other
    /// kinds accept any).
    pub fn check_number(self, value: f64) -> Result<(), String> {
        let ok = match self {
            Kind::Share { max } => value > 0.0 && value <= max,
            Kind::Number { min, max } => (min..=max).contains(&value),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{value} is out of range"))
        }
    }

    /// Checks the text of a string value against the grammar of its kind (kinds that do not
    /// take a string accept any): the same check the macros make at compile time.
    pub fn check_text(self, text: &str) -> Result<(), String> {
        match self {
            Kind::Seed => parse_seed(text).map(drop),
            Kind::Duration { positive } => {
                if positive && parse_duration(text)?.is_zero() {
                    Err("it must be longer than zero".into())
                } else {
                    Ok(())
                }
            }
            Kind::Window => parse_window(text).map(drop),
            Kind::Choice(choices) if !choices.contains(&text) => {
                Err(format!("\"{text}\" is not a choice"))
            }
            Kind::Bytes => parse_bytes(text).map(drop),
            Kind::Checked { check, .. } => check(text),
            Kind::CratePath => check_path(text),
            _ => Ok(()),
        }
    }
}

/// The accepted forms of a crate path, for error messages.
pub const PATH_FORM: &str = "a path to the `whatbreaks` crate, e.g. `\"::whatbreaks\"` or `\"wb\"` for a renamed dependency";

/// Checks a path such as `::whatbreaks` or `wb::reexported`: identifiers joined by `::`.
fn check_path(text: &str) -> Result<(), String> {
    let body = text.trim();
    let body = body.strip_prefix("::").unwrap_or(body);
    let identifier = |segment: &str| {
        let segment = segment.trim();
        let segment = segment.strip_prefix("r#").unwrap_or(segment);
        let mut chars = segment.chars();
        segment != "_"
            && chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
    };
    if body.split("::").all(identifier) {
        Ok(())
    } else {
        Err(format!("`{text}` is not a path"))
    }
}

/// One argument key of an attribute.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// The key, and the builder method it expands into: `clients = 1000` is `.clients(1000)`
    /// (except `crate`, a [`Kind::CratePath`], which is no builder call).
    pub name: &'static str,
    /// The value it takes.
    pub kind: Kind,
    /// The default, as the documentation shows it: `1000`, `"0s..10s"` (quoted: a string
    /// value), `none`.
    pub default: &'static str,
    /// What it means, in one line, as the documentation's table says it.
    pub doc: &'static str,
    /// Old spellings still accepted; they expand into the builder method of [`Key::name`].
    pub aliases: &'static [&'static str],
}

impl Key {
    /// A key with no old spellings.
    pub const fn new(
        name: &'static str,
        kind: Kind,
        default: &'static str,
        doc: &'static str,
    ) -> Key {
        Key {
            name,
            kind,
            default,
            doc,
            aliases: &[],
        }
    }

    /// The same key, also accepted under its old spellings.
    pub const fn with_aliases(self, aliases: &'static [&'static str]) -> Key {
        Key { aliases, ..self }
    }

    /// Whether `written` names this key, by its name or an old spelling.
    pub fn is_spelled(&self, written: &str) -> bool {
        self.name == written || self.aliases.contains(&written)
    }
}

/// A parameter of an attribute's function.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// The name to suggest in messages, e.g. `upstream`.
    pub name: &'static str,
    /// The type's name: a type of the `whatbreaks` crate (`Upstream`) or a primitive (`u64`).
    pub ty: &'static str,
}

impl Param {
    /// How the type is written in messages: `whatbreaks::Upstream`, but plain `u64`.
    pub fn type_path(&self) -> String {
        if self.ty.starts_with(|c: char| c.is_ascii_lowercase()) {
            self.ty.to_string()
        } else {
            format!("whatbreaks::{}", self.ty)
        }
    }
}

/// What one attribute macro accepts and what it expands into.
#[derive(Clone, Copy, Debug)]
pub struct Attribute {
    /// The attribute's name, e.g. `herd_test`.
    pub name: &'static str,
    /// The builder type of the `whatbreaks` crate it expands into, e.g. `HerdTest`.
    pub builder: &'static str,
    /// The parameters its function takes, in order.
    pub params: &'static [Param],
    /// The keys specific to this attribute. The [`COMMON_KEYS`] are added; a key here with the
    /// name of a common key replaces it (same kind, another default or meaning).
    pub keys: &'static [Key],
}

impl Attribute {
    /// Every key the attribute takes: its own, then the common keys it does not replace.
    pub fn all_keys(&self) -> impl Iterator<Item = &'static Key> {
        let own: &'static [Key] = self.keys;
        own.iter().chain(
            COMMON_KEYS
                .iter()
                .filter(move |c| !own.iter().any(|k| k.name == c.name)),
        )
    }

    /// The key `written` names, by its name or an old spelling.
    pub fn key(&self, written: &str) -> Option<&'static Key> {
        self.all_keys().find(|k| k.is_spelled(written))
    }

    /// The valid keys for messages: `` `clients`, `outage`, … ``.
    pub fn key_list(&self) -> String {
        self.all_keys()
            .map(|k| format!("`{}`", k.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The function it expects, for messages: `async fn name(upstream: whatbreaks::Upstream)`.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, p.type_path()))
            .collect();
        format!("async fn name({})", params.join(", "))
    }
}

/// The keys every attribute takes.
pub const COMMON_KEYS: &[Key] = &[
    Key::new("seed", Kind::Seed, "random, printed", "first seed to run"),
    Key::new(
        "seeds",
        Kind::Count { min: 1 },
        "1",
        "seeds to run: the first, then seeds derived from it",
    ),
    Key::new(
        "time_limit",
        Kind::Duration { positive: true },
        "\"1h\"",
        "virtual-time limit of one run",
    ),
    Key::new(
        "watchdog",
        Kind::Duration { positive: true },
        "\"60s\"",
        "wall-clock limit of one run",
    ),
    Key::new(
        "crate",
        Kind::CratePath,
        "\"::whatbreaks\"",
        "path the expansion names `whatbreaks` by, for a renamed dependency (`crate = \"wb\"`)",
    ),
];

/// Every attribute, in the order of the documentation.
pub const ATTRIBUTES: &[&Attribute] = &[
    &HERD,
    &RETRY_STORM,
    &STAMPEDE,
    &POOL,
    &RACE,
    &DOUBLE_EXECUTION,
    &LEAK,
    &SCALE,
    &N_PLUS_ONE,
    &HANG,
    &SILENT,
    &CANCEL,
];

/// Attributes whose function returns a value the detector judges, with what it may return
/// (the others return `()`).
const RETURNS: &[(&str, &str)] = &[(
    "silent_error_test",
    "what the handler returns: `()`, a `Result`, a `u16` or `http::StatusCode` status",
)];

impl Attribute {
    /// What the function may return, for an attribute that judges its return value (`None`:
    /// it returns `()`).
    pub fn returns(&self) -> Option<&'static str> {
        RETURNS
            .iter()
            .find(|(name, _)| *name == self.name)
            .map(|(_, what)| *what)
    }
}

/// `#[herd_test]` → `whatbreaks::HerdTest`.
pub const HERD: Attribute = Attribute {
    name: "herd_test",
    builder: "HerdTest",
    params: &[Param {
        name: "upstream",
        ty: "Upstream",
    }],
    keys: &[
        Key::new(
            "clients",
            Kind::Count { min: 1 },
            "1000",
            "clients, each running the body once",
        ),
        Key::new(
            "outage",
            Kind::Window,
            "\"0s..10s\"",
            "window in which every call fails",
        ),
        Key::new(
            "max_cohort",
            Kind::Share { max: 1.0 },
            "0.1",
            "largest share of a retry round allowed in one millisecond",
        ),
        Key::new(
            "min_rounds",
            Kind::Count { min: 1 },
            "1",
            "synchronized retry rounds needed to flag",
        ),
        Key::new(
            "latency",
            Kind::Duration { positive: false },
            "\"20ms\"",
            "latency of a served call",
        ),
    ],
};

/// `#[race_test]` → `whatbreaks::RaceTest`.
pub const RACE: Attribute = Attribute {
    name: "race_test",
    builder: "RaceTest",
    params: &[],
    keys: &[
        Key::new(
            "iterations",
            Kind::Count { min: 1 },
            "1000",
            "schedules (interleavings) to try per seed, each with its own derived seed; \
             `WHATBREAKS_SEEDS=n` explores n × iterations",
        )
        .with_aliases(&["schedules"]),
        Key::new(
            "mode",
            Kind::Choice(&["random", "pct", "fifo"]),
            "\"random\"",
            "`\"random\"`, `\"pct\"` (priority changes, finds deep delays) or `\"fifo\"` \
             (tokio's own order)",
        ),
        Key::new(
            "time_limit",
            Kind::Duration { positive: true },
            "\"1h\"",
            "virtual-time limit of one schedule (a deadlock ends there)",
        ),
    ],
};

/// `#[stampede_test]` → `whatbreaks::StampedeTest`.
pub const STAMPEDE: Attribute = Attribute {
    name: "stampede_test",
    builder: "StampedeTest",
    params: &[Param {
        name: "env",
        ty: "StampedeEnv",
    }],
    keys: &[
        Key::new(
            "clients",
            Kind::Count { min: 1 },
            "100",
            "requests of the cold scenario, arriving within 10 ms",
        ),
        Key::new(
            "keys",
            Kind::Count { min: 1 },
            "1",
            "hot keys (`\"1\"`, `\"2\"`, …), drawn per request from the seed",
        ),
        Key::new(
            "instances",
            Kind::Count { min: 1 },
            "1",
            "simulated instances; requests are spread round-robin",
        ),
        Key::new(
            "scenario",
            Kind::Choice(&["cold", "expiry"]),
            "\"cold\"",
            "`\"cold\"` (empty cache) or `\"expiry\"` (warm cache, entries expire)",
        ),
        Key::new(
            "rps",
            Kind::Number {
                min: 0.001,
                max: 1_000_000.0,
            },
            "100",
            "requests per second of the expiry scenario (Poisson arrivals)",
        ),
        Key::new(
            "run_for",
            Kind::Duration { positive: true },
            "\"10s\"",
            "how long the expiry scenario's traffic lasts",
        )
        .with_aliases(&["duration"]),
        Key::new(
            "max_loads_per_key",
            Kind::Count { min: 1 },
            "1",
            "loads allowed per key per cold start or expiry, across instances",
        ),
        Key::new(
            "ttl",
            Kind::Duration { positive: true },
            "\"1s\"",
            "TTL handed to the code as [`StampedeEnv::ttl`]",
        ),
        Key::new(
            "db_latency",
            Kind::Duration { positive: false },
            "\"100ms\"",
            "latency of one database load",
        ),
        Key::new(
            "cache_latency",
            Kind::Duration { positive: false },
            "\"1ms\"",
            "latency of one cache operation",
        ),
        Key::new(
            "outage",
            Kind::Window,
            "none",
            "window in which every database load fails, e.g. `\"0s..1s\"`",
        )
        .with_aliases(&["failing_loads"]),
    ],
};

/// `#[double_execution_test]` → `whatbreaks::DoubleExecutionTest`.
pub const DOUBLE_EXECUTION: Attribute = Attribute {
    name: "double_execution_test",
    builder: "DoubleExecutionTest",
    params: &[Param {
        name: "instance",
        ty: "Instance",
    }],
    keys: &[
        Key::new(
            "instances",
            Kind::Count { min: 1 },
            "2",
            "copies of the body running concurrently",
        ),
        Key::new(
            "run_for",
            Kind::Duration { positive: true },
            "\"10m\"",
            "virtual time before every instance is cancelled",
        ),
        Key::new(
            "every",
            Kind::Duration { positive: true },
            "none",
            "the schedule's period; turns on the missed-execution check \
             (slots `k · every` after the epoch)",
        ),
        Key::new(
            "pause",
            Kind::Checked {
                check: check_pauses,
                form: PAUSE_FORM,
            },
            "none",
            "stop-the-world pauses, `\"1@90s+45s\"`: instance 1 at 90 s for 45 s",
        ),
        Key::new(
            "crash",
            Kind::Checked {
                check: check_crashes,
                form: CRASH_FORM,
            },
            "none",
            "`\"0@5m\"` (stays down) or `\"0@5m+30s\"` (restarts 30 s later)",
        ),
        Key::new(
            "skew",
            Kind::Checked {
                check: check_skews,
                form: SKEW_FORM,
            },
            "none",
            "`\"1:+2s\"`: instance 1's wall clock runs 2 s ahead",
        ),
        Key::new(
            "jump",
            Kind::Checked {
                check: check_jumps,
                form: JUMP_FORM,
            },
            "none",
            "`\"0@4m+1h\"`: instance 0's wall clock jumps 1 h ahead at 4 min",
        ),
        Key::new(
            "partition",
            Kind::Checked {
                check: check_pauses,
                form: PAUSE_FORM,
            },
            "none",
            "`\"1@3m+1m\"`: instance 1 cannot reach the lease store for 1 min",
        ),
    ],
};

/// A free-text value that must not be empty (used for `unit`).
fn non_empty(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        Err("the name is empty".into())
    } else {
        Ok(())
    }
}

/// `#[leak_test]` → `whatbreaks::LeakTest`.
pub const LEAK: Attribute = Attribute {
    name: "leak_test",
    builder: "LeakTest",
    params: &[Param {
        name: "env",
        ty: "LeakEnv",
    }],
    keys: &[
        Key::new(
            "iterations",
            Kind::Count { min: 1 },
            "2000",
            "cycles measured after the warm-up",
        )
        .with_aliases(&["cycles"]),
        Key::new(
            "warmup",
            Kind::Count { min: 0 },
            "`iterations / 10` (10..1000)",
            "cycles run before sampling starts",
        ),
        Key::new(
            "extrapolate",
            Kind::Count { min: 1 },
            "1000000",
            "production volume the finding extrapolates to",
        ),
        Key::new(
            "max_growth_per_cycle",
            Kind::Bytes,
            "\"8B\"",
            "heap growth per cycle allowed",
        ),
        Key::new(
            "unit",
            Kind::Checked {
                check: non_empty,
                form: "a name for one cycle, e.g. `\"connection\"`",
            },
            "\"cycle\"",
            "what one cycle is called in messages, e.g. `\"connection\"`",
        ),
        Key::new(
            "time_limit",
            Kind::Duration { positive: true },
            "\"24h\"",
            "virtual-time limit of all cycles together",
        ),
    ],
};

/// `#[hang_test]` → `whatbreaks::HangTest`.
pub const HANG: Attribute = Attribute {
    name: "hang_test",
    builder: "HangTest",
    params: &[Param {
        name: "upstream",
        ty: "Upstream",
    }],
    keys: &[
        Key::new(
            "rps",
            Kind::Number {
                min: 0.001,
                max: 1e6,
            },
            "20",
            "requests per second",
        ),
        Key::new(
            "run_for",
            Kind::Duration { positive: true },
            "\"60s\"",
            "how long requests arrive",
        ),
        Key::new(
            "hang",
            Kind::Window,
            "\"10s..40s\"",
            "when the upstream accepts calls and never answers",
        ),
        Key::new(
            "max_wait",
            Kind::Duration { positive: true },
            "\"10s\"",
            "the longest a call into the hang may wait",
        ),
        Key::new(
            "grace",
            Kind::Duration { positive: false },
            "\"60s\"",
            "how long the run goes on after the traffic ends",
        ),
    ],
};

/// `#[silent_error_test]` → `whatbreaks::SilentErrorTest`.
pub const SILENT: Attribute = Attribute {
    name: "silent_error_test",
    builder: "SilentErrorTest",
    params: &[Param {
        name: "env",
        ty: "SilentEnv",
    }],
    keys: &[
        Key::new(
            "rps",
            Kind::Number {
                min: 0.001,
                max: 1e6,
            },
            "20",
            "requests per second",
        ),
        Key::new(
            "run_for",
            Kind::Duration { positive: true },
            "\"30s\"",
            "how long requests arrive",
        ),
        Key::new(
            "error_rate",
            Kind::Number { min: 0.0, max: 1.0 },
            "0.2",
            "share of upstream calls that fail with 503",
        ),
        Key::new(
            "db_fail_rate",
            Kind::Number { min: 0.0, max: 1.0 },
            "0.1",
            "share of database loads that fail",
        ),
    ],
};

/// `#[cancel_test]` → `whatbreaks::CancelTest`.
pub const CANCEL: Attribute = Attribute {
    name: "cancel_test",
    builder: "CancelTest",
    params: &[Param {
        name: "env",
        ty: "CancelEnv",
    }],
    keys: &[
        Key::new(
            "cut",
            Kind::Choice(&["cancel", "crash", "both"]),
            "\"cancel\"",
            "`\"cancel\"` (the future dropped at each await point; spawned tasks go on), \
             `\"crash\"` (the instance dies after each write; spawned tasks die too) or `\"both\"`",
        ),
        Key::new(
            "settle",
            Kind::Duration { positive: false },
            "\"10s\"",
            "how long the runtime runs on after a cut, so spawned tasks finish",
        ),
        Key::new(
            "latency",
            Kind::Duration { positive: false },
            "\"10ms\"",
            "the fixed latency of every table statement",
        ),
        Key::new(
            "jitter",
            Kind::Duration { positive: false },
            "\"2ms\"",
            "the largest seeded latency added to each statement",
        ),
    ],
};

/// `#[n_plus_one_test]` → `whatbreaks::NPlusOneTest`.
pub const N_PLUS_ONE: Attribute = Attribute {
    name: "n_plus_one_test",
    builder: "NPlusOneTest",
    params: &[Param {
        name: "env",
        ty: "QueryEnv",
    }],
    keys: &[
        Key::new(
            "sizes",
            Kind::Counts,
            "[1, 10, 100]",
            "result sizes run (at least two), each on a fresh database",
        ),
        Key::new(
            "max_queries_per_item",
            Kind::Number {
                min: 0.001,
                max: 1e9,
            },
            "0.5",
            "queries per item of the result at which the code is flagged",
        ),
    ],
};

/// `#[scale_test]` → `whatbreaks::ScaleTest`.
pub const SCALE: Attribute = Attribute {
    name: "scale_test",
    builder: "ScaleTest",
    params: &[Param {
        name: "n",
        ty: "u64",
    }],
    keys: &[
        Key::new(
            "sizes",
            Kind::Counts,
            "[1_000, 10_000, 100_000]",
            "sizes measured (at least two)",
        ),
        Key::new(
            "target",
            Kind::Count { min: 1 },
            "500000000",
            "production size the figures are extrapolated to",
        ),
        Key::new(
            "max_peak",
            Kind::Bytes,
            "\"1GiB\"",
            "peak memory allowed at `target`",
        ),
        Key::new(
            "max_time",
            Kind::Duration { positive: true },
            "not checked",
            "virtual time allowed at `target`, e.g. `\"10m\"`",
        ),
        Key::new(
            "unit",
            Kind::Checked {
                check: non_empty,
                form: "a name for one unit of size, e.g. `\"row\"`",
            },
            "\"row\"",
            "what one unit of size is called in messages",
        ),
    ],
};

fn check_timeout(text: &str) -> Result<(), String> {
    parse_timeout(text).map(drop)
}

/// `#[pool_test]` → `whatbreaks::PoolTest`.
pub const POOL: Attribute = Attribute {
    name: "pool_test",
    builder: "PoolTest",
    params: &[Param {
        name: "pool",
        ty: "SimPool",
    }],
    keys: &[
        Key::new(
            "size",
            Kind::Count { min: 1 },
            "10",
            "connections in the pool",
        ),
        Key::new(
            "clients",
            Kind::Count { min: 1 },
            "100",
            "clients, each running the body once",
        ),
        Key::new(
            "arrivals",
            Kind::Window,
            "\"0s..10s\"",
            "clients arrive uniformly over this window",
        )
        .with_aliases(&["window"]),
        Key::new(
            "acquire_timeout",
            Kind::Checked {
                check: check_timeout,
                form: TIMEOUT_FORM,
            },
            "\"none\"",
            "how long an acquire waits (`\"none\"`: forever, like deadpool)",
        ),
        Key::new(
            "error_rate",
            Kind::Number { min: 0.0, max: 1.0 },
            "0",
            "share of queries that fail",
        ),
        Key::new(
            "hang_rate",
            Kind::Number { min: 0.0, max: 1.0 },
            "0",
            "share of queries that never return (the connection is lost)",
        ),
        Key::new(
            "slow_rate",
            Kind::Number { min: 0.0, max: 1.0 },
            "0",
            "share of queries that take `slow_latency`",
        ),
        Key::new(
            "slow_latency",
            Kind::Duration { positive: false },
            "\"1s\"",
            "latency of a slow query",
        ),
        Key::new(
            "latency",
            Kind::Duration { positive: false },
            "\"5ms\"",
            "typical query latency (drawn from 0.5x..1.5x)",
        ),
        Key::new(
            "max_wait",
            Kind::Duration { positive: false },
            "\"1s\"",
            "longest acceptable acquire wait",
        ),
        Key::new(
            "slow_hold",
            Kind::Duration { positive: true },
            "\"100ms\"",
            "hold time beyond query time that counts as slow work",
        ),
    ],
};

/// `#[retry_storm_test]` → `whatbreaks::RetryStormTest`.
pub const RETRY_STORM: Attribute = Attribute {
    name: "retry_storm_test",
    builder: "RetryStormTest",
    params: &[Param {
        name: "upstream",
        ty: "Upstream",
    }],
    keys: &[
        Key::new(
            "rps",
            Kind::Number {
                min: 0.001,
                max: 1_000_000.0,
            },
            "100",
            "logical requests per second (Poisson arrivals)",
        ),
        Key::new(
            "run_for",
            Kind::Duration { positive: true },
            "\"60s\"",
            "how long requests keep arriving",
        )
        .with_aliases(&["duration"]),
        Key::new(
            "outage",
            Kind::Window,
            "\"10s..40s\"",
            "window in which the upstream fails calls",
        )
        .with_aliases(&["degraded"]),
        Key::new(
            "error_rate",
            // 0 is meaningful: with `outage_latency`, calls in the window are slow, not failed.
            Kind::Number { min: 0.0, max: 1.0 },
            "1",
            "share of calls failing in the window (1: all, at once; below 1: 503 after the latency)",
        ),
        Key::new(
            "outage_latency",
            Kind::Duration { positive: true },
            "none",
            "latency of every call in the window: slow responses, for clients with a timeout",
        )
        .with_aliases(&["degraded_latency"]),
        Key::new(
            "max_amplification",
            Kind::Number {
                min: 1.0,
                max: 1_000.0,
            },
            "1.5",
            "upstream calls per logical request allowed over the run",
        ),
        Key::new(
            "ambiguous",
            Kind::Number { min: 0.0, max: 1.0 },
            "0",
            "share of `POST`/`PUT`/`DELETE` calls that commit, then lose their response",
        ),
        Key::new(
            "bad_requests",
            Kind::Number { min: 0.0, max: 1.0 },
            "0.01",
            "share of calls answered 400",
        ),
        Key::new(
            "latency",
            Kind::Duration { positive: false },
            "\"20ms\"",
            "latency of a served call",
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::discriminant;

    /// Every default written as a value (`1000`, `0.1`, `"20ms"`) is one the key accepts: a
    /// key cannot default to what its attribute rejects.
    #[test]
    fn defaults_are_values_of_their_kind() {
        for attr in ATTRIBUTES {
            for key in attr.all_keys() {
                let d = key.default;
                let checked = if let Some(text) =
                    d.strip_prefix('"').and_then(|d| d.strip_suffix('"'))
                {
                    match key.kind {
                        Kind::Count { .. }
                        | Kind::Share { .. }
                        | Kind::Number { .. }
                        | Kind::Counts => Err("a string default for a numeric key".into()),
                        kind => kind.check_text(text),
                    }
                } else if let Ok(v) = d.parse::<u64>() {
                    match key.kind {
                        Kind::Count { .. } | Kind::Seed => key.kind.check_count(v),
                        Kind::Share { .. } | Kind::Number { .. } => key.kind.check_number(v as f64),
                        _ => Err("a numeric default for a string key".into()),
                    }
                } else if let Ok(v) = d.parse::<f64>() {
                    match key.kind {
                        Kind::Share { .. } | Kind::Number { .. } => key.kind.check_number(v),
                        _ => Err("a fractional default for a key that takes no fraction".into()),
                    }
                } else if d.starts_with('[') {
                    assert!(matches!(key.kind, Kind::Counts), "{}: {d}", key.name);
                    Ok(())
                } else {
                    // Prose: `none`, `random, printed`, `` `iterations / 10` (10..1000) ``.
                    Ok(())
                };
                if let Err(e) = checked {
                    panic!(
                        "#[{}] `{}` defaults to {d}, which it rejects: {e}",
                        attr.name, key.name
                    );
                }
            }
        }
    }

    #[test]
    fn shares_that_default_to_zero_accept_zero() {
        for (attr, key) in [(&RETRY_STORM, "ambiguous"), (&RETRY_STORM, "error_rate")] {
            let kind = attr.key(key).unwrap().kind;
            assert_eq!(kind.check_number(0.0), Ok(()));
            assert_eq!(kind.check_number(1.0), Ok(()));
            assert!(kind.check_number(1.5).is_err());
        }
    }

    #[test]
    fn every_spelling_names_one_key() {
        for attr in ATTRIBUTES {
            let mut spellings: Vec<&str> = Vec::new();
            for key in attr.all_keys() {
                for s in std::iter::once(&key.name).chain(key.aliases) {
                    assert!(
                        !spellings.contains(s),
                        "#[{}]: `{s}` names two keys",
                        attr.name
                    );
                    spellings.push(s);
                }
                assert!(
                    !key.doc.is_empty() && !key.default.is_empty(),
                    "{}",
                    key.name
                );
            }
        }
    }

    #[test]
    fn a_replaced_common_key_keeps_its_kind() {
        for attr in ATTRIBUTES {
            for key in attr.keys {
                if let Some(common) = COMMON_KEYS.iter().find(|c| c.name == key.name) {
                    assert_eq!(
                        discriminant(&key.kind),
                        discriminant(&common.kind),
                        "#[{}] `{}`",
                        attr.name,
                        key.name
                    );
                }
            }
        }
        let leak: Vec<&str> = LEAK.all_keys().map(|k| k.name).collect();
        assert_eq!(leak.iter().filter(|k| **k == "time_limit").count(), 1);
        assert_eq!(LEAK.key("time_limit").unwrap().default, "\"24h\"");
        assert_eq!(HERD.key("time_limit").unwrap().default, "\"1h\"");
    }

    #[test]
    fn attributes_and_lookups() {
        let names: Vec<&str> = ATTRIBUTES.iter().map(|a| a.name).collect();
        assert_eq!(names.len(), 12);
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "{n} twice");
        }
        assert_eq!(RACE.key("schedules").unwrap().name, "iterations");
        assert_eq!(POOL.key("window").unwrap().name, "arrivals");
        assert!(HERD.key("schedules").is_none());
        assert!(HERD.key_list().starts_with("`clients`, `outage`"));
        assert!(HERD.key_list().ends_with("`watchdog`, `crate`"));
        assert_eq!(
            HERD.signature(),
            "async fn name(upstream: whatbreaks::Upstream)"
        );
        assert_eq!(SCALE.signature(), "async fn name(n: u64)");
        assert_eq!(RACE.signature(), "async fn name()");
    }

    #[test]
    fn value_checks() {
        assert_eq!(
            Kind::Count { min: 1 }.check_count(0),
            Err("0 is too small".into())
        );
        assert_eq!(
            Kind::Share { max: 1.0 }.check_number(0.0),
            Err("0 is out of range".into())
        );
        assert!(
            Kind::Duration { positive: true }
                .check_text("0")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert_eq!(Kind::Duration { positive: false }.check_text("0"), Ok(()));
        assert_eq!(
            Kind::Choice(&["cold"]).check_text("warm"),
            Err("\"warm\" is not a choice".into())
        );
        for ok in [
            "wb",
            "::whatbreaks",
            "crate::deps::whatbreaks",
            "r#wb",
            "a :: b",
        ] {
            assert_eq!(Kind::CratePath.check_text(ok), Ok(()), "{ok}");
        }
        for bad in ["", "::", "not a path", "wb::", "1wb", "_", "wb<T>"] {
            assert!(Kind::CratePath.check_text(bad).is_err(), "{bad}");
        }
    }
}
