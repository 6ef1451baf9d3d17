//! The pool watch on a real deadpool-postgres pool.

use crate::code::{lookup_order, lookup_order_leaky};
use whatbreaks::pool::LEAK;
use whatbreaks::postgres::{PgPoolWatch, WatchedPgPool};

#[test]
fn a_handler_that_leaks_its_connection_is_flagged_on_a_real_pool() {
    crate::need_postgres();
    let report = PgPoolWatch::new()
        .clients(3)
        .max_size(4)
        .run(|pool: WatchedPgPool| lookup_order_leaky(pool));
    report.assert_flagged(LEAK);
    let rendered = report.render();
    assert!(rendered.contains("backends.rs:"), "checkout site shown: {rendered}");
    assert!(rendered.contains("deadpool status"), "{rendered}");
}

#[test]
fn raii_use_of_a_real_pool_passes() {
    crate::need_postgres();
    let report = PgPoolWatch::new()
        .clients(12)
        .max_size(4)
        .run(|pool: WatchedPgPool| lookup_order(pool));
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("checkouts"), Some("12"));
}
