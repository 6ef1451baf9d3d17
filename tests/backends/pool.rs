//! The pool watch on a real deadpool-postgres pool.

use crate::code::pool_report;
use whatbreaks::pool::LEAK;

#[test]
fn a_handler_that_leaks_its_connection_is_flagged_on_a_real_pool() {
    crate::need_postgres();
    let report = pool_report(true);
    report.assert_flagged(LEAK);
    let rendered = report.render();
    assert!(
        rendered.contains("backends.rs:"),
        "checkout site shown: {rendered}"
    );
    assert!(rendered.contains("deadpool status"), "{rendered}");
}

#[test]
fn raii_use_of_a_real_pool_passes() {
    crate::need_postgres();
    let report = pool_report(false);
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("checkouts"), Some("12"));
}
