//! A hyper-util connector onto a simulated [`Upstream`] (feature `hyper`).
//!
//! ```
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use whatbreaks_core::components::upstream::Upstream;
//!
//! let prices = Upstream::new("prices");
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
//! # rt.block_on(async {
//! let client = Client::builder(TokioExecutor::new())
//!     .build::<_, Full<bytes::Bytes>>(prices.connector());
//! let response = client.get("http://prices.internal/price/7".parse().unwrap()).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # });
//! assert_eq!(prices.stats().calls, 1);
//! ```
//!
//! Every URL reaches this upstream (the host and port are ignored), over an in-memory
//! connection ([`tokio::io::duplex`], no socket) that hyper's HTTP/1.1 server serves inside
//! the simulation. Nothing waits on real I/O, so hyper-util's `Client` (and what is built on
//! it: tonic's `Channel::connect_with_connector`, tower stacks over the client) runs on
//! virtual time, deterministically. The answers are those of the `tower::Service` seam
//! ([`super::http`]), except that an outage and a lost response both close the connection
//! without an answer (the client's error is hyper's "connection closed before message
//! completed"): the upstream learns the request's method and path only once it has read
//! the request.
//!
//! # Attribution and keep-alive
//! A connection is attributed to the client and logical request whose task opened it (the
//! connector runs in the task that sends the request; hyper serves the connection on a task
//! of its own, which has no client). By default the upstream closes each connection after its
//! answer (`connection: close`), so every request opens a connection of its own and is
//! attributed exactly, even through one `Client` shared by every simulated client.
//! [`SimConnector::keep_alive`] keeps connections open and lets hyper-util pool them: then a
//! request that reuses a pooled connection is recorded against the client that opened it, so
//! share a keep-alive `Client` only within one simulated client.
//!
//! The upstream's random faults (an error rate, rejections, lost responses) for a connection
//! draw from a stream seeded from its client's own stream when it opened: deterministic per
//! seed, and one client's faults do not shift another's, but not the very draws
//! [`Upstream::call`] would make from that client (the verdicts agree; the traces match only
//! where no random fault is drawn).

use crate::components::upstream::{Caller, Upstream};
use crate::seams::http::{HttpError, serve};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::future::Ready;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::DuplexStream;

/// Bytes buffered in each direction of an in-memory connection.
const BUFFER: usize = 64 * 1024;

impl Upstream {
    /// A connector for hyper-util's legacy `Client`: every URL reaches this upstream over an
    /// in-memory HTTP/1.1 connection on virtual time. See [`crate::seams::hyper`].
    pub fn connector(&self) -> SimConnector {
        SimConnector {
            upstream: self.clone(),
            keep_alive: false,
        }
    }
}

/// A connector onto a simulated [`Upstream`]: a `tower::Service<http::Uri>` that hyper-util's
/// `Client::builder(..).build(connector)` takes. Made by [`Upstream::connector`].
#[derive(Clone, Debug)]
pub struct SimConnector {
    upstream: Upstream,
    keep_alive: bool,
}

impl SimConnector {
    /// Keep connections open after an answer so the client pools them (default false: one
    /// connection per request, attributed exactly; see the [module docs](self)).
    pub fn keep_alive(mut self, keep_alive: bool) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The upstream this connector reaches.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Opens an in-memory connection for `caller` and serves it on a task of its own.
    fn open(&self, caller: Caller) -> SimConnection {
        let caller = Arc::new(caller);
        let (client, server) = tokio::io::duplex(BUFFER);
        tokio::spawn(serve_http1(
            self.upstream.clone(),
            server,
            self.keep_alive,
            move || caller.clone(),
        ));
        SimConnection {
            io: TokioIo::new(client),
        }
    }
}

/// Serves one HTTP/1.1 connection on `io` from `upstream`, each request for the caller
/// `caller_of` names when it arrives.
pub(crate) async fn serve_http1<IO, F>(upstream: Upstream, io: IO, keep_alive: bool, caller_of: F)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Arc<Caller> + Send + Sync + 'static,
{
    let caller_of = Arc::new(caller_of);
    let service = hyper::service::service_fn(move |request| {
        let (upstream, caller) = (upstream.clone(), caller_of());
        async move { serve(&upstream, request, Some(&caller)).await }
    });
    // An error here is the upstream dropping the connection on purpose (an outage or a lost
    // response) or the client going away: both end the connection.
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(keep_alive)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

impl tower::Service<http::Uri> for SimConnector {
    type Response = SimConnection;
    type Error = HttpError;
    type Future = Ready<Result<SimConnection, HttpError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), HttpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        // Runs in the task that sends the request: that task's client is the caller.
        std::future::ready(Ok(self.open(Caller::here())))
    }
}

/// One in-memory connection to a simulated upstream (what [`SimConnector`] connects).
#[derive(Debug)]
pub struct SimConnection {
    io: TokioIo<DuplexStream>,
}

impl Connection for SimConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for SimConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SimConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
