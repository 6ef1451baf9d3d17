//! Real backends: the same bugs and fixes as the simulated patterns, against a real
//! PostgreSQL and a real Redis (features `postgres` and `redis`): the double-tap like, the
//! double sign-up (code written with `transaction()` and its own error type), a leaked pooled
//! connection, a scheduler on several instances, cache-aside under a cold start.
//!
//! Shared by `examples/backends.rs` and `tests/backends/`.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use whatbreaks::postgres::tokio_postgres::{Client, Error as PgError};
use whatbreaks::postgres::{AdvisoryLock, WatchedPgPool};
use whatbreaks::realtime::RealInstance;
use whatbreaks::redis::client::aio::MultiplexedConnection;
use whatbreaks::redis::client::{RedisError, cmd};
use whatbreaks::redis::{RedisLease, RedisStampedeEnv};

// ---------------------------------------------------------------- the double-tap like

/// The like tables as the buggy code has them: no unique constraint on a like.
pub(crate) const LIKES_SETUP_BUGGY: &str = "
    CREATE TABLE posts (id text PRIMARY KEY, likes bigint NOT NULL);
    CREATE TABLE likes (user_id text NOT NULL, post_id text NOT NULL);";

/// The fixed tables: one like per user and post, decided by the database.
pub(crate) const LIKES_SETUP_FIXED: &str = "
    CREATE TABLE posts (id text PRIMARY KEY, likes bigint NOT NULL);
    CREATE TABLE likes (user_id text NOT NULL, post_id text NOT NULL,
                        PRIMARY KEY (user_id, post_id));";

/// Before each trial: post `p1` at zero likes.
pub(crate) const LIKES_RESET: &str =
    "TRUNCATE likes; DELETE FROM posts; INSERT INTO posts VALUES ('p1', 0);";

/// One row per violation: a doubled like, or a counter that drifted from the likes table.
pub(crate) const LIKES_INVARIANT: &str = "
    SELECT 'doubled like' AS problem, user_id || '/' || post_id AS what, count(*) AS n
      FROM likes GROUP BY user_id, post_id HAVING count(*) > 1
    UNION ALL
    SELECT 'counter drift', p.id, p.likes
      FROM posts p
     WHERE p.likes <> (SELECT count(*) FROM likes l WHERE l.post_id = p.id)";

async fn add_to_counter(db: &Client, post: &str, delta: i64) -> Result<(), PgError> {
    let n: i64 = db
        .query_one("SELECT likes FROM posts WHERE id = $1", &[&post])
        .await?
        .get(0);
    db.execute(
        "UPDATE posts SET likes = $2 WHERE id = $1",
        &[&post, &(n + delta)],
    )
    .await?;
    Ok(())
}

/// BUGGY: the seed article's toggle: select, then insert or delete, then read-modify-write
/// the counter, each its own statement. Two taps at once both see "not liked".
pub(crate) async fn toggle_like(db: &Client, user: &str, post: &str) -> Result<(), PgError> {
    let liked = db
        .query_opt(
            "SELECT 1 FROM likes WHERE user_id = $1 AND post_id = $2",
            &[&user, &post],
        )
        .await?
        .is_some();
    if liked {
        db.execute(
            "DELETE FROM likes WHERE user_id = $1 AND post_id = $2",
            &[&user, &post],
        )
        .await?;
        add_to_counter(db, post, -1).await
    } else {
        db.execute(
            "INSERT INTO likes (user_id, post_id) VALUES ($1, $2)",
            &[&user, &post],
        )
        .await?;
        add_to_counter(db, post, 1).await
    }
}

/// FIXED: one transaction that locks the post row (`SELECT … FOR UPDATE`) before it checks,
/// so the second tap waits for the first to commit and then sees its like; the insert is
/// `ON CONFLICT DO NOTHING` against the primary key, and the counter moves in SQL.
pub(crate) async fn toggle_like_locked(db: &Client, user: &str, post: &str) -> Result<(), PgError> {
    db.batch_execute("BEGIN").await?;
    let r = async {
        db.query_one("SELECT likes FROM posts WHERE id = $1 FOR UPDATE", &[&post])
            .await?;
        let removed = db
            .execute(
                "DELETE FROM likes WHERE user_id = $1 AND post_id = $2",
                &[&user, &post],
            )
            .await?;
        let delta: i64 = if removed > 0 {
            -1
        } else {
            let added = db
                .execute(
                    "INSERT INTO likes (user_id, post_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&user, &post],
                )
                .await?;
            added as i64
        };
        db.execute(
            "UPDATE posts SET likes = likes + $2 WHERE id = $1",
            &[&post, &delta],
        )
        .await?;
        Ok::<(), PgError>(())
    }
    .await;
    match r {
        Ok(()) => db.batch_execute("COMMIT").await,
        Err(e) => {
            let _ = db.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

// ---------------------------------------------------------------- pooled connections

/// BUGGY: looks the order up and `mem::forget`s the pooled connection: it never goes back.
pub(crate) async fn lookup_order_leaky(pool: WatchedPgPool) {
    if let Ok(conn) = pool.get().await {
        let _ = conn.query_one("SELECT 42::bigint", &[]).await;
        std::mem::forget(conn);
    }
}

/// FIXED: the guard drops at the end of the scope (RAII) and the connection goes back.
pub(crate) async fn lookup_order(pool: WatchedPgPool) {
    if let Ok(conn) = pool.get().await {
        let _ = conn.query_one("SELECT 42::bigint", &[]).await;
    }
}

// ---------------------------------------------------------------- the scheduler

/// BUGGY: every instance runs its own copy of the schedule.
pub(crate) async fn run_everywhere(i: RealInstance) {
    for k in 1..=i.ticks() {
        i.until_tick(k).await;
        i.effect("daily_report", k, None);
    }
}

/// A scheduler that claims each due occurrence in Redis (`SET <job>:<k> <token> NX PX ttl`,
/// token from `INCR`) and marks it done after committing. Each tick it looks at every due
/// occurrence, so a claim that expired (its holder paused) is taken over by another instance.
///
/// The first instance to claim tick 3 pauses (a stop-the-world pause) past its claim's TTL
/// before it commits. `fenced`: the effect carries the fencing token and the storage rejects
/// a token lower than one it already accepted for that occurrence; without it the paused
/// instance commits tick 3 a second time.
pub(crate) async fn claiming_scheduler(
    i: RealInstance,
    conn: MultiplexedConnection,
    prefix: String,
    paused: Arc<AtomicBool>,
    fenced: bool,
) {
    let ttl = i.every() * 2;
    for k in 1..=i.ticks() {
        i.until_tick(k).await;
        for occ in 1..=k {
            let job = format!("{prefix}daily_report:{occ}");
            let mut c = conn.clone();
            let done: Option<String> = cmd("GET")
                .arg(format!("{job}:done"))
                .query_async(&mut c)
                .await
                .unwrap_or(None);
            if done.is_some() {
                continue;
            }
            let lease = RedisLease::new(conn.clone(), job.clone());
            let Ok(Some(token)) = lease.try_acquire(ttl).await else {
                continue;
            };
            if occ == 3 && !paused.swap(true, Ordering::SeqCst) {
                // A GC pause or a stalled VM: the claim expires meanwhile.
                tokio::time::sleep(i.every() * 4).await;
            }
            let resource = format!("daily_report/{occ}");
            if i.effect_on(&resource, "daily_report", occ, fenced.then_some(token)) {
                let _: Result<(), RedisError> = cmd("SET")
                    .arg(format!("{job}:done"))
                    .arg(token)
                    .query_async(&mut c)
                    .await;
            }
        }
    }
}

/// BUGGY with PostgreSQL: "lock, run, unlock" around each occurrence with a session advisory
/// lock. The lock only keeps runs from overlapping: an instance whose timer fires a little
/// later finds the lock free again and runs the same occurrence.
pub(crate) async fn advisory_lock_per_run(i: RealInstance, lock: AdvisoryLock) {
    for k in 1..=i.ticks() {
        i.until_tick(k).await;
        if lock.try_lock().await.unwrap_or(false) {
            i.effect("daily_report", k, None);
            let _ = lock.unlock().await;
        }
    }
    i.finish().await;
}

/// FIXED with PostgreSQL: leader election with a session advisory lock; only the session
/// that holds it runs the schedule, and it keeps the lock while it runs (the lock goes with
/// the session when the instance dies).
pub(crate) async fn advisory_leader(i: RealInstance, lock: AdvisoryLock) {
    let mut leader = false;
    for k in 1..=i.ticks() {
        i.until_tick(k).await;
        if !leader {
            leader = lock.try_lock().await.unwrap_or(false);
        }
        if leader {
            i.effect("daily_report", k, None);
        }
    }
    // Still running, still the leader: let go only once everyone is done.
    i.finish().await;
    if leader {
        let _ = lock.unlock().await;
    }
}

// ---------------------------------------------------------------- the cold cache

/// BUGGY: cache-aside (the seed article's `getProduct`): every client that misses loads.
pub(crate) async fn get_product(env: RedisStampedeEnv) -> Result<String, RedisError> {
    let mut c = env.conn();
    let cached: Option<String> = cmd("GET").arg(env.key()).query_async(&mut c).await?;
    if let Some(v) = cached {
        return Ok(v);
    }
    let v = env.load().await;
    let _: () = cmd("SET")
        .arg(env.key())
        .arg(&v)
        .arg("PX")
        .arg(env.ttl().as_millis() as u64)
        .query_async(&mut c)
        .await?;
    Ok(v)
}

/// FIXED: a lock in Redis (`SET <key>:lock <token> NX PX`): one client loads, re-checking the
/// cache after it took the lock; the others poll the cache (bounded: 2 s, then load).
pub(crate) async fn get_product_locked(env: RedisStampedeEnv) -> Result<String, RedisError> {
    let mut c = env.conn();
    let lock = RedisLease::new(env.conn(), env.helper_key("lock"));
    for _ in 0..200 {
        let cached: Option<String> = cmd("GET").arg(env.key()).query_async(&mut c).await?;
        if let Some(v) = cached {
            return Ok(v);
        }
        if let Some(token) = lock.try_acquire(Duration::from_secs(5)).await? {
            let again: Option<String> = cmd("GET").arg(env.key()).query_async(&mut c).await?;
            let v = match again {
                Some(v) => v,
                None => {
                    let v = env.load().await;
                    let _: () = cmd("SET")
                        .arg(env.key())
                        .arg(&v)
                        .arg("PX")
                        .arg(env.ttl().as_millis() as u64)
                        .query_async(&mut c)
                        .await?;
                    v
                }
            };
            lock.release(token).await?;
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(env.load().await)
}

// ---------------------------------------------------------------- the scenarios

/// The double-tap like on 2 (buggy) or 4 (fixed) real connections, 15 trials.
pub(crate) fn likes_report(fixed: bool) -> whatbreaks::Report {
    use whatbreaks::postgres::{PgConn, PgRaceTest};
    let test = PgRaceTest::new()
        .trials(15)
        .reset(LIKES_RESET)
        .invariant(LIKES_INVARIANT);
    if fixed {
        test.connections(4)
            .setup(LIKES_SETUP_FIXED)
            .run(|db: PgConn| async move { toggle_like_locked(&db, "u1", "p1").await })
    } else {
        test.connections(2)
            .setup(LIKES_SETUP_BUGGY)
            .run(|db: PgConn| async move { toggle_like(&db, "u1", "p1").await })
    }
}

// ---------------------------------------------------------------- the double sign-up

/// The users table as the buggy code has it: nothing stops two rows with one email.
pub(crate) const USERS_SETUP_BUGGY: &str = "CREATE TABLE users (email text NOT NULL)";

/// The fixed table: the database decides which sign-up wins.
pub(crate) const USERS_SETUP_FIXED: &str = "CREATE TABLE users (email text PRIMARY KEY)";

pub(crate) const USERS_RESET: &str = "TRUNCATE users";

/// The application's own error, as a service has one (not `tokio_postgres::Error`).
#[derive(Debug)]
pub(crate) enum SignUpError {
    EmailTaken,
    Db(PgError),
}

impl std::fmt::Display for SignUpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignUpError::EmailTaken => f.write_str("email already registered"),
            SignUpError::Db(e) => write!(f, "database: {e}"),
        }
    }
}

impl From<PgError> for SignUpError {
    fn from(e: PgError) -> Self {
        SignUpError::Db(e)
    }
}

/// BUGGY: checks for the email, then inserts, in one `READ COMMITTED` transaction: two
/// sign-ups at once both see no user, and both succeed.
pub(crate) async fn sign_up(db: &mut Client, email: &str) -> Result<(), SignUpError> {
    let tx = db.transaction().await?;
    if tx
        .query_opt("SELECT 1 FROM users WHERE email = $1", &[&email])
        .await?
        .is_some()
    {
        return Err(SignUpError::EmailTaken);
    }
    tx.execute("INSERT INTO users VALUES ($1)", &[&email])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// FIXED: the primary key decides; the loser's `ON CONFLICT DO NOTHING` inserts nothing.
pub(crate) async fn sign_up_unique(db: &mut Client, email: &str) -> Result<(), SignUpError> {
    let tx = db.transaction().await?;
    let inserted = tx
        .execute(
            "INSERT INTO users VALUES ($1) ON CONFLICT DO NOTHING",
            &[&email],
        )
        .await?;
    tx.commit().await?;
    if inserted == 0 {
        return Err(SignUpError::EmailTaken);
    }
    Ok(())
}

/// Two sign-ups with one email on two real connections, 15 trials: exactly one must succeed.
pub(crate) fn sign_up_report(fixed: bool) -> whatbreaks::Report {
    use whatbreaks::postgres::{BodyResult, PgConn, PgRaceTest};
    let test =
        PgRaceTest::new()
            .trials(15)
            .reset(USERS_RESET)
            .results(|results: &[BodyResult]| {
                let won = results.iter().filter(|r| r.is_ok()).count();
                if won == 1 {
                    Ok(())
                } else {
                    Err(format!("{won} sign-ups with one email succeeded"))
                }
            });
    if fixed {
        test.setup(USERS_SETUP_FIXED)
            .run_app(
                |mut db: PgConn| async move { sign_up_unique(&mut db, "ada@example.com").await },
            )
    } else {
        test.setup(USERS_SETUP_BUGGY)
            .run_app(|mut db: PgConn| async move { sign_up(&mut db, "ada@example.com").await })
    }
}

/// 3 clients that leak (or 12 that do not) on a real deadpool-postgres pool of 4.
pub(crate) fn pool_report(leaky: bool) -> whatbreaks::Report {
    use whatbreaks::postgres::PgPoolWatch;
    if leaky {
        PgPoolWatch::new()
            .clients(3)
            .max_size(4)
            .run(lookup_order_leaky)
    } else {
        PgPoolWatch::new().clients(12).max_size(4).run(lookup_order)
    }
}

/// 3 real-time instances, 8 ticks 50 ms apart.
pub(crate) fn cluster() -> whatbreaks::realtime::RealDoubleExecution {
    whatbreaks::realtime::RealDoubleExecution::new()
        .instances(3)
        .ticks(8)
        .every(Duration::from_millis(50))
}

/// The Redis claiming scheduler whose first claimer of tick 3 pauses, with or without
/// fencing tokens. Each instance opens its own Redis client.
pub(crate) fn claims_report(fenced: bool) -> whatbreaks::Report {
    use whatbreaks::redis::{Namespace, connect, url};
    let url = url();
    let ns = Namespace::new(&url);
    let prefix = ns.key("");
    let paused = Arc::new(AtomicBool::new(false));
    cluster()
        .backend("Redis SET NX PX claims, tokens from INCR")
        .run(move |i: RealInstance| {
            let (url, prefix, paused) = (url.clone(), prefix.clone(), paused.clone());
            async move {
                let Ok(conn) = connect(&url).await else {
                    return;
                };
                claiming_scheduler(i, conn, prefix, paused, fenced).await
            }
        })
}

/// The advisory-lock schedulers (each instance its own session), timers 10 ms apart.
pub(crate) fn advisory_report(leader: bool) -> whatbreaks::Report {
    let url = whatbreaks::postgres::url();
    let key = 0x5eed_0000_0000_i64 + 2 * i64::from(std::process::id()) + i64::from(leader);
    cluster()
        .lag(Duration::from_millis(10))
        .backend("PostgreSQL session advisory lock")
        .run(move |i: RealInstance| {
            let url = url.clone();
            async move {
                let Ok(lock) = AdvisoryLock::open(&url, key).await else {
                    return;
                };
                if leader {
                    advisory_leader(i, lock).await
                } else {
                    advisory_lock_per_run(i, lock).await
                }
            }
        })
}

/// 20 clients ask a real Redis for one cold key at once.
pub(crate) fn stampede_report(locked: bool) -> whatbreaks::Report {
    use whatbreaks::redis::RedisStampedeTest;
    let test = RedisStampedeTest::new().clients(20);
    if locked {
        test.run(get_product_locked)
    } else {
        test.run(get_product)
    }
}
