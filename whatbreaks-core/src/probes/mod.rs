//! Probes of a service's trust boundary, over its own HTTP interface.
//!
//! - `http` (feature `http`): auth-context leaks, mass assignment, hostile inputs.

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
