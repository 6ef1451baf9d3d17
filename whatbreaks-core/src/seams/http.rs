//! An [`Upstream`] is a `tower::Service` over `http` types (feature `http`).
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceExt;
//! use whatbreaks_core::components::upstream::{Degradation, Upstream};
//!
//! let payments = Upstream::builder("payments")
//!     .degraded(Degradation::failing(Duration::ZERO..Duration::from_secs(10)))
//!     .build();
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
//! # rt.block_on(async {
//! let request = http::Request::post("/charge")
//!     .header("idempotency-key", "order-7")
//!     .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
//!     .unwrap();
//! let response = payments.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 503);
//! # });
//! assert_eq!(payments.stats().calls, 1);
//! ```
//!
//! How the upstream's behaviour shows over HTTP:
//!
//! | upstream | HTTP |
//! |---|---|
//! | served | `200 OK`, empty body, after the latency; `idempotency-replayed: true` when answered from the idempotency-key store |
//! | outage | `Err(`[`HttpError::ConnectionRefused`]`)` at once: nothing was sent |
//! | degraded window | its status (503 by default) after its latency |
//! | `reject(status, rate)` | that status after the latency |
//! | capacity, [`Overflow::Shed`](crate::components::upstream::Overflow::Shed) | `503` at once |
//! | commit-then-fail | `Err(`[`HttpError::ConnectionReset`]`)` after the latency; the effect is recorded |
//!
//! The request's `Idempotency-Key` header is the idempotency key. `GET`, `HEAD`, `OPTIONS`
//! and `TRACE` commit no effect; `POST`, `PUT`, `PATCH` and `DELETE` (and any other method)
//! do (`PATCH` is recorded as `PUT`). The body is read to its end before the upstream
//! answers, as a server would. The call is recorded in the calling task, so it is attributed
//! to the client (and logical request) that task works for, exactly as
//! [`Upstream::call`] is.

use crate::components::upstream::{Caller, Outcome, Request, Response, Upstream, UpstreamError};
use bytes::Bytes;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The body of every answer through the HTTP seams (empty).
pub type Body = http_body_util::Full<Bytes>;

/// The header that answers carry when the upstream replayed a stored answer for an
/// idempotency key instead of committing a new effect.
pub const REPLAYED_HEADER: &str = "idempotency-replayed";

/// A call that got no HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The upstream refused the connection: it is down (an outage). Nothing was sent, so a
    /// retry cannot duplicate anything.
    ConnectionRefused {
        /// The upstream's name.
        upstream: String,
    },
    /// The connection was reset after the request was sent: the effect may have committed
    /// (commit-then-fail). Retrying without an idempotency key may commit it again.
    ConnectionReset {
        /// The upstream's name.
        upstream: String,
    },
    /// The request body failed while the upstream read it; nothing was recorded.
    Body {
        /// The upstream's name.
        upstream: String,
    },
}

impl HttpError {
    /// True when the request certainly had no effect (the connection was refused, or the
    /// body failed before the upstream saw the request).
    pub fn nothing_sent(&self) -> bool {
        !matches!(self, HttpError::ConnectionReset { .. })
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::ConnectionRefused { upstream } => {
                write!(f, "connection refused by upstream `{upstream}` (outage)")
            }
            HttpError::ConnectionReset { upstream } => write!(
                f,
                "connection reset by upstream `{upstream}` after the request was sent"
            ),
            HttpError::Body { upstream } => {
                write!(f, "request body to upstream `{upstream}` failed")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// The upstream's request for an HTTP request's head.
pub(crate) fn request_of(parts: &http::request::Parts) -> Request {
    let path = parts.uri.path();
    let mut request = match parts.method {
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE => {
            Request::get(path)
        }
        http::Method::PUT | http::Method::PATCH => Request::put(path),
        http::Method::DELETE => Request::delete(path),
        _ => Request::post(path),
    };
    if let Some(key) = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
    {
        request = request.idempotency_key(key);
    }
    request
}

/// The HTTP answer for what the upstream did.
pub(crate) fn response_of(
    upstream: &Upstream,
    result: Result<Response, UpstreamError>,
    outcome: Outcome,
) -> Result<http::Response<Body>, HttpError> {
    let (status, replayed) = match result {
        Ok(r) => (r.status, r.replayed),
        Err(UpstreamError::Status(s)) => (s, false),
        Err(UpstreamError::Unavailable) => {
            let upstream = upstream.name().to_string();
            return Err(match outcome {
                Outcome::CommittedThenFailed => HttpError::ConnectionReset { upstream },
                _ => HttpError::ConnectionRefused { upstream },
            });
        }
    };
    let mut response = http::Response::new(Body::new(Bytes::new()));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Serves one HTTP request: reads the body, calls the upstream for `caller` (the calling
/// task's client when `None`), maps the outcome onto HTTP.
pub(crate) async fn serve<B>(
    upstream: &Upstream,
    request: http::Request<B>,
    caller: Option<&Caller>,
) -> Result<http::Response<Body>, HttpError>
where
    B: http_body::Body,
{
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let mut body = std::pin::pin!(body);
    loop {
        let failed = match body.as_mut().frame().await {
            None => break,
            Some(frame) => frame.is_err(),
        };
        if failed {
            return Err(HttpError::Body {
                upstream: upstream.name().to_string(),
            });
        }
    }
    let (result, outcome) = upstream.call_from(request_of(&parts), caller).await;
    response_of(upstream, result, outcome)
}

impl<B> tower::Service<http::Request<B>> for Upstream
where
    B: http_body::Body + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, HttpError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), HttpError>> {
        // Capacity is the upstream's to model (queue or shed), per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let upstream = self.clone();
        Box::pin(async move { serve(&upstream, request, None).await })
    }
}
