//! One [`Spec`] per attribute: the keys it takes and the builder it expands into.
//! Each key is a builder method of the same name in `whatbreaks-core`.

use crate::entry::{Key, Kind, Spec};
use whatbreaks_spec as spec;

/// `#[herd_test]` → `whatbreaks::HerdTest`.
pub(crate) const HERD: Spec = Spec {
    name: "herd_test",
    params: &[("upstream", "Upstream")],
    builder: "HerdTest",
    keys: &[
        Key {
            name: "clients",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "outage",
            kind: Kind::Window,
        },
        Key {
            name: "max_cohort",
            kind: Kind::Share { max: 1.0 },
        },
        Key {
            name: "min_rounds",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "latency",
            kind: Kind::Duration { positive: false },
        },
    ],
};

/// `#[race_test]` → `whatbreaks::RaceTest`.
pub(crate) const RACE: Spec = Spec {
    name: "race_test",
    params: &[],
    builder: "RaceTest",
    keys: &[
        Key {
            name: "schedules",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "mode",
            kind: Kind::Choice(&["random", "pct", "fifo"]),
        },
    ],
};

/// `#[stampede_test]` → `whatbreaks::StampedeTest`.
pub(crate) const STAMPEDE: Spec = Spec {
    name: "stampede_test",
    params: &[("env", "StampedeEnv")],
    builder: "StampedeTest",
    keys: &[
        Key {
            name: "clients",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "keys",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "instances",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "scenario",
            kind: Kind::Choice(&["cold", "expiry"]),
        },
        Key {
            name: "rps",
            kind: Kind::Number {
                min: 0.001,
                max: 1_000_000.0,
            },
        },
        Key {
            name: "duration",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "max_loads_per_key",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "ttl",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "db_latency",
            kind: Kind::Duration { positive: false },
        },
        Key {
            name: "cache_latency",
            kind: Kind::Duration { positive: false },
        },
        Key {
            name: "failing_loads",
            kind: Kind::Window,
        },
    ],
};

/// `#[double_execution_test]` → `whatbreaks::DoubleExecutionTest`.
pub(crate) const DOUBLE_EXECUTION: Spec = Spec {
    name: "double_execution_test",
    params: &[("instance", "Instance")],
    builder: "DoubleExecutionTest",
    keys: &[
        Key {
            name: "instances",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "run_for",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "every",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "pause",
            kind: Kind::Checked {
                check: spec::check_pauses,
                form: spec::PAUSE_FORM,
            },
        },
        Key {
            name: "crash",
            kind: Kind::Checked {
                check: spec::check_crashes,
                form: spec::CRASH_FORM,
            },
        },
        Key {
            name: "skew",
            kind: Kind::Checked {
                check: spec::check_skews,
                form: spec::SKEW_FORM,
            },
        },
        Key {
            name: "jump",
            kind: Kind::Checked {
                check: spec::check_jumps,
                form: spec::JUMP_FORM,
            },
        },
        Key {
            name: "partition",
            kind: Kind::Checked {
                check: spec::check_pauses,
                form: spec::PAUSE_FORM,
            },
        },
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
pub(crate) const LEAK: Spec = Spec {
    name: "leak_test",
    params: &[("env", "LeakEnv")],
    builder: "LeakTest",
    keys: &[
        Key {
            name: "cycles",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "extrapolate",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "warmup",
            kind: Kind::Count { min: 0 },
        },
        Key {
            name: "max_growth_per_cycle",
            kind: Kind::Bytes,
        },
        Key {
            name: "unit",
            kind: Kind::Checked {
                check: non_empty,
                form: "a name for one cycle, e.g. `\"connection\"`",
            },
        },
    ],
};

/// `#[scale_test]` → `whatbreaks::ScaleTest`.
pub(crate) const SCALE: Spec = Spec {
    name: "scale_test",
    params: &[("n", "u64")],
    builder: "ScaleTest",
    keys: &[
        Key {
            name: "sizes",
            kind: Kind::Counts,
        },
        Key {
            name: "target",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "max_peak",
            kind: Kind::Bytes,
        },
        Key {
            name: "max_time",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "unit",
            kind: Kind::Checked {
                check: non_empty,
                form: "a name for one unit of size, e.g. `\"row\"`",
            },
        },
    ],
};

fn check_timeout(text: &str) -> Result<(), String> {
    spec::parse_timeout(text).map(|_| ())
}

/// `#[pool_test]` → `whatbreaks::PoolTest`.
pub(crate) const POOL: Spec = Spec {
    name: "pool_test",
    params: &[("pool", "SimPool")],
    builder: "PoolTest",
    keys: &[
        Key {
            name: "size",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "clients",
            kind: Kind::Count { min: 1 },
        },
        Key {
            name: "window",
            kind: Kind::Window,
        },
        Key {
            name: "error_rate",
            kind: Kind::Number { min: 0.0, max: 1.0 },
        },
        Key {
            name: "hang_rate",
            kind: Kind::Number { min: 0.0, max: 1.0 },
        },
        Key {
            name: "slow_rate",
            kind: Kind::Number { min: 0.0, max: 1.0 },
        },
        Key {
            name: "slow_latency",
            kind: Kind::Duration { positive: false },
        },
        Key {
            name: "latency",
            kind: Kind::Duration { positive: false },
        },
        Key {
            name: "acquire_timeout",
            kind: Kind::Checked {
                check: check_timeout,
                form: spec::TIMEOUT_FORM,
            },
        },
        Key {
            name: "max_wait",
            kind: Kind::Duration { positive: false },
        },
        Key {
            name: "slow_hold",
            kind: Kind::Duration { positive: true },
        },
    ],
};

/// `#[retry_storm_test]` → `whatbreaks::RetryStormTest`.
pub(crate) const RETRY_STORM: Spec = Spec {
    name: "retry_storm_test",
    params: &[("upstream", "Upstream")],
    builder: "RetryStormTest",
    keys: &[
        Key {
            name: "rps",
            kind: Kind::Number {
                min: 0.001,
                max: 1_000_000.0,
            },
        },
        Key {
            name: "duration",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "degraded",
            kind: Kind::Window,
        },
        Key {
            name: "max_amplification",
            kind: Kind::Number {
                min: 1.0,
                max: 1_000.0,
            },
        },
        Key {
            name: "ambiguous",
            kind: Kind::Share { max: 1.0 },
        },
        Key {
            name: "error_rate",
            kind: Kind::Share { max: 1.0 },
        },
        Key {
            name: "degraded_latency",
            kind: Kind::Duration { positive: true },
        },
        Key {
            name: "bad_requests",
            kind: Kind::Number { min: 0.0, max: 1.0 },
        },
        Key {
            name: "latency",
            kind: Kind::Duration { positive: false },
        },
    ],
};
