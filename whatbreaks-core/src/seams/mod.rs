//! Seams: the ecosystem's own interfaces onto the simulated components, so the code you
//! already ship runs against them unchanged.
//!
//! | your code uses | seam | feature | time |
//! |---|---|---|---|
//! | a `tower::Service` over `http` types (a tower stack, `tower::retry::Retry`, an axum-style client service) | [`Upstream`](crate::components::upstream::Upstream) itself: `impl tower::Service<http::Request<B>>` ([`http`]) | `http` | virtual |
//! | hyper-util's legacy `Client`, and what is built on hyper (tonic's `Channel::connect_with_connector`, …) | [`Upstream::connector`](crate::components::upstream::Upstream::connector) ([`hyper`]) | `hyper` | virtual |
//! | redis-rs (`redis::AsyncCommands`, pipelines, `redis::cmd`) | [`SimCache::redis`](crate::components::store::SimCache::redis) ([`redis`]) | `redis` | virtual |
//!
//! Each seam records exactly what the native API records (an upstream arrival with its
//! client, logical request and attempt; a cache operation after the cache's latency), so the
//! detectors give the same verdicts through a seam as through
//! [`Upstream::call`](crate::components::upstream::Upstream::call) and
//! [`SimCache`](crate::components::store::SimCache) on the same seed.
//!
//! Layer: the seams import the runtime and the components only; the detectors may hand
//! them out (`StampedeEnv::redis`).

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "redis")]
pub mod redis;
