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

fn check_timeout(text: &str) -> Result<(), String> {
    crate::spec::parse_timeout(text).map(|_| ())
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
                form: crate::spec::TIMEOUT_FORM,
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
