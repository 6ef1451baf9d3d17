//! Testing the code you already have: production client code, unchanged, against the
//! simulated services through their seams.
//!
//! - Retry storm through hyper-util's `Client` and tower's `Retry`: `fetch_price` is a
//!   production function generic over any `tower::Service` of `http` requests. Buggy:
//!   `RetryFailures::unbudgeted()`, three retries of every failure, 100 ms apart. Fixed:
//!   `RetryFailures::budgeted()`, the same retries paid for from tower's `TpsBudget`.
//! - Cache stampede through redis-rs: `get_product` is cache-aside over any
//!   `redis::aio::ConnectionLike` (`GET`, load, `SETEX`). Buggy on a cold key. Fixed:
//!   `get_product_leased`, a `SET NX PX` lease whose holder re-checks the cache, loads, and
//!   releases with a compare-and-delete `EVAL`; the others wait for the value.
//!
//! - Retry herd and duplicate charges through reqwest + reqwest-retry, which take only a
//!   URL (`upstream.url()`, a real loopback socket on virtual time): `fetch_price_reqwest`
//!   and `charge` are production functions over a `ClientWithMiddleware`. Herd: buggy with
//!   `Jitter::None`, fixed with reqwest-retry's default (full) jitter. Duplicate charges:
//!   buggy `charge` without an `Idempotency-Key`, fixed with one key for the order, sent
//!   unchanged on every retry.
//!
//! The same logic written against the native API (`upstream.call`, `SimCache`) is here too,
//! for the test that the verdicts through a seam equal the native ones on the same seed.
//!
//! This file is shared by `examples/seams.rs` and `tests/seams/`.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::RngExt;
use redis::AsyncCommands;
use reqwest_middleware::ClientWithMiddleware;
use reqwest_retry::{Jitter, RetryTransientMiddleware, policies::ExponentialBackoff};
use std::sync::Arc;
use std::time::Duration;
use tower::retry::Retry;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Service, ServiceExt};
use whatbreaks::store::DbError;
use whatbreaks::{
    HerdTest, Report, Request, RetryStormTest, SimDb, StampedeEnv, StampedeTest, Upstream,
};

// ---------------------------------------------------------------------------------------
// Production code: an HTTP client with retries (tower + hyper)
// ---------------------------------------------------------------------------------------

/// What production sends: a `GET` of a price, through whatever HTTP stack it is given.
pub(crate) async fn fetch_price<S, B>(client: S) -> Result<u16, S::Error>
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
{
    let request = http::Request::get("http://prices.internal/price/7")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let response = client.oneshot(request).await?;
    Ok(response.status().as_u16())
}

/// A tower retry policy: every connection error and every 5xx is retried up to three times,
/// 100 ms apart; with a budget, only while the shared `TpsBudget` allows it.
#[derive(Clone, Debug)]
pub(crate) struct RetryFailures {
    attempts_left: u32,
    budget: Option<Arc<TpsBudget>>,
}

thread_local! {
    /// One budget per process. whatbreaks runs each simulation on its own thread, so a
    /// thread-local budget is also one budget per run; in a service, one `Arc<TpsBudget>`
    /// built at start-up and cloned into every policy.
    static BUDGET: Arc<TpsBudget> = Arc::new(TpsBudget::default());
}

impl RetryFailures {
    /// BUGGY: a fixed count of retries, no budget: under a degraded upstream every request
    /// costs four calls for as long as the degradation lasts.
    pub(crate) fn unbudgeted() -> Self {
        RetryFailures {
            attempts_left: 3,
            budget: None,
        }
    }

    /// FIXED: the same retries, each paid for from tower's `TpsBudget` (10 s window, at
    /// least 10 retries per second, retries up to 20% of successful requests).
    pub(crate) fn budgeted() -> Self {
        RetryFailures {
            attempts_left: 3,
            budget: Some(BUDGET.with(Arc::clone)),
        }
    }
}

impl<B, E> tower::retry::Policy<http::Request<Full<Bytes>>, http::Response<B>, E>
    for RetryFailures
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut http::Request<Full<Bytes>>,
        result: &mut Result<http::Response<B>, E>,
    ) -> Option<Self::Future> {
        let failed = match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        };
        if !failed {
            if let Some(budget) = &self.budget {
                budget.deposit();
            }
            return None;
        }
        if self.attempts_left == 0 {
            return None;
        }
        if let Some(budget) = &self.budget {
            if !budget.withdraw() {
                return None;
            }
        }
        self.attempts_left -= 1;
        Some(tokio::time::sleep(Duration::from_millis(100)))
    }

    fn clone_request(
        &mut self,
        request: &http::Request<Full<Bytes>>,
    ) -> Option<http::Request<Full<Bytes>>> {
        let mut copy = http::Request::new(request.body().clone());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        Some(copy)
    }
}

// ---------------------------------------------------------------------------------------
// Production code: an HTTP client that takes a URL (reqwest + reqwest-retry)
// ---------------------------------------------------------------------------------------

/// What production builds at start-up: reqwest behind reqwest-retry's exponential backoff
/// (1 s, 2 s, 4 s, 8 s: four retries), with `jitter` (reqwest-retry's default is full jitter).
pub(crate) fn retrying_client(jitter: Jitter) -> ClientWithMiddleware {
    let policy = ExponentialBackoff::builder()
        .jitter(jitter)
        .build_with_max_retries(4);
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .build()
}

/// A `GET` of a price from the service at `base`.
pub(crate) async fn fetch_price_reqwest(
    client: &ClientWithMiddleware,
    base: &str,
) -> Result<u16, reqwest_middleware::Error> {
    let response = client.get(format!("{base}/price/7")).send().await?;
    Ok(response.status().as_u16())
}

/// BUGGY: `POST /charge` through the retrying client with no idempotency key: a charge that
/// committed and lost its response is charged again by the retry.
pub(crate) async fn charge(
    client: &ClientWithMiddleware,
    base: &str,
) -> Result<u16, reqwest_middleware::Error> {
    let response = client.post(format!("{base}/charge")).send().await?;
    Ok(response.status().as_u16())
}

/// FIXED: the same `POST` with one `Idempotency-Key` for the order; reqwest-retry resends
/// the request as built, so every retry carries the same key and the upstream charges once.
pub(crate) async fn charge_once(
    client: &ClientWithMiddleware,
    base: &str,
    order: u64,
) -> Result<u16, reqwest_middleware::Error> {
    let response = client
        .post(format!("{base}/charge"))
        .header("idempotency-key", format!("order-{order}"))
        .send()
        .await?;
    Ok(response.status().as_u16())
}

// ---------------------------------------------------------------------------------------
// Production code: cache-aside with redis-rs
// ---------------------------------------------------------------------------------------

/// An error of the product lookup.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The cache failed.
    Redis(redis::RedisError),
    /// The database failed.
    Db(DbError),
}

impl From<redis::RedisError> for LookupError {
    fn from(e: redis::RedisError) -> Self {
        LookupError::Redis(e)
    }
}

impl From<DbError> for LookupError {
    fn from(e: DbError) -> Self {
        LookupError::Db(e)
    }
}

fn cache_key(id: &str) -> String {
    format!("product:{id}")
}

/// BUGGY: textbook cache-aside over redis-rs (the seed article's `getProduct`): every request
/// that misses a cold key loads it.
pub(crate) async fn get_product<C>(
    conn: &mut C,
    db: &SimDb,
    id: &str,
    ttl_secs: u64,
) -> Result<String, LookupError>
where
    C: redis::aio::ConnectionLike + Send + Sync,
{
    let key = cache_key(id);
    if let Some(cached) = conn.get::<_, Option<String>>(&key).await? {
        return Ok(cached);
    }
    let product = db.load(id).await?;
    let () = conn.set_ex(&key, &product, ttl_secs).await?;
    Ok(product)
}

/// The unlock: delete the lease only if it still holds our token.
pub(crate) const UNLOCK: &str = r#"if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end"#;

/// FIXED: a lease in the shared cache. `SET lock:<key> <token> NX PX 5000`; the winner
/// re-checks the cache (the value may have landed while it asked), loads, stores, and
/// releases with a compare-and-delete; the others poll for the value. One load per key
/// across any number of instances.
pub(crate) async fn get_product_leased<C>(
    conn: &mut C,
    db: &SimDb,
    id: &str,
    ttl_secs: u64,
) -> Result<String, LookupError>
where
    C: redis::aio::ConnectionLike + Send + Sync,
{
    let key = cache_key(id);
    let lock = format!("lock:{key}");
    for _ in 0..100 {
        if let Some(cached) = conn.get::<_, Option<String>>(&key).await? {
            return Ok(cached);
        }
        let token = whatbreaks::rng().random::<u64>().to_string();
        let acquired: Option<String> = redis::cmd("SET")
            .arg(&lock)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(5000)
            .query_async(conn)
            .await?;
        if acquired.is_some() {
            let result = match conn.get::<_, Option<String>>(&key).await? {
                Some(cached) => Ok(cached),
                None => match db.load(id).await {
                    Ok(product) => {
                        let () = conn.set_ex(&key, &product, ttl_secs).await?;
                        Ok(product)
                    }
                    Err(e) => Err(e.into()),
                },
            };
            let _released: i64 = redis::cmd("EVAL")
                .arg(UNLOCK)
                .arg(1)
                .arg(&lock)
                .arg(&token)
                .query_async(conn)
                .await?;
            return result;
        }
        let wait = 20 + whatbreaks::rng().random_range(0..10u64);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    Err(DbError::Unavailable { key: id.into() }.into())
}

// ---------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------

/// Which HTTP path a retry scenario's client takes to the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// hyper-util's legacy `Client` over `upstream.connector()`.
    Hyper,
    /// The upstream itself as a `tower::Service`.
    Tower,
}

/// The retry-storm scenario every verdict here runs: 50 requests per second for 30 s, the
/// upstream refusing every call from 5 s to 20 s (1% of calls answered 400 throughout).
pub(crate) fn storm(seed: u64) -> RetryStormTest {
    RetryStormTest::new()
        .rps(50.0)
        .run_for(Duration::from_secs(30))
        .outage(Duration::from_secs(5)..Duration::from_secs(20))
        .seed(seed)
}

/// tower's `Retry` with `policy` over the client `path` picks, under `scenario`.
pub(crate) fn tower_retry(
    scenario: RetryStormTest,
    path: Path,
    policy: fn() -> RetryFailures,
) -> Report {
    scenario.run(move |upstream: Upstream| async move {
        match path {
            Path::Hyper => {
                let client = Client::builder(TokioExecutor::new()).build(upstream.connector());
                let _ = fetch_price(Retry::new(policy(), client)).await;
            }
            Path::Tower => {
                let _ = fetch_price(Retry::new(policy(), upstream)).await;
            }
        }
    })
}

/// BUGGY: tower's `Retry` over hyper-util's client, no budget.
pub(crate) fn hyper_retry_unbudgeted(seed: u64) -> Report {
    tower_retry(storm(seed), Path::Hyper, RetryFailures::unbudgeted)
}

/// FIXED: the same stack with `TpsBudget`.
pub(crate) fn hyper_retry_budgeted(seed: u64) -> Report {
    tower_retry(storm(seed), Path::Hyper, RetryFailures::budgeted)
}

/// The same logic as [`RetryFailures`] written against `upstream.call`.
pub(crate) fn native_retry(scenario: RetryStormTest, budgeted: bool) -> Report {
    scenario.run(move |upstream: Upstream| async move {
        let budget = budgeted.then(|| BUDGET.with(Arc::clone));
        let mut attempts_left = 3;
        loop {
            let failed = match upstream.call(Request::get("/price/7")).await {
                Ok(_) => false,
                Err(e) => {
                    matches!(e, whatbreaks::UpstreamError::Unavailable)
                        || matches!(e, whatbreaks::UpstreamError::Status(s) if s >= 500)
                }
            };
            if !failed {
                if let Some(b) = &budget {
                    b.deposit();
                }
                return;
            }
            if attempts_left == 0 || budget.as_ref().is_some_and(|b| !b.withdraw()) {
                return;
            }
            attempts_left -= 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// 200 clients through reqwest-retry with `jitter`, the upstream down for the first 10 s;
/// each client calls `url()` in its body (its own port: its attempts are attributed to it).
pub(crate) fn reqwest_herd(seed: u64, jitter: Jitter) -> Report {
    HerdTest::new()
        .clients(200)
        .seed(seed)
        .run(move |upstream: Upstream| async move {
            let client = retrying_client(jitter);
            let _ = fetch_price_reqwest(&client, &upstream.url()).await;
        })
}

/// BUGGY: the herd of `reqwest_herd` without jitter: every client retries on the same beat.
pub(crate) fn reqwest_herd_unjittered(seed: u64) -> Report {
    reqwest_herd(seed, Jitter::None)
}

/// FIXED: reqwest-retry's default, full jitter.
pub(crate) fn reqwest_herd_jittered(seed: u64) -> Report {
    reqwest_herd(seed, Jitter::Full)
}

/// The same logic as `reqwest_herd_unjittered` written against `upstream.call`: every
/// refused call retried after 1 s, 2 s, 4 s and 8 s.
pub(crate) fn native_herd_unjittered(seed: u64) -> Report {
    HerdTest::new()
        .clients(200)
        .seed(seed)
        .run(move |upstream: Upstream| async move {
            for wait in [0, 1, 2, 4, 8] {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                if upstream.call(Request::get("/price/7")).await.is_ok() {
                    return;
                }
            }
        })
}

/// Payments through reqwest-retry: 10 charges per second for 20 s, no outage, 20% of charges
/// commit and then lose their response; `keyed` sends one idempotency key per order.
pub(crate) fn reqwest_charges(seed: u64, keyed: bool) -> Report {
    RetryStormTest::new()
        .rps(10.0)
        .run_for(Duration::from_secs(20))
        .outage(Duration::ZERO..Duration::ZERO)
        .ambiguous(0.2)
        .bad_requests(0.0)
        .seed(seed)
        .run(move |upstream: Upstream| async move {
            let client = retrying_client(Jitter::Full);
            let base = upstream.url();
            let order = whatbreaks::sim::current_request().unwrap_or_default();
            let _ = if keyed {
                charge_once(&client, &base, order).await
            } else {
                charge(&client, &base).await
            };
        })
}

/// 100 requests within 10 ms on a cold key, on `instances` instances.
pub(crate) fn cold(seed: u64, instances: u32) -> StampedeTest {
    StampedeTest::new()
        .clients(100)
        .keys(1)
        .instances(instances)
        .seed(seed)
}

fn ttl_secs(env: &StampedeEnv) -> u64 {
    env.ttl().as_secs().max(1)
}

/// BUGGY: redis-rs cache-aside under `scenario`.
pub(crate) fn redis_cache_aside(scenario: StampedeTest) -> Report {
    scenario.run(|env: StampedeEnv| async move {
        let mut conn = env.redis();
        let _ = get_product(&mut conn, &env.db(), &env.key(), ttl_secs(&env)).await;
    })
}

/// FIXED: the redis-rs `SET NX PX` lease under `scenario`.
pub(crate) fn redis_leased(scenario: StampedeTest) -> Report {
    scenario.run(|env: StampedeEnv| async move {
        let mut conn = env.redis();
        let _ = get_product_leased(&mut conn, &env.db(), &env.key(), ttl_secs(&env)).await;
    })
}

/// The same cache-aside written against `SimCache`.
pub(crate) fn native_cache_aside(scenario: StampedeTest) -> Report {
    scenario.run(|env: StampedeEnv| async move {
        let (cache, key) = (env.cache(), cache_key(&env.key()));
        if cache.get(&key).await.is_none() {
            if let Ok(row) = env.db().load(&env.key()).await {
                cache
                    .set(&key, row, Duration::from_secs(ttl_secs(&env)))
                    .await;
            }
        }
    })
}
