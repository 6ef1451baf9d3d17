//! The HTML report (rendered in headless Chromium), failing-seed persistence, and the warnings
//! for code that reads the real clock.

// The leak and scale charts measure the heap: the counting allocator must be installed.
whatbreaks::install_counting_allocator!();

#[path = "../../examples/patterns/herd.rs"]
mod herd;
#[path = "../../examples/patterns/leak.rs"]
mod leak;
#[path = "../../examples/patterns/pool.rs"]
mod pool;
#[path = "../../examples/patterns/race.rs"]
mod race;
#[path = "../../examples/patterns/report.rs"]
mod report;
#[path = "../../examples/patterns/retry.rs"]
mod retry;
#[path = "../../examples/patterns/scale.rs"]
mod scale;
#[path = "../../examples/patterns/scheduler.rs"]
mod scheduler;
#[path = "../../examples/patterns/stampede.rs"]
mod stampede;

mod browser;
mod charts;
mod child;
mod clock;
mod fixtures;
mod persistence;
