//! Compile-time diagnostics of the attribute macros (trybuild). `tests/ui/fail/*.stderr`
//! reads as a catalogue of every error a user can get; regenerate with
//! `TRYBUILD=overwrite cargo test --test ui` after changing a message on purpose.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
