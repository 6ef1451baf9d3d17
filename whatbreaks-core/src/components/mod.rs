//! Simulated components: what the code under test talks to, on virtual time.
//!
//! Components record what happened to them (arrivals, loads, checkouts, effects) and never
//! judge it: the detectors above them do. They import only the runtime and the report layer.
//! - [`upstream`]: a remote service with a fault schedule that records every arrival.
//! - [`store`]: a Redis-like cache ([`SimCache`](store::SimCache)) and a database double
//!   ([`SimDb`](store::SimDb)); [`db`]: its tables, transactions and row locks.
//! - [`table`] and [`sink`]: a generated table with a streaming cursor, and writers for output.
//! - [`pool`]: a connection pool with checkout sites and an occupancy record.
//! - [`cluster`]: several instances on one virtual clock, cluster faults, leases, effects.
//! - [`measure`]: the counting allocator, gauges, growth fits and extrapolation.

pub mod cluster;
pub mod db;
pub mod measure;
pub mod pool;
pub mod sink;
pub mod store;
pub mod table;
pub mod upstream;
