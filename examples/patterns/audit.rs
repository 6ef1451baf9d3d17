//! The audit's showcase: a small checkout service in the style of the seed articles, with one
//! seeded bug per pattern, described once and audited with no per-pattern test written.
//!
//! - `charge`: `POST /charge` to the `payments` upstream behind a retry wrapper (buggy: the
//!   herd pattern's exponential backoff without jitter, timeout or idempotency key, its
//!   final error dropped; fixed: the retry pattern's key per charge, full jitter,
//!   classification and a retry budget, a failure logged with the request id);
//! - `get_product`: the product cache in front of the database (buggy: cache-aside, a failed
//!   load dropped; fixed: a lease in the shared cache, a failure logged with the request id);
//! - `list_posts`: the posts with their authors (buggy: one query per post's author; fixed:
//!   one batched query for all of them);
//! - `toggle_like`: the double-tap like (buggy: check, then act, in three statements that a
//!   disconnect can cut apart; fixed: `FOR UPDATE` in one transaction);
//! - `process_order`: an order's queries on a pooled connection (buggy: the seed article's
//!   manual `release()`, skipped by `?` when a query fails; fixed: the RAII guard);
//! - `notifications`: a WebSocket connection's subscription to the notification registry
//!   (buggy: the seed article's handler, which never unsubscribes; fixed: unsubscribes on
//!   close and on error);
//! - `export_orders`: the orders table to CSV (buggy: the seed article's `fetchall()` before
//!   writing a row; fixed: a cursor into a bounded buffer);
//! - `daily_report`: a job on every instance (buggy: an in-process scheduler; fixed: a claim
//!   per occurrence in the shared store).
//!
//! Built from the pattern files (`herd.rs`, `retry.rs`, `stampede.rs`, `pool.rs`, `race.rs`,
//! `leak.rs`, `n_plus_one.rs`, `scale.rs`, `scheduler.rs`), which the including binary declares as sibling modules. Shared by
//! `examples/audit.rs`, `examples/tour.rs` and `tests/audit/`.
#![allow(dead_code)]

use crate::{herd, leak, n_plus_one, pool, race, retry, scale, scheduler, stampede};
use std::time::Duration;
use whatbreaks::audit::{Audit, Ctx, World};
use whatbreaks::{Instance, Request};

/// The TTL the product cache stores entries with.
const PRODUCT_TTL: Duration = Duration::from_secs(1);

/// The checkout service, with its seeded bugs (`fixed = false`) or with every fix.
pub(crate) fn checkout(fixed: bool) -> Audit {
    Audit::new(if fixed {
        "checkout (fixed)"
    } else {
        "checkout"
    })
    .setup(|world: World| async move {
        // Post p1 starts at zero likes; three posts by their authors for the post list.
        let _ = world.db().insert("posts", "p1", "0").await;
        n_plus_one::seed_posts(&world.db(), 3);
    })
    .handler("charge", move |world: World, ctx: Ctx| async move {
        let payments = world.upstream("payments");
        if fixed {
            if let Err(e) = retry::charge_fixed(&payments).await {
                failed(&ctx, "charge", &e);
            }
        } else {
            // The error is dropped: the caller sees nothing, nobody is told.
            let _ = herd::retry_request(
                &payments,
                Request::post("/charge"),
                4,
                Duration::from_secs(1),
            )
            .await;
        }
    })
    .handler("get_product", move |world: World, ctx: Ctx| async move {
        if fixed {
            let found = stampede::LeasedProducts::new(world.cache(), world.db(), PRODUCT_TTL)
                .get_product(ctx.key())
                .await;
            if let Err(e) = found {
                failed(&ctx, "get_product", &e);
            }
        } else {
            let _ =
                stampede::get_product(&world.cache(), &world.db(), ctx.key(), PRODUCT_TTL).await;
        }
    })
    .handler("list_posts", move |world: World, _ctx: Ctx| async move {
        let _posts = if fixed {
            n_plus_one::list_posts_batched(&world.db()).await
        } else {
            n_plus_one::list_posts(&world.db()).await
        };
    })
    .handler("toggle_like", move |world: World, _ctx: Ctx| async move {
        if fixed {
            race::toggle_like_locked(&world.db(), "u1", "p1").await;
        } else {
            race::toggle_like(&world.db(), "u1", "p1").await;
        }
    })
    .handler("process_order", move |world: World, ctx: Ctx| async move {
        let _ = if fixed {
            pool::process_order_fixed(&world.pool(), ctx.key()).await
        } else {
            pool::process_order(&world.pool(), ctx.key()).await
        };
    })
    .handler("notifications", move |world: World, _ctx: Ctx| async move {
        // One registry per instance, as the service keeps it in memory.
        let registry = world.per_instance(leak::NotificationService::new);
        let socket = leak::WebSocket::connect();
        if fixed {
            leak::handle_connection(&registry, socket).await;
        } else {
            leak::handle_connection_leaky(&registry, socket).await;
        }
    })
    .handler("export_orders", move |world: World, _ctx: Ctx| async move {
        let orders = world.table("orders", scale::order_row);
        let _ = if fixed {
            scale::export_to_csv(&orders, whatbreaks::sink::discard()).await
        } else {
            scale::export_to_csv_fetch_all(&orders, whatbreaks::sink::discard()).await
        };
    })
    .job(
        "daily_report",
        move |_world: World, instance: Instance| async move {
            if fixed {
                scheduler::claiming_scheduler(instance).await;
            } else {
                let i = instance.clone();
                scheduler::run_scheduler(instance, move |slot| i.effect("daily_report", slot))
                    .await;
            }
        },
    )
}

/// What the fixed service does with an error it cannot recover from: logs it at warn with the
/// request's correlation id, so an operator holding `req-17` finds it.
fn failed(ctx: &Ctx, entry: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(request_id = %ctx.request_id(), entry, error = %error, "request failed");
}

/// The seeded bugs: each (question, entry point) the buggy service must break.
pub(crate) const SEEDED_BUGS: [(&str, &str); 14] = [
    ("herd", "charge"),
    ("hang", "charge"),
    ("retry storm", "charge"),
    ("duplicates", "charge"),
    ("silent error", "charge"),
    ("stampede", "get_product"),
    ("silent error", "get_product"),
    ("pool", "process_order"),
    ("n+1 queries", "list_posts"),
    ("race", "toggle_like"),
    ("partial write", "toggle_like"),
    ("leak", "notifications"),
    ("scale", "export_orders"),
    ("double execution", "daily_report"),
];
