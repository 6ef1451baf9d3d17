//! Bench groups, one module each.
pub(crate) mod herd;
pub(crate) mod race;
pub(crate) mod retry;
pub(crate) mod seams;
