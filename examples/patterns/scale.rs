//! Pattern 9, unbounded memory at scale: the seed article's PostgreSQL-to-CSV export, ported
//! to Rust over a generated table. `fetch_all()` then write (the article's `fetchall()`) and
//! collecting the whole stream into a `Vec` are flagged; streaming the rows through a
//! server-side cursor into a bounded buffer passes.
//!
//! This file is shared by `examples/scale.rs`, `examples/tour.rs` and `tests/memory/`.
#![allow(dead_code)]

use futures::StreamExt;
use std::io::{self, BufWriter, Write};
use whatbreaks::store::Table;
use whatbreaks::{Report, ScaleTest};

/// One row of the `orders` table: about half a kilobyte, like a real order history row.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) customer: String,
    pub(crate) email: String,
    pub(crate) items: String,
    pub(crate) total_cents: u64,
    pub(crate) shipping_address: String,
}

/// Row `i` of the table (deterministic: the same row every time it is fetched).
pub(crate) fn order_row(i: u64) -> Order {
    Order {
        id: i,
        customer: format!("Customer {:08}", i % 9_999_991),
        email: format!("customer{}@example.com", i % 9_999_991),
        items: (0..6)
            .map(|k| {
                format!(
                    "{{\"sku\":\"SKU-{:06}\",\"qty\":{}}}",
                    (i * 7 + k) % 1_000_000,
                    1 + k
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        total_cents: (i * 7_919) % 1_000_000,
        shipping_address: format!(
            "{} Market Street, Springfield, {:05}",
            i % 9_999,
            i % 99_999
        ),
    }
}

/// The `orders` table with `n` rows.
pub(crate) fn orders(n: u64) -> Table<Order> {
    Table::generated(n, order_row)
}

fn write_row(w: &mut impl Write, o: &Order) -> io::Result<()> {
    writeln!(
        w,
        "{},{},{},\"[{}]\",{},\"{}\"",
        o.id,
        o.customer,
        o.email,
        o.items.replace('"', "\"\""),
        o.total_cents,
        o.shipping_address
    )
}

const HEADER: &str = "id,customer,email,items,total_cents,shipping_address";

/// BUGGY (the seed article's exporter): `fetch_all()` loads the whole result set into memory
/// before writing a single row.
pub(crate) async fn export_to_csv_fetch_all(
    table: &Table<Order>,
    out: impl Write,
) -> io::Result<u64> {
    let rows = table.fetch_all().await;
    let mut out = out;
    writeln!(out, "{HEADER}")?;
    for row in &rows {
        write_row(&mut out, row)?;
    }
    Ok(rows.len() as u64)
}

/// FIXED: a server-side cursor (`rows()`, fetched in batches) and a bounded output buffer:
/// at most one batch and 64 KiB of output in memory, whatever the size of the table.
pub(crate) async fn export_to_csv(table: &Table<Order>, out: impl Write) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    writeln!(out, "{HEADER}")?;
    let mut rows = table.rows();
    let mut n = 0;
    while let Some(row) = rows.next().await {
        write_row(&mut out, &row)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// BUGGY: streams from the cursor, then collects the whole stream into a `Vec` before
/// writing: the same memory as `fetch_all()`.
pub(crate) async fn export_to_csv_collected(
    table: &Table<Order>,
    out: impl Write,
) -> io::Result<u64> {
    let rows: Vec<Order> = table.rows().collect().await;
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    writeln!(out, "{HEADER}")?;
    for row in &rows {
        write_row(&mut out, row)?;
    }
    out.flush()?;
    Ok(rows.len() as u64)
}

/// BUGGY: streams the rows but renders the whole file into one `String` before writing it:
/// an unbounded output buffer.
pub(crate) async fn export_to_csv_buffered_in_memory(
    table: &Table<Order>,
    mut out: impl Write,
) -> io::Result<u64> {
    let mut csv = Vec::new();
    writeln!(csv, "{HEADER}")?;
    let mut rows = table.rows();
    let mut n = 0;
    while let Some(row) = rows.next().await {
        write_row(&mut csv, &row)?;
        n += 1;
    }
    out.write_all(&csv)?;
    Ok(n)
}

/// The exporters the detector is proven against, with their expected verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exporter {
    FetchAll,
    Collected,
    BufferedInMemory,
    Streaming,
}

impl Exporter {
    pub(crate) const ALL: [(Exporter, bool); 4] = [
        (Exporter::FetchAll, true),
        (Exporter::Collected, true),
        (Exporter::BufferedInMemory, true),
        (Exporter::Streaming, false),
    ];

    /// Exports a table of `n` orders to a discarding sink.
    pub(crate) async fn export(self, n: u64) {
        let table = orders(n);
        let sink = whatbreaks::sink::discard();
        let written = match self {
            Exporter::FetchAll => export_to_csv_fetch_all(&table, sink.clone()).await,
            Exporter::Collected => export_to_csv_collected(&table, sink.clone()).await,
            Exporter::BufferedInMemory => {
                export_to_csv_buffered_in_memory(&table, sink.clone()).await
            }
            Exporter::Streaming => export_to_csv(&table, sink.clone()).await,
        };
        assert_eq!(written.expect("the export fails"), n);
        assert!(sink.bytes_written() > n * 100);
    }
}

/// The scenario the example and the tour use: 1,000 to 100,000 rows, 500 million in
/// production, 1 GiB allowed.
pub(crate) fn scenario() -> ScaleTest {
    ScaleTest::new()
        .sizes(&[1_000, 10_000, 100_000])
        .target(500_000_000)
        .max_peak(1 << 30)
}

/// A smaller scenario for the tests (the same extrapolation, sizes 500 to 8,000).
pub(crate) fn small_scenario() -> ScaleTest {
    scenario().sizes(&[500, 2_000, 8_000])
}

/// The seed article's exporter under the scenario.
pub(crate) fn buggy(scenario: ScaleTest) -> Report {
    scenario.run(|n: u64| async move { Exporter::FetchAll.export(n).await })
}

/// The streaming exporter under the scenario.
pub(crate) fn fixed(scenario: ScaleTest) -> Report {
    scenario.run(|n: u64| async move { Exporter::Streaming.export(n).await })
}
