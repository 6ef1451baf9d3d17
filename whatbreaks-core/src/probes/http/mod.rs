//! Trust boundaries of HTTP services: auth-context leaks (IDOR), mass assignment, and
//! unvalidated input stored as data. Needs the `http` cargo feature.
//!
//! Rust web services are `tower::Service<http::Request<_>>`s (an axum `Router` is one), and
//! the probes call them in-process with `ServiceExt::oneshot`: no network, no server. Both
//! probes run from a plain `#[test]` and from an async test: [`MassAssignmentProbe::run`] and
//! [`AuthProbe::run_blocking`] block the calling thread with a clock of their own;
//! [`AuthProbe::run`] is the same probe as a future.
//!
//! - [`AuthProbe`] sends, for every endpoint and every pair of principals, requests as one
//!   principal that name the other's identity or resources (in the path, the query, an
//!   identity header such as `X-User-Id`, and the body), plus unauthenticated and
//!   malformed-token requests. It flags another principal's data in a response (its
//!   resource ids as whole JSON values, so `1` never matches inside `12`), and a
//!   state-changing request on another principal's resource that succeeds (read back as the
//!   owner to show what changed). Writes that take a JSON body get a valid one
//!   ([`AuthProbe::endpoint_with_body`]); with a state oracle ([`AuthProbe::state`]) every
//!   cross-principal write is judged by what it changed in the victim's stored state,
//!   whatever it answered (a write that lands, then answers 403). Principals can be named
//!   apart from the ids requests carry ([`AuthProbe::principal_as`]), and an admin may read
//!   others' data ([`AuthProbe::may_read_others`]).
//! - [`MassAssignmentProbe`] derives hostile JSON bodies from one valid body with proptest
//!   ([`hostile_bodies`]): extra privileged fields, oversized strings, invalid emails, wrong
//!   types, nulls, unicode edge cases, duplicated keys. With a state oracle it flags a
//!   privileged field that changed, invalid input that was stored, and 5xx answers, each with
//!   the shrunk counterexample and the proptest seed. Body fields are matched to the stored
//!   record's across case styles (a camelCase DTO over a snake_case model); an oracle that
//!   shows none of the body's fields is a set-up finding, not a pass. One probe may cover
//!   several endpoints of an app ([`MassAssignmentProbe::endpoint`]) as several principals.

use crate::report::{Finding, Report};
use crate::runtime::rng::splitmix64;
use crate::scenario::replay_line;
use http::{Method, Request, Response};
use http_body_util::BodyExt;

/// The request body type probes send: any axum `Router` (and most tower HTTP services) accept it.
pub type Body = http_body_util::Full<bytes::Bytes>;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tower::{Service, ServiceExt};

/// The pattern name of auth-context findings.
pub const AUTH_PATTERN: &str = "auth-context leak";
/// The pattern name of privileged-field findings.
pub const MASS_ASSIGNMENT_PATTERN: &str = "mass assignment";
/// The pattern name of stored-invalid-input findings.
pub const INVALID_INPUT_PATTERN: &str = "unvalidated input";
/// The pattern name of 5xx-on-hostile-input findings.
pub const SERVER_ERROR_PATTERN: &str = "server error on hostile input";

/// A request a probe is about to send; principals add their credentials to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub uri: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any (JSON text).
    pub body: Option<String>,
}

impl ProbeRequest {
    fn new(method: Method, uri: impl Into<String>) -> Self {
        ProbeRequest {
            method,
            uri: uri.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: impl fmt::Display) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body (and `Content-Type: application/json`).
    pub fn json(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.header("content-type", "application/json")
    }

    /// The request as `http` types; an error (never a panic) when the URI or a header is not
    /// valid HTTP (a template with a space, a header value with a line break).
    fn to_http(&self) -> Result<Request<Body>, String> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        builder
            .body(Body::from(self.body.clone().unwrap_or_default()))
            .map_err(|e| format!("{}: {e}", self.describe()))
    }

    /// One line for evidence: `GET /api/orders?userId=bob [X-User-Id: bob]`.
    fn describe(&self) -> String {
        let mut s = format!("{} {}", self.method, self.uri);
        for (k, v) in &self.headers {
            if !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("content-type") {
                s.push_str(&format!(" [{k}: {v}]"));
            }
        }
        if let Some(b) = &self.body {
            s.push_str(&format!(" body {}", shorten(b, 80)));
        }
        s
    }
}

pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}… ({} chars)", s.chars().count())
    }
}

/// Percent-encodes a principal's name or a resource id for a path segment or a query value
/// (RFC 3986 unreserved characters stay as they are): `Zoë Li` becomes `Zo%C3%AB%20Li`.
/// Frameworks decode it again (axum's `Path` and `Query`), so handlers see the name.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A name as a header value: as it is when HTTP allows it (visible ASCII and spaces),
/// percent-encoded otherwise (non-ASCII letters, control characters).
fn header_value(text: &str) -> String {
    if http::HeaderValue::from_str(text).is_ok() {
        text.to_string()
    } else {
        encode_component(text)
    }
}

/// Default wall-clock limit of one probe request.
pub const REQUEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a service answered.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    body: String,
}

/// Status of an [`Answer`] to a request that could not be built: never sent.
const NOT_SENT: u16 = 0;
/// Status of an [`Answer`] that did not come within the request limit.
const TIMED_OUT: u16 = 1;

async fn send<S, ResB>(service: &S, request: &ProbeRequest, limit: std::time::Duration) -> Answer
where
    S: Service<Request<Body>, Response = Response<ResB>> + Clone,
    S::Error: fmt::Debug,
    ResB: http_body::Body,
    ResB::Error: fmt::Debug,
{
    let http = match request.to_http() {
        Ok(r) => r,
        Err(e) => {
            return Answer {
                status: NOT_SENT,
                body: e,
            };
        }
    };
    let exchange = async {
        match service.clone().oneshot(http).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = match response.into_body().collect().await {
                    Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                    Err(e) => format!("<body error: {e:?}>"),
                };
                Answer { status, body }
            }
            Err(e) => Answer {
                status: 599,
                body: format!("<service error: {e:?}>"),
            },
        }
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(a) => a,
        Err(_) => Answer {
            status: TIMED_OUT,
            body: request.describe(),
        },
    }
}

/// Requests a probe could not send or that got no answer: they become one finding.
#[derive(Debug, Default)]
struct Unsent {
    invalid: Vec<String>,
    timed_out: Vec<String>,
}

impl Unsent {
    fn note(&mut self, a: &Answer) {
        match a.status {
            NOT_SENT => self.invalid.push(a.body.clone()),
            TIMED_OUT => self.timed_out.push(a.body.clone()),
            _ => {}
        }
    }

    fn findings(&self, limit: std::time::Duration) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.invalid.is_empty() {
            out.push(
                Finding::config(format!(
                    "{} probe request(s) are not valid HTTP and were not sent",
                    self.invalid.len()
                ))
                .with_evidence(self.invalid.iter().take(4).cloned().collect())
                .with_fix("write endpoint templates as URI paths (`/api/orders/{owner}`, no spaces), and add only valid header names and values in the principal's closure"),
            );
        }
        if !self.timed_out.is_empty() {
            let mut f = Finding::harness(
                "real-time harness",
                format!(
                    "{} probe request(s) got no answer within {} of wall time",
                    self.timed_out.len(),
                    crate::spec::format_duration(limit)
                ),
            );
            f.evidence = self.timed_out.iter().take(4).cloned().collect();
            f.fix = "a handler that never answers (a lock, a channel, an upstream without a timeout): add a timeout to it, or raise the limit with `request_limit`".into();
            out.push(f);
        }
        out
    }
}

type Auth = Arc<dyn Fn(ProbeRequest) -> ProbeRequest + Send + Sync>;

struct Principal {
    /// How findings name it.
    name: String,
    /// What requests carry to name it: `{owner}` in templates, identity headers and fields.
    id: String,
    auth: Auth,
}

/// An endpoint: a method, a template with `{owner}` and/or `{resource}`, and a valid JSON body
/// for it (its strings may hold the same placeholders).
#[derive(Clone, Debug)]
struct Endpoint {
    method: Method,
    template: String,
    body: Option<Value>,
}

/// What a principal has stored, as the service's own state shows it (the state oracle).
type StateOf = Arc<dyn Fn(&str) -> Value + Send + Sync>;

/// Probes every endpoint for cross-principal access. See the [module docs](self).
///
/// `{owner}` in an endpoint template stands for a principal's name, `{resource}` for one of
/// its resources. Resources must be recognisable in response bodies (an id that appears in
/// the JSON of the resource).
pub struct AuthProbe<S> {
    service: S,
    principals: Vec<Principal>,
    resources: Vec<(String, String)>,
    endpoints: Vec<Endpoint>,
    identity_headers: Vec<String>,
    readers: Vec<String>,
    state: Option<StateOf>,
    /// Requests built so far: `{probe}` in a body is this number, so no two writes are equal.
    built: std::sync::atomic::AtomicU64,
    limit: std::time::Duration,
}

impl<S> fmt::Debug for AuthProbe<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthProbe")
            .field(
                "principals",
                &self.principals.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .field("resources", &self.resources)
            .field("endpoints", &self.endpoints)
            .field("readers", &self.readers)
            .field("state", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a foreign identity travelled in a request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Carrier {
    Path,
    Query(String),
    Header(String),
    Body,
    NoCredentials,
    BadToken,
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Carrier::Path => f.write_str("a path segment"),
            Carrier::Query(k) => write!(f, "the query parameter `{k}`"),
            Carrier::Header(h) => write!(f, "the header `{h}`"),
            Carrier::Body => f.write_str("identity fields in the body"),
            Carrier::NoCredentials => f.write_str("a request without credentials"),
            Carrier::BadToken => f.write_str("a malformed token"),
        }
    }
}

impl<S> AuthProbe<S> {
    /// A probe of `service` (an axum `Router`, or any cloneable `tower::Service`).
    pub fn new(service: S) -> Self {
        AuthProbe {
            service,
            principals: Vec::new(),
            resources: Vec::new(),
            endpoints: Vec::new(),
            identity_headers: vec!["X-User-Id".into()],
            readers: Vec::new(),
            state: None,
            built: std::sync::atomic::AtomicU64::new(0),
            limit: REQUEST_LIMIT,
        }
    }

    /// Wall-clock limit of each request (default [`REQUEST_LIMIT`], 10 s): a request without
    /// an answer by then is reported, and the probe goes on.
    pub fn request_limit(mut self, limit: std::time::Duration) -> Self {
        self.limit = limit;
        self
    }

    /// A principal, and how its requests carry its credentials. Its name is also what
    /// requests carry to name it (`{owner}`, identity headers and fields); see
    /// [`principal_as`](Self::principal_as) when that is an id.
    pub fn principal(
        self,
        name: impl Into<String>,
        auth: impl Fn(ProbeRequest) -> ProbeRequest + Send + Sync + 'static,
    ) -> Self {
        let name = name.into();
        self.principal_as(name.clone(), name, auth)
    }

    /// A principal called `name` in findings (and in [`resource`](Self::resource)) whose
    /// requests name it by `id` (`{owner}` in templates, identity headers and fields): a user
    /// `alice` with the id `17`.
    pub fn principal_as(
        mut self,
        name: impl Into<String>,
        id: impl Into<String>,
        auth: impl Fn(ProbeRequest) -> ProbeRequest + Send + Sync + 'static,
    ) -> Self {
        self.principals.push(Principal {
            name: name.into(),
            id: id.into(),
            auth: Arc::new(auth),
        });
        self
    }

    /// Principals allowed to read every principal's data (an admin, a support role): their
    /// reads of others' resources are not leaks (their writes are still judged).
    pub fn may_read_others(mut self, name: impl Into<String>) -> Self {
        self.readers.push(name.into());
        self
    }

    /// The state oracle: what the principal called `name` has stored, as the service's own
    /// state shows it. With it, every cross-principal write is judged by what it changed,
    /// whatever it answered: a write that lands and then answers 403 is a leak, a 200 that
    /// changed nothing is not.
    pub fn state(mut self, of: impl Fn(&str) -> Value + Send + Sync + 'static) -> Self {
        self.state = Some(Arc::new(of));
        self
    }

    /// A resource owned by `owner`, recognisable by `id` in response bodies.
    pub fn resource(mut self, owner: impl Into<String>, id: impl Into<String>) -> Self {
        self.resources.push((owner.into(), id.into()));
        self
    }

    /// An endpoint: a method and a template with `{owner}` and/or `{resource}`.
    pub fn endpoint(mut self, method: Method, template: impl Into<String>) -> Self {
        self.endpoints.push(Endpoint {
            method,
            template: template.into(),
            body: None,
        });
        self
    }

    /// An endpoint that takes a JSON body (a write through axum's `Json`, which answers 415
    /// to a request without one before the handler runs): every request to it carries
    /// `body`, whose strings may hold `{owner}` and `{resource}` like the template, and
    /// `{probe}`, a number that differs in every request: with a [`state`](Self::state)
    /// oracle, a write that stores what the last one stored changes nothing, so give the
    /// value it writes a `{probe}` (`"name": "renamed {probe}"`).
    pub fn endpoint_with_body(
        mut self,
        method: Method,
        template: impl Into<String>,
        body: Value,
    ) -> Self {
        self.endpoints.push(Endpoint {
            method,
            template: template.into(),
            body: Some(body),
        });
        self
    }

    /// Identity headers to try (default `X-User-Id`).
    pub fn identity_header(mut self, name: impl Into<String>) -> Self {
        self.identity_headers.push(name.into());
        self
    }

    fn resources_of(&self, owner: &str) -> Vec<&str> {
        self.resources
            .iter()
            .filter(|(o, _)| o == owner)
            .map(|(_, id)| id.as_str())
            .collect()
    }

    fn principal_named(&self, name: &str) -> Option<&Principal> {
        self.principals.iter().find(|p| p.name == name)
    }

    /// The id requests carry for the principal called `name`.
    fn id_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.principal_named(name).map_or(name, |p| p.id.as_str())
    }

    /// The endpoint's body for `owner` and `resource`, as JSON text.
    fn body_for(&self, endpoint: &Endpoint, owner: &str, resource: Option<&str>) -> Option<String> {
        fn fill(v: &Value, with: &[(&str, &str); 3]) -> Value {
            match v {
                Value::String(s) => {
                    Value::String(with.iter().fold(s.clone(), |s, (placeholder, value)| {
                        s.replace(placeholder, value)
                    }))
                }
                Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, with)).collect()),
                Value::Object(o) => {
                    Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, with))).collect())
                }
                other => other.clone(),
            }
        }
        let body = endpoint.body.as_ref()?;
        let n = self
            .built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let with = [
            ("{owner}", self.id_of(owner)),
            ("{resource}", resource.unwrap_or_default()),
            ("{probe}", n.as_str()),
        ];
        Some(fill(body, &with).to_string())
    }

    /// A request of `endpoint` to `uri`, with its body when it takes one.
    fn request(
        &self,
        endpoint: &Endpoint,
        uri: String,
        owner: &str,
        resource: Option<&str>,
    ) -> ProbeRequest {
        let req = ProbeRequest::new(endpoint.method.clone(), uri);
        match self.body_for(endpoint, owner, resource) {
            Some(body) => req.json(body),
            None => req,
        }
    }

    /// Concrete URIs of a template for one owner (by name): one per resource when it names
    /// one. Ids are percent-encoded ([`encode_component`]).
    fn uris(&self, template: &str, owner: &str) -> Vec<(String, Option<String>)> {
        let with_owner = template.replace("{owner}", &encode_component(self.id_of(owner)));
        if template.contains("{resource}") {
            self.resources_of(owner)
                .into_iter()
                .map(|r| {
                    (
                        with_owner.replace("{resource}", &encode_component(r)),
                        Some(r.to_string()),
                    )
                })
                .collect()
        } else {
            vec![(with_owner, None)]
        }
    }

    fn carrier(template: &str) -> Carrier {
        let (path, query) = template.split_once('?').unwrap_or((template, ""));
        let in_path = path.contains("{owner}") || path.contains("{resource}");
        if in_path {
            return Carrier::Path;
        }
        let key = query
            .split('&')
            .find(|kv| kv.contains("{owner}") || kv.contains("{resource}"))
            .and_then(|kv| kv.split('=').next())
            .unwrap_or("?");
        Carrier::Query(key.to_string())
    }

    /// The victim's resource ids found in a response body ([`ids_in`]).
    fn foreign_data(&self, body: &str, victim: &str) -> Vec<String> {
        ids_in(body, &self.resources_of(victim))
    }
}

/// The `ids` found in a response body: as whole JSON values (strings, or numbers for numeric
/// ids), so `1` does not match inside `12` or `"order-12"`; in a body that is not JSON, as
/// whole words. How the auth probe and the audit's auth question recognise another
/// principal's data.
pub(crate) fn ids_in(body: &str, ids: &[&str]) -> Vec<String> {
    let values = match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut out = Vec::new();
            leaf_values(&v, &mut out);
            out
        }
        Err(_) => body
            .split(|c: char| !(c.is_alphanumeric() || "-_.@".contains(c)))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
    };
    ids.iter()
        .filter(|id| values.iter().any(|v| v == *id))
        .map(|id| id.to_string())
        .collect()
}

/// The verdict of an auth-context finding about `endpoint` (`GET /orders/{id}`): it answers
/// another principal's data, or (`data_leak` false) it changes another principal's resource.
pub(crate) fn auth_verdict(endpoint: &str, data_leak: bool) -> String {
    if data_leak {
        format!("{endpoint} returns another principal's data")
    } else {
        format!("{endpoint} lets a principal change another principal's resource")
    }
}

/// The fix of an auth-context finding where a request without valid credentials got through.
pub(crate) const CREDENTIALS_FIX: &str = "require valid credentials on this endpoint: reject missing and malformed tokens with 401 before any lookup";

/// The fix of an auth-context finding where another principal got through.
pub(crate) const OWNERSHIP_FIX: &str = "take the user from the verified credentials (the token), never from the path, query, headers or body; check that the authenticated user owns every resource before reading or changing it";

/// The key of `state` (a JSON object) that stores the body field `field`: the same name, or
/// the same words in another case style (`displayName` is `display_name` is `display-name`).
pub(crate) fn stored_key<'a>(state: &'a Value, field: &str) -> Option<&'a str> {
    let words = |k: &str| -> String {
        k.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let object = state.as_object()?;
    if object.contains_key(field) {
        return object.keys().find(|k| *k == field).map(String::as_str);
    }
    let wanted = words(field);
    object
        .keys()
        .find(|k| words(k) == wanted)
        .map(String::as_str)
}

/// What `state` stores for the body field `field` ([`stored_key`]), or null.
fn stored_field(state: &Value, field: &str) -> Value {
    stored_key(state, field)
        .and_then(|k| state.get(k))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The probe's own clock: a tokio runtime whose timers a thread of its own drives, while the
/// caller's thread polls the requests with the runtime's handle entered. Unlike
/// `Runtime::block_on`, this works on any thread, inside another runtime (an async test) too:
/// the caller's thread blocks, but no runtime is started inside a runtime.
struct Driver {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    fn new() -> std::io::Result<Driver> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("whatbreaks-probe-timers".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                })
            })?;
        Ok(Driver {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        let _entered = self.handle.enter();
        futures::executor::block_on(future)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every string, number and boolean of a JSON value, as text.
fn leaf_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Null => {}
        Value::Array(a) => a.iter().for_each(|x| leaf_values(x, out)),
        Value::Object(o) => o.values().for_each(|x| leaf_values(x, out)),
    }
}

/// One suspicious request and what came back.
struct Leak {
    attacker: String,
    victim: String,
    request: ProbeRequest,
    status: u16,
    data: Vec<String>,
    carrier: Carrier,
    read_back: Option<String>,
}

fn is_mutation(m: &Method) -> bool {
    !(m == Method::GET || m == Method::HEAD || m == Method::OPTIONS)
}

impl<S, ResB> AuthProbe<S>
where
    S: Service<Request<Body>, Response = Response<ResB>> + Clone,
    S::Error: fmt::Debug,
    ResB: http_body::Body,
    ResB::Error: fmt::Debug,
{
    /// [`run`](Self::run) from synchronous code (a plain `#[test]`): blocks the calling
    /// thread until every probe is sent, with a clock of its own; from an async test too.
    pub fn run_blocking(self) -> Report {
        match Driver::new() {
            Ok(driver) => driver.block_on(self.run()),
            Err(e) => Report::stopped(
                "auth probe",
                Finding::harness(
                    "probe set-up",
                    format!("cannot build a tokio runtime for the probe: {e}"),
                ),
            ),
        }
    }

    /// Sends every probe and returns the findings; never panics.
    pub async fn run(self) -> Report {
        let started = std::time::Instant::now();
        let mut leaks: BTreeMap<(usize, Carrier), Vec<Leak>> = BTreeMap::new();
        let mut owner_reads = (0usize, 0usize);
        let mut sent = 0usize;
        let mut unsent = Unsent::default();
        // Reads first, so that mutations do not hide data from them.
        let mut order: Vec<usize> = (0..self.endpoints.len()).collect();
        order.sort_by_key(|&i| is_mutation(&self.endpoints[i].method));
        for e in order {
            let endpoint = self.endpoints[e].clone();
            let (method, template) = (endpoint.method.clone(), endpoint.template.clone());
            for victim in &self.principals {
                // The owner's own request: proves the probe can see data at all.
                if !is_mutation(&method) {
                    for (uri, resource) in self.uris(&template, &victim.name) {
                        let req = (victim.auth)(self.request(
                            &endpoint,
                            uri,
                            &victim.name,
                            resource.as_deref(),
                        ));
                        let a = send(&self.service, &req, self.limit).await;
                        unsent.note(&a);
                        sent += 1;
                        owner_reads.1 += 1;
                        if (200..300).contains(&a.status)
                            && !self.foreign_data(&a.body, &victim.name).is_empty()
                        {
                            owner_reads.0 += 1;
                        }
                    }
                }
                let anon = Principal {
                    name: "anonymous".into(),
                    id: String::new(),
                    auth: Arc::new(|r| r),
                };
                let mut probes: Vec<(&Principal, ProbeRequest, Carrier)> = Vec::new();
                for attacker in self.principals.iter().filter(|p| p.name != victim.name) {
                    if !is_mutation(&method) && self.readers.contains(&attacker.name) {
                        continue;
                    }
                    for (req, carrier) in self.requests_naming(&endpoint, attacker, victim) {
                        probes.push((attacker, req, carrier));
                    }
                }
                // No credentials, and a malformed token.
                for (uri, resource) in self.uris(&template, &victim.name) {
                    let req = self.request(&endpoint, uri, &victim.name, resource.as_deref());
                    probes.push((&anon, req.clone(), Carrier::NoCredentials));
                    probes.push((&anon, req.bearer("not-a-valid-token"), Carrier::BadToken));
                }
                for (attacker, req, carrier) in probes {
                    let before = self.stored(&method, victim);
                    let a = send(&self.service, &req, self.limit).await;
                    let after = self.stored(&method, victim);
                    unsent.note(&a);
                    sent += 1;
                    let changed = match (before, after) {
                        (Some(b), Some(a)) if b != a => Some((b, a)),
                        _ => None,
                    };
                    if let Some(leak) = self
                        .judge(&method, attacker, victim, req, carrier, a, changed)
                        .await
                    {
                        leaks
                            .entry((e, leak.carrier.clone()))
                            .or_default()
                            .push(leak);
                    }
                }
            }
        }
        let mut findings: Vec<Finding> = leaks
            .into_iter()
            .map(|((e, carrier), leaks)| self.finding(e, &carrier, &leaks))
            .collect();
        findings.extend(unsent.findings(self.limit));
        if owner_reads.1 > 0 && owner_reads.0 == 0 && unsent.invalid.len() < sent {
            let mut f = Finding::harness(
                "probe set-up",
                "no owner could read their own data through any read endpoint, so leaks cannot be recognised",
            );
            f.evidence = vec![format!(
                "{} owner reads, none returned 2xx with the owner's resource ids",
                owner_reads.1
            )];
            f.fix = "check the principals' credentials, the endpoint templates and that resource ids appear in responses".into();
            findings.push(f);
        }
        let replay = replay_line(0);
        let replay = replay
            .split_once(' ')
            .map_or(replay.clone(), |(_, rest)| rest.to_string());
        for f in &mut findings {
            f.replay = replay.clone();
        }
        Report {
            scenario: format!(
                "{} principals, {} endpoints",
                self.principals.len(),
                self.endpoints.len()
            ),
            key_figure: if findings.is_empty() {
                format!("{sent} cross-principal requests, none leaked")
            } else {
                format!(
                    "{} leaking endpoint/carrier pair(s) in {sent} requests",
                    findings.len()
                )
            },
            figures: vec![("requests".into(), sent.to_string())],
            findings,
            seeds: vec![0],
            wall_time: started.elapsed(),
            charts: Vec::new(),
        }
    }

    /// What `victim` has stored before or after a write (with a state oracle).
    fn stored(&self, method: &Method, victim: &Principal) -> Option<Value> {
        match &self.state {
            Some(of) if is_mutation(method) => Some(of(&victim.name)),
            _ => None,
        }
    }

    /// Requests as `attacker` that name `victim`: in the URI, an identity header, the body.
    fn requests_naming(
        &self,
        endpoint: &Endpoint,
        attacker: &Principal,
        victim: &Principal,
    ) -> Vec<(ProbeRequest, Carrier)> {
        let (method, template) = (&endpoint.method, endpoint.template.as_str());
        let mut out = Vec::new();
        for (uri, resource) in self.uris(template, &victim.name) {
            let req = self.request(endpoint, uri, &victim.name, resource.as_deref());
            out.push(((attacker.auth)(req), Self::carrier(template)));
        }
        // The attacker's own URI, with the victim's identity smuggled elsewhere. Not for
        // templates that name a resource: there the URI already says whose it is (and a
        // mutation would only change the attacker's own resource).
        if template.contains("{resource}") {
            return out;
        }
        if let Some((own, _)) = self.uris(template, &attacker.name).into_iter().next() {
            for h in &self.identity_headers {
                let req =
                    (attacker.auth)(self.request(endpoint, own.clone(), &attacker.name, None))
                        .header(h.clone(), header_value(&victim.id));
                out.push((req, Carrier::Header(h.clone())));
            }
            if is_mutation(method) {
                // The attacker's valid body, with the victim's identity in the usual fields.
                let mut body = self
                    .body_for(endpoint, &attacker.name, None)
                    .and_then(|b| serde_json::from_str::<Map<String, Value>>(&b).ok())
                    .unwrap_or_default();
                for field in ["userId", "user_id", "ownerId", "owner_id"] {
                    body.insert(field.into(), Value::String(victim.id.clone()));
                }
                let req = (attacker.auth)(ProbeRequest::new(method.clone(), own))
                    .json(Value::Object(body).to_string());
                out.push((req, Carrier::Body));
            }
        }
        out
    }

    /// A leak, or `None`. With a state oracle a write is judged by what it changed in the
    /// victim's state (`changed`), whatever it answered; without one, by a 2xx answer to a
    /// write naming the victim (read back as the owner to show what changed).
    #[allow(clippy::too_many_arguments)]
    async fn judge(
        &self,
        method: &Method,
        attacker: &Principal,
        victim: &Principal,
        req: ProbeRequest,
        carrier: Carrier,
        a: Answer,
        changed: Option<(Value, Value)>,
    ) -> Option<Leak> {
        if let Some((before, after)) = changed {
            return Some(Leak {
                attacker: attacker.name.clone(),
                victim: victim.name.clone(),
                request: req,
                status: a.status,
                data: Vec::new(),
                carrier,
                read_back: Some(format!(
                    "{}'s stored state changed: {} -> {}{}",
                    victim.name,
                    shorten(&before.to_string(), 120),
                    shorten(&after.to_string(), 120),
                    if (200..300).contains(&a.status) {
                        String::new()
                    } else {
                        format!(" (though it answered {})", a.status)
                    }
                )),
            });
        }
        if !(200..300).contains(&a.status) {
            return None;
        }
        let data = self.foreign_data(&a.body, &victim.name);
        let names_victim_resource = req.uri.contains(&encode_component(&victim.id))
            || self
                .resources_of(&victim.name)
                .iter()
                .any(|r| req.uri.contains(&encode_component(r)));
        let mutated = is_mutation(method) && names_victim_resource && self.state.is_none();
        if data.is_empty() && !mutated {
            return None;
        }
        let read_back = if mutated {
            self.read_back(victim, &req.uri).await
        } else {
            None
        };
        Some(Leak {
            attacker: attacker.name.clone(),
            victim: victim.name.clone(),
            request: req,
            status: a.status,
            data,
            carrier,
            read_back,
        })
    }

    /// After a foreign mutation, reads the resource back as its owner through a read endpoint.
    async fn read_back(&self, victim: &Principal, uri: &str) -> Option<String> {
        let resource = self
            .resources_of(&victim.name)
            .into_iter()
            .find(|r| uri.contains(&encode_component(r)))?;
        let read = self
            .endpoints
            .iter()
            .find(|e| !is_mutation(&e.method) && e.template.contains("{resource}"))?;
        let read_uri = read
            .template
            .replace("{owner}", &encode_component(&victim.id))
            .replace("{resource}", &encode_component(resource));
        let req = (victim.auth)(ProbeRequest::new(Method::GET, read_uri));
        let a = send(&self.service, &req, self.limit).await;
        Some(format!(
            "read back as {}: {} -> {}{}",
            victim.name,
            req.describe(),
            a.status,
            if a.status == 404 { " (it is gone)" } else { "" }
        ))
    }

    fn finding(&self, e: usize, carrier: &Carrier, leaks: &[Leak]) -> Finding {
        let (method, template) = (&self.endpoints[e].method, &self.endpoints[e].template);
        let data_leak = leaks.iter().any(|l| !l.data.is_empty());
        let mut f = Finding::bug(
            AUTH_PATTERN,
            auth_verdict(&format!("{method} {template}"), data_leak),
        );
        f.scenario = format!(
            "principals {}, identity carried by {carrier}",
            self.principals
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for l in leaks {
            let what = if l.data.is_empty() {
                format!("{} accepted", l.status)
            } else {
                format!("{} with {}'s {}", l.status, l.victim, l.data.join(", "))
            };
            f.evidence.push(format!(
                "as {}: {} -> {what}",
                l.attacker,
                l.request.describe()
            ));
            if let Some(rb) = &l.read_back {
                f.evidence.push(format!("  {rb}"));
            }
        }
        f.fix = match carrier {
            Carrier::NoCredentials | Carrier::BadToken => CREDENTIALS_FIX.into(),
            _ => OWNERSHIP_FIX.into(),
        };
        f
    }
}

// ---------------------------------------------------------------------------------------
// Hostile inputs
// ---------------------------------------------------------------------------------------

/// Fields that a client must never set, tried by default as extra fields.
pub const PRIVILEGED_FIELDS: &[&str] = &[
    "role",
    "is_admin",
    "isAdmin",
    "admin",
    "owner_id",
    "id",
    "user_id",
    "balance",
    "verified",
    "permissions",
];

/// What makes a hostile body hostile.
#[derive(Clone, Debug, PartialEq)]
pub enum HostileKind {
    /// A privileged field the valid body does not have.
    ExtraPrivileged {
        /// The field.
        field: String,
        /// Its value.
        value: Value,
    },
    /// A string field made very long.
    Oversized {
        /// The field.
        field: String,
        /// Its length in characters.
        len: usize,
    },
    /// An email field with an invalid address.
    InvalidEmail {
        /// The field.
        field: String,
        /// The address.
        value: String,
    },
    /// A field with a value of another JSON type.
    WrongType {
        /// The field.
        field: String,
        /// The value.
        value: Value,
    },
    /// A field set to `null`.
    Null {
        /// The field.
        field: String,
    },
    /// A string field with unicode edge cases (bidi overrides, zero-width, NUL).
    Unicode {
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// A field given twice; the second value is privileged-looking.
    DuplicatedKey {
        /// The field.
        field: String,
        /// The second value.
        value: Value,
    },
}

/// A hostile JSON body and why it is hostile.
#[derive(Clone, Debug, PartialEq)]
pub struct Hostile {
    /// Ordered `(key, value)` pairs (a key may repeat).
    pub pairs: Vec<(String, Value)>,
    /// What was changed.
    pub kind: HostileKind,
}

impl Hostile {
    /// The body as JSON text (keys in order, repeats kept).
    pub fn body(&self) -> String {
        let parts: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    /// The field the change is about.
    pub fn field(&self) -> &str {
        match &self.kind {
            HostileKind::ExtraPrivileged { field, .. }
            | HostileKind::Oversized { field, .. }
            | HostileKind::InvalidEmail { field, .. }
            | HostileKind::WrongType { field, .. }
            | HostileKind::Null { field }
            | HostileKind::Unicode { field, .. }
            | HostileKind::DuplicatedKey { field, .. } => field,
        }
    }

    /// The value the field gets, for comparing with what was stored.
    pub fn value(&self) -> Value {
        match &self.kind {
            HostileKind::ExtraPrivileged { value, .. }
            | HostileKind::WrongType { value, .. }
            | HostileKind::DuplicatedKey { value, .. } => value.clone(),
            HostileKind::Oversized { field, .. } => self.get(field),
            HostileKind::InvalidEmail { value, .. } | HostileKind::Unicode { value, .. } => {
                Value::String(value.clone())
            }
            HostileKind::Null { .. } => Value::Null,
        }
    }

    fn get(&self, field: &str) -> Value {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    }

    /// A short description for findings (long values are shortened).
    pub fn describe(&self) -> String {
        match &self.kind {
            HostileKind::ExtraPrivileged { field, value } => {
                format!("extra field `{field}`: {value}")
            }
            HostileKind::Oversized { field, len } => format!("`{field}` of {len} characters"),
            HostileKind::InvalidEmail { field, value } => {
                format!("`{field}` = {value:?} (not an email address)")
            }
            HostileKind::WrongType { field, value } => format!("`{field}` = {value} (wrong type)"),
            HostileKind::Null { field } => format!("`{field}` = null"),
            HostileKind::Unicode { field, value } => {
                format!("`{field}` = {value:?} (unicode edge case)")
            }
            HostileKind::DuplicatedKey { field, value } => {
                format!("`{field}` given twice, second {value}")
            }
        }
    }
}

/// One family of hostile bodies: small families are listed in full (and tried exhaustively
/// by [`MassAssignmentProbe`]); large ones (lengths, malformed emails) are sampled and shrunk.
#[derive(Debug)]
pub struct Family {
    /// The family's name, e.g. `"extra privileged field"`.
    pub name: &'static str,
    /// Every case, for a small family.
    pub all: Option<Vec<Hostile>>,
    /// The family as a proptest strategy.
    pub strategy: BoxedStrategy<Hostile>,
}

/// The families of [`hostile_bodies`], derived from a valid body.
pub fn hostile_families(valid: &Value, privileged: &[String]) -> Vec<Family> {
    let base: Vec<(String, Value)> = valid
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let fields: Vec<String> = base.iter().map(|(k, _)| k.clone()).collect();
    let strings: Vec<String> = base
        .iter()
        .filter(|(_, v)| v.is_string())
        .map(|(k, _)| k.clone())
        .collect();
    let emails: Vec<String> = strings
        .iter()
        .filter(|k| k.to_lowercase().contains("email"))
        .cloned()
        .collect();
    let extra: Vec<String> = privileged
        .iter()
        .filter(|p| !fields.contains(p))
        .cloned()
        .collect();
    let with = move |field: &str, value: Value| -> Vec<(String, Value)> {
        let mut pairs = base.clone();
        match pairs.iter_mut().find(|(k, _)| k == field) {
            Some(slot) => slot.1 = value,
            None => pairs.push((field.to_string(), value)),
        }
        pairs
    };
    let privileged_values = [
        Value::from("admin"),
        Value::from(true),
        Value::from(1_000_000),
        Value::from("someone-else"),
    ];
    let mut listed: Vec<(&'static str, Vec<Hostile>)> = Vec::new();
    listed.push((
        "extra privileged field",
        extra
            .iter()
            .flat_map(|f| {
                privileged_values
                    .iter()
                    .map(move |v| (f.clone(), v.clone()))
            })
            .map(|(field, value)| Hostile {
                pairs: with(&field, value.clone()),
                kind: HostileKind::ExtraPrivileged { field, value },
            })
            .collect(),
    ));
    listed.push((
        "duplicated key",
        fields
            .iter()
            .chain(extra.iter())
            .flat_map(|f| {
                privileged_values
                    .iter()
                    .map(move |v| (f.clone(), v.clone()))
            })
            .map(|(field, value)| {
                let mut pairs = with(&field, Value::from("user"));
                pairs.push((field.clone(), value.clone()));
                Hostile {
                    pairs,
                    kind: HostileKind::DuplicatedKey { field, value },
                }
            })
            .collect(),
    ));
    listed.push((
        "null",
        fields
            .iter()
            .map(|f| Hostile {
                pairs: with(f, Value::Null),
                kind: HostileKind::Null { field: f.clone() },
            })
            .collect(),
    ));
    let odd = [
        Value::from(42),
        serde_json::json!([1, 2]),
        serde_json::json!({"$gt": ""}),
    ];
    listed.push((
        "wrong type",
        fields
            .iter()
            .flat_map(|f| odd.iter().map(move |v| (f.clone(), v.clone())))
            .filter(|(f, v)| {
                valid
                    .get(f)
                    .is_some_and(|old| std::mem::discriminant(old) != std::mem::discriminant(v))
            })
            .map(|(field, value)| Hostile {
                pairs: with(&field, value.clone()),
                kind: HostileKind::WrongType { field, value },
            })
            .collect(),
    ));
    let weird = [
        "admin\u{202e}txt.exe",
        "\u{200b}",
        "a\u{0000}b",
        "\u{1d552}\u{1d555}\u{1d55e}\u{1d55a}\u{1d55f} \u{1f469}\u{200d}\u{1f467}",
    ];
    listed.push((
        "unicode edge case",
        strings
            .iter()
            .flat_map(|f| weird.iter().map(move |w| (f.clone(), w.to_string())))
            .map(|(field, value)| Hostile {
                pairs: with(&field, Value::String(value.clone())),
                kind: HostileKind::Unicode { field, value },
            })
            .collect(),
    ));
    let mut out: Vec<Family> = listed
        .into_iter()
        .filter(|(_, all)| !all.is_empty())
        .map(|(name, all)| Family {
            name,
            strategy: proptest::sample::select(all.clone()).boxed(),
            all: Some(all),
        })
        .collect();
    if !strings.is_empty() {
        let with = with.clone();
        out.push(Family {
            name: "oversized string",
            all: None,
            // Mostly up to a megabyte, sometimes 10 MiB; failures shrink to the shortest.
            strategy: (
                proptest::sample::select(strings.clone()),
                prop_oneof![7 => 10_001usize..=1_000_000, 1 => Just(10 << 20)],
            )
                .prop_map(move |(field, len)| Hostile {
                    pairs: with(&field, Value::String("A".repeat(len))),
                    kind: HostileKind::Oversized { field, len },
                })
                .boxed(),
        });
    }
    if !emails.is_empty() {
        out.push(Family {
            name: "invalid email",
            all: None,
            strategy: (
                proptest::sample::select(emails),
                prop_oneof![
                    Just("not-an-email".to_string()),
                    Just("a@".to_string()),
                    Just("@b.io".to_string()),
                    Just("a b@c.io".to_string()),
                    "[a-z]{1,12}",
                ],
            )
                .prop_map(move |(field, value)| Hostile {
                    pairs: with(&field, Value::String(value.clone())),
                    kind: HostileKind::InvalidEmail { field, value },
                })
                .boxed(),
        });
    }
    out
}

/// All hostile bodies derived from a valid one, as one proptest strategy (for your own
/// `proptest!` tests).
pub fn hostile_bodies(valid: &Value, privileged: &[String]) -> BoxedStrategy<Hostile> {
    let families: Vec<BoxedStrategy<Hostile>> = hostile_families(valid, privileged)
        .into_iter()
        .map(|f| f.strategy)
        .collect();
    proptest::strategy::Union::new(families).boxed()
}

/// Sends hostile bodies to a write endpoint and checks, with a state oracle, that privileged
/// fields did not change, invalid values were not stored, and nothing answered 5xx.
///
/// `factory` builds a fresh app and its oracle for every case (so one case's damage does not
/// leak into the next): `|| { let state = State::default(); (router(state.clone()), move || state.profile_json()) }`.
pub struct MassAssignmentProbe<F> {
    factory: F,
    method: Method,
    path: String,
    auth: Auth,
    valid: Value,
    privileged: Vec<String>,
    cases: u32,
    seed: u64,
    max_len: usize,
    limit: std::time::Duration,
    /// Requests that could not be built or got no answer within the limit.
    unsent: std::cell::RefCell<Unsent>,
    /// Further endpoints of the same app, each with a body it accepts.
    more_endpoints: Vec<(Method, String, Value)>,
    /// Further principals: every endpoint is probed as each of them.
    more_principals: Vec<Auth>,
    /// Whether [`principal`](Self::principal) was called (the first call replaces the default
    /// of no credentials; later calls add principals).
    principal_given: bool,
}

impl<F> fmt::Debug for MassAssignmentProbe<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MassAssignmentProbe")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("cases", &self.cases)
            .finish_non_exhaustive()
    }
}

impl<F, S, O, ResB> MassAssignmentProbe<F>
where
    F: Fn() -> (S, O),
    O: Fn() -> Value + 'static,
    S: Service<Request<Body>, Response = Response<ResB>> + Clone,
    S::Error: fmt::Debug,
    ResB: http_body::Body,
    ResB::Error: fmt::Debug,
{
    /// A probe of `method path` on apps built by `factory`.
    pub fn new(factory: F, method: Method, path: impl Into<String>) -> Self {
        MassAssignmentProbe {
            factory,
            method,
            path: path.into(),
            auth: Arc::new(|r| r),
            valid: Value::Object(Map::new()),
            privileged: PRIVILEGED_FIELDS.iter().map(|s| s.to_string()).collect(),
            cases: 64,
            seed: 0x5eed,
            max_len: 10_000,
            limit: REQUEST_LIMIT,
            unsent: Default::default(),
            more_endpoints: Vec::new(),
            more_principals: Vec::new(),
            principal_given: false,
        }
    }

    /// How requests carry credentials (default: none). Called again, it adds a principal:
    /// every endpoint is probed as each one (a user, an admin, a user of another tenant).
    pub fn principal(
        mut self,
        auth: impl Fn(ProbeRequest) -> ProbeRequest + Send + Sync + 'static,
    ) -> Self {
        if self.principal_given {
            self.more_principals.push(Arc::new(auth));
        } else {
            self.auth = Arc::new(auth);
            self.principal_given = true;
        }
        self
    }

    /// Another endpoint of the same app (`method path`) with a body it accepts, probed like
    /// the first: the profile update and the sign-up of one service in one probe.
    pub fn endpoint(mut self, method: Method, path: impl Into<String>, valid_body: Value) -> Self {
        self.more_endpoints.push((method, path.into(), valid_body));
        self
    }

    /// A body the endpoint accepts; hostile bodies are derived from it.
    pub fn valid_body(mut self, body: Value) -> Self {
        self.valid = body;
        self
    }

    /// Adds a privileged field to try (besides [`PRIVILEGED_FIELDS`]).
    pub fn privileged(mut self, field: impl Into<String>) -> Self {
        self.privileged.push(field.into());
        self
    }

    /// Cases per family of hostile input (default 64).
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases.max(1);
        self
    }

    /// The proptest seed (default `0x5eed`; `WHATBREAKS_SEED` overrides).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Wall-clock limit of each request (default [`REQUEST_LIMIT`], 10 s): a request without
    /// an answer by then is reported, and the remaining cases are not sent.
    pub fn request_limit(mut self, limit: std::time::Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Longest string that counts as valid when stored (default 10,000 characters).
    pub fn max_len(mut self, max: usize) -> Self {
        self.max_len = max;
        self
    }

    fn one(&self, rt: &Driver, body: String) -> (u16, Value, Value) {
        // A handler that did not answer once is not asked again (each case would wait the
        // whole limit).
        if !self.unsent.borrow().timed_out.is_empty() {
            return (TIMED_OUT, Value::Null, Value::Null);
        }
        let (service, oracle) = (self.factory)();
        let before = oracle();
        let req = (self.auth)(ProbeRequest::new(self.method.clone(), self.path.clone())).json(body);
        let a = rt.block_on(send(&service, &req, self.limit));
        self.unsent.borrow_mut().note(&a);
        (a.status, before, oracle())
    }

    /// What is wrong with the outcome of one case, if anything ([`judge_hostile`]).
    fn judge(
        &self,
        h: &Hostile,
        status: u16,
        before: &Value,
        after: &Value,
    ) -> Option<(&'static str, String)> {
        judge_hostile(h, status, before, after, &self.privileged, self.max_len)
    }

    /// Runs every family of hostile input against every endpoint as every principal; one
    /// finding per family, endpoint and principal that fails, with the shrunk
    /// counterexample. It blocks the calling thread until done, with a clock of its own, so
    /// it runs from a plain `#[test]` and from an async test alike.
    pub fn run(mut self) -> Report {
        let mut endpoints = vec![(self.method.clone(), self.path.clone(), self.valid.clone())];
        endpoints.append(&mut self.more_endpoints);
        let mut principals = vec![self.auth.clone()];
        principals.append(&mut self.more_principals);
        if endpoints.len() == 1 && principals.len() == 1 {
            return self.run_one();
        }
        let started = std::time::Instant::now();
        let mut merged = Report::new(format!(
            "{} endpoint(s) as {} principal(s)",
            endpoints.len(),
            principals.len()
        ));
        let mut tried = 0u64;
        for (method, path, valid) in endpoints {
            for (i, auth) in principals.iter().enumerate() {
                self.method = method.clone();
                self.path = path.clone();
                self.valid = valid.clone();
                self.auth = auth.clone();
                self.unsent.replace(Unsent::default());
                let report = self.run_one();
                if report.seeds.is_empty() {
                    // Stopped before any case (a bad `WHATBREAKS_SEED`): the same for all.
                    return report;
                }
                tried += report
                    .figure("cases")
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0);
                merged.seeds = report.seeds.clone();
                for mut f in report.findings {
                    if principals.len() > 1 {
                        f.scenario = format!("{}, principal #{}", f.scenario, i + 1);
                    }
                    merged.findings.push(f);
                }
            }
        }
        merged.key_figure = if merged.findings.is_empty() {
            format!("{tried} hostile bodies, none accepted wrongly")
        } else {
            format!(
                "{} problem(s) in {tried} hostile bodies",
                merged.findings.len()
            )
        };
        merged.figures = vec![("cases".into(), tried.to_string())];
        merged.wall_time = started.elapsed();
        merged
    }

    /// [`run`](Self::run) for the one endpoint and principal the probe holds now.
    fn run_one(&self) -> Report {
        let started = std::time::Instant::now();
        let scenario = format!("{} {}", self.method, self.path);
        // A bad `WHATBREAKS_SEED` is a configuration finding naming it, as everywhere else;
        // never a silent fall-back to the builder's seed.
        let seed = match crate::scenario::config::EnvOverrides::from_env() {
            Ok(env) => env.seed.unwrap_or(self.seed),
            Err(e) => {
                let f = Finding::config(e.to_string())
                    .with_scenario(scenario.clone())
                    .with_fix(format!("set {} to a valid value, or unset it", e.variable));
                return Report::stopped(scenario, f);
            }
        };
        let rt = match Driver::new() {
            Ok(rt) => rt,
            Err(e) => {
                let f = Finding::harness(
                    "probe set-up",
                    format!("cannot build a tokio runtime for the probe: {e}"),
                );
                return Report::stopped(scenario, f);
            }
        };
        let mut findings = Vec::new();
        // Sanity: the valid body must be accepted, or every verdict below is vacuous.
        let (status, _, after) = self.one(&rt, self.valid.to_string());
        // The body's fields as the oracle shows them: a DTO in camelCase over a snake_case
        // model is matched field by field; a body none of whose fields the state shows
        // cannot be judged, and says so.
        let unseen: Vec<&str> = self
            .valid
            .as_object()
            .map(|o| {
                o.keys()
                    .map(String::as_str)
                    .filter(|k| stored_key(&after, k).is_none())
                    .collect()
            })
            .unwrap_or_default();
        let fields = self.valid.as_object().map_or(0, |o| o.len());
        if (200..300).contains(&status) && !after.is_null() && fields > 0 && unseen.len() == fields
        {
            let mut f = Finding::harness(
                "probe set-up",
                "the oracle shows none of the valid body's fields, so nothing stored can be judged",
            );
            f.evidence = vec![
                format!("body fields: {}", unseen.join(", ")),
                format!("oracle: {}", shorten(&after.to_string(), 120)),
            ];
            f.fix = "make the oracle return the stored record the endpoint writes, as a JSON object whose field names match the body's (camelCase and snake_case are matched to each other)".into();
            findings.push(f);
        }
        if !(200..300).contains(&status) || after.is_null() {
            let mut f = Finding::harness(
                "probe set-up",
                format!("the valid body was not accepted ({status}) or the oracle shows nothing"),
            );
            f.evidence = vec![format!(
                "{} {} body {} -> {status}",
                self.method,
                self.path,
                shorten(&self.valid.to_string(), 80)
            )];
            f.fix = "check the credentials, the path, the valid body and the oracle".into();
            findings.push(f);
        }
        let (found, tried) = hostile_cases(
            &self.valid,
            &self.privileged,
            self.cases,
            seed,
            &scenario,
            |h: &Hostile| {
                let (status, before, after) = self.one(&rt, h.body());
                if status == NOT_SENT || status == TIMED_OUT {
                    return None;
                }
                self.judge(h, status, &before, &after)
            },
        );
        findings.extend(found);
        findings.extend(self.unsent.borrow().findings(self.limit));
        Report {
            scenario: format!("{} {}", self.method, self.path),
            seeds: vec![seed],
            key_figure: if findings.is_empty() {
                format!("{tried} hostile bodies, none accepted wrongly")
            } else {
                format!("{} problem(s) in {tried} hostile bodies", findings.len())
            },
            figures: vec![("cases".into(), tried.to_string())],
            findings,
            wall_time: started.elapsed(),
            charts: Vec::new(),
        }
    }
}

/// Every family of hostile bodies derived from `valid` ([`hostile_families`]) through
/// `check`, which sends one body and judges its outcome ([`judge_hostile`]): small families
/// in full, large ones sampled (`cases` per family, proptest with `seed`) and shrunk. One
/// finding per failing family, with the counterexample, the fix and the replay line; and the
/// number of cases tried. Shared by [`MassAssignmentProbe`] and the audit's mass-assignment
/// and validation questions (`endpoint`, `POST /users`, names the route in findings).
pub(crate) fn hostile_cases(
    valid: &Value,
    privileged: &[String],
    cases: u32,
    seed: u64,
    endpoint: &str,
    check: impl Fn(&Hostile) -> Option<(&'static str, String)>,
) -> (Vec<Finding>, u32) {
    let mut tried = 0u32;
    let mut findings = Vec::new();
    for family in hostile_families(valid, privileged) {
        let name = family.name;
        let outcome = match &family.all {
            // Small families: every case, in order; the first failure is the counterexample.
            Some(all) => {
                tried += all.len() as u32;
                all.iter()
                    .find_map(|h| check(h).map(|(p, why)| (p, why, h.clone(), false)))
            }
            None => {
                let mut bytes = [0u8; 32];
                let mut x = splitmix64(seed ^ name.len() as u64);
                for chunk in bytes.chunks_mut(8) {
                    x = splitmix64(x);
                    chunk.copy_from_slice(&x.to_le_bytes());
                }
                let config = Config {
                    cases,
                    failure_persistence: None,
                    ..Config::default()
                };
                let mut runner = TestRunner::new_with_rng(
                    config,
                    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
                );
                tried += cases;
                match runner.run(&family.strategy, |h| match check(&h) {
                    Some((pattern, why)) => {
                        Err(TestCaseError::fail(format!("{pattern}\u{0}{why}")))
                    }
                    None => Ok(()),
                }) {
                    Err(TestError::Fail(reason, minimal)) => {
                        let text = reason.message().to_string();
                        let (pattern, why) =
                            text.split_once('\u{0}').unwrap_or(("", text.as_str()));
                        let pattern = [MASS_ASSIGNMENT_PATTERN, SERVER_ERROR_PATTERN]
                            .into_iter()
                            .find(|p| *p == pattern)
                            .unwrap_or(INVALID_INPUT_PATTERN);
                        Some((pattern, why.to_string(), minimal, true))
                    }
                    _ => None,
                }
            }
        };
        if let Some((pattern, why, minimal, shrunk)) = outcome {
            let family = name;
            let verdict = match pattern {
                MASS_ASSIGNMENT_PATTERN => format!(
                    "a client can set the privileged field `{}`",
                    minimal.field()
                ),
                SERVER_ERROR_PATTERN => format!("hostile input ({family}) crashes the handler"),
                _ => format!("invalid input ({family}) is stored"),
            };
            let mut f = Finding::bug(pattern, verdict);
            f.scenario = format!(
                "{}, small families in full, {} sampled cases per large family, proptest seed {seed:#x}",
                endpoint, cases
            );
            f.evidence = vec![
                format!(
                    "{}: {}",
                    if shrunk {
                        "shrunk counterexample"
                    } else {
                        "counterexample"
                    },
                    minimal.describe()
                ),
                format!("request body: {}", shorten(&minimal.body(), 120)),
                format!("outcome: {why}"),
            ];
            f.fix = match pattern {
                MASS_ASSIGNMENT_PATTERN => "deserialize the request into a DTO with only the fields a client may set (`#[serde(deny_unknown_fields)]`), never into the storage model; copy fields across explicitly".into(),
                SERVER_ERROR_PATTERN => "validate and reject bad input with 4xx before it reaches code that can fail; never let a parse or length error become a 500".into(),
                _ => "validate the DTO before storing it (email format, length limits, types) with a validation crate, and answer 422 instead of storing".into(),
            };
            f.seed = seed;
            let replay = replay_line(seed);
            f.replay = replay;
            findings.push(f);
        }
    }
    (findings, tried)
}

/// What is wrong with the outcome of one hostile case, if anything: `(pattern,
/// explanation)`. `before` and `after` are the stored record before and after the request
/// (or, in the audit, the record the valid body stored and the one the hostile body stored);
/// fields are matched across case styles ([`stored_key`]). A 5xx is a server error; a
/// privileged field that changed is mass assignment; an oversized string (over `max_len`
/// characters), an invalid email, a value of the wrong type or a null stored as given is
/// unvalidated input.
pub(crate) fn judge_hostile(
    h: &Hostile,
    status: u16,
    before: &Value,
    after: &Value,
    privileged: &[String],
    max_len: usize,
) -> Option<(&'static str, String)> {
    if status >= 500 {
        return Some((SERVER_ERROR_PATTERN, format!("answered {status}")));
    }
    let field = h.field();
    let now = stored_field(after, field);
    let was = stored_field(before, field);
    let changed = now != was;
    match &h.kind {
        HostileKind::ExtraPrivileged { .. } if changed => Some((
            MASS_ASSIGNMENT_PATTERN,
            format!("answered {status} and `{field}` changed from {was} to {now}"),
        )),
        HostileKind::DuplicatedKey { .. } if changed && privileged.iter().any(|p| p == field) => {
            Some((
                MASS_ASSIGNMENT_PATTERN,
                format!("answered {status} and `{field}` changed from {was} to {now}"),
            ))
        }
        HostileKind::Oversized { .. }
            if (200..300).contains(&status)
                && now.as_str().is_some_and(|s| s.chars().count() > max_len) =>
        {
            Some((
                INVALID_INPUT_PATTERN,
                format!(
                    "answered {status} and stored {} characters in `{field}`",
                    now.as_str().map_or(0, |s| s.chars().count())
                ),
            ))
        }
        HostileKind::InvalidEmail { value, .. }
            if (200..300).contains(&status) && now == Value::String(value.clone()) =>
        {
            Some((
                INVALID_INPUT_PATTERN,
                format!("answered {status} and stored `{field}` = {value:?}"),
            ))
        }
        HostileKind::WrongType { value, .. } if (200..300).contains(&status) && &now == value => {
            Some((
                INVALID_INPUT_PATTERN,
                format!("answered {status} and stored `{field}` = {value}"),
            ))
        }
        HostileKind::Null { .. } if (200..300).contains(&status) && changed && now.is_null() => {
            Some((
                INVALID_INPUT_PATTERN,
                format!("answered {status} and stored `{field}` = null"),
            ))
        }
        _ => None,
    }
}

#[doc(hidden)]
pub fn __sample(valid: &Value, n: usize) -> Vec<Hostile> {
    let strategy = hostile_bodies(
        valid,
        &PRIVILEGED_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    );
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("strategy").current())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bodies_cover_every_family_and_keep_duplicates() {
        let valid = serde_json::json!({"name": "Alice", "email": "alice@example.com"});
        let fams: Vec<&str> = hostile_families(&valid, &["role".to_string()])
            .iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            fams,
            [
                "extra privileged field",
                "duplicated key",
                "null",
                "wrong type",
                "unicode edge case",
                "oversized string",
                "invalid email"
            ]
        );
        let dup = Hostile {
            pairs: vec![
                ("role".into(), Value::from("user")),
                ("role".into(), Value::from("admin")),
            ],
            kind: HostileKind::DuplicatedKey {
                field: "role".into(),
                value: Value::from("admin"),
            },
        };
        assert_eq!(dup.body(), r#"{"role":"user","role":"admin"}"#);
        assert_eq!(__sample(&valid, 20).len(), 20);
    }

    #[test]
    fn templates_name_their_carrier() {
        type P = AuthProbe<()>;
        assert_eq!(
            P::carrier("/api/orders?userId={owner}"),
            Carrier::Query("userId".into())
        );
        assert_eq!(P::carrier("/api/orders/{resource}"), Carrier::Path);
    }
}
