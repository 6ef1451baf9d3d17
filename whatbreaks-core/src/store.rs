//! Simulated backends. (Integration stub: the stampede branch brings `SimCache` and the
//! load-counting part of `SimDb`; this file holds the table part until the merge.)

use crate::db::{DbError, Tables, Write, shown, trace};
use crate::race;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct DbState {
    tables: Tables,
}

#[derive(Debug)]
struct DbInner {
    latency: Duration,
    state: Mutex<DbState>,
    unlocked: tokio::sync::Notify,
}

/// A database double shared by every task and instance of a scenario (a cheap handle).
#[derive(Clone, Debug)]
pub struct SimDb {
    inner: Arc<DbInner>,
}

impl Default for SimDb {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDb {
    /// An empty database; every table operation takes a seeded latency of 0–2 ms.
    pub fn new() -> Self {
        SimDb {
            inner: Arc::new(DbInner {
                latency: Duration::from_millis(2),
                state: Mutex::new(DbState {
                    tables: Tables::default(),
                }),
                unlocked: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The largest seeded latency of a table operation (default 2 ms; zero makes every
    /// operation a bare await point, so only the explorer's choices order them).
    pub fn latency(self, max: Duration) -> Self {
        SimDb {
            inner: Arc::new(DbInner {
                latency: max,
                state: Mutex::new(DbState {
                    tables: std::mem::take(&mut self.inner.state.lock().tables),
                }),
                unlocked: tokio::sync::Notify::new(),
            }),
        }
    }

    fn tables<R>(&self, f: impl FnOnce(&mut Tables) -> R) -> R {
        f(&mut self.inner.state.lock().tables)
    }

    async fn step(&self) {
        race::latency(self.inner.latency).await;
    }

    /// Declares a unique constraint on the keys of `table` (returns the handle for chaining).
    pub fn unique(self, table: &str) -> Self {
        self.tables(|t| t.declare_unique(table));
        self
    }

    /// Rows of `table` with `key`, committed (no await: for assertions).
    pub fn count(&self, table: &str, key: &str) -> usize {
        self.tables(|t| t.count(table, key))
    }

    /// All committed rows of `table` (no await: for assertions).
    pub fn count_table(&self, table: &str) -> usize {
        self.tables(|t| t.count_table(table))
    }

    /// The committed value of a row, without an await or a trace entry (for assertions).
    pub fn peek(&self, table: &str, key: &str) -> Option<String> {
        self.tables(|t| t.get(table, key))
    }

    /// `SELECT value FROM table WHERE key = $1 LIMIT 1`.
    pub async fn get(&self, table: &str, key: &str) -> Option<String> {
        self.step().await;
        let v = self.tables(|t| t.get(table, key));
        trace(format!("SELECT {table}[{key}] -> {}", shown(&v)));
        v
    }

    /// `INSERT`; fails on a unique constraint.
    ///
    /// # Errors
    /// [`DbError::UniqueViolation`] when `table` is unique and `key` exists.
    pub async fn insert(
        &self,
        table: &str,
        key: &str,
        value: impl Into<String>,
    ) -> Result<(), DbError> {
        self.write(Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: false,
        })
        .await
        .map(|_| ())
    }

    /// `INSERT … ON CONFLICT DO NOTHING`: true when the row was inserted.
    pub async fn insert_or_ignore(&self, table: &str, key: &str, value: impl Into<String>) -> bool {
        self.write(Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: true,
        })
        .await
        .unwrap_or(false)
    }

    /// `UPDATE table SET value = $2 WHERE key = $1`: true when a row changed.
    pub async fn update(&self, table: &str, key: &str, value: impl Into<String>) -> bool {
        self.write(Write::Update {
            table: table.into(),
            key: key.into(),
            value: value.into(),
        })
        .await
        .unwrap_or(false)
    }

    /// `DELETE FROM table WHERE key = $1`: true when rows were deleted.
    pub async fn delete(&self, table: &str, key: &str) -> bool {
        self.write(Write::Delete {
            table: table.into(),
            key: key.into(),
        })
        .await
        .unwrap_or(false)
    }

    async fn write(&self, w: Write) -> Result<bool, DbError> {
        self.step().await;
        let r = self.tables(|t| t.apply(&w));
        trace(describe(&w, &r, None));
        r
    }

    /// `BEGIN`: a read-committed transaction. Dropping it without commit rolls it back.
    pub async fn begin(&self) -> Transaction {
        self.step().await;
        let id = self.tables(Tables::new_tx);
        trace(format!("BEGIN tx{id}"));
        Transaction {
            db: self.clone(),
            id,
            writes: Vec::new(),
            open: true,
        }
    }
}

fn describe(w: &Write, r: &Result<bool, DbError>, tx: Option<u64>) -> String {
    let tx = tx.map(|t| format!(" (tx{t})")).unwrap_or_default();
    match (w, r) {
        (
            Write::Insert {
                table,
                key,
                ignore_conflict: true,
                ..
            },
            Ok(false),
        ) => {
            format!("INSERT {table}[{key}] ON CONFLICT DO NOTHING -> skipped{tx}")
        }
        (Write::Insert { table, key, .. }, Ok(_)) => format!("INSERT {table}[{key}]{tx}"),
        (Write::Insert { table, key, .. }, Err(_)) => {
            format!("INSERT {table}[{key}] -> unique violation{tx}")
        }
        (Write::Update { table, key, value }, r) => {
            let hit = if matches!(r, Ok(true)) {
                ""
            } else {
                " -> no row"
            };
            format!("UPDATE {table}[{key}] = {value:?}{hit}{tx}")
        }
        (Write::Delete { table, key }, _) => format!("DELETE {table}[{key}]{tx}"),
    }
}

/// A transaction on a [`SimDb`]: writes are buffered and become visible at [`commit`].
///
/// [`commit`]: Transaction::commit
#[derive(Debug)]
pub struct Transaction {
    db: SimDb,
    id: u64,
    writes: Vec<Write>,
    open: bool,
}

impl Transaction {
    /// `SELECT … FOR UPDATE`: locks the row if it exists (waiting for another transaction's
    /// lock on it), then reads it, seeing this transaction's own writes.
    pub async fn select_for_update(&mut self, table: &str, key: &str) -> Option<String> {
        self.db.step().await;
        loop {
            let notified = self.db.inner.unlocked.notified();
            let attempt = self.db.tables(|t| t.try_lock(table, key, self.id));
            match attempt {
                Ok(_) => break,
                Err(holder) => {
                    trace(format!(
                        "SELECT {table}[{key}] FOR UPDATE (tx{}) waits for tx{holder}",
                        self.id
                    ));
                    notified.await;
                }
            }
        }
        let v = self.read(table, key);
        trace(format!(
            "SELECT {table}[{key}] FOR UPDATE (tx{}) -> {}",
            self.id,
            shown(&v)
        ));
        v
    }

    /// `SELECT` inside the transaction (no lock), seeing its own writes.
    pub async fn get(&mut self, table: &str, key: &str) -> Option<String> {
        self.db.step().await;
        let v = self.read(table, key);
        trace(format!(
            "SELECT {table}[{key}] (tx{}) -> {}",
            self.id,
            shown(&v)
        ));
        v
    }

    fn read(&self, table: &str, key: &str) -> Option<String> {
        let mut v = self.db.tables(|t| t.get(table, key));
        for w in &self.writes {
            match w {
                Write::Insert {
                    table: t,
                    key: k,
                    value,
                    ..
                } if t == table && k == key && v.is_none() => v = Some(value.clone()),
                Write::Update {
                    table: t,
                    key: k,
                    value,
                } if t == table && k == key && v.is_some() => v = Some(value.clone()),
                Write::Delete { table: t, key: k } if t == table && k == key => v = None,
                _ => {}
            }
        }
        v
    }

    /// Buffers an `INSERT` (checked against unique constraints at commit).
    pub async fn insert(&mut self, table: &str, key: &str, value: impl Into<String>) {
        self.buffer(Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: false,
        })
        .await;
    }

    /// Buffers an `INSERT … ON CONFLICT DO NOTHING`.
    pub async fn insert_or_ignore(&mut self, table: &str, key: &str, value: impl Into<String>) {
        self.buffer(Write::Insert {
            table: table.into(),
            key: key.into(),
            value: value.into(),
            ignore_conflict: true,
        })
        .await;
    }

    /// Buffers an `UPDATE`.
    pub async fn update(&mut self, table: &str, key: &str, value: impl Into<String>) {
        self.buffer(Write::Update {
            table: table.into(),
            key: key.into(),
            value: value.into(),
        })
        .await;
    }

    /// Buffers a `DELETE`.
    pub async fn delete(&mut self, table: &str, key: &str) {
        self.buffer(Write::Delete {
            table: table.into(),
            key: key.into(),
        })
        .await;
    }

    async fn buffer(&mut self, w: Write) {
        self.db.step().await;
        trace(describe(&w, &Ok(true), Some(self.id)).replace(')', ", buffered)"));
        self.writes.push(w);
    }

    /// `COMMIT`: applies the writes in order, then releases the row locks. On a unique
    /// violation nothing is applied and the transaction is rolled back.
    ///
    /// # Errors
    /// [`DbError::UniqueViolation`] from a buffered insert.
    pub async fn commit(mut self) -> Result<(), DbError> {
        self.db.step().await;
        let writes = std::mem::take(&mut self.writes);
        let id = self.id;
        let result = self.db.tables(|t| {
            // All or nothing: check every insert first.
            for w in &writes {
                if let Write::Insert {
                    table,
                    key,
                    ignore_conflict: false,
                    ..
                } = w
                {
                    if t.count(table, key) > 0 && t.is_unique(table) {
                        return Err(DbError::UniqueViolation {
                            table: table.clone(),
                            key: key.clone(),
                        });
                    }
                }
            }
            for w in &writes {
                let _ = t.apply(w);
            }
            Ok(())
        });
        trace(match &result {
            Ok(()) => format!("COMMIT tx{id}"),
            Err(e) => format!("COMMIT tx{id} -> {e}, rolled back"),
        });
        self.finish();
        result
    }

    /// `ROLLBACK`: drops the writes and releases the row locks.
    pub async fn rollback(mut self) {
        self.db.step().await;
        trace(format!("ROLLBACK tx{}", self.id));
        self.finish();
    }

    fn finish(&mut self) {
        if self.open {
            self.open = false;
            self.db.tables(|t| t.release(self.id));
            self.db.inner.unlocked.notify_waiters();
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.finish();
    }
}
