//! The trust-boundary questions of HTTP routes (feature `http`): other principals (auth) and
//! hostile bodies (mass assignment, validation). The judging is the HTTP probes' own
//! ([`crate::probes::http`]): ids matched as whole JSON values, the hostile families, their
//! judge and their findings; the oracle is the world's database, so no state oracle is asked
//! of the user.

use super::http_routes::{Exchange, RouteSpec};
use super::{Audit, Only, Row, Rows, not_applicable, row};
use crate::probes::http::{
    AUTH_PATTERN, CREDENTIALS_FIX, Hostile, INVALID_INPUT_PATTERN, MASS_ASSIGNMENT_PATTERN,
    OWNERSHIP_FIX, PRIVILEGED_FIELDS, SERVER_ERROR_PATTERN, auth_verdict, hostile_cases, ids_in,
    judge_hostile, shorten, stored_key,
};
use crate::report::{Finding, Report};
use crate::scenario::replay_line;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Instant;

/// The auth question in words.
const AUTH_QUESTION: &str = "another principal asks for an owner's key";

/// The mass-assignment question in words.
const MASS_QUESTION: &str =
    "the body adds privileged fields (role, is_admin, owner_id, balance, price)";

/// The validation question in words.
const VALIDATION_QUESTION: &str = "the body holds oversized, null and wrong-typed values";

/// Privileged fields the audit adds to a route's body: the probes' list, and prices.
const AUDIT_PRIVILEGED: &[&str] = &["price", "total"];

/// Sampled cases per large family (oversized strings, invalid emails) of the hostile bodies;
/// small families are sent in full.
pub(super) const HOSTILE_CASES: u32 = 8;

/// Characters of a string field that count as valid when stored (as the probe's default).
const MAX_LEN: usize = 10_000;

/// The reason of the auth row when no principal is given.
pub(super) const NO_PRINCIPALS: &str = "no principals: give .principal(..) and .resource(..)";

impl Audit {
    /// The trust-boundary rows of the route `entry`: auth, mass assignment, validation.
    pub(super) fn trust_questions(
        &self,
        entry: &str,
        spec: &RouteSpec,
        only: &Only,
        rows: &mut Vec<Row>,
    ) {
        match self.auth_applies(entry, spec) {
            Err(why) => rows.push(not_applicable("auth", AUTH_QUESTION.into(), entry, why)),
            Ok(()) if only.asks("auth", entry) => rows.push(self.auth(entry, spec)),
            Ok(()) => {}
        }
        if only.asks("mass assignment", entry) || only.asks("validation", entry) {
            rows.extend(self.hostile(entry, spec));
        }
    }

    /// Why the auth question does not apply to the route, if it does not.
    fn auth_applies(&self, entry: &str, spec: &RouteSpec) -> Result<(), String> {
        let p = &self.principals;
        if !spec.has_key() {
            return Err(
                "the route's path and body hold no `{key}`: no principal's resource in it".into(),
            );
        }
        if p.public.iter().any(|r| r == entry) {
            return Err("declared public (`Audit::public`)".into());
        }
        if p.names.is_empty() || p.known_resources().is_empty() {
            return Err(if p.names.is_empty() {
                NO_PRINCIPALS.into()
            } else {
                "no resource of a principal: give .resource(owner, key)".into()
            });
        }
        if p.names.len() < 2 {
            return Err(format!(
                "one principal (`{}`): give another .principal(..) to ask as someone else",
                p.names[0].0
            ));
        }
        Ok(())
    }

    /// The seed of the trust questions: `WHATBREAKS_SEED`, the audit's, or `0x5eed`.
    fn trust_seed(&self) -> Result<u64, Box<Finding>> {
        match crate::scenario::config::EnvOverrides::from_env() {
            Ok(env) => Ok(env.seed.or(self.seed).unwrap_or(0x5eed)),
            Err(e) => Err(Box::new(Finding::config(e.to_string()).with_fix(format!(
                "set {} to a valid value, or unset it",
                e.variable
            )))),
        }
    }

    /// Each owner's request on its key, then every other principal's and one without
    /// credentials on the same key, each on a fresh world: another's must not answer the
    /// owner's data (its key as a whole JSON value, where the owner's own answer shows it)
    /// nor change a row the owner's own request changes.
    fn auth(&self, entry: &str, spec: &RouteSpec) -> Row {
        let started = Instant::now();
        let seed = match self.trust_seed() {
            Ok(s) => s,
            Err(f) => {
                let report = Report::stopped(spec.describe(), *f);
                return row("auth", AUTH_QUESTION.into(), entry, report, &[AUTH_PATTERN]);
            }
        };
        let p = &self.principals;
        let mut evidence = Vec::new();
        let (mut data_leak, mut write_leak, mut only_anonymous) = (false, false, true);
        let (mut sent, mut cross, mut judged) = (0usize, 0usize, 0usize);
        let mut unjudged = Vec::new();
        for (owner, key) in p.known_resources() {
            let own = self.exchange(spec, key, p.authorization(owner), None);
            sent += 1;
            let shows = own.ok() && !ids_in(&own.body, &[key]).is_empty();
            let owned = changed_rows(&own.before, &own.after);
            if !shows && owned.is_empty() {
                unjudged.push(format!(
                    "`{owner}`'s own request on `{key}` answered {}, without `{key}` in its answer, and changed no row",
                    own.outcome()
                ));
                continue;
            }
            judged += 1;
            let others = p
                .names
                .iter()
                .filter(|(name, _)| name != owner)
                .map(|(name, a)| (name.as_str(), Some(a.as_str())))
                .chain([("a request without credentials", None)]);
            for (attacker, authorization) in others {
                let theirs = self.exchange(spec, key, authorization, None);
                (sent, cross) = (sent + 1, cross + 1);
                let read = shows && theirs.ok() && !ids_in(&theirs.body, &[key]).is_empty();
                let touched: Vec<(String, String)> = changed_rows(&theirs.before, &theirs.after)
                    .intersection(&owned)
                    .cloned()
                    .collect();
                if !read && touched.is_empty() {
                    continue;
                }
                data_leak |= read;
                write_leak |= !touched.is_empty();
                only_anonymous &= authorization.is_none();
                let who = if authorization.is_some() {
                    format!("as {attacker}")
                } else {
                    attacker.to_string()
                };
                let what = if read {
                    format!("{} with {owner}'s `{key}`", theirs.status)
                } else {
                    format!("{} accepted", theirs.outcome())
                };
                evidence.push(format!("{who}: {} -> {what}", spec.request_line(key, None)));
                for (table, k) in &touched {
                    evidence.push(format!(
                        "  {owner}'s row {table}[{k}]: {} -> {}",
                        shown(&theirs.before, table, k),
                        shown(&theirs.after, table, k)
                    ));
                }
            }
        }
        if judged == 0 {
            let why = unjudged.into_iter().next().unwrap_or_default();
            return not_applicable(
                "auth",
                AUTH_QUESTION.into(),
                entry,
                format!("{why}: another principal's request could not be told apart"),
            );
        }
        let resources: Vec<String> = p
            .known_resources()
            .iter()
            .map(|(o, k)| format!("{o}:{k}"))
            .collect();
        let scenario = format!(
            "{}, principals {} and a request without credentials, resources {}, each request on a fresh world",
            spec.describe(),
            p.names
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            resources.join(", ")
        );
        let mut report = Report::new(scenario.clone());
        report.seeds = vec![seed];
        report.figures = vec![("requests".into(), sent.to_string())];
        if evidence.is_empty() {
            report.key_figure = format!("{cross} requests by others on owners' keys, none leaked");
        } else {
            let mut f = Finding::bug(
                AUTH_PATTERN,
                auth_verdict(&spec.describe(), data_leak && !write_leak),
            )
            .with_scenario(scenario)
            .with_evidence(evidence)
            .with_fix(if only_anonymous {
                CREDENTIALS_FIX
            } else {
                OWNERSHIP_FIX
            });
            f.seed = seed;
            f.replay = replay_line(seed);
            report.key_figure = format!(
                "{} of {cross} requests by others on owners' keys leaked",
                f.evidence.iter().filter(|l| !l.starts_with("  ")).count()
            );
            report.findings.push(f);
        }
        report.wall_time = started.elapsed();
        row("auth", AUTH_QUESTION.into(), entry, report, &[AUTH_PATTERN])
    }

    /// The route's body made hostile (the probes' families: privileged fields added, a
    /// field given twice, nulls, wrong types, unicode, oversized strings, invalid emails),
    /// each on a fresh world as the key's owner; judged by the JSON records the request
    /// stored, against those the valid body stored. Two rows: mass assignment (a privileged
    /// field stored as sent) and validation (invalid input stored as given, or a 5xx or a
    /// panic).
    fn hostile(&self, entry: &str, spec: &RouteSpec) -> Vec<Row> {
        let na = |why: String| {
            vec![
                not_applicable("mass assignment", MASS_QUESTION.into(), entry, why.clone()),
                not_applicable("validation", VALIDATION_QUESTION.into(), entry, why),
            ]
        };
        let writes = [http::Method::POST, http::Method::PUT, http::Method::PATCH];
        if !writes.contains(&spec.method) {
            return na(format!("a {} takes no body", spec.method));
        }
        let Some(body) = &spec.body else {
            return na("the route takes no body".into());
        };
        if !body.is_object() {
            return na("the route's body is not a JSON object".into());
        }
        let started = Instant::now();
        let seed = match self.trust_seed() {
            Ok(s) => s,
            Err(f) => {
                let report = Report::stopped(spec.describe(), *f);
                return vec![
                    row(
                        "mass assignment",
                        MASS_QUESTION.into(),
                        entry,
                        report.clone(),
                        &[MASS_ASSIGNMENT_PATTERN],
                    ),
                    row(
                        "validation",
                        VALIDATION_QUESTION.into(),
                        entry,
                        report,
                        &[INVALID_INPUT_PATTERN, SERVER_ERROR_PATTERN],
                    ),
                ];
            }
        };
        // As the owner of a resource, on its key (so an owner-checked write lands).
        let p = &self.principals;
        let (owner, key) = p
            .known_resources()
            .first()
            .map_or((None, "1"), |(o, k)| (Some(*o), *k));
        let authorization = owner
            .and_then(|o| p.authorization(o))
            .or_else(|| p.for_key(key));
        let valid = fill_key(body, key);
        let reference = self.exchange(spec, key, authorization, Some(valid.to_string()));
        let as_whom = owner.map_or(String::new(), |o| format!(" as {o}"));
        if !reference.ok() {
            return na(format!(
                "the valid body{as_whom} on `{key}` was answered {}",
                reference.outcome()
            ));
        }
        let stored = json_records(&reference);
        let fields: Vec<&String> = valid
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let records: Vec<(String, String, Value)> = stored
            .into_iter()
            .filter(|(_, _, v)| fields.iter().any(|f| stored_key(v, f).is_some()))
            .collect();
        if records.is_empty() {
            return na(format!(
                "the valid body{as_whom} stored no JSON record with its fields (a database row whose value is a JSON object): nothing to compare"
            ));
        }
        let privileged: Vec<String> = PRIVILEGED_FIELDS
            .iter()
            .chain(AUDIT_PRIVILEGED)
            .map(|f| f.to_string())
            .collect();
        let endpoint = format!("{}{as_whom} on `{key}`", spec.describe());
        let sent = std::cell::Cell::new(0usize);
        let check = |h: &Hostile| {
            sent.set(sent.get() + 1);
            let e = self.exchange(spec, key, authorization, Some(h.body()));
            if let Some(why) = &e.failed {
                return Some((SERVER_ERROR_PATTERN, why.clone()));
            }
            let now = json_records(&e);
            if now.is_empty() {
                return judge_hostile(
                    h,
                    e.status,
                    &Value::Null,
                    &Value::Null,
                    &privileged,
                    MAX_LEN,
                );
            }
            now.iter().find_map(|(table, k, after)| {
                // What the valid body stored in the same row (or the same table).
                let before = records
                    .iter()
                    .find(|(t, rk, _)| t == table && rk == k)
                    .or_else(|| records.iter().find(|(t, _, _)| t == table))
                    .map_or(&Value::Null, |(_, _, v)| v);
                judge_hostile(h, e.status, before, after, &privileged, MAX_LEN)
                    .map(|(p, why)| (p, format!("{why} (row {table}[{k}])")))
            })
        };
        let (findings, tried) =
            hostile_cases(&valid, &privileged, HOSTILE_CASES, seed, &endpoint, check);
        let (mass, invalid): (Vec<Finding>, Vec<Finding>) = findings
            .into_iter()
            .partition(|f| f.pattern == MASS_ASSIGNMENT_PATTERN);
        let report = |findings: Vec<Finding>, what: &str| {
            let mut r = Report::new(endpoint.clone());
            r.seeds = vec![seed];
            r.key_figure = if findings.is_empty() {
                format!("{tried} hostile bodies, none {what}")
            } else {
                format!("{} problem(s) in {tried} hostile bodies", findings.len())
            };
            r.figures = vec![
                ("cases".into(), tried.to_string()),
                ("requests".into(), sent.get().to_string()),
            ];
            r.findings = findings;
            r.wall_time = started.elapsed();
            r
        };
        vec![
            row(
                "mass assignment",
                MASS_QUESTION.into(),
                entry,
                report(mass, "stored a privileged field"),
                &[MASS_ASSIGNMENT_PATTERN],
            ),
            row(
                "validation",
                VALIDATION_QUESTION.into(),
                entry,
                report(invalid, "stored as given or crashed the route"),
                &[INVALID_INPUT_PATTERN, SERVER_ERROR_PATTERN],
            ),
        ]
    }
}

/// The rows (table, key) whose values differ between `before` and `after`.
fn changed_rows(before: &Rows, after: &Rows) -> BTreeSet<(String, String)> {
    let keys = |rows: &Rows| -> BTreeSet<(String, String)> {
        rows.iter()
            .flat_map(|(t, keyed)| keyed.keys().map(move |k| (t.clone(), k.clone())))
            .collect()
    };
    keys(before)
        .union(&keys(after))
        .filter(|(t, k)| values(before, t, k) != values(after, t, k))
        .cloned()
        .collect()
}

fn values<'a>(rows: &'a Rows, table: &str, key: &str) -> Option<&'a Vec<String>> {
    rows.get(table).and_then(|keyed| keyed.get(key))
}

/// A row's values for evidence (`(none)` when absent), shortened.
fn shown(rows: &Rows, table: &str, key: &str) -> String {
    values(rows, table, key).map_or("(none)".into(), |vs| shorten(&vs.join(" | "), 100))
}

/// The rows an exchange changed whose new value is a JSON object: (table, key, value).
fn json_records(e: &Exchange) -> Vec<(String, String, Value)> {
    changed_rows(&e.before, &e.after)
        .into_iter()
        .filter_map(|(table, key)| {
            let value = values(&e.after, &table, &key)?.last()?;
            let json = serde_json::from_str::<Value>(value).ok()?;
            json.is_object().then_some((table, key, json))
        })
        .collect()
}

/// `{key}` in the body's strings replaced by `key`.
fn fill_key(v: &Value, key: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{key}", key)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_key(x, key)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill_key(x, key)))
                .collect(),
        ),
        other => other.clone(),
    }
}
