//! Pattern 10, trust boundaries: the seed article's orders controller that takes `userId`
//! from the query string, a delete without an ownership check, a rename by numeric account
//! id through a JSON body without an ownership check (or with one after the write), and a
//! profile update that deserializes the storage model (with `role`) straight from the body;
//! each with its fix.
//!
//! Shared by `examples/http.rs`, `examples/tour.rs` and `tests/http/`.
#![allow(dead_code)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use garde::Validate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Order {
    id: String,
    owner: String,
    item: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct User {
    name: String,
    email: String,
    role: String,
}

#[derive(Debug, Default)]
pub(crate) struct Db {
    orders: Vec<Order>,
    users: BTreeMap<String, User>,
}

pub(crate) type Shared = Arc<Mutex<Db>>;

/// Two users with one order each.
pub(crate) fn seeded() -> Shared {
    let mut db = Db::default();
    for (user, order) in [("alice", "order-a1"), ("bob", "order-b1")] {
        db.orders.push(Order {
            id: order.into(),
            owner: user.into(),
            item: format!("{user}'s parcel"),
        });
        db.users.insert(
            user.into(),
            User {
                name: user.into(),
                email: format!("{user}@example.com"),
                role: "user".into(),
            },
        );
    }
    Arc::new(Mutex::new(db))
}

/// The bearer token of a user in this app.
pub(crate) fn token_for(user: &str) -> String {
    format!("token-{user}")
}

/// The verified principal: the user whose token this is.
fn principal(headers: &HeaderMap) -> Result<String, StatusCode> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer token-"))
        .filter(|u| ["alice", "bob"].contains(u))
        .map(str::to_string)
        .ok_or(StatusCode::UNAUTHORIZED)
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

// ---- BUGGY orders controller ----------------------------------------------------------

/// BUGGY: authenticated, then trusts `?userId=` for whose orders to list.
async fn list_orders_buggy(
    State(db): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Order>>, StatusCode> {
    let me = principal(&headers)?;
    let who = q.user_id.unwrap_or(me);
    Ok(Json(
        db.lock()
            .unwrap()
            .orders
            .iter()
            .filter(|o| o.owner == who)
            .cloned()
            .collect(),
    ))
}

/// BUGGY: any authenticated user reads any order by id.
async fn get_order_buggy(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Order>, StatusCode> {
    principal(&headers)?;
    db.lock()
        .unwrap()
        .orders
        .iter()
        .find(|o| o.id == id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

/// BUGGY: any authenticated user deletes any order by id.
async fn delete_order_buggy(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, StatusCode> {
    principal(&headers)?;
    let mut db = db.lock().unwrap();
    let before = db.orders.len();
    db.orders.retain(|o| o.id != id);
    if db.orders.len() < before {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

// ---- FIXED orders controller ----------------------------------------------------------

/// FIXED: the user comes from the token; the query cannot change it.
async fn list_orders(
    State(db): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Vec<Order>>, StatusCode> {
    let me = principal(&headers)?;
    Ok(Json(
        db.lock()
            .unwrap()
            .orders
            .iter()
            .filter(|o| o.owner == me)
            .cloned()
            .collect(),
    ))
}

/// FIXED: someone else's order is answered exactly like a missing one (404).
async fn get_order(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Order>, StatusCode> {
    let me = principal(&headers)?;
    db.lock()
        .unwrap()
        .orders
        .iter()
        .find(|o| o.id == id && o.owner == me)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

/// FIXED: deletes only the caller's own order.
async fn delete_order(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, StatusCode> {
    let me = principal(&headers)?;
    let mut db = db.lock().unwrap();
    let before = db.orders.len();
    db.orders.retain(|o| !(o.id == id && o.owner == me));
    if db.orders.len() < before {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

/// The orders API, buggy or fixed.
pub(crate) fn orders_app(fixed: bool, db: Shared) -> Router {
    let r = Router::new();
    let r = if fixed {
        r.route("/api/orders", get(list_orders))
            .route("/api/orders/{id}", get(get_order).delete(delete_order))
    } else {
        r.route("/api/orders", get(list_orders_buggy)).route(
            "/api/orders/{id}",
            get(get_order_buggy).delete(delete_order_buggy),
        )
    };
    r.with_state(db)
}

// ---- Profile update -------------------------------------------------------------------

/// BUGGY: the body is read as the storage model, so `role` is whatever the client sends, and
/// nothing is validated.
#[derive(Deserialize)]
struct UserPatch {
    name: Option<String>,
    email: Option<String>,
    role: Option<String>,
}

async fn update_profile_buggy(
    State(db): State<Shared>,
    headers: HeaderMap,
    Json(patch): Json<UserPatch>,
) -> Result<StatusCode, StatusCode> {
    let me = principal(&headers)?;
    let mut db = db.lock().unwrap();
    let user = db.users.get_mut(&me).ok_or(StatusCode::NOT_FOUND)?;
    if let Some(n) = patch.name {
        user.name = n;
    }
    if let Some(e) = patch.email {
        user.email = e;
    }
    if let Some(r) = patch.role {
        user.role = r;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// FIXED: an allow-listed DTO (unknown fields rejected), validated with garde.
#[derive(Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct ProfileUpdate {
    #[garde(length(chars, min = 1, max = 100))]
    name: String,
    #[garde(email)]
    email: String,
}

async fn update_profile(
    State(db): State<Shared>,
    headers: HeaderMap,
    Json(update): Json<ProfileUpdate>,
) -> Result<StatusCode, StatusCode> {
    let me = principal(&headers)?;
    update
        .validate()
        .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    let mut db = db.lock().unwrap();
    let user = db.users.get_mut(&me).ok_or(StatusCode::NOT_FOUND)?;
    user.name = update.name;
    user.email = update.email;
    Ok(StatusCode::NO_CONTENT)
}

/// The profile API, buggy or fixed.
pub(crate) fn profile_app(fixed: bool, db: Shared) -> Router {
    let route = if fixed {
        put(update_profile)
    } else {
        put(update_profile_buggy)
    };
    Router::new().route("/api/profile", route).with_state(db)
}

/// Alice's stored profile as JSON: the probe's state oracle.
pub(crate) fn alice_profile(db: &Shared) -> serde_json::Value {
    serde_json::to_value(db.lock().unwrap().users.get("alice")).unwrap_or_default()
}

// ---- Accounts by numeric id: a JSON write, an admin ------------------------------------

/// An account as the accounts API stores it: numeric ids, an order with a total.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Account {
    id: u32,
    display_name: String,
    orders: Vec<AccountOrder>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct AccountOrder {
    id: u32,
    total_cents: u32,
}

pub(crate) type Accounts = Arc<Mutex<BTreeMap<u32, Account>>>;

/// Alice is account 1 (order 101, 202.50), Bob account 2 (order 202): Alice's total holds
/// Bob's order id as digits, which a substring match would call a leak.
pub(crate) fn accounts() -> Accounts {
    let mut all = BTreeMap::new();
    for (id, name, order, total) in [(1, "Alice", 101, 20_250), (2, "Bob", 202, 990)] {
        all.insert(
            id,
            Account {
                id,
                display_name: name.into(),
                orders: vec![AccountOrder {
                    id: order,
                    total_cents: total,
                }],
            },
        );
    }
    Arc::new(Mutex::new(all))
}

/// The verified account of a request: `Bearer acct-<id>`; account 0 is the admin.
fn account(headers: &HeaderMap) -> Result<u32, StatusCode> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer acct-"))
        .and_then(|id| id.parse().ok())
        .filter(|id| *id <= 2)
        .ok_or(StatusCode::UNAUTHORIZED)
}

#[derive(Deserialize)]
struct NameUpdate {
    display_name: String,
}

/// How the accounts API checks who may write an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccountsCheck {
    /// BUGGY: any authenticated account renames any account (IDOR on a JSON write).
    None,
    /// BUGGY: renames, then refuses with 403: the write has already landed.
    AfterTheWrite,
    /// FIXED: refuses before it writes; the admin reads every account's orders.
    Before,
}

async fn rename(
    State((db, check)): State<(Accounts, AccountsCheck)>,
    headers: HeaderMap,
    Path(id): Path<u32>,
    Json(update): Json<NameUpdate>,
) -> StatusCode {
    let Ok(me) = account(&headers) else {
        return StatusCode::UNAUTHORIZED;
    };
    if check == AccountsCheck::Before && me != id {
        return StatusCode::FORBIDDEN;
    }
    let mut db = db.lock().unwrap();
    let Some(acct) = db.get_mut(&id) else {
        return StatusCode::NOT_FOUND;
    };
    acct.display_name = update.display_name;
    if check == AccountsCheck::AfterTheWrite && me != id {
        return StatusCode::FORBIDDEN;
    }
    StatusCode::NO_CONTENT
}

/// The caller's own orders (the admin may ask for any account's).
async fn account_orders(
    State((db, _)): State<(Accounts, AccountsCheck)>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Json<Vec<AccountOrder>>, StatusCode> {
    let me = account(&headers)?;
    let who = if me == 0 { id } else { me };
    let db = db.lock().unwrap();
    Ok(Json(
        db.get(&who).map(|a| a.orders.clone()).unwrap_or_default(),
    ))
}

/// The accounts API: `PUT /api/accounts/{id}/name` (JSON), `GET /api/accounts/{id}/orders`.
pub(crate) fn accounts_app(check: AccountsCheck, db: Accounts) -> Router {
    Router::new()
        .route("/api/accounts/{id}/name", put(rename))
        .route("/api/accounts/{id}/orders", get(account_orders))
        .with_state((db, check))
}

// ---- A camelCase DTO over a snake_case model --------------------------------------------

/// What the settings API stores (snake_case, as the database has it).
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Settings {
    display_name: String,
    contact_email: String,
}

pub(crate) type SharedSettings = Arc<Mutex<Settings>>;

/// What clients send (camelCase, as the JavaScript front end has it).
#[derive(Deserialize, Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsDto {
    #[garde(length(chars, min = 1, max = 100))]
    display_name: String,
    #[garde(email)]
    contact_email: String,
}

async fn put_settings(
    State((db, validated)): State<(SharedSettings, bool)>,
    headers: HeaderMap,
    Json(dto): Json<SettingsDto>,
) -> StatusCode {
    if principal(&headers).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    if validated && dto.validate().is_err() {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let mut s = db.lock().unwrap();
    s.display_name = dto.display_name;
    s.contact_email = dto.contact_email;
    StatusCode::NO_CONTENT
}

/// The settings API: `PUT /api/settings` with a camelCase body (buggy: nothing validated;
/// fixed: garde validation).
pub(crate) fn settings_app(validated: bool, db: SharedSettings) -> Router {
    Router::new()
        .route("/api/settings", put(put_settings))
        .with_state((db, validated))
}

/// Hostile bodies against the settings API: the body's `displayName` is the stored
/// `display_name`.
pub(crate) fn probe_settings(validated: bool, seed: u64) -> Report {
    MassAssignmentProbe::new(
        move || {
            let db = SharedSettings::default();
            let oracle = db.clone();
            (settings_app(validated, db), move || {
                serde_json::to_value(&*oracle.lock().unwrap()).unwrap_or_default()
            })
        },
        axum::http::Method::PUT,
        "/api/settings",
    )
    .principal(|req| req.bearer(token_for("alice")))
    .valid_body(serde_json::json!({"displayName": "Alice", "contactEmail": "alice@example.org"}))
    .cases(32)
    .seed(seed)
    .run()
}

// ---- Probes, as the tests and the tour run them ----------------------------------------

use whatbreaks::Report;
use whatbreaks::http::{AuthProbe, MassAssignmentProbe};

/// Every cross-principal probe of the orders API.
pub(crate) async fn probe_orders(fixed: bool) -> Report {
    AuthProbe::new(orders_app(fixed, seeded()))
        .principal("alice", |req| req.bearer(token_for("alice")))
        .principal("bob", |req| req.bearer(token_for("bob")))
        .resource("alice", "order-a1")
        .resource("bob", "order-b1")
        .endpoint(axum::http::Method::GET, "/api/orders?userId={owner}")
        .endpoint(axum::http::Method::GET, "/api/orders/{resource}")
        .endpoint(axum::http::Method::DELETE, "/api/orders/{resource}")
        .run()
        .await
}

/// Every cross-principal probe of the accounts API: principals named for findings, numeric
/// ids in requests, a JSON write judged by the stored state, an admin who may read.
pub(crate) async fn probe_accounts(check: AccountsCheck) -> Report {
    let db = accounts();
    let names = db.clone();
    AuthProbe::new(accounts_app(check, db))
        .principal_as("alice", "1", |req| req.bearer("acct-1"))
        .principal_as("bob", "2", |req| req.bearer("acct-2"))
        .principal_as("admin", "0", |req| req.bearer("acct-0"))
        .may_read_others("admin")
        .resource("alice", "101")
        .resource("bob", "202")
        .endpoint(axum::http::Method::GET, "/api/accounts/{owner}/orders")
        .endpoint_with_body(
            axum::http::Method::PUT,
            "/api/accounts/{owner}/name",
            serde_json::json!({ "display_name": "renamed by probe {probe}" }),
        )
        .state(move |name: &str| {
            let id = match name {
                "alice" => 1,
                "bob" => 2,
                _ => 0,
            };
            serde_json::to_value(names.lock().unwrap().get(&id)).unwrap_or_default()
        })
        .run()
        .await
}

/// Hostile bodies against the profile update.
pub(crate) fn probe_profile(fixed: bool, seed: u64) -> Report {
    MassAssignmentProbe::new(
        move || {
            let db = seeded();
            let oracle_db = db.clone();
            (profile_app(fixed, db), move || alice_profile(&oracle_db))
        },
        axum::http::Method::PUT,
        "/api/profile",
    )
    .principal(|req| req.bearer(token_for("alice")))
    .valid_body(serde_json::json!({"name": "Alice", "email": "alice@example.org"}))
    .cases(32)
    .seed(seed)
    .run()
}

/// Runs an async probe to completion (the probes are plain futures).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The tour's pair: orders (auth context) and profile (mass assignment), buggy or fixed.
pub(crate) fn tour(fixed: bool) -> Report {
    let mut orders = block_on(probe_orders(fixed));
    let profile = probe_profile(fixed, 0x5eed);
    orders.key_figure = if orders.is_clean() && profile.is_clean() {
        format!(
            "no leak in {} requests, {} bodies",
            orders.figure("requests").unwrap_or("?"),
            profile.figure("cases").unwrap_or("?")
        )
    } else {
        format!(
            "{} auth leak(s), {} input problem(s)",
            orders.findings.len(),
            profile.findings.len()
        )
    };
    orders.findings.extend(profile.findings);
    orders
}
