//! Required verdicts of the leak detector, each over several seeds.

use crate::leak_code::{self as code, Handler};
use crate::{SEEDS, seeds};
use std::sync::OnceLock;
use std::time::Duration;
use whatbreaks::leak::PATTERN;
use whatbreaks::{LeakEnv, LeakTest, Report};

fn small() -> LeakTest {
    LeakTest::new()
        .iterations(600)
        .warmup(60)
        .unit("connection")
}

/// Runs `body` once per seed, each seed on its own, and asserts every one is flagged.
fn flagged_on_every_seed<B, Fut>(test: LeakTest, body: B) -> Report
where
    B: Fn(LeakEnv) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let mut last = Report::default();
    for seed in seeds() {
        last = test.clone().seed(seed).seeds(1).run(body.clone());
        last.assert_flagged(PATTERN);
    }
    last
}

fn clean_over_seeds<B, Fut>(test: LeakTest, body: B)
where
    B: Fn(LeakEnv) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let report = test.seed(0x5eed).seeds(SEEDS).run(body);
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.seeds.len(),
        crate::support::expected_seeds(SEEDS),
        "every seed ran"
    );
}

fn verdict(handler: Handler) {
    let flagged = Handler::ALL
        .iter()
        .find(|(h, _)| *h == handler)
        .map(|(_, f)| *f)
        .expect("listed");
    let body = move |env: LeakEnv| async move { handler.cycle(&env).await };
    if flagged {
        flagged_on_every_seed(small(), body);
    } else {
        clean_over_seeds(small(), body);
    }
}

#[test]
fn listeners_never_removed_are_flagged() {
    verdict(Handler::Leaky);
}

#[test]
fn unsubscribing_on_close_but_not_on_error_is_flagged() {
    verdict(Handler::CloseOnly);
}

#[test]
fn keeping_emptied_sets_is_flagged() {
    verdict(Handler::KeepingEmptySets);
}

#[test]
fn unsubscribing_on_close_and_error_and_removing_empty_sets_passes() {
    verdict(Handler::Fixed);
}

#[test]
fn the_seed_articles_service_is_flagged_with_an_extrapolation_and_a_picture() {
    let report = code::buggy(code::scenario().seed(1));
    report.assert_flagged("slow leak");
    let f = &report.findings[0];
    assert_eq!(f.verdict, "memory grows with every connection");
    let text = report.render();
    assert!(text.contains(" per connection, +"), "{text}");
    assert!(text.contains("after 1,000,000 connections"), "{text}");
    assert!(
        text.contains("gauge `listeners`: +1.00 per connection"),
        "{text}"
    );
    let (label, picture) = f.picture.as_ref().expect("a picture");
    assert_eq!(label, "memory");
    assert!(picture.contains("connection 100..1,100"), "{picture}");
    assert!(f.fix.contains("on every path"), "{}", f.fix);
    assert!(report.key_figure.contains("per connection"), "{report:?}");
    let fixed = code::fixed(code::scenario().seed(1).seeds(SEEDS));
    assert!(fixed.is_clean(), "{fixed}");
}

#[test]
fn keeping_empty_sets_shows_on_the_heap_while_the_gauge_stays_flat() {
    let report = small()
        .seed(3)
        .run(|env: LeakEnv| async move { Handler::KeepingEmptySets.cycle(&env).await });
    report.assert_flagged(PATTERN);
    let text = report.render();
    assert!(text.contains("gauge `listeners`: steady (0 → 0)"), "{text}");
}

#[test]
fn a_singleflight_map_that_survives_cancelled_leaders_is_flagged() {
    let report = flagged_on_every_seed(small(), |env: LeakEnv| async move {
        code::singleflight_cycle(&env, false).await
    });
    assert!(report.render().contains("gauge `in flight`"), "{report}");
    clean_over_seeds(small(), |env: LeakEnv| async move {
        code::singleflight_cycle(&env, true).await
    });
}

#[test]
fn an_unbounded_memo_cache_is_flagged_and_a_bounded_one_passes() {
    flagged_on_every_seed(small(), |env: LeakEnv| async move {
        code::memo_cycle(&env).await
    });
    clean_over_seeds(small(), |env: LeakEnv| async move {
        code::bounded_cycle(&env).await
    });
}

#[test]
fn a_broadcast_subscriber_per_request_passes() {
    clean_over_seeds(small(), |env: LeakEnv| async move {
        code::broadcast_cycle(&env).await
    });
}

static LOOKUP: OnceLock<Vec<u64>> = OnceLock::new();

/// One-off allocations: a lazy static, shared state made on first use, a per-thread buffer
/// grown once; and, in the middle of the run, a lazily built index kept for good.
async fn one_offs(env: LeakEnv) {
    let lookup = LOOKUP.get_or_init(|| (0..32_768).collect());
    let buffer = env.shared(|| std::sync::Mutex::new(Vec::<u8>::with_capacity(1 << 20)));
    let index = env.shared(|| std::sync::Mutex::new(None::<Vec<u64>>));
    if env.cycle() == 350 {
        *index.lock().unwrap() = Some(vec![0; 8_192]);
    }
    {
        let mut b = buffer.lock().unwrap();
        b.clear();
        b.extend_from_slice(&lookup[..64].iter().map(|v| *v as u8).collect::<Vec<_>>());
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[test]
fn one_off_warm_up_allocations_are_not_a_leak() {
    clean_over_seeds(small(), one_offs);
    // Even without a warm-up, the first cycle's allocations land in one quarter only.
    clean_over_seeds(small().warmup(0), one_offs);
}
