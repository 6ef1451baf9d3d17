//! The table engine of [`SimDb`](crate::components::store::SimDb): string-keyed tables, unique
//! constraints, read-committed transactions and `SELECT … FOR UPDATE` row locks.
//!
//! Every operation is an await point with a seeded latency (so the race explorer can switch
//! tasks there, and time-based interleavings vary between schedules) and is recorded in the
//! race trace (`t0  INSERT likes[u1:p1]`).
//!
//! Semantics follow PostgreSQL where it matters for check-then-act bugs:
//! - without a unique constraint a table is a multimap: two inserts of one key make two rows;
//! - with one ([`SimDb::unique`](crate::components::store::SimDb::unique)), a second insert fails with
//!   [`DbError::UniqueViolation`], and [`insert_or_ignore`](crate::components::store::SimDb::insert_or_ignore)
//!   is `ON CONFLICT DO NOTHING`;
//! - a transaction's writes become visible to others at commit (read committed); it sees its
//!   own writes;
//! - `select_for_update` locks the row *if it exists* and blocks other transactions' locks on
//!   it until commit or rollback. Like PostgreSQL, it locks nothing when the row is absent,
//!   which is why locking a missing "like" row does not stop two inserts: lock the parent row,
//!   or rely on a unique constraint.

use crate::runtime::explorer;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An error from the database double.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbError {
    /// The load failed (an injected failure: the database is down or timing out).
    Unavailable {
        /// The key that was loaded.
        key: String,
    },
    /// A unique constraint refused a second row with this key.
    UniqueViolation {
        /// The table.
        table: String,
        /// The key.
        key: String,
    },
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Unavailable { key } => write!(f, "database unavailable loading `{key}`"),
            DbError::UniqueViolation { table, key } => {
                write!(
                    f,
                    "duplicate key {table}[{key}] violates its unique constraint"
                )
            }
        }
    }
}

impl std::error::Error for DbError {}

/// A buffered write of a transaction.
#[derive(Clone, Debug)]
pub(crate) enum Write {
    Insert {
        table: String,
        key: String,
        value: String,
        ignore_conflict: bool,
    },
    Update {
        table: String,
        key: String,
        value: String,
    },
    Delete {
        table: String,
        key: String,
    },
}

/// Committed rows, constraints and row locks.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    rows: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    unique: BTreeSet<String>,
    locks: BTreeMap<(String, String), u64>,
    next_tx: u64,
}

impl Tables {
    pub(crate) fn declare_unique(&mut self, table: &str) {
        self.unique.insert(table.to_string());
    }

    pub(crate) fn is_unique(&self, table: &str) -> bool {
        self.unique.contains(table)
    }

    pub(crate) fn count(&self, table: &str, key: &str) -> usize {
        self.rows
            .get(table)
            .and_then(|t| t.get(key))
            .map_or(0, Vec::len)
    }

    /// Every committed row, by table and key (a key holds several rows without a unique
    /// constraint).
    pub(crate) fn rows(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        self.rows.clone()
    }

    pub(crate) fn count_table(&self, table: &str) -> usize {
        self.rows
            .get(table)
            .map_or(0, |t| t.values().map(Vec::len).sum())
    }

    pub(crate) fn get(&self, table: &str, key: &str) -> Option<String> {
        self.rows.get(table)?.get(key)?.first().cloned()
    }

    pub(crate) fn new_tx(&mut self) -> u64 {
        self.next_tx += 1;
        self.next_tx
    }

    /// Applies one write; `Ok(false)` when an insert was ignored on conflict.
    pub(crate) fn apply(&mut self, write: &Write) -> Result<bool, DbError> {
        match write {
            Write::Insert {
                table,
                key,
                value,
                ignore_conflict,
            } => {
                let exists = self.count(table, key) > 0;
                if exists && self.unique.contains(table) {
                    return if *ignore_conflict {
                        Ok(false)
                    } else {
                        Err(DbError::UniqueViolation {
                            table: table.clone(),
                            key: key.clone(),
                        })
                    };
                }
                self.rows
                    .entry(table.clone())
                    .or_default()
                    .entry(key.clone())
                    .or_default()
                    .push(value.clone());
                Ok(true)
            }
            Write::Update { table, key, value } => {
                let rows = self.rows.get_mut(table).and_then(|t| t.get_mut(key));
                Ok(match rows {
                    Some(rows) if !rows.is_empty() => {
                        rows.iter_mut().for_each(|r| r.clone_from(value));
                        true
                    }
                    _ => false,
                })
            }
            Write::Delete { table, key } => Ok(self
                .rows
                .get_mut(table)
                .and_then(|t| t.remove(key))
                .is_some()),
        }
    }

    /// Takes the row lock for `tx` if the row exists and nobody else holds it.
    /// `Err(holder)` when another transaction holds it.
    pub(crate) fn try_lock(&mut self, table: &str, key: &str, tx: u64) -> Result<bool, u64> {
        if self.count(table, key) == 0 {
            return Ok(false);
        }
        let slot = (table.to_string(), key.to_string());
        match self.locks.get(&slot) {
            Some(&holder) if holder != tx => Err(holder),
            _ => {
                self.locks.insert(slot, tx);
                Ok(true)
            }
        }
    }

    pub(crate) fn release(&mut self, tx: u64) {
        self.locks.retain(|_, holder| *holder != tx);
    }
}

/// Describes a value for the trace: `"3"`, or `none`.
pub(crate) fn shown(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => "none".into(),
    }
}

/// Records `op` in the race trace.
pub(crate) fn trace(op: String) {
    explorer::record(op);
}
