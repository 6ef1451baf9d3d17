//! Check-then-act in synchronous code: a lazily loaded config behind an atomic flag and a
//! mutex. Written against `whatbreaks::sync` so loom can explore it (`tests/loom.rs`).
#![allow(dead_code)]

use whatbreaks::sync::Mutex;
use whatbreaks::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A config loaded on first use.
pub(crate) struct ConfigCache {
    loaded: AtomicBool,
    value: Mutex<Option<String>>,
    loads: AtomicUsize,
}

impl ConfigCache {
    pub(crate) fn new() -> Self {
        ConfigCache {
            loaded: AtomicBool::new(false),
            value: Mutex::new(None),
            loads: AtomicUsize::new(0),
        }
    }

    fn load(&self) -> String {
        self.loads.fetch_add(1, Ordering::SeqCst);
        "config v1".to_string()
    }

    /// How many times the config was loaded.
    pub(crate) fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    /// BUGGY: checks the flag, then loads without checking again under the lock: two first
    /// callers both load.
    pub(crate) fn get_racy(&self) -> String {
        if !self.loaded.load(Ordering::Acquire) {
            let v = self.load();
            *self.value.lock().unwrap() = Some(v);
            self.loaded.store(true, Ordering::Release);
        }
        self.value.lock().unwrap().clone().unwrap_or_default()
    }

    /// FIXED: double-checked locking: a fast path on the flag, then the check again under
    /// the lock before loading.
    pub(crate) fn get(&self) -> String {
        if !self.loaded.load(Ordering::Acquire) {
            let mut value = self.value.lock().unwrap();
            if value.is_none() {
                *value = Some(self.load());
                self.loaded.store(true, Ordering::Release);
            }
        }
        self.value.lock().unwrap().clone().unwrap_or_default()
    }
}
