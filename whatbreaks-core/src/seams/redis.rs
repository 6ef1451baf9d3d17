//! redis-rs on the simulated cache (feature `redis`): [`SimCache::redis`] is a
//! `redis::aio::ConnectionLike`, so unmodified redis-rs code (`AsyncCommands`, `redis::cmd`,
//! pipelines and transactions) runs against it on virtual time.
//!
//! ```
//! use redis::AsyncCommands;
//! use whatbreaks_core::components::store::SimCache;
//!
//! let cache = SimCache::new();
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
//! # rt.block_on(async {
//! let mut conn = cache.redis();
//! let v: Option<String> = conn.get("product:1").await.unwrap();
//! assert_eq!(v, None);
//! let () = conn.set_ex("product:1", "{\"id\":1}", 60).await.unwrap();
//! let v: Option<String> = conn.get("product:1").await.unwrap();
//! assert_eq!(v.as_deref(), Some("{\"id\":1}"));
//! # });
//! assert_eq!(cache.peek("product:1").as_deref(), Some("{\"id\":1}"));
//! ```
//!
//! Each command, and each pipeline or `MULTI`/`EXEC` transaction as a whole, is one round
//! trip: it takes the cache's latency and then takes effect atomically, on the same state
//! and the same virtual-time TTLs as the native [`SimCache`] methods, and counts in
//! [`SimCache::ops`] (one per command).
//!
//! Commands answered: `GET`, `SET` (with `EX`, `PX`, `EXAT`, `PXAT`, `KEEPTTL`, `NX`, `XX`,
//! `GET`), `SETNX`, `SETEX`, `PSETEX`, `MGET`, `DEL`, `UNLINK`, `EXISTS`, `INCR`, `INCRBY`,
//! `DECR`, `DECRBY`, `EXPIRE`, `PEXPIRE`, `TTL`, `PTTL`, `PERSIST`, `GETDEL`, `PING`, and
//! `EVAL` of the two lease scripts (compare-and-delete, the unlock; compare-and-`PEXPIRE`,
//! the renewal), recognized by their text:
//!
//! ```lua
//! if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end
//! if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end
//! ```
//!
//! Any other command, or another script, answers a redis error that names it: never a silent
//! success. Values are stored as text (`SimCache` holds strings); bytes that are not UTF-8
//! are stored lossily.

use crate::components::store::{Entry, SimCache};
use redis::{Arg, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The commands the simulated cache answers, for error messages.
pub const SUPPORTED: &str = "GET, SET [EX|PX|EXAT|PXAT|KEEPTTL] [NX|XX] [GET], SETNX, SETEX, PSETEX, MGET, DEL, UNLINK, EXISTS, INCR, INCRBY, DECR, DECRBY, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST, GETDEL, PING, EVAL of the compare-and-delete and compare-and-pexpire lease scripts";

impl SimCache {
    /// This cache as a redis-rs connection (`redis::aio::ConnectionLike + Clone`): see
    /// [`crate::seams::redis`]. Every clone talks to the same cache.
    pub fn redis(&self) -> SimRedis {
        SimRedis {
            cache: self.clone(),
        }
    }
}

/// A redis-rs connection to a [`SimCache`]; made by [`SimCache::redis`].
#[derive(Clone, Debug)]
pub struct SimRedis {
    cache: SimCache,
}

impl SimRedis {
    /// The cache behind this connection.
    pub fn cache(&self) -> &SimCache {
        &self.cache
    }
}

type Args = Vec<Vec<u8>>;

fn args_of(cmd: &Cmd) -> Args {
    cmd.args_iter()
        .map(|a| match a {
            Arg::Simple(b) => b.to_vec(),
            Arg::Cursor => b"0".to_vec(),
        })
        .collect()
}

impl redis::aio::ConnectionLike for SimRedis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let args = args_of(cmd);
        let cache = self.cache.clone();
        Box::pin(async move {
            cache
                .round_trip(1, |entries, now| execute(entries, now, &args))
                .await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let commands: Vec<Args> = pipeline.cmd_iter().map(args_of).collect();
        let transaction = pipeline.is_transaction();
        let cache = self.cache.clone();
        Box::pin(async move {
            let n = commands.len() as u64;
            let results = cache
                .round_trip(n, |entries, now| {
                    commands
                        .iter()
                        .map(|args| execute(entries, now, args))
                        .collect::<RedisResult<Vec<Value>>>()
                })
                .await?;
            if transaction {
                // What EXEC answers: the results of the queued commands, as one array.
                return Ok(vec![Value::Array(results)]);
            }
            Ok(results.into_iter().skip(offset).take(count).collect())
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn error(detail: String) -> RedisError {
    RedisError::from((ErrorKind::ResponseError, "ERR", detail))
}

fn unsupported(name: &str, why: &str) -> RedisError {
    error(format!(
        "`{name}` {why} by whatbreaks' simulated cache (SimCache); it answers {SUPPORTED}"
    ))
}

fn syntax(name: &str) -> RedisError {
    error(format!("syntax error in `{name}`"))
}

fn integer(bytes: &[u8]) -> RedisResult<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| error("value is not an integer or out of range".into()))
}

/// The live entry under `key` (an expired one is removed first).
fn live<'e>(
    entries: &'e mut BTreeMap<String, Entry>,
    key: &str,
    now: Instant,
) -> Option<&'e mut Entry> {
    if entries.get(key).is_some_and(|e| !e.live(now)) {
        entries.remove(key);
    }
    entries.get_mut(key)
}

fn bulk(value: Option<String>) -> Value {
    value.map_or(Value::Nil, |v| Value::BulkString(v.into_bytes()))
}

/// Milliseconds from now until `deadline` as a TTL; an absolute time in the past, or a
/// non-positive relative one, means "already expired".
fn deadline_after(now: Instant, millis: i64) -> Option<Instant> {
    (millis > 0).then(|| now + Duration::from_millis(millis as u64))
}

/// The virtual Unix time: the simulation starts at the Unix epoch (absolute expiries,
/// `EXAT`/`PXAT`, count from there).
fn unix_millis_to_deadline(now: Instant, at_ms: i64) -> Option<Instant> {
    let now_ms = crate::runtime::sim::now().as_millis() as i64;
    deadline_after(now, at_ms - now_ms)
}

fn execute(entries: &mut BTreeMap<String, Entry>, now: Instant, args: &Args) -> RedisResult<Value> {
    let Some(name) = args.first() else {
        return Err(error("empty command".into()));
    };
    let name = text(name).to_ascii_uppercase();
    let arg = |i: usize| args.get(i).map(Vec::as_slice).ok_or_else(|| syntax(&name));
    let key = |i: usize| arg(i).map(text);
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(error(format!("wrong number of arguments for `{name}`")))
        }
    };
    match name.as_str() {
        "PING" => Ok(Value::SimpleString("PONG".into())),
        "GET" => {
            arity(2)?;
            let k = key(1)?;
            Ok(bulk(live(entries, &k, now).map(|e| e.value.clone())))
        }
        "GETDEL" => {
            arity(2)?;
            let k = key(1)?;
            let v = live(entries, &k, now).map(|e| e.value.clone());
            entries.remove(&k);
            Ok(bulk(v))
        }
        "MGET" => {
            if args.len() < 2 {
                return Err(syntax(&name));
            }
            let values = (1..args.len())
                .map(|i| {
                    let k = text(&args[i]);
                    bulk(live(entries, &k, now).map(|e| e.value.clone()))
                })
                .collect();
            Ok(Value::Array(values))
        }
        "SET" => set(entries, now, args),
        "SETNX" => {
            arity(3)?;
            let k = key(1)?;
            if live(entries, &k, now).is_some() {
                return Ok(Value::Int(0));
            }
            entries.insert(
                k,
                Entry {
                    value: text(arg(2)?),
                    expires: None,
                },
            );
            Ok(Value::Int(1))
        }
        "SETEX" | "PSETEX" => {
            arity(4)?;
            let n = integer(arg(2)?)?;
            if n <= 0 {
                return Err(error(format!("invalid expire time in `{name}`")));
            }
            let millis = if name == "SETEX" {
                n.saturating_mul(1000)
            } else {
                n
            };
            entries.insert(
                key(1)?,
                Entry {
                    value: text(arg(3)?),
                    expires: deadline_after(now, millis),
                },
            );
            Ok(Value::Okay)
        }
        "DEL" | "UNLINK" | "EXISTS" => {
            if args.len() < 2 {
                return Err(syntax(&name));
            }
            let mut n = 0;
            for k in &args[1..] {
                let k = text(k);
                if live(entries, &k, now).is_some() {
                    n += 1;
                    if name != "EXISTS" {
                        entries.remove(&k);
                    }
                }
            }
            Ok(Value::Int(n))
        }
        "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
            let by = match name.as_str() {
                "INCR" => {
                    arity(2)?;
                    1
                }
                "DECR" => {
                    arity(2)?;
                    -1
                }
                "INCRBY" => {
                    arity(3)?;
                    integer(arg(2)?)?
                }
                _ => {
                    arity(3)?;
                    integer(arg(2)?)?
                        .checked_neg()
                        .ok_or_else(|| error("decrement would overflow".into()))?
                }
            };
            let k = key(1)?;
            let current = match live(entries, &k, now) {
                Some(e) => integer(e.value.as_bytes())?,
                None => 0,
            };
            let n = current
                .checked_add(by)
                .ok_or_else(|| error("increment or decrement would overflow".into()))?;
            match live(entries, &k, now) {
                Some(e) => e.value = n.to_string(),
                None => {
                    entries.insert(
                        k,
                        Entry {
                            value: n.to_string(),
                            expires: None,
                        },
                    );
                }
            }
            Ok(Value::Int(n))
        }
        "EXPIRE" | "PEXPIRE" => {
            if args.len() != 3 {
                return Err(unsupported(
                    &format!("{name} with options"),
                    "is not answered",
                ));
            }
            let n = integer(arg(2)?)?;
            let millis = if name == "EXPIRE" {
                n.saturating_mul(1000)
            } else {
                n
            };
            let k = key(1)?;
            if live(entries, &k, now).is_none() {
                return Ok(Value::Int(0));
            }
            match deadline_after(now, millis) {
                Some(at) => {
                    if let Some(e) = entries.get_mut(&k) {
                        e.expires = Some(at);
                    }
                }
                None => {
                    entries.remove(&k);
                }
            }
            Ok(Value::Int(1))
        }
        "PERSIST" => {
            arity(2)?;
            let k = key(1)?;
            Ok(Value::Int(match live(entries, &k, now) {
                Some(e) if e.expires.is_some() => {
                    e.expires = None;
                    1
                }
                _ => 0,
            }))
        }
        "TTL" | "PTTL" => {
            arity(2)?;
            let k = key(1)?;
            Ok(Value::Int(match live(entries, &k, now) {
                None => -2,
                Some(Entry { expires: None, .. }) => -1,
                Some(Entry {
                    expires: Some(at), ..
                }) => {
                    let ms = at.saturating_duration_since(now).as_millis() as i64;
                    if name == "TTL" { (ms + 500) / 1000 } else { ms }
                }
            }))
        }
        "EVAL" => eval(entries, now, args),
        _ => Err(unsupported(&name, "is not answered")),
    }
}

fn set(entries: &mut BTreeMap<String, Entry>, now: Instant, args: &Args) -> RedisResult<Value> {
    if args.len() < 3 {
        return Err(error("wrong number of arguments for `SET`".into()));
    }
    let key = text(&args[1]);
    let value = text(&args[2]);
    let (mut expires, mut keep_ttl, mut nx, mut xx, mut get) = (None, false, false, false, false);
    let mut expiry_given = false;
    let mut i = 3;
    while i < args.len() {
        let option = text(&args[i]).to_ascii_uppercase();
        let mut number = || -> RedisResult<i64> {
            i += 1;
            let n = integer(args.get(i).ok_or_else(|| syntax("SET"))?)?;
            if n <= 0 && matches!(option.as_str(), "EX" | "PX") {
                return Err(error("invalid expire time in `SET`".into()));
            }
            Ok(n)
        };
        match option.as_str() {
            "EX" | "PX" | "EXAT" | "PXAT" if !expiry_given && !keep_ttl => {
                let n = number()?;
                expires = match option.as_str() {
                    "EX" => deadline_after(now, n.saturating_mul(1000)),
                    "PX" => deadline_after(now, n),
                    "EXAT" => unix_millis_to_deadline(now, n.saturating_mul(1000)),
                    _ => unix_millis_to_deadline(now, n),
                };
                expiry_given = true;
                if expires.is_none() {
                    // An absolute time already past: stored and expired at once.
                    expires = Some(now);
                }
            }
            "KEEPTTL" if !expiry_given => keep_ttl = true,
            "NX" if !xx => nx = true,
            "XX" if !nx => xx = true,
            "GET" => get = true,
            _ => return Err(syntax("SET")),
        }
        i += 1;
    }
    let old = live(entries, &key, now).map(|e| (e.value.clone(), e.expires));
    let answer_old = || bulk(old.as_ref().map(|(v, _)| v.clone()));
    if (nx && old.is_some()) || (xx && old.is_none()) {
        return Ok(if get { answer_old() } else { Value::Nil });
    }
    if keep_ttl {
        expires = old.as_ref().and_then(|(_, e)| *e);
    }
    let reply = if get { answer_old() } else { Value::Okay };
    entries.insert(key, Entry { value, expires });
    Ok(reply)
}

/// The lease scripts, normalized (lower case, no white space, `"` for quotes).
const COMPARE_AND_DELETE: &str =
    "ifredis.call(\"get\",keys[1])==argv[1]thenreturnredis.call(\"del\",keys[1])";
const COMPARE_AND_PEXPIRE: &str =
    "ifredis.call(\"get\",keys[1])==argv[1]thenreturnredis.call(\"pexpire\",keys[1],argv[2])";

fn normalized(script: &str) -> String {
    script
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            if c == '\'' {
                '"'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// What may follow the `then` branch: `else return 0 end`, or `end` (then `return 0`).
fn tail_ok(rest: &str) -> bool {
    matches!(
        rest,
        "elsereturn0end" | "end" | "endreturn0" | "elsereturn0end;"
    )
}

fn eval(entries: &mut BTreeMap<String, Entry>, now: Instant, args: &Args) -> RedisResult<Value> {
    let script = normalized(&text(args.get(1).ok_or_else(|| syntax("EVAL"))?));
    let numkeys = integer(args.get(2).ok_or_else(|| syntax("EVAL"))?)?;
    let which = [COMPARE_AND_DELETE, COMPARE_AND_PEXPIRE]
        .into_iter()
        .position(|s| script.strip_prefix(s).is_some_and(tail_ok));
    let Some(which) = which else {
        return Err(unsupported("EVAL of this script", "is not run (no Lua)"));
    };
    let wanted_args = if which == 0 { 1 } else { 2 };
    if numkeys != 1 || args.len() != 4 + wanted_args {
        return Err(error(
            "wrong number of keys or arguments for the lease script".into(),
        ));
    }
    let key = text(&args[3]);
    let token = text(&args[4]);
    let holds = live(entries, &key, now).is_some_and(|e| e.value == token);
    if !holds {
        return Ok(Value::Int(0));
    }
    if which == 0 {
        entries.remove(&key);
        return Ok(Value::Int(1));
    }
    let millis = integer(&args[5])?;
    match deadline_after(now, millis) {
        Some(at) => {
            if let Some(e) = entries.get_mut(&key) {
                e.expires = Some(at);
            }
        }
        None => {
            entries.remove(&key);
        }
    }
    Ok(Value::Int(1))
}
