//! Real services in real time: the same checks against a real PostgreSQL and Redis.
//!
//! - [`realtime`]: real-time mode (real clocks, scaled-down durations, bounded loops).
//! - `postgres` and `redis` (cargo features of the same names).

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
pub mod realtime;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
