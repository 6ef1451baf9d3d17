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
