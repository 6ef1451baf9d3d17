//! redis-rs on the simulated cache: the commands cache-aside, locks and leases use, on the
//! virtual clock, and a redis error naming any other command.

use crate::block_on;
use redis::AsyncCommands;
use std::time::Duration;
use whatbreaks::SimCache;

#[test]
fn strings_ttls_and_counters() {
    let cache = SimCache::with_latency(Duration::from_millis(2));
    block_on(async {
        let mut c = cache.redis();
        let t0 = tokio::time::Instant::now();
        let v: Option<String> = c.get("product:1").await.unwrap();
        assert_eq!(v, None);
        assert_eq!(
            t0.elapsed(),
            Duration::from_millis(2),
            "the cache's latency"
        );
        let () = c.set_ex("product:1", "row", 10).await.unwrap();
        let v: Option<String> = c.get("product:1").await.unwrap();
        assert_eq!(v.as_deref(), Some("row"));
        let ttl: i64 = c.ttl("product:1").await.unwrap();
        assert_eq!(ttl, 10);
        let pttl: i64 = c.pttl("product:1").await.unwrap();
        assert!((9_990..=10_000).contains(&pttl), "{pttl}");
        tokio::time::sleep(Duration::from_secs(11)).await;
        let v: Option<String> = c.get("product:1").await.unwrap();
        assert_eq!(v, None, "expired on the virtual clock");
        let ttl: i64 = c.ttl("product:1").await.unwrap();
        assert_eq!(ttl, -2);

        let () = c.set("k", "v").await.unwrap();
        let ttl: i64 = c.ttl("k").await.unwrap();
        assert_eq!(ttl, -1);
        let n: bool = c.expire("k", 5).await.unwrap();
        assert!(n);
        let ok: bool = c.pexpire("missing", 5).await.unwrap();
        assert!(!ok);
        let both: Vec<Option<String>> = c.mget(&["k", "missing"]).await.unwrap();
        assert_eq!(both, vec![Some("v".into()), None]);
        let e: i64 = c.exists(&["k", "missing"]).await.unwrap();
        assert_eq!(e, 1);
        let old: Option<String> = c.get_del("k").await.unwrap();
        assert_eq!(old.as_deref(), Some("v"));
        let e: bool = c.exists("k").await.unwrap();
        assert!(!e);

        let n: i64 = c.incr("hits", 1).await.unwrap();
        assert_eq!(n, 1);
        let n: i64 = c.incr("hits", 41).await.unwrap();
        assert_eq!(n, 42);
        let n: i64 = c.decr("hits", 2).await.unwrap();
        assert_eq!(n, 40);
        let () = c.set("word", "abc").await.unwrap();
        let err = c.incr::<_, _, i64>("word", 1).await.unwrap_err();
        assert!(err.to_string().contains("not an integer"), "{err}");
        let d: i64 = c.del(&["hits", "word", "missing"]).await.unwrap();
        assert_eq!(d, 2);
    });
    assert_eq!(cache.peek("hits"), None);
    assert!(
        cache.ops() > 20,
        "every command is recorded: {}",
        cache.ops()
    );
}

#[test]
fn set_options_locks_and_leases() {
    let cache = SimCache::new();
    block_on(async {
        let mut c = cache.redis();
        let set = |k: &str, v: &str, rest: &[&str]| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(k).arg(v);
            for r in rest {
                cmd.arg(*r);
            }
            cmd
        };
        let won: Option<String> = set("lock", "a", &["NX", "PX", "500"])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(won.as_deref(), Some("OK"));
        let lost: Option<String> = set("lock", "b", &["NX", "PX", "500"])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(lost, None);
        let nx: bool = c.set_nx("lock", "c").await.unwrap();
        assert!(!nx);
        // XX only replaces; GET answers the old value.
        let absent: Option<String> = set("other", "x", &["XX"])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(absent, None);
        let old: Option<String> = set("lock", "a", &["XX", "GET", "KEEPTTL"])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(old.as_deref(), Some("a"));
        let pttl: i64 = c.pttl("lock").await.unwrap();
        assert!(pttl > 0 && pttl <= 500, "KEEPTTL kept it: {pttl}");

        // The compare-and-delete unlock: someone else's token deletes nothing.
        let unlock = |token: &str| {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(crate::code::UNLOCK).arg(1).arg("lock").arg(token);
            cmd
        };
        let n: i64 = unlock("b").query_async(&mut c).await.unwrap();
        assert_eq!(n, 0);
        let n: i64 = unlock("a").query_async(&mut c).await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(cache.peek("lock"), None);

        // The renewal script, and a lease that runs out on the virtual clock.
        let () = c.pset_ex("lease", "t", 100).await.unwrap();
        let renew = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\nelse\n  return 0\nend";
        let n: i64 = redis::cmd("EVAL")
            .arg(renew)
            .arg(1)
            .arg("lease")
            .arg("t")
            .arg(1000)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(cache.peek("lease").as_deref(), Some("t"));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(cache.peek("lease"), None);
        let won: bool = c.set_nx("lease", "u").await.unwrap();
        assert!(won);
    });
}

#[test]
fn pipelines_and_transactions_are_one_round_trip() {
    let cache = SimCache::with_latency(Duration::from_millis(5));
    block_on(async {
        let mut c = cache.redis();
        let t0 = tokio::time::Instant::now();
        let (a, b): (i64, Option<String>) = redis::pipe()
            .incr("n", 1)
            .set("s", "x")
            .ignore()
            .get("s")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!((a, b.as_deref()), (1, Some("x")));
        assert_eq!(t0.elapsed(), Duration::from_millis(5));
        let (n,): (i64,) = redis::pipe()
            .atomic()
            .incr("n", 1)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 2);
    });
    assert_eq!(cache.ops(), 4);
}

#[test]
fn an_unsupported_command_is_an_error_naming_it() {
    let cache = SimCache::new();
    block_on(async {
        let mut c = cache.redis();
        let err = c.hset::<_, _, _, i64>("h", "f", "v").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`HSET`"), "{text}");
        assert!(text.contains("SimCache"), "{text}");
        let err = redis::cmd("EVAL")
            .arg("return redis.call('flushall')")
            .arg(0)
            .query_async::<i64>(&mut c)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("EVAL"), "{err}");
        let err = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .arg("NX")
            .arg("XX")
            .query_async::<Option<String>>(&mut c)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("syntax error"), "{err}");
    });
    assert_eq!(cache.peek("k"), None, "nothing stored by a failed command");
}
