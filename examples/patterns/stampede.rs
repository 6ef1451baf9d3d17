//! Pattern 4, cache stampede: the seed article's `getProduct` cache-aside (buggy), its per-key
//! mutex fix with double-checked locking (holds on one instance, breaks on two), and fixes that
//! hold: singleflight (one instance), a lease in the shared cache (any number of instances),
//! and probabilistic early refresh (XFetch) with coalescing for expiring keys.
//!
//! This file is shared by `examples/stampede.rs`, `examples/tour.rs` and `tests/stampede/`.
#![allow(dead_code)]

use rand::RngExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use whatbreaks::store::DbError;
use whatbreaks::{Report, SimCache, SimDb, StampedeEnv, StampedeTest};

fn cache_key(id: &str) -> String {
    format!("product:{id}")
}

/// BUGGY: textbook cache-aside (the seed article's `getProduct`). Correct in isolation; under
/// concurrent load every request that misses the cold or expired key loads it.
pub(crate) async fn get_product(
    cache: &SimCache,
    db: &SimDb,
    id: &str,
    ttl: Duration,
) -> Result<String, DbError> {
    let key = cache_key(id);
    if let Some(cached) = cache.get(&key).await {
        return Ok(cached);
    }
    let product = db.load(id).await?;
    cache.set(&key, product.clone(), ttl).await;
    Ok(product)
}

/// HALF-FIXED: the seed article's fix, a per-key mutex with double-checked locking. The first
/// request loads, the others wait on the mutex, re-check the cache and find the value. It holds
/// on one instance. The mutex lives in this process, though: with two instances each one lets
/// its own first request through, and the shared database gets two loads per key. And when the
/// load fails, every waiter takes the mutex in turn and loads again: a serial storm.
pub(crate) struct LockedProducts {
    cache: SimCache,
    db: SimDb,
    ttl: Duration,
    locks: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl LockedProducts {
    pub(crate) fn new(cache: SimCache, db: SimDb, ttl: Duration) -> Self {
        LockedProducts {
            cache,
            db,
            ttl,
            locks: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) async fn get_product(&self, id: &str) -> Result<String, DbError> {
        let key = cache_key(id);
        if let Some(cached) = self.cache.get(&key).await {
            return Ok(cached);
        }
        let mutex = self
            .locks
            .lock()
            .expect("lock table")
            .entry(key.clone())
            .or_default()
            .clone();
        let _guard = mutex.lock().await;
        // Double-check after acquiring the lock.
        if let Some(cached) = self.cache.get(&key).await {
            return Ok(cached);
        }
        let product = self.db.load(id).await?;
        self.cache.set(&key, product.clone(), self.ttl).await;
        Ok(product)
    }
}

/// What a flight's waiters watch: `None` until the leader has its result.
type Flight = watch::Receiver<Option<Result<String, DbError>>>;

/// In-process request coalescing: the first caller for a key runs the work, every caller that
/// arrives while it runs waits for *its* result, error included.
#[derive(Default)]
pub(crate) struct SingleFlight {
    in_flight: std::sync::Mutex<BTreeMap<String, Flight>>,
}

impl SingleFlight {
    pub(crate) async fn run<F, Fut>(&self, key: &str, work: F) -> Result<String, DbError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, DbError>>,
    {
        let joined = {
            let mut map = self.in_flight.lock().expect("flight table");
            match map.get(key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.to_string(), rx);
                    Ok(tx)
                }
            }
        };
        match joined {
            Ok(tx) => {
                let result = work().await;
                self.in_flight.lock().expect("flight table").remove(key);
                let _ = tx.send(Some(result.clone()));
                result
            }
            Err(mut rx) => match rx.wait_for(Option::is_some).await {
                Ok(result) => result.clone().expect("checked by wait_for"),
                Err(_) => Err(DbError::Unavailable { key: key.into() }),
            },
        }
    }
}

/// FIXED for one instance: singleflight. Concurrent misses of a key share one load, and a
/// failed load fails its waiters once instead of letting each of them retry it. The leader
/// re-checks the cache first, in case a flight that just ended filled it.
pub(crate) struct CoalescedProducts {
    cache: SimCache,
    db: SimDb,
    ttl: Duration,
    flights: SingleFlight,
}

impl CoalescedProducts {
    pub(crate) fn new(cache: SimCache, db: SimDb, ttl: Duration) -> Self {
        CoalescedProducts {
            cache,
            db,
            ttl,
            flights: SingleFlight::default(),
        }
    }

    pub(crate) async fn get_product(&self, id: &str) -> Result<String, DbError> {
        let key = cache_key(id);
        if let Some(cached) = self.cache.get(&key).await {
            return Ok(cached);
        }
        self.flights
            .run(&key, || async {
                if let Some(cached) = self.cache.get(&key).await {
                    return Ok(cached);
                }
                let product = self.db.load(id).await?;
                self.cache.set(&key, product.clone(), self.ttl).await;
                Ok(product)
            })
            .await
    }
}

/// What the lease holder stores when the load fails, so that waiters stop instead of loading.
const FAILED: &str = "!unavailable";

/// FIXED on any number of instances: a lease in the shared cache. Whoever wins
/// `SET lock:<key> NX PX 5000` re-checks the cache (another instance may have filled it between
/// our miss and our win), loads, stores the value (or, when the load fails, a short-lived
/// failure marker), and releases the lease; everyone else, on any instance, polls the cache for
/// the value with a bounded wait instead of loading.
pub(crate) struct LeasedProducts {
    cache: SimCache,
    db: SimDb,
    ttl: Duration,
}

impl LeasedProducts {
    /// How long the lease lasts if its holder dies.
    const LEASE: Duration = Duration::from_secs(5);
    /// How long a failure is remembered.
    const NEGATIVE_TTL: Duration = Duration::from_secs(1);
    /// How many times a waiter polls before giving up (about 2.5 s).
    const POLLS: u32 = 100;

    pub(crate) fn new(cache: SimCache, db: SimDb, ttl: Duration) -> Self {
        LeasedProducts { cache, db, ttl }
    }

    fn decode(value: String, id: &str) -> Result<String, DbError> {
        if value == FAILED {
            Err(DbError::Unavailable { key: id.into() })
        } else {
            Ok(value)
        }
    }

    pub(crate) async fn get_product(&self, id: &str) -> Result<String, DbError> {
        let key = cache_key(id);
        let lock = format!("lock:{key}");
        for _ in 0..Self::POLLS {
            if let Some(cached) = self.cache.get(&key).await {
                return Self::decode(cached, id);
            }
            let token = whatbreaks::rng().random::<u64>().to_string();
            if self.cache.set_nx(&lock, token, Self::LEASE).await {
                let result = match self.cache.get(&key).await {
                    Some(cached) => Self::decode(cached, id),
                    None => match self.db.load(id).await {
                        Ok(product) => {
                            self.cache.set(&key, product.clone(), self.ttl).await;
                            Ok(product)
                        }
                        Err(e) => {
                            self.cache.set(&key, FAILED, Self::NEGATIVE_TTL).await;
                            Err(e)
                        }
                    },
                };
                // The lease outlives the load by far; Redis code would delete it only if it
                // still holds our token (a Lua compare-and-delete).
                self.cache.del(&lock).await;
                return result;
            }
            let wait = 20 + whatbreaks::rng().random_range(0..10u64);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Err(DbError::Unavailable { key: id.into() })
    }
}

/// FIXED for expiring keys: probabilistic early refresh (XFetch, Vattani et al., VLDB 2015)
/// with coalescing. Each request refreshes early with a probability that grows as the expiry
/// nears (`delta * beta * -ln(rand) >= ttl left`, `delta` the last load's duration), so one
/// request refreshes before the entry expires while the others keep being served; singleflight
/// makes the few that draw "refresh" at once share one load.
pub(crate) struct XFetchProducts {
    cache: SimCache,
    db: SimDb,
    ttl: Duration,
    beta: f64,
    flights: SingleFlight,
}

impl XFetchProducts {
    pub(crate) fn new(cache: SimCache, db: SimDb, ttl: Duration) -> Self {
        XFetchProducts {
            cache,
            db,
            ttl,
            beta: 1.0,
            flights: SingleFlight::default(),
        }
    }

    pub(crate) async fn get_product(&self, id: &str) -> Result<String, DbError> {
        let key = cache_key(id);
        let Some((value, left)) = self.cache.get_with_ttl(&key).await else {
            return self.refresh(id, &key).await;
        };
        let (delta_ms, product) = value.split_once('|').unwrap_or(("0", value.as_str()));
        let delta = Duration::from_millis(delta_ms.parse().unwrap_or(0));
        let draw: f64 = whatbreaks::rng().random_range(f64::EPSILON..1.0);
        let early = delta.mul_f64(self.beta * -draw.ln());
        if left.is_none_or(|left| early < left) {
            return Ok(product.to_string());
        }
        // Refresh now; if it fails, the value we hold is still good until it expires.
        let stale = product.to_string();
        Ok(self.refresh(id, &key).await.unwrap_or(stale))
    }

    async fn refresh(&self, id: &str, key: &str) -> Result<String, DbError> {
        self.flights
            .run(key, || async {
                // A flight that just ended may have refreshed it.
                if let Some((value, Some(left))) = self.cache.get_with_ttl(key).await {
                    if left > self.ttl / 2 {
                        let product = value.split_once('|').map_or(value.as_str(), |(_, p)| p);
                        return Ok(product.to_string());
                    }
                }
                let started = tokio::time::Instant::now();
                let product = self.db.load(id).await?;
                let delta = started.elapsed().as_millis();
                self.cache
                    .set(key, format!("{delta}|{product}"), self.ttl)
                    .await;
                Ok(product)
            })
            .await
    }
}

/// FIXED for expiring keys, another way: stale-while-revalidate with coalescing. Entries live in
/// the cache for twice the TTL; once an entry is older than the TTL it is stale: the first
/// request on this instance that sees it stale refreshes it, and every other request is served
/// the stale value meanwhile instead of loading.
pub(crate) struct SwrProducts {
    cache: SimCache,
    db: SimDb,
    ttl: Duration,
    refreshing: std::sync::Mutex<std::collections::BTreeSet<String>>,
    flights: SingleFlight,
}

impl SwrProducts {
    pub(crate) fn new(cache: SimCache, db: SimDb, ttl: Duration) -> Self {
        SwrProducts {
            cache,
            db,
            ttl,
            refreshing: std::sync::Mutex::new(Default::default()),
            flights: SingleFlight::default(),
        }
    }

    async fn load_and_store(&self, id: &str, key: &str) -> Result<String, DbError> {
        let product = self.db.load(id).await?;
        self.cache.set(key, product.clone(), self.ttl * 2).await;
        Ok(product)
    }

    pub(crate) async fn get_product(&self, id: &str) -> Result<String, DbError> {
        let key = cache_key(id);
        match self.cache.get_with_ttl(&key).await {
            Some((product, Some(left))) if left <= self.ttl => {
                // Stale: one request refreshes, the others get the stale value right away.
                let first = self
                    .refreshing
                    .lock()
                    .expect("refresh set")
                    .insert(key.clone());
                if !first {
                    return Ok(product);
                }
                let fresh = self.load_and_store(id, &key).await;
                self.refreshing.lock().expect("refresh set").remove(&key);
                Ok(fresh.unwrap_or(product))
            }
            Some((product, _)) => Ok(product),
            None => {
                self.flights
                    .run(&key, || async {
                        if let Some(product) = self.cache.get(&key).await {
                            return Ok(product);
                        }
                        self.load_and_store(id, &key).await
                    })
                    .await
            }
        }
    }
}

/// The implementations the detector is proven against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `get_product`: plain cache-aside.
    CacheAside,
    /// `LockedProducts`: per-key in-process mutex with double-checked locking.
    PerKeyMutex,
    /// `CoalescedProducts`: in-process singleflight.
    SingleFlight,
    /// `LeasedProducts`: a lease in the shared cache, then a re-check.
    Lease,
    /// `XFetchProducts`: probabilistic early refresh with singleflight.
    XFetch,
    /// `SwrProducts`: stale-while-revalidate with coalescing.
    StaleWhileRevalidate,
}

impl Strategy {
    /// One request: get the product this request asks for, the way this strategy does.
    pub(crate) async fn serve(self, env: &StampedeEnv) {
        let (id, ttl) = (&env.key(), env.ttl());
        let _ = match self {
            Strategy::CacheAside => get_product(&env.cache(), &env.db(), id, ttl).await,
            Strategy::PerKeyMutex => {
                let svc = env.per_instance(|| LockedProducts::new(env.cache(), env.db(), ttl));
                svc.get_product(id).await
            }
            Strategy::SingleFlight => {
                let svc = env.per_instance(|| CoalescedProducts::new(env.cache(), env.db(), ttl));
                svc.get_product(id).await
            }
            Strategy::Lease => {
                let svc = env.per_instance(|| LeasedProducts::new(env.cache(), env.db(), ttl));
                svc.get_product(id).await
            }
            Strategy::XFetch => {
                let svc = env.per_instance(|| XFetchProducts::new(env.cache(), env.db(), ttl));
                svc.get_product(id).await
            }
            Strategy::StaleWhileRevalidate => {
                let svc = env.per_instance(|| SwrProducts::new(env.cache(), env.db(), ttl));
                svc.get_product(id).await
            }
        };
    }

    /// Runs this strategy under `scenario`.
    pub(crate) fn run(self, scenario: StampedeTest) -> Report {
        scenario.run(move |env: StampedeEnv| async move { self.serve(&env).await })
    }
}

/// 100 requests on a cold key, spread over `instances` instances.
pub(crate) fn cold(instances: u32) -> StampedeTest {
    StampedeTest::new()
        .clients(100)
        .keys(1)
        .instances(instances)
}

/// A warm key expiring every second under 100 requests per second for 10 s.
pub(crate) fn expiry(instances: u32) -> StampedeTest {
    StampedeTest::new()
        .scenario("expiry")
        .rps(100.0)
        .run_for(Duration::from_secs(10))
        .ttl(Duration::from_secs(1))
        .instances(instances)
}

/// The seed article's cache-aside under `scenario`.
pub(crate) fn buggy(scenario: StampedeTest) -> Report {
    Strategy::CacheAside.run(scenario)
}

/// The seed article's per-key mutex fix under `scenario`.
pub(crate) fn per_key_mutex(scenario: StampedeTest) -> Report {
    Strategy::PerKeyMutex.run(scenario)
}

/// The fix that holds on several instances (a lease in the shared cache) under `scenario`.
pub(crate) fn fixed(scenario: StampedeTest) -> Report {
    Strategy::Lease.run(scenario)
}
