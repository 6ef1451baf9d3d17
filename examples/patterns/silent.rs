//! Silent errors: the seed's checklist question "do errors include enough context for
//! debugging?". A price handler that maps every error to a default value and answers 200
//! (buggy: nobody ever hears of the failures); one that logs the error but not which request
//! it was (buggy: the log says something failed, not what); one that answers 502 and logs the
//! error inside a span that carries the request id (fixed).
//!
//! This file is shared by `examples/silent.rs`, `examples/tour.rs` and `tests/silent/`.
#![allow(dead_code)]

use http::StatusCode;
use tracing::Instrument;
use whatbreaks::{Report, Request, SilentEnv, SilentErrorTest};

/// A price and its stock: one upstream call, one database load; either can fail.
async fn lookup(env: &SilentEnv) -> Result<(u16, String), String> {
    let price = env
        .upstream()
        .call(Request::get("/price"))
        .await
        .map_err(|e| e.to_string())?;
    let stock = env.db().load("stock:1").await.map_err(|e| e.to_string())?;
    Ok((price.status, stock))
}

/// BUGGY: every error becomes a default value, and the request answers 200.
pub(crate) async fn get_price(env: &SilentEnv) -> StatusCode {
    let price = env
        .upstream()
        .call(Request::get("/price"))
        .await
        .map(|r| r.status)
        .unwrap_or_default();
    let stock = env.db().load("stock:1").await.unwrap_or_default();
    let _ = (price, stock);
    StatusCode::OK
}

/// BUGGY too: the error is logged and answered with 502, but the event carries no request
/// id: an operator holding `req-17` from a user's report cannot find it.
pub(crate) async fn get_price_unkeyed(env: &SilentEnv) -> StatusCode {
    match lookup(env).await {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            tracing::error!(error = %e, "price lookup failed");
            StatusCode::BAD_GATEWAY
        }
    }
}

/// FIXED: the whole request runs inside a span with its request id; the error is logged
/// there and answered with 502.
pub(crate) async fn get_price_fixed(env: &SilentEnv) -> StatusCode {
    let span = tracing::info_span!("request", request_id = %env.request_id(), route = "GET /price");
    async {
        match lookup(env).await {
            Ok(_) => StatusCode::OK,
            Err(e) => {
                tracing::error!(error = %e, "price lookup failed");
                StatusCode::BAD_GATEWAY
            }
        }
    }
    .instrument(span)
    .await
}

/// The scenario the example, the tour and the tests use: 20 rps for 30 s; 20% of calls to
/// `prices` fail with 503, 10% of database loads fail.
pub(crate) fn scenario() -> SilentErrorTest {
    SilentErrorTest::new().name("prices")
}

pub(crate) fn buggy(test: SilentErrorTest) -> Report {
    test.run(|env: SilentEnv| async move { get_price(&env).await })
}

pub(crate) fn unkeyed(test: SilentErrorTest) -> Report {
    test.run(|env: SilentEnv| async move { get_price_unkeyed(&env).await })
}

pub(crate) fn fixed(test: SilentErrorTest) -> Report {
    test.run(|env: SilentEnv| async move { get_price_fixed(&env).await })
}
