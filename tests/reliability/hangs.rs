//! Hangs: real-time cut-offs, the watchdog, runaway configurations.
