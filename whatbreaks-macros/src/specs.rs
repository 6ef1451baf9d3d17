//! One [`Spec`] per attribute: the keys it takes and the builder it expands into.
//! Each key is a builder method of the same name in `whatbreaks-core`.

use crate::entry::{Key, Kind, Spec};

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
