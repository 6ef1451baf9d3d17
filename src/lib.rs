//! # whatbreaks: tests that ask what breaks in production
//!
//! Code that passes ordinary tests still ships thundering herds, retry storms, duplicate
//! charges, cache stampedes, exhausted pools, races, double-run cron jobs and leaks. whatbreaks
//! runs ordinary async Rust under simulated production conditions (virtual time, seeded
//! randomness, simulated upstreams, many clients) and checks the property that breaks:
//! *retry arrivals are not synchronized*, *one database load per cold key*, and so on.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use whatbreaks::{Request, Upstream};
//!
//! // One client's work: call, and retry with full jitter (the fix for thundering herds).
//! async fn fetch_price(upstream: &Upstream) {
//!     use rand::RngExt;
//!     for attempt in 0..5u32 {
//!         if upstream.call(Request::get("/price")).await.is_ok() {
//!             return;
//!         }
//!         let cap = 100u64 << attempt; // ms
//!         let ms = whatbreaks::rng().random_range(0..=cap);
//!         tokio::time::sleep(Duration::from_millis(ms)).await;
//!     }
//! }
//!
//! // In a test file this is `#[whatbreaks::herd_test(clients = 1000)]` on
//! // `async fn t(upstream: whatbreaks::Upstream) { fetch_price(&upstream).await }`.
//! let report = whatbreaks::HerdTest::new()
//!     .clients(1000)
//!     .seed(7)
//!     .run(|upstream| async move { fetch_price(&upstream).await });
//! assert!(report.is_clean(), "{report}");
//! ```
//!
//! ## Writing tests
//!
//! Each failure pattern has an attribute macro and a builder. The macro turns an `async fn`
//! into a `#[test]`: the function is one client's (or one instance's) work, and the harness
//! runs many of them on virtual time, then panics with a diagnosis if the property fails.
//! The builder runs the same scenario and returns a [`Report`] without panicking, for asserting
//! that buggy code *is* flagged, or for tools.
//!
//! | pattern | attribute | builder | property |
//! |---|---|---|---|
//! | thundering herd | [`herd_test`] | [`HerdTest`] | retry arrivals are not synchronized |
//! | retry storm, duplicate side effects | [`retry_storm_test`] | [`RetryStormTest`] | calls per logical request stay under a bound; each request commits at most once; non-retryable errors are not retried |
//! | cache stampede | [`stampede_test`] | [`StampedeTest`] | at most one database load per key per cold start or expiry, across all instances |
//! | connection-pool exhaustion | [`pool_test`] | [`PoolTest`] | every connection comes back; no acquire waits forever; pool deadlock is reported, not hung |
//! | check-then-act race | [`race_test`] | [`RaceTest`] | user invariants hold under every explored interleaving |
//! | double execution | [`double_execution_test`] | [`DoubleExecutionTest`] | each scheduled occurrence commits exactly once across instances (none doubled, none missed) |
//! | slow leak | [`leak_test`] | [`LeakTest`] | memory and gauges do not grow per cycle |
//! | unbounded memory at scale | [`scale_test`] | [`ScaleTest`] | peak memory extrapolated to production size stays under a bound |
//! | hung upstream, missing timeout | [`hang_test`] | [`HangTest`] | every call into an upstream that stops answering ends within `max_wait`; in-flight calls stay bounded |
//! | partial writes, cancellation at await points | [`cancel_test`] | [`CancelTest`] | a request cancelled at any await point (or crashed between two writes) leaves all of its writes or none; user invariants hold after every cut |
//! | N+1 queries | [`n_plus_one_test`] | [`NPlusOneTest`] | the query count does not grow with the size of the result |
//! | silent errors | [`silent_error_test`] | [`SilentErrorTest`] | every request that fails logs a warn or error event carrying its request id; no error is swallowed into a success |
//! | auth-context leak, mass assignment | | `http::AuthProbe`, `http::MassAssignmentProbe` (feature `http`) | no cross-principal data or changes; no privileged field set by a client; invalid input rejected, not stored |
//! | races, pool leaks, double execution, stampedes on real PostgreSQL/Redis | | `postgres::PgRaceTest`, `postgres::PgPoolWatch`, `realtime::RealDoubleExecution` with `redis::RedisLease` or `postgres::AdvisoryLock`, `redis::RedisStampedeTest` (features `postgres`, `redis`) | the same properties, in real time against the running services |
//!
//! ## Auditing a service
//!
//! A test per pattern asks only the questions someone thought of. An audit asks them all:
//! describe the service once, as handlers (one request's work) and jobs (one instance's
//! scheduler loop) written against a [`audit::World`] of simulated dependencies, and every
//! question that applies is asked with the detectors' defaults. From a service that exists to
//! its first audit:
//!
//! ```no_run
//! # async fn get_product(_: &whatbreaks::SimCache, _: &whatbreaks::SimDb, _: &str) {}
//! # async fn charge(_: &whatbreaks::Upstream) {}
//! use whatbreaks::audit::{Audit, Ctx, World};
//!
//! #[whatbreaks::audit]
//! fn shop() -> Audit {
//!     Audit::new("shop")
//!         .handler("get_product", |w: World, c: Ctx| async move {
//!             get_product(&w.cache(), &w.db(), c.key()).await
//!         })
//!         .handler("charge", |w: World, _c: Ctx| async move { charge(&w.upstream("payments")).await })
//! }
//! ```
//!
//! The test prints a table, one row per question: holds (with its key figure), BREAKS (with
//! the finding, its evidence, fix and replay line), or not applicable (and why: "the handler
//! touches no cache"). [`audit`](mod@audit) lists the questions, their defaults and their oracles; the
//! checkout showcase (`examples/audit.rs`) finds its eleven seeded breaks in 0.5 s (release).
//! An axum `Router` (any tower `Service` over `http`) is audited as it is, with feature
//! `http`: `Audit::router(|world| app(state_on(&world)))` and one `.route(..)` per route;
//! with `.principal(name, authorization)` and `.resource(owner, key)` its routes are also
//! asked as other principals (auth) and with hostile bodies (mass assignment, validation).
//! The leak question counts the heap: install the counting allocator (`whatbreaks::install!()`)
//! in the test binary, or that question answers "not applicable" and names the line.
//!
//! ## Measuring memory
//!
//! [`leak_test`] and [`scale_test`] measure the heap with a counting global allocator that
//! attributes every allocation to the thread that made it (`cargo test` runs tests on parallel
//! threads; each simulation runs on its own thread). Install it once per test binary, at the top
//! of `tests/<area>/main.rs`:
//!
//! ```ignore
//! whatbreaks::install_counting_allocator!();
//! ```
//!
//! It is cheap enough to leave on (a few thread-local additions per allocation). A test that
//! needs it and runs without it fails with a configuration finding that names this line. See
//! [`measure`] for the allocator, gauges, growth fits and extrapolation.
//!
//! ## The system clock: one line for third-party clocks
//!
//! ```ignore
//! whatbreaks::install!(); // the counting allocator and the virtual system clock
//! ```
//!
//! at the top of a test binary installs the counting allocator and makes the process's clock
//! functions (`clock_gettime`, `gettimeofday`, `time`) answer virtual time on a simulation's
//! thread (Linux with glibc): `std::time::Instant::now()` equals
//! `tokio::time::Instant::now().into_std()`, `SystemTime::now()` and `chrono::Utc::now()` read
//! the virtual wall clock of the instance whose code runs ([`clock::system_now`]). Code whose
//! clock cannot be injected runs unmodified: moka's TTL, cached's TTL stores, tokio-cron-scheduler,
//! backoff's `max_elapsed_time`. Other threads and the test harness keep real time. A read
//! costs about 8 ns inside a simulation and 30 ns outside (glibc's call: 26 ns). See
//! [`os_clock`] for how it works and its limits; [`install_virtual_clock!`] installs the clock
//! alone.
//!
//! ## Running, and replaying a failure
//!
//! Every run prints its seed to stderr (`whatbreaks: herd: seed 0x3f2a…`); every failure
//! ends with one line that replays it:
//!
//! ```text
//! whatbreaks: thundering herd: retry arrivals are synchronized
//!   scenario  1000 clients, upstream `upstream` down 0s..10s, seed 0x5eed
//!   evidence  retry 1: 1000/1000 clients in the same 1 ms (t=1s)
//!             retry 2: 1000/1000 clients in the same 1 ms (t=3s)
//!   arrivals  █···█·······█···  0s..7.500s, 500ms per column, peak 1000
//!   fix       add jitter to the backoff: sleep a random time in [0, base * 2^attempt] (full jitter), drawn per client
//!   replay    WHATBREAKS_SEED=0x5eed cargo test -p app --test herd -- retry::no_jitter --exact
//! ```
//!
//! Same seed, same run, same verdict. To debug a failure, replay its seed and add prints or a
//! debugger; the run is single-threaded and deterministic. To hunt for rare failures, run
//! more seeds: `WHATBREAKS_SEEDS=200 cargo test`. Seeds can be spread over machines with
//! cargo-nextest's `--partition`.
//!
//! To look rather than read, run with `WHATBREAKS_REPORT=1`: every scenario writes an HTML
//! page with charts of its run to `target/whatbreaks/` (arrivals over virtual time, loads per
//! key around an expiry, pool occupancy and waiting, memory against cycles and input size,
//! each instance's effects) and prints its path; see [`html`]. Every page written is listed
//! on `target/whatbreaks/index.html`, newest run first ([`report::index`]).
//!
//! ### Failing seeds are saved
//!
//! Like proptest, a failing `#[…_test]` saves its seed to
//! `whatbreaks-regressions/<test binary>.txt` in the crate's directory, and the failure
//! message ends with the file's path. From then on the test runs the saved seeds **before**
//! new ones, so a failure a random seed found keeps failing until it is fixed: check the file
//! in. Only the attribute macros save (a builder-API test that asserts a report saves
//! nothing, nor does a `#[should_panic]` macro test); `WHATBREAKS_SEED` runs exactly its seed;
//! deleting a line forgets a seed. See [`regressions`].
//!
//! ## Debugging a failure
//!
//! A simulation emits [`tracing`](https://docs.rs/tracing) events with target `whatbreaks`:
//! clients arriving, upstream calls and their answers, faults (outages, degraded answers,
//! rejections, shedding), committed and deduplicated effects, database loads, pool checkouts
//! and waits, client panics, and the start and end of each run. Each carries the virtual time
//! in milliseconds as the field `t_ms`, and the client, logical request, attempt or key it
//! concerns, so a failing run can be read as a timeline. Replay the seed and turn them on:
//!
//! ```text
//! WHATBREAKS_SEED=0x5eed RUST_LOG=whatbreaks=debug cargo test --test herd -- no_jitter --nocapture
//! ```
//!
//! whatbreaks installs no subscriber: use your own, for example tracing-subscriber's `fmt` with
//! its `env-filter` feature, set up once in the test
//! (`tracing_subscriber::fmt().with_env_filter(EnvFilter::from_default_env()).with_test_writer().try_init()`).
//! The subscriber of the thread that starts a run (a scoped default or the global one) also
//! receives the events of the simulation thread. Without a subscriber the events cost one
//! check per call site and nothing is formatted. Mind the volume: a 100k-client storm emits
//! millions of events; to read a run by eye, replay it with fewer clients.
//!
//! ## Configuration
//!
//! Precedence: **environment > attribute argument or builder call > default**. The
//! environment wins so that a replay line always reproduces its run.
//!
//! | variable | attribute / builder | default | meaning |
//! |---|---|---|---|
//! | `WHATBREAKS_SEED` | `seed` | random, printed | first seed to run |
//! | `WHATBREAKS_SEEDS` | `seeds` | 1 | seeds to run (the first, then derived ones), 1 to 100000; a race test explores `iterations` schedules per seed, at most 10 million runs in all |
//! | `WHATBREAKS_TIME_LIMIT` | `time_limit` | `1h` | virtual-time limit of one run |
//! | `WHATBREAKS_WATCHDOG` | `watchdog` | `60s` | wall-clock limit of one run |
//! | `WHATBREAKS_QUIET` | | `0` | `1` hides the seed line printed at the start |
//! | `WHATBREAKS_PG_URL` | `url` | `postgres://postgres@127.0.0.1:5432/test` | PostgreSQL for the `postgres` feature |
//! | `WHATBREAKS_REDIS_URL` | `url` | `redis://127.0.0.1:6379/` | Redis for the `redis` feature |
//! | `WHATBREAKS_REPORT` | | `0` | `1` writes an HTML report with charts per scenario to `target/whatbreaks/` |
//! | `WHATBREAKS_AUDIT_ONLY` | | unset | an audit asks only this question (`herd`), or this question of one entry point (`herd:charge`): what a break's replay line sets |
//! | `WHATBREAKS_REGRESSIONS_DIR` | | `<crate>/whatbreaks-regressions` | where failing seeds are saved and replayed from; `off` turns it off |
//!
//! A bad value is a configuration finding naming the variable and the form it needs
//! (`WHATBREAKS_SEEDS="many" cannot be used: expected a whole number from 1 to 100000, e.g.
//! `20``), never a panic; so is a value that is not UTF-8, and a bad builder value (`rps(0.0)`
//! names `rps`); an unknown `WHATBREAKS_*` name draws a warning. The grammar of durations,
//! windows, sizes and seeds is strict (`0...5s`, `+5`, a size past 16 EiB are errors) and
//! reads back every duration it prints (`2m30s`).
//!
//! Every attribute also takes `crate = "…"`: the path its expansion names whatbreaks by, for a
//! crate that renames the dependency (`wb = { package = "whatbreaks", … }` in `Cargo.toml`,
//! then `#[wb::herd_test(crate = "wb")]`). Keys renamed in 0.2 still accept their 0.1
//! spelling (`schedules` for `iterations`, and so on); each macro's table names it.
//!
//! ## Never hangs
//!
//! A scenario that cannot finish ends with a finding instead of a hung test: the virtual-time
//! limit catches endless retry loops and waits that nothing ends (with a timer pending,
//! virtual time jumps straight to the limit, so they are reported at once; the finding says
//! whether whatbreaks' components saw calls until the end, not more than it knows), and a
//! wall-clock watchdog catches tasks that spin without letting time advance, naming a
//! busy-wait on `race::yield_point()` as such. Both list the clients still running or pending.
//! Code that never awaits (a spin on a flag, `std::thread::sleep`) cannot be stopped from
//! outside: the watchdog names the client whose poll never returned, says that the
//! simulation thread is left running, and the run's report, saved seed and HTML page are
//! complete. Real-time harnesses and HTTP probes have wall-clock limits too: a request that
//! gets no answer (default 10 s, `request_limit`) and a real-time body that blocks its thread
//! (`realtime::block_on` stops waiting for it after its limit plus 2 s) are findings. A panic
//! inside a client, or inside a task the code spawned with `tokio::spawn` (whose panic tokio
//! would keep in a `JoinHandle` nobody awaits), is reported with the seed.
//!
//! ## Testing the code you already have
//!
//! The simulated components speak the interfaces production code already uses, so the
//! function you ship is called unchanged inside a scenario; the detectors judge it exactly as
//! they judge code written against [`Upstream::call`] and [`SimCache`] (`tests/seams` checks
//! the verdicts agree on the same seed).
//!
//! | your code talks through | hand it | feature | time |
//! |---|---|---|---|
//! | a `tower::Service` over `http` types (a tower stack, `tower::retry::Retry`) | the [`Upstream`] itself | `http` | virtual |
//! | hyper-util's legacy `Client` (and what is built on hyper: tonic's `Channel::connect_with_connector`, …) | `Client::builder(TokioExecutor::new()).build(upstream.connector())` | `hyper` | virtual |
//! | a client that takes only a URL: reqwest (with reqwest-middleware, reqwest-retry) | `upstream.url()` in the client's body: `"http://127.0.0.1:PORT"`, a real loopback socket | `hyper` | virtual |
//! | redis-rs (`AsyncCommands`, `redis::cmd`, pipelines) | `cache.redis()`, or `env.redis()` in a stampede test | `redis` | virtual |
//! | a real PostgreSQL, a real Redis, a real pool | the service itself: [`postgres`](whatbreaks_core::backends), `redis::RedisLease`, `pool_watch` | `postgres`, `redis`, `deadpool`, `bb8` | real, scaled down and bounded ([`realtime`]) |
//!
//! Before, a test needed a copy of the code rewritten against whatbreaks' types; after, the
//! production function is the test body's only call:
//!
//! ```ignore
//! // production: any tower stack of http requests, any redis-rs connection
//! pub async fn fetch_price<S, B>(client: S) -> Result<u16, S::Error>
//! where
//!     S: Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
//! {
//!     let request = http::Request::get("http://prices.internal/price/7").body(Full::default())?;
//!     Ok(client.oneshot(request).await?.status().as_u16())
//! }
//! pub async fn get_product<C>(conn: &mut C, db: &Db, id: &str, ttl: u64) -> Result<String, Error>
//! where
//!     C: redis::aio::ConnectionLike + Send + Sync,
//! {
//!     let key = format!("product:{id}");
//!     if let Some(cached) = conn.get::<_, Option<String>>(&key).await? {
//!         return Ok(cached);
//!     }
//!     let product = db.load(id).await?;
//!     let () = conn.set_ex(&key, &product, ttl).await?;
//!     Ok(product)
//! }
//!
//! #[whatbreaks::retry_storm_test(seed = 0x5eed, seeds = 3)]
//! async fn price_retries_stay_in_budget(upstream: whatbreaks::Upstream) {
//!     let client = Client::builder(TokioExecutor::new()).build(upstream.connector());
//!     let _ = fetch_price(Retry::new(my_policy(), client)).await;
//! }
//!
//! #[whatbreaks::stampede_test(clients = 100, instances = 2)]
//! async fn one_load_per_cold_key(env: whatbreaks::StampedeEnv) {
//!     let _ = get_product(&mut env.redis(), &env.db(), &env.key(), 60).await;
//! }
//! ```
//!
//! (`examples/patterns/seams.rs` holds both, buggy and fixed.) How the upstream's faults look
//! over HTTP: an outage refuses the connection (`HttpError::ConnectionRefused`; through hyper
//! the connection closes without an answer), a degraded window answers its status (503 by
//! default) after its latency, `reject` its status, shedding 503, a lost response resets the
//! connection after the effect committed; the `Idempotency-Key` header is the idempotency key.
//! Calls are attributed to the client whose task sends them; through hyper, to the client
//! whose task opened the connection (one connection per request unless
//! `connector().keep_alive(true)`). Details in [`seams`] (its modules exist with their features).
//!
//! reqwest runs unmodified against `upstream.url()`, on virtual time: its timeouts and
//! reqwest-retry's backoff fire at their virtual deadlines (call `url()` in the client's body,
//! so each client gets a port and its attempts are attributed to it; build the
//! `reqwest::Client` there too). reqwest-retry's jitter draws from `rand::thread_rng`, outside
//! the seed: the verdicts hold, the timings differ run to run.
//!
//! ```ignore
//! #[whatbreaks::herd_test(clients = 200)]
//! async fn retries_spread_out(upstream: whatbreaks::Upstream) {
//!     let client = retrying_client(); // reqwest + reqwest-retry, as production builds it
//!     let _ = fetch_price(&client, &upstream.url()).await;
//! }
//! ```
//!
//! What still needs a real service: code that opens its own socket to a real server (a
//! database driver, `redis::Client::open`) cannot reach the simulated components without a
//! seam; run it against the real service in real time (features `postgres`, `redis`), or
//! make the client injectable (a connector, a `ConnectionLike`).
//!
//! ## Features
//!
//! | feature | adds |
//! |---|---|
//! | `http` | `whatbreaks::http`: probes for `tower::Service`s such as axum routers (auth-context leaks, mass assignment, hostile-input proptest strategies); and an [`Upstream`] is a `tower::Service` over `http` types (`seams::http`) |
//! | `deadpool` | `pool_watch::WatchedDeadpool`: a deadpool (managed) pool whose checkouts are recorded with their sites; leaked guards are flagged with the pool's status |
//! | `bb8` | `pool_watch::WatchedBb8`: the same for bb8 |
//! | `postgres` | `whatbreaks::postgres`: a race harness on real connections (temporary schema per test, start barrier, SQL invariant), the leak watch on a real deadpool-postgres pool, advisory locks; implies `deadpool` |
//! | `redis` | `whatbreaks::redis`: leases (`SET NX PX`, fencing tokens from `INCR`) and the cold-key stampede check on a real Redis; and redis-rs on the simulated cache: `SimCache::redis`, `StampedeEnv::redis` (`seams::redis`) |
//! | `hyper` | `Upstream::connector`: hyper-util's `Client` onto a simulated upstream over in-memory connections (`seams::hyper`); `Upstream::url`: the upstream on a loopback socket for reqwest (`seams::loopback`); both on virtual time; implies `http` |
//! | `criterion` | `whatbreaks::bench`: criterion benches of your retry policies under a retry storm, measuring upstream calls per logical request, p50/p99 virtual completion time, failed requests and duplicate effects instead of wall time (`bench::StormBench`, `bench::StormMetric`) |
//!
//! ## Limitations
//!
//! - The system clock follows the simulation only where the test binary installs it
//!   ([`install!`], Linux with glibc; see [`os_clock`]): there `std::time::Instant`,
//!   `SystemTime` and `chrono::Utc::now()` read virtual time inside a simulation, so moka,
//!   cached, cron crates and backoff policies run unmodified. Without the line, or on other
//!   platforms, only `tokio::time` is virtual; a scenario whose premise never happened
//!   (virtual time advanced but nothing was called, loaded, committed or expired) then fails
//!   with a configuration finding naming the line, and injecting a clock is the fallback:
//!   [`clock::system_now()`] is the virtual wall time of the calling instance (with its skew
//!   and jumps), and [`clock::WallClock`] is the trait to take a clock through.
//! - Tasks that third-party code starts with `tokio::spawn` inside an instance read the
//!   simulation's wall clock without that instance's skew (only the instance's own futures
//!   and [`Instance::spawn`] tasks carry it), and escape its pauses and crashes.
//! - Tasks spawned with `tokio::spawn` inside a client lose the client's identity (arrivals
//!   they cause are recorded without a client id), but keep the seeded randomness.
//! - `tokio::select!` picks branches with tokio's own RNG unless `biased;` is written; it is
//!   seedable only with `--cfg tokio_unstable`. Properties are statistical where that matters.
//! - Third-party code that draws from its own RNG (`rand::rng()`, `fastrand`) is judged
//!   correctly, because the properties are statistical; it is not replayed bit for bit.
//! - [`cancel_test`] sees the writes a request sends to the [`SimDb`] it is handed, and sees
//!   a request cut by its own `timeout` or `select!` when a statement was in flight as it
//!   fired; a deadline that fires at another await between two writes (a sleep, a real HTTP
//!   call) is judged only against the state that run leaves, which it takes as "after".
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub use whatbreaks_core::audit;

pub use whatbreaks_core::components::{db, store, upstream};
pub use whatbreaks_core::detectors::{herd, race};
pub use whatbreaks_core::report::{self, html};
pub use whatbreaks_core::runtime::{sim, sync};
pub use whatbreaks_core::scenario::{self, config, regressions};
/// The ecosystem's interfaces onto the simulated components (features `http`, `hyper`, `redis`): see [`whatbreaks_core::seams`].
pub use whatbreaks_core::seams;
pub use whatbreaks_core::{
    Finding, FindingKind, HerdTest, RaceTest, Report, Request, Response, SimDb, Upstream,
    UpstreamError, join, rng, spawn, spec,
};
/// Ask every question unprompted: a function that returns a service's description
/// ([`audit::Audit`]) becomes a test that asks every production question that applies to it
/// (see [`audit`](mod@audit) for the questions and their defaults) and fails with the table of answers,
/// and each break's finding, when one breaks. A passing audit prints its table.
///
/// Takes no arguments but `crate = "…"`: seeds and limits come from `WHATBREAKS_*` or from the
/// builder (`.seed(…)`, `.seeds(…)`).
///
/// ```no_run
/// use whatbreaks::audit::{Audit, Ctx, World};
///
/// #[whatbreaks::audit]
/// fn likes_service() -> Audit {
///     Audit::new("likes").handler("toggle_like", |world: World, ctx: Ctx| async move {
///         let db = world.db();
///         let key = format!("u1:{}", ctx.key());
///         // One transaction that locks the row: two taps at once toggle twice.
///         let mut tx = db.begin().await;
///         if tx.select_for_update("likes", &key).await.is_some() {
///             tx.delete("likes", &key).await;
///         } else {
///             tx.insert("likes", &key, "1").await;
///         }
///         let _ = tx.commit().await;
///     })
/// }
/// ```
pub use whatbreaks_macros::audit;

/// Thundering herd: checks that retries after a correlated failure do not arrive in lock-step.
///
/// The function is one client's work and takes exactly one [`Upstream`]. It runs once per
/// client, concurrently, on virtual time; every client's first call happens at t=0 and fails,
/// the upstream fails every call inside `outage` and serves normally after it. The test fails
/// when a retry round arrives in lock-step: a same-millisecond cohort far larger than the
/// round's own spread of delays explains (see [`herd`] for the metric).
///
/// ```no_run
/// # async fn my_retry<F, Fut>(f: F) -> Result<whatbreaks::Response, whatbreaks::UpstreamError>
/// # where F: Fn() -> Fut, Fut: std::future::Future<Output = Result<whatbreaks::Response, whatbreaks::UpstreamError>> { f().await }
/// #[whatbreaks::herd_test(clients = 1000, outage = "0s..10s")]
/// async fn retries_spread_out(upstream: whatbreaks::Upstream) {
///     let _ = my_retry(|| upstream.call(whatbreaks::Request::get("/price"))).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `clients` | 1000 | clients, each running the body once |
/// | `outage` | `"0s..10s"` | window in which every call fails |
/// | `max_cohort` | 0.1 | largest share of a retry round allowed in one millisecond |
/// | `min_rounds` | 1 | synchronized retry rounds needed to flag |
/// | `latency` | `"20ms"` | latency of a served call |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn my_retry<F, Fut>(f: F) -> Result<whatbreaks::Response, whatbreaks::UpstreamError>
/// # where F: Fn() -> Fut, Fut: std::future::Future<Output = Result<whatbreaks::Response, whatbreaks::UpstreamError>> { f().await }
/// #[test]
/// fn retries_spread_out() {
///     let report = whatbreaks::HerdTest::new()
///         .clients(1000)
///         .outage(std::time::Duration::from_secs(0)..std::time::Duration::from_secs(10))
///         .run(|upstream: whatbreaks::Upstream| async move {
///             let _ = my_retry(|| upstream.call(whatbreaks::Request::get("/price"))).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::herd_test;

/// Check-then-act races: explores interleavings of the futures the body races and fails when
/// an invariant (`assert!`) breaks under any of them.
///
/// The function takes no arguments. Its body runs once per schedule, each with a fresh seed;
/// futures raced with [`join!`], [`race::join_all`] or [`spawn`] are interleaved by the
/// explorer at every await point, and a ready one may be held back for several steps of the
/// others, even when a timer or a database round trip wakes them (see [`race`]). Each
/// schedule starts at virtual time zero. Simulated components ([`SimDb`]) add seeded latency
/// and record a trace, which the finding shows for the schedule that broke.
///
/// ```no_run
/// # async fn toggle_like(db: &whatbreaks::SimDb, user: &str, post: &str) {}
/// #[whatbreaks::race_test(iterations = 500)]
/// async fn double_tap_like() {
///     let db = whatbreaks::SimDb::new();
///     whatbreaks::join!(toggle_like(&db, "u1", "p1"), toggle_like(&db, "u1", "p1"));
///     assert!(db.count("likes", "u1:p1") <= 1);
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `iterations` | 1000 | schedules (interleavings) to try per seed, each with its own derived seed; `WHATBREAKS_SEEDS=n` explores n × iterations (old spelling: `schedules`) |
/// | `mode` | `"random"` | `"random"`, `"pct"` (priority changes, finds deep delays) or `"fifo"` (tokio's own order) |
/// | `time_limit` | `"1h"` | virtual-time limit of one schedule (a deadlock ends there) |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// A failure's replay line names the failing schedule's seed: replaying it runs exactly that
/// interleaving again.
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn toggle_like(db: &whatbreaks::SimDb, user: &str, post: &str) {}
/// #[test]
/// fn double_tap_like() {
///     let report = whatbreaks::RaceTest::new().iterations(500).run(|| async {
///         let db = whatbreaks::SimDb::new();
///         whatbreaks::join!(toggle_like(&db, "u1", "p1"), toggle_like(&db, "u1", "p1"));
///         assert!(db.count("likes", "u1:p1") <= 1);
///     });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::race_test;

pub use whatbreaks_core::detectors::stampede;
pub use whatbreaks_core::{SimCache, StampedeEnv, StampedeTest};

/// Cache stampede: checks that a cold or expiring hot key sends at most one load per key to
/// the database, counted across every instance of the service.
///
/// The function is one request's work and takes exactly one [`StampedeEnv`]: the hot key it
/// asks for ([`StampedeEnv::key`]), the [`SimCache`] and [`SimDb`] shared by every instance
/// ([`StampedeEnv::cache`], [`StampedeEnv::db`]), the TTL to store entries with
/// ([`StampedeEnv::ttl`]) and [`StampedeEnv::per_instance`], which builds one value per
/// simulated instance for in-process state (a local mutex, a singleflight table). Requests are
/// spread round-robin over `instances`. With `scenario = "cold"` every request misses the same
/// cold keys at once; with `scenario = "expiry"` a warm cache takes steady traffic at `rps`
/// while its entries expire (see [`stampede`] for the metric).
///
/// # Why one instance is not enough
/// A per-key `Mutex` with a re-check of the cache (double-checked locking) lets one request
/// per key through to the database, *per process*. Production runs several instances, each
/// with its own mutex, and they all share one database: with two instances, two loads arrive
/// at once for every cold key. A test with `instances = 1` cannot see this; the same code under
/// `instances = 2` is flagged with "in-process coalescing was defeated by a second instance".
/// Coalescing across instances needs something they all share, such as a lease in the cache
/// ([`SimCache::set_nx`] with a TTL, then a re-check of the cache).
///
/// ```no_run
/// # use std::sync::Arc;
/// # struct ProductService;
/// # impl ProductService {
/// #     fn new(_: whatbreaks::SimCache, _: whatbreaks::SimDb) -> Self { ProductService }
/// #     async fn get_product(&self, _id: &str) {}
/// # }
/// #[whatbreaks::stampede_test(clients = 100, keys = 1, instances = 2)]
/// async fn product_cache(env: whatbreaks::StampedeEnv) {
///     let svc = env.per_instance(|| ProductService::new(env.cache(), env.db()));
///     svc.get_product(&env.key()).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `clients` | 100 | requests of the cold scenario, arriving within 10 ms |
/// | `keys` | 1 | hot keys (`"1"`, `"2"`, …), drawn per request from the seed |
/// | `instances` | 1 | simulated instances; requests are spread round-robin |
/// | `scenario` | `"cold"` | `"cold"` (empty cache) or `"expiry"` (warm cache, entries expire) |
/// | `rps` | 100 | requests per second of the expiry scenario (Poisson arrivals) |
/// | `run_for` | `"10s"` | how long the expiry scenario's traffic lasts (old spelling: `duration`) |
/// | `max_loads_per_key` | 1 | loads allowed per key per cold start or expiry, across instances |
/// | `ttl` | `"1s"` | TTL handed to the code as [`StampedeEnv::ttl`] |
/// | `db_latency` | `"100ms"` | latency of one database load |
/// | `cache_latency` | `"1ms"` | latency of one cache operation |
/// | `outage` | none | window in which every database load fails, e.g. `"0s..1s"` (old spelling: `failing_loads`) |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # struct ProductService;
/// # impl ProductService {
/// #     fn new(_: whatbreaks::SimCache, _: whatbreaks::SimDb) -> Self { ProductService }
/// #     async fn get_product(&self, _id: &str) {}
/// # }
/// #[test]
/// fn product_cache() {
///     let report = whatbreaks::StampedeTest::new()
///         .clients(100)
///         .keys(1)
///         .instances(2)
///         .run(|env: whatbreaks::StampedeEnv| async move {
///             let svc = env.per_instance(|| ProductService::new(env.cache(), env.db()));
///             svc.get_product(&env.key()).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::stampede_test;

pub use whatbreaks_core::components::cluster;
pub use whatbreaks_core::detectors::double_execution;
pub use whatbreaks_core::runtime::{clock, os_clock};
pub use whatbreaks_core::{
    DoubleExecutionTest, Instance, Lease, LeaseError, Occurrence, StaleToken,
};
pub use whatbreaks_core::{install, install_virtual_clock};

/// Double execution: checks that each scheduled occurrence commits exactly once across
/// instances, under pauses, crashes and clock faults.
///
/// The function is one instance's main and takes exactly one [`Instance`]: it starts the
/// scheduler under test and runs until cancelled. The harness runs `instances` copies
/// concurrently on one virtual clock for `run_for`, each with its own in-process state,
/// sharing only the backends reachable through the instance (`instance.leases()`,
/// `instance.store()`, and the effects ledger behind `instance.effect(kind, occurrence)`).
/// The test fails when an occurrence is committed more than once (`double execution`) or, with
/// `every`, when an occurrence is never committed although an instance was healthy
/// (`missed execution`); see [`double_execution`] for the exact properties.
///
/// Schedulers read wall time through `SystemTime::now()` / `chrono::Utc::now()` unmodified in a
/// test binary that installs the virtual system clock ([`install!`]); elsewhere, through the
/// instance's clock ([`Instance::clock`], [`clock::system_now`]). A run in which no instance
/// committed anything fails with a configuration finding (its premise never happened).
///
/// ```no_run
/// # async fn run_scheduler(instance: whatbreaks::Instance, job: impl Fn(std::time::SystemTime)) {}
/// #[whatbreaks::double_execution_test(instances = 2, run_for = "10m", every = "1m")]
/// async fn daily_report(instance: whatbreaks::Instance) {
///     // one instance's main: start the scheduler under test and run until cancelled
///     run_scheduler(instance.clone(), |slot| instance.effect("daily_report", slot)).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `instances` | 2 | copies of the body running concurrently |
/// | `run_for` | `"10m"` | virtual time before every instance is cancelled |
/// | `every` | none | the schedule's period; turns on the missed-execution check (slots `k · every` after the epoch) |
/// | `pause` | none | stop-the-world pauses, `"1@90s+45s"`: instance 1 at 90 s for 45 s |
/// | `crash` | none | `"0@5m"` (stays down) or `"0@5m+30s"` (restarts 30 s later) |
/// | `skew` | none | `"1:+2s"`: instance 1's wall clock runs 2 s ahead |
/// | `jump` | none | `"0@4m+1h"`: instance 0's wall clock jumps 1 h ahead at 4 min |
/// | `partition` | none | `"1@3m+1m"`: instance 1 cannot reach the lease store for 1 min |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Fault strings are checked at compile time; several faults of one kind are
/// comma-separated (`pause = "0@1m+10s, 1@5m+45s"`).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn run_scheduler(instance: whatbreaks::Instance, job: impl Fn(std::time::SystemTime)) {}
/// #[test]
/// fn daily_report() {
///     let report = whatbreaks::DoubleExecutionTest::new()
///         .instances(2)
///         .run_for(std::time::Duration::from_secs(600))
///         .every(std::time::Duration::from_secs(60))
///         .run(|instance: whatbreaks::Instance| async move {
///             run_scheduler(instance.clone(), |slot| instance.effect("daily_report", slot)).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::double_execution_test;

pub use whatbreaks_core::components::{measure, sink, table};
pub use whatbreaks_core::detectors::{leak, scale};
pub use whatbreaks_core::{LeakEnv, LeakTest, ScaleTest, install_counting_allocator};

/// Slow leak: checks that memory, and any gauge, does not grow with every cycle.
///
/// The function is **one cycle** (a connection that connects and disconnects, one request,
/// one job) and takes exactly one [`LeakEnv`]. It runs `warmup` times, then `iterations`
/// times, on virtual time; whatbreaks samples the heap of the simulation thread and every gauge
/// and fails when one grows steadily per cycle (see [`leak`] for the rule). State that lives
/// across cycles comes from [`LeakEnv::shared`]; [`LeakEnv::gauge`] watches a figure. The
/// finding extrapolates: "+312 B per connection, +298 MiB after 1,000,000 connections". The
/// test binary must install the counting allocator ([`install_counting_allocator!`]).
///
/// ```no_run
/// # struct NotificationService;
/// # impl NotificationService { fn new() -> Self { NotificationService } fn listener_count(&self) -> usize { 0 } }
/// # async fn one_connect_disconnect_cycle(_: &NotificationService) {}
/// whatbreaks::install_counting_allocator!();
///
/// #[whatbreaks::leak_test(iterations = 10_000)]
/// async fn notification_listeners(env: whatbreaks::LeakEnv) {
///     let svc = env.shared(|| NotificationService::new()); // one instance across all cycles
///     env.gauge("listeners", { let s = svc.clone(); move || s.listener_count() });
///     one_connect_disconnect_cycle(&svc).await; // the body is one cycle
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `iterations` | 2000 | cycles measured after the warm-up (old spelling: `cycles`) |
/// | `warmup` | `iterations / 10` (10..1000) | cycles run before sampling starts |
/// | `extrapolate` | 1000000 | production volume the finding extrapolates to |
/// | `max_growth_per_cycle` | `"8B"` | heap growth per cycle allowed |
/// | `unit` | `"cycle"` | what one cycle is called in messages, e.g. `"connection"` |
/// | `time_limit` | `"24h"` | virtual-time limit of all cycles together |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # struct NotificationService;
/// # impl NotificationService { fn new() -> Self { NotificationService } fn listener_count(&self) -> usize { 0 } }
/// # async fn one_connect_disconnect_cycle(_: &NotificationService) {}
/// #[test]
/// fn notification_listeners() {
///     let report = whatbreaks::LeakTest::new()
///         .iterations(10_000)
///         .run(|env: whatbreaks::LeakEnv| async move {
///             let svc = env.shared(|| NotificationService::new());
///             env.gauge("listeners", { let s = svc.clone(); move || s.listener_count() });
///             one_connect_disconnect_cycle(&svc).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::leak_test;

/// Unbounded memory at scale: checks that peak memory, extrapolated to production size, stays
/// under a bound.
///
/// The function does its work once at size `n` and takes exactly one `n: u64`. It runs at each
/// of `sizes`; whatbreaks records the peak heap of the simulation thread and the virtual time,
/// takes the growth exponent between the two largest sizes, extrapolates to `target` and
/// fails when the peak there exceeds `max_peak` (or the time exceeds `max_time`, if given):
/// "peak grows as n^1.00: 500,000,000 rows need ~480 GiB" (see [`scale`]). The test binary
/// must install the counting allocator ([`install_counting_allocator!`]).
///
/// ```no_run
/// # #[derive(Debug)] struct Order(u64);
/// # fn order_row(i: u64) -> Order { Order(i) }
/// # async fn export_to_csv<W: std::io::Write>(t: &whatbreaks::store::Table<Order>, _: W) -> std::io::Result<()> { Ok(()) }
/// whatbreaks::install_counting_allocator!();
///
/// #[whatbreaks::scale_test(sizes = [1_000, 10_000, 100_000], target = 500_000_000, max_peak = "1GiB")]
/// async fn export_orders(n: u64) {
///     let table = whatbreaks::store::Table::generated(n, |i| order_row(i));
///     export_to_csv(&table, whatbreaks::sink::discard()).await.unwrap();
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `sizes` | `[1_000, 10_000, 100_000]` | sizes measured (at least two) |
/// | `target` | 500000000 | production size the figures are extrapolated to |
/// | `max_peak` | `"1GiB"` | peak memory allowed at `target` |
/// | `max_time` | not checked | virtual time allowed at `target`, e.g. `"10m"` |
/// | `unit` | `"row"` | what one unit of size is called in messages |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # #[derive(Debug)] struct Order(u64);
/// # fn order_row(i: u64) -> Order { Order(i) }
/// # async fn export_to_csv<W: std::io::Write>(t: &whatbreaks::store::Table<Order>, _: W) -> std::io::Result<()> { Ok(()) }
/// #[test]
/// fn export_orders() {
///     let report = whatbreaks::ScaleTest::new()
///         .sizes(&[1_000, 10_000, 100_000])
///         .target(500_000_000)
///         .max_peak(1 << 30)
///         .run(|n: u64| async move {
///             let table = whatbreaks::store::Table::generated(n, |i| order_row(i));
///             export_to_csv(&table, whatbreaks::sink::discard()).await.unwrap();
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::scale_test;

pub use whatbreaks_core::HangTest;
pub use whatbreaks_core::detectors::hang;

/// Hung upstreams and missing timeouts: checks that every call into an upstream that stops
/// answering ends within a bound.
///
/// The function is one request's work and takes exactly one [`Upstream`]. Requests arrive at
/// `rps` for `run_for`; inside `hang` the upstream accepts calls and never answers. The test
/// fails when calls into the hang are still waiting a `grace` period after the traffic ends
/// (no timeout), or ended only after more than `max_wait` (a timeout too long); the finding
/// gives the peak in flight and the clients still waiting (see [`hang`]).
///
/// ```no_run
/// use std::time::Duration;
///
/// #[whatbreaks::hang_test(hang = "10s..40s", max_wait = "5s")]
/// async fn every_attempt_has_a_timeout(upstream: whatbreaks::Upstream) {
///     for _ in 0..3 {
///         let call = upstream.call(whatbreaks::Request::get("/price"));
///         if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), call).await {
///             return;
///         }
///     }
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `rps` | 20 | requests per second |
/// | `run_for` | `"60s"` | how long requests arrive |
/// | `hang` | `"10s..40s"` | when the upstream accepts calls and never answers |
/// | `max_wait` | `"10s"` | the longest a call into the hang may wait |
/// | `grace` | `"60s"` | how long the run goes on after the traffic ends |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
pub use whatbreaks_macros::hang_test;

pub use whatbreaks_core::detectors::cancel;
pub use whatbreaks_core::{CancelEnv, CancelTest};

/// Partial writes and cancellation at await points: checks that a request's writes are all or
/// nothing when its future is dropped half-way (a disconnect, a `timeout`, a `select!`), or
/// its instance crashes between two writes.
///
/// The function is one request and takes exactly one [`CancelEnv`], whose [`SimDb`]
/// (`env.db()`) records every statement with its `file:line`. Rows the request reads are
/// seeded with [`SimDb::seed`] before the function's first `.await` (the state then is
/// "before"; the builder has [`CancelTest::setup`] and [`CancelTest::invariant`] too). The
/// request runs once to its end ("after"), then once per await point, its future dropped
/// there; with `cut = "crash"` the instance dies right after each write instead (`"both"`:
/// both kinds of cut). The test fails
/// when a cut leaves a state that is neither "before" nor "after", or the request's own
/// timeout drops a write in flight after another landed; the finding names the cut's
/// `file:line` and the writes that landed and did not (see [`cancel`]).
///
/// ```no_run
/// #[whatbreaks::cancel_test(cut = "both")]
/// async fn process_order_is_all_or_nothing(env: whatbreaks::CancelEnv) {
///     let db = env.db();
///     db.seed("inventory", "sku-1", "10"); // set-up, before the first await
///     let mut tx = db.begin().await;
///     tx.update("inventory", "sku-1", "9").await;
///     tx.insert("shipments", "o1", "sku-1").await;
///     let _ = tx.commit().await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `cut` | `"cancel"` | `"cancel"` (the future dropped at each await point; spawned tasks go on), `"crash"` (the instance dies after each write; spawned tasks die too) or `"both"` |
/// | `settle` | `"10s"` | how long the runtime runs on after a cut, so spawned tasks finish |
/// | `latency` | `"10ms"` | the fixed latency of every table statement |
/// | `jitter` | `"2ms"` | the largest seeded latency added to each statement |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
pub use whatbreaks_macros::cancel_test;

pub use whatbreaks_core::detectors::n_plus_one;
pub use whatbreaks_core::{NPlusOneTest, QueryEnv};

/// N+1 queries: checks that a handler's query count does not grow with the size of its
/// result.
///
/// The function is one request and takes exactly one [`QueryEnv`]: its result size
/// (`env.size()`) and a fresh [`SimDb`] (`env.db()`). It runs once at each of `sizes`; it seeds
/// the rows for that size with [`SimDb::seed`] (not counted) and does the request's work;
/// whatbreaks counts the statements it sends and fails when they grow by
/// `max_queries_per_item` or more per item: "101 queries for 100 items" (see [`n_plus_one`]).
///
/// ```no_run
/// #[whatbreaks::n_plus_one_test(sizes = [1, 10, 100])]
/// async fn posts_with_authors(env: whatbreaks::QueryEnv) {
///     let db = env.db();
///     for i in 0..env.size() {
///         db.seed("posts", &i.to_string(), format!("author{}", i % 7));
///         db.seed("authors", &format!("author{}", i % 7), "Ada");
///     }
///     // One query for the posts, one for all their authors.
///     let posts = db.scan("posts").await;
///     let authors: Vec<String> = posts.into_iter().map(|(_, a)| a).collect();
///     let _ = db.get_many("authors", &authors).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `sizes` | `[1, 10, 100]` | result sizes run (at least two), each on a fresh database |
/// | `max_queries_per_item` | 0.5 | queries per item of the result at which the code is flagged |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
pub use whatbreaks_macros::n_plus_one_test;

pub use whatbreaks_core::detectors::silent;
pub use whatbreaks_core::{SilentEnv, SilentErrorTest};

/// Silent errors: checks that every request that fails leaves a warn or error event that
/// carries its request id, and that no error is swallowed.
///
/// The function is one request's handler and takes exactly one [`SilentEnv`]: its
/// correlation id (`env.request_id()`, `req-17`), an [`Upstream`] whose calls fail at
/// `error_rate` and a [`SimDb`] whose loads fail at `db_fail_rate`. It returns what the
/// handler returns: `()`, a `Result` (`Err` fails), a `u16` or, with feature `http`, an
/// `http::StatusCode` (500 or more fails); a panic fails too. The test fails when a request
/// failed, or met an error and answered success, without any warn or error event (`silent
/// error`), or when such an event carries no request id in its fields or its spans (`error
/// without correlation id`); see [`silent`].
///
/// ```no_run
/// use tracing::Instrument;
///
/// #[whatbreaks::silent_error_test(error_rate = 0.2)]
/// async fn errors_are_logged_with_the_request_id(env: whatbreaks::SilentEnv) -> u16 {
///     let span = tracing::info_span!("request", request_id = %env.request_id());
///     async {
///         match env.upstream().call(whatbreaks::Request::get("/price")).await {
///             Ok(_) => 200,
///             Err(e) => {
///                 tracing::error!(error = %e, "price lookup failed");
///                 502
///             }
///         }
///     }
///     .instrument(span)
///     .await
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `rps` | 20 | requests per second |
/// | `run_for` | `"30s"` | how long requests arrive |
/// | `error_rate` | 0.2 | share of upstream calls that fail with 503 |
/// | `db_fail_rate` | 0.1 | share of database loads that fail |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
pub use whatbreaks_macros::silent_error_test;

pub use whatbreaks_core::detectors::pool::watch as pool_watch;
pub use whatbreaks_core::{ManualConn, PoolTest, PooledConn, QueryError, SimPool};

/// Connection pools: the simulated pool ([`SimPool`], from
/// [`whatbreaks_core::components::pool`]) and its detector ([`PoolTest`], from
/// [`whatbreaks_core::detectors::pool`]), under one name.
pub mod pool {
    pub use whatbreaks_core::components::pool::*;
    pub use whatbreaks_core::detectors::pool::*;
}

/// Connection pools: checks that every connection comes back, that no acquire waits forever,
/// and that pool deadlock is reported instead of hanging.
///
/// The function is one client's work and takes exactly one [`SimPool`], shared by all
/// clients. It runs once per client; clients arrive uniformly over `arrivals`. Queries take a
/// seeded latency and fail, hang or run slow at the given rates. The test fails on a leaked
/// connection (with its checkout site), a pool deadlock (every connection held by a task
/// waiting to acquire; the run stops at once), acquires that would wait forever, or acquires
/// that waited longer than `max_wait` (with connections held across slow work named). See
/// [`pool`] for the rules.
///
/// ```no_run
/// # async fn process_order_with(pool: &whatbreaks::SimPool, id: &str) -> Result<(), whatbreaks::QueryError> {
/// #     let conn = pool.get().await?; conn.query(id).await }
/// #[whatbreaks::pool_test(size = 4, clients = 200, error_rate = 0.1)]
/// async fn process_order(pool: whatbreaks::SimPool) {
///     let _ = process_order_with(&pool, "order-1").await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `size` | 10 | connections in the pool |
/// | `clients` | 100 | clients, each running the body once |
/// | `arrivals` | `"0s..10s"` | clients arrive uniformly over this window (old spelling: `window`) |
/// | `acquire_timeout` | `"none"` | how long an acquire waits (`"none"`: forever, like deadpool) |
/// | `error_rate` | 0 | share of queries that fail |
/// | `hang_rate` | 0 | share of queries that never return (the connection is lost) |
/// | `slow_rate` | 0 | share of queries that take `slow_latency` |
/// | `slow_latency` | `"1s"` | latency of a slow query |
/// | `latency` | `"5ms"` | typical query latency (drawn from 0.5x..1.5x) |
/// | `max_wait` | `"1s"` | longest acceptable acquire wait |
/// | `slow_hold` | `"100ms"` | hold time beyond query time that counts as slow work |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn process_order_with(pool: &whatbreaks::SimPool, id: &str) -> Result<(), whatbreaks::QueryError> {
/// #     let conn = pool.get().await?; conn.query(id).await }
/// #[test]
/// fn process_order() {
///     let report = whatbreaks::PoolTest::new()
///         .size(4)
///         .clients(200)
///         .error_rate(0.1)
///         .run(|pool: whatbreaks::SimPool| async move {
///             let _ = process_order_with(&pool, "order-1").await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::pool_test;

pub use whatbreaks_core::RetryStormTest;
pub use whatbreaks_core::detectors::{backoff, storm};

/// Retry storm and duplicate side effects: checks what retries do to a degraded upstream and
/// to the effects it commits.
///
/// The function is one logical request's work (retries included) and takes exactly one
/// [`Upstream`]. Requests arrive open-loop (seeded Poisson) at `rps` for `run_for`; each
/// runs the body once, with its own logical request id shared by its retries. Inside
/// `outage` the upstream fails calls (all of them at once by default; a share of them with
/// `error_rate`; slowly with `outage_latency`). The test fails when (see [`storm`]):
/// - upstream calls per logical request exceed `max_amplification` (`retry storm`);
/// - a logical request commits its effect more than once, e.g. a `POST` without a stable
///   idempotency key retried after an `ambiguous` failure (`duplicate side effects`);
/// - a non-retryable answer (4xx other than 408/429; `bad_requests` of the calls are answered
///   400) is retried (`non-retryable error retried`).
///
/// ```no_run
/// # async fn charge_with_retries(_: &whatbreaks::Upstream) -> Result<(), ()> { Ok(()) }
/// #[whatbreaks::retry_storm_test(rps = 100, run_for = "60s", outage = "0s..60s", max_amplification = 1.2)]
/// async fn payment_calls_are_budgeted(upstream: whatbreaks::Upstream) {
///     // one logical request; the body runs once per arrival
///     let _ = charge_with_retries(&upstream).await;
/// }
/// ```
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `rps` | 100 | logical requests per second (Poisson arrivals) |
/// | `run_for` | `"60s"` | how long requests keep arriving (old spelling: `duration`) |
/// | `outage` | `"10s..40s"` | window in which the upstream fails calls (old spelling: `degraded`) |
/// | `error_rate` | 1 | share of calls failing in the window (1: all, at once; below 1: 503 after the latency) |
/// | `outage_latency` | none | latency of every call in the window: slow responses, for clients with a timeout (old spelling: `degraded_latency`) |
/// | `max_amplification` | 1.5 | upstream calls per logical request allowed over the run |
/// | `ambiguous` | 0 | share of `POST`/`PUT`/`DELETE` calls that commit, then lose their response |
/// | `bad_requests` | 0.01 | share of calls answered 400 |
/// | `latency` | `"20ms"` | latency of a served call |
/// | `seed` | random, printed | first seed to run |
/// | `seeds` | 1 | seeds to run: the first, then seeds derived from it |
/// | `time_limit` | `"1h"` | virtual-time limit of one run |
/// | `watchdog` | `"60s"` | wall-clock limit of one run |
/// | `crate` | `"::whatbreaks"` | path the expansion names `whatbreaks` by, for a renamed dependency (`crate = "wb"`) |
///
/// The environment overrides `seed`, `seeds`, `time_limit` and `watchdog`: see
/// [Configuration](crate#configuration).
///
/// Equivalent code without the attribute:
///
/// ```no_run
/// # async fn charge_with_retries(_: &whatbreaks::Upstream) -> Result<(), ()> { Ok(()) }
/// use std::time::Duration;
/// #[test]
/// fn payment_calls_are_budgeted() {
///     let report = whatbreaks::RetryStormTest::new()
///         .rps(100.0)
///         .run_for(Duration::from_secs(60))
///         .outage(Duration::from_secs(0)..Duration::from_secs(60))
///         .max_amplification(1.2)
///         .run(|upstream: whatbreaks::Upstream| async move {
///             let _ = charge_with_retries(&upstream).await;
///         });
///     report.assert_clean();
/// }
/// ```
pub use whatbreaks_macros::retry_storm_test;

/// Common imports: `use whatbreaks::prelude::*;`.
pub mod prelude {
    pub use crate::{CancelEnv, CancelTest, cancel_test};
    pub use crate::{DoubleExecutionTest, Instance, double_execution_test};
    pub use crate::{HangTest, hang_test};
    pub use crate::{
        HerdTest, RaceTest, Report, Request, Response, SimDb, Upstream, UpstreamError, herd_test,
        race_test,
    };
    pub use crate::{LeakEnv, LeakTest, ScaleTest, leak_test, scale_test};
    pub use crate::{NPlusOneTest, QueryEnv, n_plus_one_test};
    pub use crate::{PoolTest, SimPool, pool_test};
    pub use crate::{RetryStormTest, retry_storm_test};
    pub use crate::{SilentEnv, SilentErrorTest, silent_error_test};
    pub use crate::{SimCache, StampedeEnv, StampedeTest, stampede_test};
    pub use rand::RngExt as _;
}

#[doc(hidden)]
pub use whatbreaks_core::__private;

// Feature modules (`http`, `postgres`, `redis`), present whenever core's feature is on,
// whichever crate turned it on (the facade's own tests turn on `http` through core). Without
// features the glob is empty, which is not worth a warning in a dependent's build.
#[allow(unused_imports, unreachable_pub)]
pub use whatbreaks_core::features::*;

/// Real-time mode for checks against real services (`postgres`, `redis` features): see
/// [`whatbreaks_core::backends::realtime`].
pub use whatbreaks_core::backends::realtime;
