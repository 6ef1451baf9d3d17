//! Partial writes: `processOrder` cut at an await point without a transaction, in one, in a
//! spawned task (cancelled, then crashed), and cut by its own deadline, each through the
//! detector.
//!
//! `cargo run --example cancel`
#[path = "patterns/cancel.rs"]
mod cancel;

fn main() {
    println!(
        "no transaction, cancelled at every await point:\n{}\n",
        cancel::buggy(cancel::scenario())
    );
    println!(
        "one transaction:\n{}\n",
        cancel::fixed(cancel::scenario().cut("both"))
    );
    println!(
        "the writes in a spawned task, cancelled:\n{}\n",
        cancel::spawned(cancel::scenario())
    );
    println!(
        "the writes in a spawned task, the instance crashed:\n{}\n",
        cancel::spawned(cancel::scenario().cut("crash"))
    );
    println!(
        "a select! deadline around the writes:\n{}\n",
        cancel::deadline(cancel::scenario())
    );
    println!(
        "the same deadline around a transaction:\n{}",
        cancel::deadline_tx(cancel::scenario())
    );
}
