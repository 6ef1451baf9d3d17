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
