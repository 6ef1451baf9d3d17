//! Bench groups, one module each.
pub(crate) mod herd;
