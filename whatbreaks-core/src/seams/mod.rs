//! Seams: the ecosystem's own interfaces onto the simulated components, so the code you
//! already ship runs against them unchanged.
//!
//! | your code uses | seam | feature | time |
//! |---|---|---|---|
//! | a `tower::Service` over `http` types (a tower stack, `tower::retry::Retry`, an axum-style client service) | [`Upstream`](crate::components::upstream::Upstream) itself: `impl tower::Service<http::Request<B>>` ([`http`]) | `http` | virtual |
//! | hyper-util's legacy `Client`, and what is built on hyper (tonic's `Channel::connect_with_connector`, …) | [`Upstream::connector`](crate::components::upstream::Upstream::connector) ([`hyper`]) | `hyper` | virtual |
//! | a client that takes only a URL: reqwest (with reqwest-middleware, reqwest-retry), SDKs on it | [`Upstream::url`](crate::components::upstream::Upstream::url), a loopback socket ([`loopback`]) | `hyper` | virtual |
//! | redis-rs (`redis::AsyncCommands`, pipelines, `redis::cmd`) | [`SimCache::redis`](crate::components::store::SimCache::redis) ([`redis`]) | `redis` | virtual |
//!
//! Each seam records exactly what the native API records (an upstream arrival with its
//! client, logical request and attempt; a cache operation after the cache's latency), so the
//! detectors give the same verdicts through a seam as through
//! [`Upstream::call`](crate::components::upstream::Upstream::call) and
//! [`SimCache`](crate::components::store::SimCache) on the same seed.
//!
//! # What runs on virtual time, and what does not
//! All four seams run on virtual time, deterministically. The tower seam is a plain future in
//! the calling task; the hyper seam moves bytes through [`tokio::io::duplex`] pipes served by
//! hyper's server on tasks of the same runtime; the redis seam answers in process. The
//! loopback seam ([`loopback`]) is a real socket on 127.0.0.1, served by hyper's server on
//! tasks of the simulation's runtime, whose I/O driver (enabled with feature `hyper`) polls
//! the sockets at every park before the paused clock may jump; Linux loopback delivers each
//! write within the writing system call, so the clock jumps only when every task waits on a
//! timer. That is what lets reqwest, with its timeouts and reqwest-retry's backoff, run
//! unmodified: the usual failure (tokio's paused clock firing every reqwest timeout at once)
//! comes from a server on another thread or process, whose answer is not yet written when
//! the clock jumps.
//!
//! Still out of reach: clients that open their own socket to a *real* service
//! (`redis::Client::open`, database drivers) run against the real service in real time,
//! scaled down and bounded (`backends::realtime`), or take an injectable client (a hyper
//! connector, a `ConnectionLike`).
//!
//! Layer: the seams import the runtime and the components only; the detectors may hand
//! them out (`StampedeEnv::redis`).

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "hyper")]
pub mod loopback;
#[cfg(feature = "redis")]
pub mod redis;
