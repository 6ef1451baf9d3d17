//! One [`Spec`] per attribute: the keys it takes and the builder it expands into.
//! Each key is a builder method of the same name in `whatbreaks-core`.

use crate::entry::{Key, Kind, Spec};
use crate::spec;

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
