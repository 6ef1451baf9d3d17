//! Pattern 5, connection-pool exhaustion: the seed article's `processOrder` (a manual release
//! that the error path skips, ported to Rust), a connection held across a slow upstream call,
//! nested acquires that deadlock the pool, and queries without timeouts on a pool without an
//! acquire timeout; each with its fix.
//!
//! This file is shared by `examples/pool.rs`, `examples/tour.rs` and `tests/pool/`.
#![allow(dead_code)]

use std::time::Duration;
use whatbreaks::{PoolTest, PooledConn, QueryError, Report, Request, SimPool, Upstream};

/// How long the fixed code lets one query run before giving up on its connection.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_millis(250);

/// BUGGY: the seed article's `processOrder`. The connection is released on the last line, so
/// any failing query returns early through `?` and the connection never goes back. Four
/// failures later the pool is empty for good.
pub(crate) async fn process_order(pool: &SimPool, order_id: &str) -> Result<(), QueryError> {
    let client = pool.connect().await?;
    client
        .query(&format!("SELECT * FROM orders WHERE id = '{order_id}'"))
        .await?;
    client
        .query("SELECT * FROM inventory WHERE product_id = $1")
        .await?;
    client
        .query("UPDATE inventory SET quantity = quantity - $1 WHERE product_id = $2")
        .await?;
    client.release();
    Ok(())
}

/// BUGGY too: an RAII guard kept alive "for later" with `mem::forget` when a query fails.
pub(crate) async fn process_order_forget(pool: &SimPool, order_id: &str) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    if let Err(e) = conn
        .query(&format!("SELECT * FROM orders WHERE id = '{order_id}'"))
        .await
    {
        std::mem::forget(conn); // "keep the connection for the retry"
        return Err(e);
    }
    conn.query("UPDATE inventory SET quantity = quantity - 1")
        .await
}

/// A query with a timeout: a lost connection fails this request (and is replaced by the pool)
/// instead of holding the connection forever.
pub(crate) async fn query(conn: &PooledConn, sql: &str) -> Result<(), QueryError> {
    tokio::time::timeout(QUERY_TIMEOUT, conn.query(sql))
        .await
        .map_err(|_| QueryError::QueryTimeout)?
}

/// A transaction wrapper that gives the connection back on every path: the guard is dropped
/// on return, on `?`, on a timeout and on a panic; a failed body rolls back.
pub(crate) async fn transaction<T>(
    pool: &SimPool,
    body: impl AsyncFnOnce(&PooledConn) -> Result<T, QueryError>,
) -> Result<T, QueryError> {
    let conn = pool.get().await?;
    query(&conn, "BEGIN").await?;
    match body(&conn).await {
        Ok(value) => {
            query(&conn, "COMMIT").await?;
            Ok(value)
        }
        Err(e) => {
            let _ = query(&conn, "ROLLBACK").await;
            Err(e)
        }
    }
}

/// FIXED: `processOrder` inside the transaction wrapper, every query under a timeout.
pub(crate) async fn process_order_fixed(pool: &SimPool, order_id: &str) -> Result<(), QueryError> {
    let sql = format!("SELECT * FROM orders WHERE id = '{order_id}'");
    transaction(pool, async |conn| {
        query(conn, &sql).await?;
        query(conn, "SELECT * FROM inventory WHERE product_id = $1").await?;
        query(
            conn,
            "UPDATE inventory SET quantity = quantity - $1 WHERE product_id = $2",
        )
        .await
    })
    .await
}

/// The payment provider: two seconds per call.
pub(crate) fn payments() -> Upstream {
    Upstream::builder("payments")
        .latency(Duration::from_secs(2))
        .build()
}

/// BUGGY: holds the connection while it waits two seconds for the payment provider; with
/// four connections, every other client queues behind those calls.
pub(crate) async fn checkout(pool: &SimPool, payments: &Upstream) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    query(&conn, "SELECT total FROM carts WHERE id = $1").await?;
    let _ = payments.call(Request::post("/charge")).await;
    query(&conn, "UPDATE orders SET paid = true WHERE id = $1").await
}

/// FIXED: reads, gives the connection back, calls the provider, then takes a connection again
/// to write the result.
pub(crate) async fn checkout_fixed(pool: &SimPool, payments: &Upstream) -> Result<(), QueryError> {
    {
        let conn = pool.get().await?;
        query(&conn, "SELECT total FROM carts WHERE id = $1").await?;
    }
    let _ = payments.call(Request::post("/charge")).await;
    let conn = pool.get().await?;
    query(&conn, "UPDATE orders SET paid = true WHERE id = $1").await
}

/// A helper that takes its own connection: harmless alone, a deadlock when called while the
/// caller already holds one.
pub(crate) async fn load_customer(pool: &SimPool) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    query(&conn, "SELECT * FROM customers WHERE id = $1").await
}

/// BUGGY: holds a connection and calls a helper that acquires another. With N connections
/// and N concurrent clients, each holds one and waits for a second: nobody ever proceeds.
pub(crate) async fn show_order(pool: &SimPool) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    query(&conn, "SELECT * FROM orders WHERE id = $1").await?;
    load_customer(pool).await?;
    query(&conn, "SELECT * FROM order_lines WHERE order_id = $1").await
}

/// The helper written to use the caller's connection.
pub(crate) async fn load_customer_with(conn: &PooledConn) -> Result<(), QueryError> {
    query(conn, "SELECT * FROM customers WHERE id = $1").await
}

/// FIXED: one connection per request, passed to the helper.
pub(crate) async fn show_order_fixed(pool: &SimPool) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    query(&conn, "SELECT * FROM orders WHERE id = $1").await?;
    load_customer_with(&conn).await?;
    query(&conn, "SELECT * FROM order_lines WHERE order_id = $1").await
}

/// BUGGY with an unreliable network: no query timeout, and (in the scenario) no acquire
/// timeout. A query that never returns keeps its connection forever; once all four are lost,
/// every later acquire waits forever.
pub(crate) async fn report_stock(pool: &SimPool) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    conn.query("SELECT sum(quantity) FROM inventory").await?;
    conn.query("SELECT count(*) FROM orders").await
}

/// FIXED: every query under a timeout (the scenario adds an acquire timeout).
pub(crate) async fn report_stock_fixed(pool: &SimPool) -> Result<(), QueryError> {
    let conn = pool.get().await?;
    query(&conn, "SELECT sum(quantity) FROM inventory").await?;
    query(&conn, "SELECT count(*) FROM orders").await
}

/// The seed article's scenario: 200 clients over 10 s, 4 connections, 10% of queries fail.
pub(crate) fn leak_scenario() -> PoolTest {
    PoolTest::new().size(4).clients(200).error_rate(0.1)
}

/// The seed article's `processOrder` under [`leak_scenario`].
pub(crate) fn buggy(scenario: PoolTest) -> Report {
    scenario.run(|pool: SimPool| async move {
        let _ = process_order(&pool, "order-1").await;
    })
}

/// The transaction-wrapper fix under [`leak_scenario`] (with a 1 s acquire timeout).
pub(crate) fn fixed(scenario: PoolTest) -> Report {
    scenario
        .acquire_timeout(Duration::from_secs(1))
        .run(|pool: SimPool| async move {
            let _ = process_order_fixed(&pool, "order-1").await;
        })
}

/// 100 checkouts over 10 s on 4 connections, the provider taking 2 s per call.
pub(crate) fn slow_upstream_scenario() -> PoolTest {
    PoolTest::new().size(4).clients(100)
}

/// Holding across the provider call, or not.
pub(crate) fn slow_upstream(scenario: PoolTest, hold: bool) -> Report {
    let up = payments();
    scenario.run(move |pool: SimPool| {
        let up = up.clone();
        async move {
            let _ = if hold {
                checkout(&pool, &up).await
            } else {
                checkout_fixed(&pool, &up).await
            };
        }
    })
}

/// N concurrent clients on a pool of size N (N = 4), all arriving at once.
pub(crate) fn nested_scenario() -> PoolTest {
    PoolTest::new()
        .size(4)
        .clients(4)
        .arrivals(Duration::ZERO..Duration::from_millis(1))
}

/// Nested acquires, or one connection passed down.
pub(crate) fn nested(scenario: PoolTest, nested: bool) -> Report {
    scenario.run(move |pool: SimPool| async move {
        let _ = if nested {
            show_order(&pool).await
        } else {
            show_order_fixed(&pool).await
        };
    })
}

/// 200 clients, 4 connections, 2% of queries never return.
pub(crate) fn lost_scenario() -> PoolTest {
    PoolTest::new().size(4).clients(200).hang_rate(0.02)
}

/// No timeouts at all, or query timeouts plus a 1 s acquire timeout.
pub(crate) fn lost_connections(scenario: PoolTest, timeouts: bool) -> Report {
    if timeouts {
        scenario
            .acquire_timeout(Duration::from_secs(1))
            .run(|pool: SimPool| async move {
                let _ = report_stock_fixed(&pool).await;
            })
    } else {
        scenario.run(|pool: SimPool| async move {
            let _ = report_stock(&pool).await;
        })
    }
}
