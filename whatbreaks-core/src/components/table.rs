//! A generated table: `n` rows produced on demand, read through a streaming cursor
//! ([`Table::rows`], batched like a server-side cursor) or all at once ([`Table::fetch_all`],
//! like a client-side cursor's `fetchall()`).
//!
//! Rows are made by a generator from their index when they are fetched, never stored, so a
//! table of a billion rows costs nothing until it is read: what the code under test keeps is
//! what the scale detector measures. Each fetch of a batch takes `batch_latency` of virtual time
//! (default 1 ms per batch of 1,000 rows), so time grows with the rows read as it would against
//! a database.
//!
//! ```
//! use futures::StreamExt;
//! use whatbreaks_core::components::table::Table;
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
//! # rt.block_on(async {
//! let table = Table::generated(2_500, |i| format!("order {i}"));
//! // Streaming: at most one batch (1,000 rows) in memory at a time.
//! let mut rows = table.rows();
//! let mut seen = 0;
//! while let Some(row) = rows.next().await {
//!     seen += row.len().min(1);
//! }
//! assert_eq!(seen, 2_500);
//! // Materializing: every row in memory at once.
//! assert_eq!(table.fetch_all().await.len(), 2_500);
//! # });
//! ```

use futures::Stream;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Rows per batch of the streaming cursor, by default.
pub const DEFAULT_BATCH_SIZE: usize = 1_000;
/// Virtual time one batch takes to arrive, by default.
pub const DEFAULT_BATCH_LATENCY: Duration = Duration::from_millis(1);

/// A table of generated rows; see the [module docs](self). Cheap to clone.
pub struct Table<R> {
    len: u64,
    generate: Arc<dyn Fn(u64) -> R + Send + Sync>,
    batch_size: usize,
    batch_latency: Duration,
}

impl<R> Clone for Table<R> {
    fn clone(&self) -> Self {
        Table {
            len: self.len,
            generate: self.generate.clone(),
            batch_size: self.batch_size,
            batch_latency: self.batch_latency,
        }
    }
}

impl<R> fmt::Debug for Table<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("batch_size", &self.batch_size)
            .field("batch_latency", &self.batch_latency)
            .finish_non_exhaustive()
    }
}

impl<R> Table<R> {
    /// A table of `len` rows; row `i` is `generate(i)`, made when it is fetched.
    pub fn generated(len: u64, generate: impl Fn(u64) -> R + Send + Sync + 'static) -> Self {
        Table {
            len,
            generate: Arc::new(generate),
            batch_size: DEFAULT_BATCH_SIZE,
            batch_latency: DEFAULT_BATCH_LATENCY,
        }
    }

    /// Rows per batch of the streaming cursor (default 1,000).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Virtual time one batch takes to arrive (default 1 ms; zero for none).
    pub fn batch_latency(mut self, latency: Duration) -> Self {
        self.batch_latency = latency;
        self
    }

    /// Number of rows.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: u64) -> Option<R> {
        (i < self.len).then(|| (self.generate)(i))
    }

    /// A streaming cursor over every row: fetches `batch_size` rows per round trip and holds
    /// at most one batch (a server-side cursor).
    pub fn rows(&self) -> Rows<R> {
        Rows {
            batches: self.batches(),
            current: Vec::new().into_iter(),
        }
    }

    /// The same cursor, one batch (`Vec` of up to `batch_size` rows) at a time.
    pub fn batches(&self) -> Batches<R> {
        Batches {
            table: self.clone(),
            next: 0,
            wait: None,
        }
    }

    /// Every row at once, in one `Vec` (a client-side cursor's `fetchall()`): memory grows
    /// with the table. Takes as much virtual time as streaming every batch.
    pub async fn fetch_all(&self) -> Vec<R> {
        let batches = self.len.div_ceil(self.batch_size as u64);
        if !self.batch_latency.is_zero() && batches > 0 {
            tokio::time::sleep(self.batch_latency * batches.min(u64::from(u32::MAX)) as u32).await;
        }
        (0..self.len).map(|i| (self.generate)(i)).collect()
    }
}

/// The stream of batches returned by [`Table::batches`].
pub struct Batches<R> {
    table: Table<R>,
    next: u64,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<R> fmt::Debug for Batches<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batches")
            .field("table", &self.table)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

// Nothing is pinned structurally: the timer is boxed.
impl<R> Unpin for Batches<R> {}

impl<R> Stream for Batches<R> {
    type Item = Vec<R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<R>>> {
        let this = &mut *self;
        if this.next >= this.table.len {
            return Poll::Ready(None);
        }
        if !this.table.batch_latency.is_zero() {
            let latency = this.table.batch_latency;
            let wait = this
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(latency)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
        }
        let end = (this.next + this.table.batch_size as u64).min(this.table.len);
        let batch: Vec<R> = (this.next..end).map(|i| (this.table.generate)(i)).collect();
        this.next = end;
        Poll::Ready(Some(batch))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self
            .table
            .len
            .saturating_sub(self.next)
            .div_ceil(self.table.batch_size as u64) as usize;
        (left, Some(left))
    }
}

/// The row stream returned by [`Table::rows`].
pub struct Rows<R> {
    batches: Batches<R>,
    current: std::vec::IntoIter<R>,
}

impl<R> fmt::Debug for Rows<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows")
            .field("batches", &self.batches)
            .field("buffered", &self.current.len())
            .finish()
    }
}

// Nothing is pinned structurally.
impl<R> Unpin for Rows<R> {}

impl<R> Stream for Rows<R> {
    type Item = R;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<R>> {
        let this = &mut *self;
        loop {
            if let Some(row) = this.current.next() {
                return Poll::Ready(Some(row));
            }
            match Pin::new(&mut this.batches).poll_next(cx) {
                Poll::Ready(Some(batch)) => this.current = batch.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left =
            self.batches.table.len.saturating_sub(self.batches.next) as usize + self.current.len();
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn streaming_and_fetch_all_see_the_same_rows() {
        block_on(async {
            let t = Table::generated(2_345, |i| i * 2).batch_size(100);
            let start = tokio::time::Instant::now();
            let streamed: Vec<u64> = t.rows().collect().await;
            assert_eq!(start.elapsed(), Duration::from_millis(24));
            assert_eq!(streamed, t.fetch_all().await);
            assert_eq!(streamed[2_344], 4_688);
            let sizes: Vec<usize> = t.batches().map(|b| b.len()).collect().await;
            assert_eq!(sizes.len(), 24);
            assert_eq!(sizes[23], 45);
            assert_eq!(t.row(2_345), None);
        });
    }

    #[test]
    fn streaming_holds_one_batch() {
        let t = Table::generated(50_000, |i| vec![i as u8; 100]);
        let span = crate::components::measure::Span::start();
        block_on(async {
            let mut rows = t.rows();
            let mut n = 0u64;
            while let Some(r) = rows.next().await {
                n += r.len() as u64;
            }
            assert_eq!(n, 5_000_000);
        });
        let streamed = span.finish().peak;
        let span = crate::components::measure::Span::start();
        block_on(async {
            assert_eq!(t.fetch_all().await.len(), 50_000);
        });
        let all = span.finish().peak;
        assert!(all > 5_000_000, "{all}");
        assert!(streamed < all / 10, "{streamed} vs {all}");
    }
}
