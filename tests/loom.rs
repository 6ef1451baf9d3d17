//! Sync check-then-act under loom:
//! `RUSTFLAGS="--cfg whatbreaks_loom" cargo test --release --test loom`.
//! Without that cfg (or `--cfg loom`) this binary holds no tests (the primitives are std's and cannot be
//! explored).
#![cfg(any(loom, whatbreaks_loom))]

#[path = "../examples/patterns/config_cache.rs"]
mod code;

use code::ConfigCache;
use whatbreaks::sync::{Arc, model, thread};

fn two_readers(get: fn(&ConfigCache) -> String) {
    model(move || {
        let cache = Arc::new(ConfigCache::new());
        let other = cache.clone();
        let t = thread::spawn(move || get(&other));
        let a = get(&cache);
        let b = t.join().unwrap();
        assert_eq!(a, b);
        assert_eq!(cache.loads(), 1, "config loaded twice");
    });
}

#[test]
#[should_panic(expected = "config loaded twice")]
fn check_then_load_without_a_recheck_loads_twice() {
    two_readers(ConfigCache::get_racy);
}

#[test]
fn double_checked_locking_loads_once() {
    two_readers(ConfigCache::get);
}
