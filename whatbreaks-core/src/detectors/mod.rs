//! Detectors, one per failure pattern: a builder (the scenario) and its analysis.
//!
//! Each detector drives components through the one scenario run path ([`crate::scenario`])
//! and judges what they recorded. Detectors never import each other; an analysis that a
//! real-backend check reuses ([`double_execution::Analysis`]) lives apart from the builder.
//! - [`herd`] (thundering herd), [`storm`] (retry storms, duplicate effects, classification;
//!   [`backoff`] reproduces the AWS backoff comparison), [`stampede`], [`race`] (check-then-act
//!   races over the explorer), [`pool`] (pool exhaustion; [`pool::watch`] watches real
//!   pools), [`double_execution`], [`leak`], [`scale`], [`n_plus_one`] (queries that grow with
//!   the result), [`hang`] (hung upstreams and missing timeouts), [`silent`] (errors that
//!   leave no trace with a request id), [`cancel`] (partial writes when a request is
//!   cancelled at an await point or its instance crashes between writes).

pub mod backoff;
pub mod cancel;
pub mod double_execution;
pub mod hang;
pub mod herd;
pub mod leak;
pub mod n_plus_one;
pub mod pool;
pub mod race;
pub mod scale;
pub mod silent;
pub mod stampede;
pub mod storm;
