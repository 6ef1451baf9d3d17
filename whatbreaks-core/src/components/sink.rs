//! Places to write output to in tests: [`discard()`] counts the bytes and keeps none.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A writer that keeps nothing and counts the bytes written (like `/dev/null` with a meter),
/// so an export can run at any size without the output itself using memory.
///
/// ```
/// use std::io::Write;
/// let mut out = whatbreaks_core::components::sink::discard();
/// let meter = out.clone();
/// writeln!(out, "id,total").unwrap();
/// assert_eq!(meter.bytes_written(), 9);
/// ```
pub fn discard() -> Discard {
    Discard::default()
}

/// The writer returned by [`discard()`]. Clones share the byte count.
#[derive(Clone, Debug, Default)]
pub struct Discard {
    written: Arc<AtomicU64>,
}

impl Discard {
    /// Bytes written so far, through this writer and its clones.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

impl io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
