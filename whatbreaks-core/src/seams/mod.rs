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
//! # What runs on virtual time, and what does not
//! All three seams run on virtual time, deterministically: nothing in them waits on real
//! I/O. The tower seam is a plain future in the calling task; the hyper seam moves bytes
//! through [`tokio::io::duplex`] pipes served by hyper's server on tasks of the same
//! runtime; the redis seam answers in process. The paused clock only moves when every task
//! waits on a timer, and each of these waits is a simulated one.
//!
//! Clients that open their own sockets (reqwest, which takes only a URL; `redis::Client::open`;
//! database drivers) are not reachable yet. A real loopback listener cannot be sound on the
//! paused clock as it stands: when the runtime parks with a timer pending, tokio polls the
//! I/O driver once without waiting and then jumps the clock to the next timer, so virtual
//! time runs ahead of every request in flight on a socket (a client's 30 s timeout fires
//! before a loopback answer is read), and the simulation runtime has no I/O driver at all.
//! Making it sound needs a task that keeps the runtime from parking while loopback
//! exchanges are in flight, and the runtime's I/O driver; until then such code runs against
//! the real service in real time, scaled down and bounded (`backends::realtime`), or takes
//! an injectable client (a hyper connector, a `ConnectionLike`).
//!
//! Layer: the seams import the runtime and the components only; the detectors may hand
//! them out (`StampedeEnv::redis`).

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "redis")]
pub mod redis;
