//! The counting allocator as installed in a test binary: per-thread figures, cheap spans.

use whatbreaks::measure::{self, Span};

#[test]
fn the_allocator_is_installed_and_counts_this_thread_only() {
    assert!(measure::installed());
    let span = Span::start();
    let kept = vec![7u8; 200_000];
    // A parallel thread's allocation does not show on this thread.
    std::thread::spawn(|| drop(vec![0u8; 4 << 20]))
        .join()
        .unwrap();
    let usage = span.finish();
    assert!((200_000..1 << 20).contains(&usage.peak), "{usage:?}");
    assert!(usage.retained >= 200_000, "{usage:?}");
    drop(kept);
}

#[test]
fn growth_fits_extrapolate() {
    let xs: Vec<f64> = (0..50).map(|c| f64::from(c) * 20.0).collect();
    let ys: Vec<f64> = xs.iter().map(|c| 10_000.0 + 312.0 * c).collect();
    let fit = measure::linear_fit(&xs, &ys).unwrap();
    assert!((fit.slope - 312.0).abs() < 1e-6 && fit.r2 > 0.999);
    let p = measure::power_fit(&[1e3, 1e4, 1e5], &[1e6, 1e7, 1e8]).unwrap();
    assert!((p.exponent - 1.0).abs() < 1e-9);
    assert_eq!(measure::format_count(500_000_000), "500,000,000");
}
