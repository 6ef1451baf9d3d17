//! The cost of one call through each seam, next to the native call it stands for: N calls in
//! a row on a paused current-thread runtime (no scenario, no detector), through
//! `upstream.call`, the upstream as a `tower::Service`, hyper-util's `Client` over
//! `upstream.connector()` (one connection per request, and pooled with keep-alive), reqwest
//! against `upstream.url()` (a real loopback socket, on a runtime with tokio's I/O driver, as
//! the simulation's has with feature `hyper`; `upstream.call` on such a runtime too), and `SimCache::get` against redis-rs `GET` on
//! `cache.redis()`.
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use redis::AsyncCommands;
use tower::ServiceExt;
use whatbreaks::{Request, SimCache, Upstream};

const CALLS: u64 = 1_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// As [`runtime`], with tokio's I/O driver (sockets need it; each park also polls it).
fn runtime_with_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

fn get() -> http::Request<Full<Bytes>> {
    http::Request::get("http://u/price")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("seams");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CALLS));
    g.bench_function(BenchmarkId::new("upstream.call", CALLS), |b| {
        b.iter(|| {
            let up = Upstream::new("u");
            runtime().block_on(async {
                for _ in 0..CALLS {
                    up.call(Request::get("/price")).await.unwrap();
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("tower::Service", CALLS), |b| {
        b.iter(|| {
            let up = Upstream::new("u");
            runtime().block_on(async {
                for _ in 0..CALLS {
                    up.clone().oneshot(get()).await.unwrap();
                }
            })
        })
    });
    for keep_alive in [false, true] {
        let name = if keep_alive {
            "hyper keep-alive"
        } else {
            "hyper"
        };
        g.bench_function(BenchmarkId::new(name, CALLS), |b| {
            b.iter(|| {
                let up = Upstream::new("u");
                runtime().block_on(async {
                    let client = Client::builder(TokioExecutor::new())
                        .build(up.connector().keep_alive(keep_alive));
                    for _ in 0..CALLS {
                        let r = client.request(get()).await.unwrap();
                        r.into_body().collect().await.unwrap();
                    }
                })
            })
        });
    }
    g.bench_function(BenchmarkId::new("upstream.call, I/O driver", CALLS), |b| {
        b.iter(|| {
            let up = Upstream::new("u");
            runtime_with_io().block_on(async {
                for _ in 0..CALLS {
                    up.call(Request::get("/price")).await.unwrap();
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("reqwest to url()", CALLS), |b| {
        b.iter(|| {
            let up = Upstream::new("u");
            runtime_with_io().block_on(async {
                let base = format!("{}/price", up.url());
                let client = reqwest::Client::new();
                for _ in 0..CALLS {
                    let r = client.get(&base).send().await.unwrap();
                    r.bytes().await.unwrap();
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("SimCache::get", CALLS), |b| {
        b.iter(|| {
            let cache = SimCache::new();
            runtime().block_on(async {
                for _ in 0..CALLS {
                    cache.get("k").await;
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("redis-rs GET", CALLS), |b| {
        b.iter(|| {
            let mut conn = SimCache::new().redis();
            runtime().block_on(async {
                for _ in 0..CALLS {
                    let _: Option<String> = conn.get("k").await.unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
