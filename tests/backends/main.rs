//! Real backends: the checks against the running PostgreSQL and Redis, in real time.
//!
//! Needs both services (`WHATBREAKS_PG_URL`, `WHATBREAKS_REDIS_URL`, defaulting to the local
//! ones): `cargo test --features postgres,redis --test backends`. A service that does not
//! answer fails each test with one line that names it, its URL (password redacted) and what to do.

#[path = "../../examples/patterns/backends.rs"]
mod code;

mod cluster;
mod harness;
mod pool;
mod race;
mod secrets;
mod stampede;

/// Fails the test with one line unless PostgreSQL answers.
pub(crate) fn need_postgres() {
    whatbreaks::postgres::require();
}

/// Fails the test with one line unless Redis answers.
pub(crate) fn need_redis() {
    whatbreaks::redis::require();
}
