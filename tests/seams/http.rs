//! An upstream over HTTP: as a `tower::Service`, and through hyper-util's client.

use crate::block_on;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tower::ServiceExt;
use whatbreaks::seams::http::{HttpError, REPLAYED_HEADER};
use whatbreaks::upstream::{Degradation, Outcome, Overflow};
use whatbreaks::{HerdTest, Upstream};

fn post(path: &str, key: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::post(path);
    if let Some(k) = key {
        b = b.header("Idempotency-Key", k);
    }
    b.body(Full::new(Bytes::from_static(b"{\"amount\":1}")))
        .unwrap()
}

fn get(path: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(path)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[test]
fn faults_map_onto_http() {
    let secs = Duration::from_secs;
    let up = Upstream::builder("pay")
        .latency(Duration::from_millis(20))
        .outage(secs(0)..secs(1))
        .degraded(
            Degradation::failing(secs(1)..secs(2))
                .status(502)
                .latency(Duration::from_millis(300)),
        )
        .build();
    block_on(async {
        let t0 = tokio::time::Instant::now();
        let err = up.clone().oneshot(get("/price")).await.unwrap_err();
        assert_eq!(
            err,
            HttpError::ConnectionRefused {
                upstream: "pay".into()
            }
        );
        assert!(err.nothing_sent());
        assert_eq!(t0.elapsed(), Duration::ZERO, "refused at once");
        tokio::time::sleep(secs(1)).await;
        let t1 = tokio::time::Instant::now();
        let r = up.clone().oneshot(get("/price")).await.unwrap();
        assert_eq!(r.status(), 502);
        assert_eq!(
            t1.elapsed(),
            Duration::from_millis(300),
            "after its latency"
        );
        tokio::time::sleep(secs(1)).await;
        let r = up.clone().oneshot(get("/price")).await.unwrap();
        assert_eq!(r.status(), 200);
    });
    let a = up.arrivals();
    assert_eq!(a.len(), 3);
    assert_eq!((a[0].attempt, a[1].attempt, a[2].attempt), (0, 1, 2));
    assert_eq!(&*a[2].path, "/price");
}

#[test]
fn rejections_shedding_and_lost_responses() {
    let up = Upstream::builder("u").reject(400, 1.0).build();
    block_on(async {
        let r = up.clone().oneshot(get("/x")).await.unwrap();
        assert_eq!(r.status(), 400);
    });

    let up = Upstream::builder("u")
        .latency(Duration::from_secs(5))
        .capacity(1, Overflow::Shed)
        .build();
    block_on(async {
        let (slow, shed) = futures::join!(up.clone().oneshot(get("/")), async {
            tokio::task::yield_now().await;
            up.clone().oneshot(get("/")).await
        });
        assert_eq!(slow.unwrap().status(), 200);
        assert_eq!(shed.unwrap().status(), 503);
    });

    let up = Upstream::builder("pay").commit_then_fail(1.0).build();
    block_on(async {
        let err = up.clone().oneshot(post("/charge", None)).await.unwrap_err();
        assert!(matches!(err, HttpError::ConnectionReset { .. }), "{err}");
        assert!(!err.nothing_sent());
        assert!(err.to_string().contains("after the request was sent"));
    });
    assert_eq!(up.arrivals()[0].outcome, Outcome::CommittedThenFailed);
    assert_eq!(up.stats().effects, 1, "the effect is recorded");
}

#[test]
fn the_idempotency_key_header_is_the_key() {
    let up = Upstream::builder("pay").commit_then_fail(1.0).build();
    block_on(async {
        assert!(
            up.clone()
                .oneshot(post("/charge", Some("c-1")))
                .await
                .is_err()
        );
        let again = up.clone().oneshot(post("/charge", Some("c-1"))).await;
        let again = again.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()[REPLAYED_HEADER], "true");
    });
    let a = up.arrivals();
    assert_eq!(a[0].key.as_deref(), Some("c-1"));
    assert_eq!(a[1].outcome, Outcome::Deduplicated);
    assert_eq!(up.stats().effects, 1);
    // PATCH commits an effect, HEAD does not.
    let up = Upstream::new("u");
    block_on(async {
        let patch = http::Request::patch("/p")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let head = http::Request::head("/p")
            .body(Full::new(Bytes::new()))
            .unwrap();
        up.clone().oneshot(patch).await.unwrap();
        up.clone().oneshot(head).await.unwrap();
    });
    assert_eq!(up.stats().effects, 1);
}

#[test]
fn hyper_client_answers_and_faults() {
    let secs = Duration::from_secs;
    let up = Upstream::builder("pay")
        .outage(secs(0)..secs(1))
        .commit_then_fail(1.0)
        .build();
    block_on(async {
        let client = Client::builder(TokioExecutor::new()).build(up.connector());
        let err = client.request(get("http://pay/charge")).await.unwrap_err();
        assert!(!err.is_connect(), "the connection closes without an answer");
        tokio::time::sleep(secs(1)).await;
        // A GET has no effect, so commit-then-fail does not touch it.
        let r = client
            .request(get("http://any.host:1234/price"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            client
                .request(post("http://pay/charge", Some("k")))
                .await
                .is_err()
        );
        let r = client
            .request(post("http://pay/charge", Some("k")))
            .await
            .unwrap();
        assert_eq!(r.headers()[REPLAYED_HEADER], "true");
    });
    let a = up.arrivals();
    assert_eq!(a.len(), 4);
    assert_eq!(
        a[0].outcome,
        Outcome::Failed(whatbreaks::UpstreamError::Unavailable)
    );
    assert_eq!(a[2].outcome, Outcome::CommittedThenFailed);
    assert_eq!(a[3].outcome, Outcome::Deduplicated);
    assert_eq!(up.stats().effects, 1);
}

#[test]
fn keep_alive_connections_are_pooled() {
    let up = Upstream::new("u");
    block_on(async {
        let client = Client::builder(TokioExecutor::new()).build(up.connector().keep_alive(true));
        for _ in 0..3 {
            let r = client.request(get("http://u/")).await.unwrap();
            assert_eq!(r.status(), 200);
            use http_body_util::BodyExt;
            r.into_body().collect().await.unwrap();
        }
    });
    assert_eq!(up.stats().calls, 3);
}

/// Arrivals through each path are attributed to the calling client, with its attempts: the
/// herd detector sees the same synchronized retries through hyper as through `call`.
#[test]
fn arrivals_are_attributed_to_the_calling_client() {
    for path in ["hyper", "tower"] {
        let report = HerdTest::new()
            .clients(200)
            .outage(Duration::ZERO..Duration::from_secs(10))
            .seed(7)
            .run(move |up: Upstream| async move {
                let client = Client::builder(TokioExecutor::new()).build(up.connector());
                for attempt in 0..4 {
                    let ok = if path == "hyper" {
                        client.request(get("http://up/price")).await.is_ok()
                    } else {
                        up.clone().oneshot(get("/price")).await.is_ok()
                    };
                    if ok {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                }
            });
        report.assert_flagged("thundering herd");
        assert!(
            report.render().contains("200/200 clients in the same 1 ms"),
            "{path}: {report}"
        );
    }
}
