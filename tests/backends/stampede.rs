//! Cache-aside under a cold start against a real Redis.

use crate::code::stampede_report;
use whatbreaks::stampede::PATTERN;

#[test]
fn cache_aside_on_a_cold_key_is_flagged_against_real_redis() {
    crate::need_redis();
    let report = stampede_report(false);
    report.assert_flagged(PATTERN);
    let loads: u32 = report.figure("loads").unwrap().parse().unwrap();
    assert!(loads > 1, "{}", report.render());
}

#[test]
fn a_redis_lock_lets_one_client_load_and_the_rest_wait() {
    crate::need_redis();
    let report = stampede_report(true);
    assert!(report.is_clean(), "{}", report.render());
    assert_eq!(report.figure("loads"), Some("1"));
}
