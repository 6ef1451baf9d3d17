//! An axum service audited as it is: its `Router`, built on the audit's world, and its routes
//! as entry points. The app is ordinary production code: its state holds the payment
//! service's client, the product cache (redis-rs, here `world.cache().redis()`) and the
//! database.
//!
//! - `GET /products/{id}`: cache-aside over redis-rs (buggy: every miss loads, a failed load
//!   is a 503 nobody hears of; fixed: a `SET NX PX` lease with a re-check, from
//!   `patterns/seams.rs`, a failure logged with the request's `x-request-id`);
//! - `POST /charge`: the payment call (buggy: retried without jitter, timeout or idempotency
//!   key; fixed: one attempt with a 2 s timeout and the order's idempotency key: the
//!   caller's retry, if any, belongs to the caller; a failure logged with the request id),
//!   through either client production uses:
//!   - [`Payments::Reqwest`]: reqwest (behind reqwest-retry when buggy) to a base URL, here
//!     `world.upstream("payments").url()`, a loopback socket;
//!   - [`Payments::Tower`]: a tower HTTP service (behind `tower::retry::Retry` when buggy),
//!     here the upstream itself. In process, so about 30x cheaper per call: what the test
//!     suite audits.
//!
//! - `GET /orders/{id}` and `PATCH /orders/{id}` (a delivery note): the signed-in user's
//!   orders (`Authorization: Bearer alice-token`; principals `alice` and `bob`, each owning
//!   an order). Buggy: any signed-in user reads and changes any order, and the update merges
//!   every field of the body into the stored order (a client sets `owner_id`, `role`,
//!   `total`; a 1 MB or a `null` note is stored as given). Fixed: an order of another user
//!   is a 404, and the update copies the one field a client may set, a string of at most 500
//!   characters, else 422.
//!
//! Shared by `examples/audit.rs` and `tests/audit/`; needs `seams.rs` as a sibling module.
#![allow(dead_code)]

use crate::seams::{self, RetryFailures};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::Full;
use reqwest_retry::Jitter;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;
use tower::retry::Retry;
use whatbreaks::audit::{Audit, World};
use whatbreaks::seams::redis::SimRedis;
use whatbreaks::{SimDb, Upstream};

/// Which HTTP client the app's payment calls go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Payments {
    /// reqwest to a base URL.
    Reqwest,
    /// A tower `Service` of `http` requests.
    Tower,
}

/// The payment service's client, as production configures it.
#[derive(Clone)]
enum PaymentsClient {
    Reqwest {
        base: String,
        http: reqwest_middleware::ClientWithMiddleware,
    },
    Tower(Upstream),
}

/// What the app is built with: as production builds it from its configuration.
#[derive(Clone)]
pub(crate) struct AppState {
    payments: PaymentsClient,
    cache: SimRedis,
    db: SimDb,
    fixed: bool,
}

/// The request's correlation id, as the gateway sets it.
fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get(whatbreaks::audit::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

async fn product(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<String, StatusCode> {
    let mut conn = app.cache.clone();
    if app.fixed {
        seams::get_product_leased(&mut conn, &app.db, &id, 60)
            .await
            .map_err(|e| {
                tracing::warn!(request_id = request_id(&headers), error = ?e, "product lookup failed");
                StatusCode::SERVICE_UNAVAILABLE
            })
    } else {
        // BUGGY: a 503, and no word of why.
        seams::get_product(&mut conn, &app.db, &id, 60)
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
    }
}

async fn charge(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(order): Json<serde_json::Value>,
) -> StatusCode {
    let key = format!("order-{}", order["order"]);
    let ok = match &app.payments {
        PaymentsClient::Reqwest { base, http } => {
            let request = http.post(format!("{base}/charge"));
            let request = if app.fixed {
                request.header("idempotency-key", key)
            } else {
                request
            };
            matches!(request.send().await, Ok(r) if r.status().is_success())
        }
        PaymentsClient::Tower(payments) => {
            let mut request = http::Request::post("http://payments/charge");
            if app.fixed {
                request = request.header("idempotency-key", key);
            }
            let request = request.body(Full::new(Bytes::new())).expect("a request");
            if app.fixed {
                let sent =
                    tokio::time::timeout(Duration::from_secs(2), payments.clone().oneshot(request));
                matches!(sent.await, Ok(Ok(r)) if r.status().is_success())
            } else {
                let retrying = Retry::new(RetryFailures::unbudgeted(), payments.clone());
                matches!(retrying.oneshot(request).await, Ok(r) if r.status().is_success())
            }
        }
    };
    if ok {
        StatusCode::OK
    } else {
        if app.fixed {
            tracing::warn!(request_id = request_id(&headers), "payment failed");
        }
        StatusCode::BAD_GATEWAY
    }
}

/// The signed-in user: `Authorization: Bearer <user>-token` (a stand-in for verifying a
/// session token).
fn user_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    token.strip_suffix("-token").map(str::to_string)
}

/// The order `id` as stored, if the caller may see it.
async fn load_order(app: &AppState, headers: &HeaderMap, id: &str) -> Result<Value, StatusCode> {
    let user = user_of(headers).ok_or(StatusCode::UNAUTHORIZED)?;
    let row = app
        .db
        .get("orders", id)
        .await
        .ok_or(StatusCode::NOT_FOUND)?;
    let order: Value = serde_json::from_str(&row).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    // BUGGY: signed in is enough; whose order it is never checked.
    if app.fixed && order["owner_id"] != user.as_str() {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(order)
}

async fn order(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    load_order(&app, &headers, &id).await.map(Json)
}

async fn update_order(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    let mut order = load_order(&app, &headers, &id).await?;
    if app.fixed {
        // The one field a client may set, validated.
        let note = patch
            .get("note")
            .and_then(Value::as_str)
            .filter(|n| n.chars().count() <= 500)
            .ok_or(StatusCode::UNPROCESSABLE_ENTITY)?;
        order["note"] = Value::from(note);
    } else if let (Some(stored), Some(fields)) = (order.as_object_mut(), patch.as_object()) {
        // BUGGY: the body merged into the stored model, field by field, unchecked.
        for (k, v) in fields {
            stored.insert(k.clone(), v.clone());
        }
    }
    app.db.update("orders", &id, order.to_string()).await;
    Ok(Json(order))
}

/// The production router.
pub(crate) fn app(state: AppState) -> Router {
    Router::new()
        .route("/products/{id}", get(product))
        .route("/charge", post(charge))
        .route("/orders/{id}", get(order).patch(update_order))
        .with_state(state)
}

/// The orders the shop starts with: `1` is alice's, `2` bob's.
pub(crate) async fn seed_orders(world: World) {
    for (id, owner) in [("1", "alice"), ("2", "bob")] {
        let order = json!({ "id": id, "owner_id": owner, "item": "book", "total": 30, "note": "" });
        world.db().seed("orders", id, order.to_string());
    }
}

/// The app's state on the audit's world: the dependencies production would connect to.
pub(crate) fn state_on(world: &World, payments: Payments, fixed: bool) -> AppState {
    let payments = match payments {
        Payments::Reqwest => PaymentsClient::Reqwest {
            base: world.upstream("payments").url(),
            http: if fixed {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .expect("a reqwest client");
                reqwest_middleware::ClientBuilder::new(client).build()
            } else {
                seams::retrying_client(Jitter::None)
            },
        },
        Payments::Tower => PaymentsClient::Tower(world.upstream("payments")),
    };
    AppState {
        payments,
        cache: world.cache().redis(),
        db: world.db(),
        fixed,
    }
}

/// The shop service as an audit: the router, its routes, its users and their orders.
pub(crate) fn shop(payments: Payments, fixed: bool) -> Audit {
    Audit::new(if fixed { "shop (fixed)" } else { "shop" })
        .router(move |world: World| app(state_on(&world, payments, fixed)))
        .setup(seed_orders)
        .principal("alice", "Bearer alice-token")
        .principal("bob", "Bearer bob-token")
        .resource("alice", "1")
        .resource("bob", "2")
        // Every product page is anyone's to read.
        .public("GET /products/{id}")
        .route(
            "GET /products/{id}",
            http::Method::GET,
            "/products/{key}",
            None,
        )
        .route(
            "POST /charge",
            http::Method::POST,
            "/charge",
            Some(serde_json::json!({ "order": "{key}" })),
        )
        .route("GET /orders/{id}", http::Method::GET, "/orders/{key}", None)
        .route(
            "PATCH /orders/{id}",
            http::Method::PATCH,
            "/orders/{key}",
            Some(json!({ "note": "leave it at the door" })),
        )
}

/// The seeded bugs of the buggy shop: each (question, entry point) that must break.
pub(crate) const SHOP_BUGS: [(&str, &str); 11] = [
    ("herd", "POST /charge"),
    ("hang", "POST /charge"),
    ("retry storm", "POST /charge"),
    ("duplicates", "POST /charge"),
    ("silent error", "POST /charge"),
    ("stampede", "GET /products/{id}"),
    ("silent error", "GET /products/{id}"),
    ("auth", "GET /orders/{id}"),
    ("auth", "PATCH /orders/{id}"),
    ("mass assignment", "PATCH /orders/{id}"),
    ("validation", "PATCH /orders/{id}"),
];
