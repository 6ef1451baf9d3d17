//! Partial writes: the seed article's `processOrder` (read the order, update the inventory,
//! insert the shipment) cut at an await point. Without a transaction a cut between the
//! update and the insert decrements the stock and ships nothing (buggy); the same in one
//! `SimDb` transaction is all or nothing (fixed); moving the writes into a spawned task that
//! owns them survives a cancellation (fixed when cancelled, flagged when the instance
//! crashes); a `tokio::select!` with a deadline that fires between the two writes cuts the
//! request by itself (buggy), unless the writes are in a transaction (fixed).
//!
//! This file is shared by `examples/cancel.rs`, `examples/tour.rs` and `tests/cancel/`.
#![allow(dead_code)]

use std::time::Duration;
use whatbreaks::{CancelEnv, CancelTest, Report, SimDb};

/// Units of `sku-1` before any order: the invariant below keeps stock + shipped at this.
pub(crate) const STOCK: i64 = 10;

/// An order row: `sku:quantity`.
fn parse_order(order: &str) -> Result<(String, i64), String> {
    let (sku, qty) = order.split_once(':').ok_or("bad order row")?;
    Ok((sku.to_string(), qty.parse().map_err(|_| "bad quantity")?))
}

/// BUGGY: three statements, no transaction. A future dropped after the `UPDATE` (a client
/// disconnect, a timeout) leaves the stock decremented and no shipment.
pub(crate) async fn process_order(db: &SimDb, order_id: &str) -> Result<(), String> {
    let order = db.get("orders", order_id).await.ok_or("no such order")?;
    let (sku, qty) = parse_order(&order)?;
    let stock: i64 = db
        .get("inventory", &sku)
        .await
        .and_then(|s| s.parse().ok())
        .ok_or("no stock row")?;
    db.update("inventory", &sku, (stock - qty).to_string())
        .await;
    db.insert("shipments", order_id, order.clone())
        .await
        .map_err(|e| e.to_string())
}

/// FIXED: the same statements in one transaction; a dropped future drops the transaction,
/// which rolls back.
pub(crate) async fn process_order_tx(db: &SimDb, order_id: &str) -> Result<(), String> {
    let mut tx = db.begin().await;
    let order = tx.get("orders", order_id).await.ok_or("no such order")?;
    let (sku, qty) = parse_order(&order)?;
    let stock: i64 = tx
        .select_for_update("inventory", &sku)
        .await
        .and_then(|s| s.parse().ok())
        .ok_or("no stock row")?;
    tx.update("inventory", &sku, (stock - qty).to_string())
        .await;
    tx.insert("shipments", order_id, order.clone()).await;
    tx.commit().await.map_err(|e| e.to_string())
}

/// FIXED for cancellation: the writes run in a task that owns them, so dropping the
/// handler's future (it only waits for the answer) does not stop them. An instance crash
/// still kills the task between its two writes.
pub(crate) async fn process_order_spawned(db: &SimDb, order_id: &str) -> Result<(), String> {
    let (db, id) = (db.clone(), order_id.to_string());
    tokio::spawn(async move { process_order(&db, &id).await })
        .await
        .map_err(|e| e.to_string())?
}

/// The request deadline of the two handlers below: with statements of 10-12 ms it falls
/// after the `UPDATE` has landed and before the `INSERT` does.
pub(crate) const DEADLINE: Duration = Duration::from_millis(38);

/// BUGGY: a deadline in a `select!` around the writes: it fires while the `INSERT` is in
/// flight and drops it, after the `UPDATE` landed. No one cancelled this request: it cut
/// itself.
pub(crate) async fn process_order_with_deadline(db: &SimDb, order_id: &str) -> Result<(), String> {
    tokio::select! {
        r = process_order(db, order_id) => r,
        _ = tokio::time::sleep(DEADLINE) => Err("deadline exceeded".into()),
    }
}

/// FIXED: the same deadline around a transaction: when it fires, everything rolls back.
pub(crate) async fn process_order_with_deadline_tx(
    db: &SimDb,
    order_id: &str,
) -> Result<(), String> {
    tokio::select! {
        r = process_order_tx(db, order_id) => r,
        _ = tokio::time::sleep(DEADLINE) => Err("deadline exceeded".into()),
    }
}

/// Order `o1` of two units of `sku-1`, 10 in stock.
pub(crate) fn seed_order(db: &SimDb) {
    db.seed("orders", "o1", "sku-1:2");
    db.seed("inventory", "sku-1", STOCK.to_string());
}

/// Stock plus shipped units stays at [`STOCK`].
pub(crate) fn stock_is_conserved(db: &SimDb) -> Result<(), String> {
    let stock: i64 = db
        .peek("inventory", "sku-1")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let shipped: i64 = db
        .rows()
        .get("shipments")
        .into_iter()
        .flat_map(|t| t.values().flatten())
        .filter_map(|row| parse_order(row).ok().map(|(_, q)| q))
        .sum();
    if stock + shipped == STOCK {
        Ok(())
    } else {
        Err(format!(
            "stock {stock} + shipped {shipped} = {}, expected {STOCK}",
            stock + shipped
        ))
    }
}

/// The scenario the example, the tour and the tests use: order `o1` seeded, the stock
/// invariant, every await point cut.
pub(crate) fn scenario() -> CancelTest {
    CancelTest::new()
        .setup(seed_order)
        .invariant(stock_is_conserved)
}

pub(crate) fn buggy(test: CancelTest) -> Report {
    test.run(|env: CancelEnv| async move {
        let _ = process_order(&env.db(), "o1").await;
    })
}

pub(crate) fn fixed(test: CancelTest) -> Report {
    test.run(|env: CancelEnv| async move {
        let _ = process_order_tx(&env.db(), "o1").await;
    })
}

pub(crate) fn spawned(test: CancelTest) -> Report {
    test.run(|env: CancelEnv| async move {
        let _ = process_order_spawned(&env.db(), "o1").await;
    })
}

pub(crate) fn deadline(test: CancelTest) -> Report {
    test.run(|env: CancelEnv| async move {
        let _ = process_order_with_deadline(&env.db(), "o1").await;
    })
}

pub(crate) fn deadline_tx(test: CancelTest) -> Report {
    test.run(|env: CancelEnv| async move {
        let _ = process_order_with_deadline_tx(&env.db(), "o1").await;
    })
}
