//! HTTP services as audited services (feature `http`): an axum `Router`, or any tower
//! `Service` over `http` requests, built from the [`World`]; each of its routes an entry point.

use super::{Audit, Ctx, Entry, HandlerFn, Row, Rows, Verdict, World};
use crate::probes::http::encode_component;
use crate::report::{Finding, Report};
use crate::runtime::sim::{self, RunEnd, RunLimits};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tower::ServiceExt;

/// One request to the built service: its status and body, or why it got none.
type Answer = Pin<Box<dyn Future<Output = Result<(u16, Bytes), String>>>>;
/// The service built on one world, erased.
type Erased = Box<dyn Fn(http::Request<Full<Bytes>>) -> Answer>;
/// Builds the service on a world.
pub(crate) type RouterFn = Arc<dyn Fn(World) -> Erased + Send + Sync>;

/// The text in a route's path or body that stands for the request's key.
const KEY: &str = "{key}";

/// The header a route's request carries its correlation id in ([`Ctx::request_id`]).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

impl Audit {
    /// The service is an HTTP service (an axum `Router`, any tower `Service` over `http`
    /// requests) that `app` builds on a [`World`]: hand its state the world's dependencies
    /// (`world.upstream("payments").url()` for a reqwest client, `world.db()`, `world.cache()`,
    /// `world.cache().redis()`). Its routes ([`route`](Self::route)) are entry points.
    ///
    /// The service is built for every request, on that request's world: in-process state
    /// that must outlive a request (a singleflight table, a registry, an in-memory cache)
    /// comes from [`World::per_instance`], as in a handler.
    pub fn router<F, S, ResB>(mut self, app: F) -> Self
    where
        F: Fn(World) -> S + Send + Sync + 'static,
        S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<ResB>>
            + Clone
            + 'static,
        S::Error: fmt::Debug,
        S::Future: 'static,
        ResB: http_body::Body + 'static,
        ResB::Error: fmt::Debug,
    {
        self.router = Some(Arc::new(move |world: World| {
            let service = app(world);
            Box::new(move |request: http::Request<Full<Bytes>>| {
                let service = service.clone();
                Box::pin(async move {
                    let response = service
                        .oneshot(request)
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    let status = response.status().as_u16();
                    // Read the body to its end, as a client would (streamed work runs).
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    Ok((status, body.to_bytes()))
                }) as Answer
            }) as Erased
        }));
        self
    }

    /// A route of the [`router`](Self::router) as an entry point called `name`: a request
    /// `method path` with `body` as JSON (`None`: no body). `{key}` in the path or in the
    /// body's strings is the request's key (URL-encoded in the path). Every handler question
    /// is asked of it: whatever the route's code touches through the world decides which
    /// apply. With [`principal`](Self::principal)s, a request carries the `authorization`
    /// of its key's owner ([`resource`](Self::resource)), or else of the first principal.
    ///
    /// Besides the handler questions, a route is asked the trust-boundary questions: **auth**
    /// when its path or body holds `{key}` (another principal's request on an owner's key),
    /// **mass assignment** and **validation** when it takes a JSON object body (POST, PUT,
    /// PATCH: hostile bodies derived from `body`). See the module docs.
    ///
    /// Give the router first: a route before any router is a configuration error, reported
    /// as the first row of the table.
    pub fn route(
        mut self,
        name: impl Into<String>,
        method: http::Method,
        path: impl Into<String>,
        body: Option<serde_json::Value>,
    ) -> Self {
        let name = name.into();
        let Some(app) = self.router.clone() else {
            self.routes_without_router.push(name);
            return self;
        };
        let spec = RouteSpec {
            method,
            path: path.into(),
            body,
            app,
        };
        self.handlers.push((name, Entry::Route(Arc::new(spec))));
        self
    }

    /// A principal of the service called `name`, whose requests carry `authorization` as
    /// their `Authorization` header (`"Bearer alice-token"`), as [`AuthProbe::principal`]'s
    /// closure adds credentials. Repeatable. With two principals and a
    /// [`resource`](Self::resource), the auth question is asked of every route whose path or
    /// body holds `{key}`; a request on a key carries its owner's credentials, any other
    /// request the first principal's.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use whatbreaks_core::audit::{Audit, World};
    ///
    /// // An orders service that forgets to check whose order it answers.
    /// let app = |world: World| {
    ///     tower::service_fn(move |request: http::Request<Full<Bytes>>| {
    ///         let db = world.db();
    ///         async move {
    ///             let id = request.uri().path().trim_start_matches("/orders/").to_string();
    ///             let order = db.get("orders", &id).await.unwrap_or_default();
    ///             Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(order))))
    ///         }
    ///     })
    /// };
    /// let report = Audit::new("orders")
    ///     .router(app)
    ///     .setup(|world: World| async move {
    ///         world.db().seed("orders", "7", r#"{"id":"7","owner":"alice"}"#);
    ///     })
    ///     .principal("alice", "Bearer alice-token")
    ///     .principal("bob", "Bearer bob-token")
    ///     .resource("alice", "7")
    ///     .route("GET /orders/{id}", http::Method::GET, "/orders/{key}", None)
    ///     .seed(1)
    ///     .run();
    /// assert!(report.breaks("auth"), "{report}");
    /// ```
    ///
    /// [`AuthProbe::principal`]: crate::probes::http::AuthProbe::principal
    pub fn principal(mut self, name: impl Into<String>, authorization: impl Into<String>) -> Self {
        self.principals
            .names
            .push((name.into(), authorization.into()));
        self
    }

    /// A key that the principal called `owner` owns (its order, its account): its requests on
    /// `key` are the reference, other principals' requests on it must neither answer its data
    /// nor change its rows. Repeatable. An owner that names no [`principal`](Self::principal)
    /// is a configuration row of the table.
    pub fn resource(mut self, owner: impl Into<String>, key: impl Into<String>) -> Self {
        self.principals.resources.push((owner.into(), key.into()));
        self
    }

    /// Declares the route called `name` public (a product page anyone may read): the auth
    /// question is not asked of it (not applicable, with this reason); every other question
    /// still is.
    pub fn public(mut self, name: impl Into<String>) -> Self {
        self.principals.public.push(name.into());
        self
    }

    /// One request of `route` on a fresh world (set up), sent on `key` with `authorization`
    /// and `body` (JSON text; `None`: the route's own body): what it answered and the
    /// database rows before and after.
    pub(super) fn exchange(
        &self,
        route: &RouteSpec,
        key: &str,
        authorization: Option<&str>,
        body: Option<String>,
    ) -> Exchange {
        let (app, setup) = (route.app.clone(), self.setup.clone());
        let (method, path) = (route.method.clone(), route.path.clone());
        let body = body.or_else(|| route.body.as_ref().map(|b| b.to_string()));
        let (key, authorization) = (key.to_string(), authorization.map(str::to_string));
        let run = sim::simulate(
            &RunLimits::new(self.seed.unwrap_or(1)),
            move || async move {
                let world = World::new();
                if let Some(s) = &setup {
                    s(world.clone()).await;
                }
                let before = world.db.rows();
                let ctx = Ctx::new(key);
                let answer = match build_request(
                    &method,
                    &path,
                    body.as_deref(),
                    &ctx,
                    authorization.as_deref(),
                ) {
                    Ok(request) => app(world.clone())(request).await,
                    Err(e) => Err(format!("the request is not valid HTTP: {e}")),
                };
                (answer, before, world.db.rows())
            },
        );
        match run.value {
            Some((Ok((status, body)), before, after)) => Exchange {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
                failed: None,
                before,
                after,
            },
            Some((Err(e), before, after)) => Exchange {
                status: 0,
                body: String::new(),
                failed: Some(e),
                before,
                after,
            },
            None => Exchange {
                status: 0,
                body: String::new(),
                failed: Some(match run.end {
                    RunEnd::Panicked(message) => format!("the handler panicked: {message}"),
                    RunEnd::TimeLimit => "no answer within an hour of virtual time".into(),
                    other => format!("no answer ({other:?})"),
                }),
                before: Rows::new(),
                after: Rows::new(),
            },
        }
    }
}

/// A route given to [`Audit::route`].
pub(super) struct RouteSpec {
    pub(super) method: http::Method,
    pub(super) path: String,
    pub(super) body: Option<serde_json::Value>,
    app: RouterFn,
}

impl RouteSpec {
    /// True when the path or the body holds `{key}`.
    pub(super) fn has_key(&self) -> bool {
        self.path.contains(KEY)
            || self
                .body
                .as_ref()
                .is_some_and(|b| b.to_string().contains(KEY))
    }

    /// `PATCH /orders/{key}`.
    pub(super) fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// `PATCH /orders/1 body {"note":"…"}`: one request as evidence shows it.
    pub(super) fn request_line(&self, key: &str, body: Option<&str>) -> String {
        let mut line = format!(
            "{} {}",
            self.method,
            self.path.replace(KEY, &encode_component(key))
        );
        let body = body
            .map(str::to_string)
            .or_else(|| self.body.as_ref().map(|b| b.to_string()));
        if let Some(b) = body {
            line.push_str(&format!(" body {}", crate::probes::http::shorten(&b, 80)));
        }
        line
    }

    /// The route as a handler: a request on the context's key, as its owner.
    pub(super) fn handler(self: &Arc<Self>, principals: Arc<Principals>) -> HandlerFn {
        let spec = self.clone();
        let body = spec.body.as_ref().map(|b| b.to_string());
        Arc::new(move |world: World, ctx: Ctx| {
            let service = (spec.app)(world);
            let authorization = principals.for_key(ctx.key());
            let request = build_request(
                &spec.method,
                &spec.path,
                body.as_deref(),
                &ctx,
                authorization,
            );
            Box::pin(async move {
                // A status, a service error or an unbuildable request: the questions judge
                // what the route did to the world, not its answer.
                if let Ok(request) = request {
                    let _ = service(request).await;
                }
            })
        })
    }
}

/// One request of a trust-boundary question and what came of it.
#[derive(Debug)]
pub(super) struct Exchange {
    /// The status (0 when there was none: see `failed`).
    pub(super) status: u16,
    /// The response body, as text.
    pub(super) body: String,
    /// Why there was no answer: a service error, a panic.
    pub(super) failed: Option<String>,
    /// The database rows before the request (after the setup).
    pub(super) before: Rows,
    /// The database rows after it.
    pub(super) after: Rows,
}

impl Exchange {
    /// True for a 2xx answer.
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The status, or why there was none.
    pub(super) fn outcome(&self) -> String {
        match &self.failed {
            Some(why) => why.clone(),
            None => self.status.to_string(),
        }
    }
}

/// The principals and resources of an audit ([`Audit::principal`], [`Audit::resource`]),
/// and its public routes ([`Audit::public`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Principals {
    /// Name, `Authorization` header value.
    pub(super) names: Vec<(String, String)>,
    /// Owner, key.
    pub(super) resources: Vec<(String, String)>,
    /// Routes declared public.
    pub(super) public: Vec<String>,
}

impl Principals {
    /// The `Authorization` value of the principal called `name`.
    pub(super) fn authorization(&self, name: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.as_str())
    }

    /// The `Authorization` a request on `key` carries: its owner's, else the first
    /// principal's, else none.
    pub(super) fn for_key(&self, key: &str) -> Option<&str> {
        self.resources
            .iter()
            .find(|(_, k)| k == key)
            .and_then(|(owner, _)| self.authorization(owner))
            .or_else(|| self.names.first().map(|(_, a)| a.as_str()))
    }

    /// Resources whose owner is a principal.
    pub(super) fn known_resources(&self) -> Vec<(&str, &str)> {
        self.resources
            .iter()
            .filter(|(owner, _)| self.authorization(owner).is_some())
            .map(|(o, k)| (o.as_str(), k.as_str()))
            .collect()
    }

    /// The configuration rows of bad input: resources whose owner names no principal,
    /// public routes that name no entry point of `entries`.
    pub(super) fn config_rows(&self, entries: &[&str]) -> Vec<Row> {
        let mut rows: Vec<Row> = self.unknown_owners_row().into_iter().collect();
        let unknown: Vec<&str> = self
            .public
            .iter()
            .map(String::as_str)
            .filter(|p| !entries.contains(p))
            .collect();
        if !unknown.is_empty() {
            let finding = Finding::config(format!(
                "Audit::public: `{}` names no route of this audit",
                unknown.join("`, `")
            ))
            .with_fix(format!(
                "name a route as given to `.route(name, ..)` (routes and handlers: {})",
                entries.join(", ")
            ));
            rows.push(Row {
                question: "configuration",
                text: "the audit's public routes".into(),
                entry: unknown.join(", "),
                verdict: Verdict::Breaks,
                key_figure: String::new(),
                report: Some(Report::stopped("audit public routes", finding)),
            });
        }
        rows
    }

    /// The configuration row for resources whose owner names no principal, if any.
    fn unknown_owners_row(&self) -> Option<Row> {
        let unknown: Vec<String> = self
            .resources
            .iter()
            .filter(|(owner, _)| self.authorization(owner).is_none())
            .map(|(owner, key)| format!("`{key}` of `{owner}`"))
            .collect();
        if unknown.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.names.iter().map(|(n, _)| n.as_str()).collect();
        let finding = Finding::config(format!(
            "Audit::resource: {} owned by no principal ({}): the auth question skips it",
            if unknown.len() == 1 {
                "a resource is"
            } else {
                "resources are"
            },
            unknown.join(", ")
        ))
        .with_fix(if names.is_empty() {
            "give its owner with `.principal(name, authorization)` (no principal was given)"
                .to_string()
        } else {
            format!(
                "name one of the principals ({}) as its owner, or add the owner with `.principal(name, authorization)`",
                names.join(", ")
            )
        });
        Some(Row {
            question: "configuration",
            text: "the audit's principals and resources".into(),
            entry: String::new(),
            verdict: Verdict::Breaks,
            key_figure: String::new(),
            report: Some(Report::stopped("audit principals", finding)),
        })
    }
}

/// The request for one call of a route: the key in its path and body, its correlation id in
/// `x-request-id` (as a gateway sets it), the principal's credentials in `authorization`.
fn build_request(
    method: &http::Method,
    path: &str,
    body: Option<&str>,
    ctx: &Ctx,
    authorization: Option<&str>,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let key = ctx.key();
    let uri = path.replace(KEY, &encode_component(key));
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(REQUEST_ID_HEADER, ctx.request_id());
    if let Some(a) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, a);
    }
    let body = match body {
        Some(json) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            // The key inside a JSON string, escaped as JSON.
            let quoted = serde_json::Value::String(key.to_string()).to_string();
            Bytes::from(json.replace(KEY, &quoted[1..quoted.len() - 1]))
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(body))
}

/// The row for routes given before any router.
pub(super) fn no_router_row(routes: &[String]) -> Row {
    let message = format!(
        "Audit::route: {} given before any router ({}): no request could be sent",
        if routes.len() == 1 {
            "a route was"
        } else {
            "routes were"
        },
        routes.join(", ")
    );
    let finding = Finding::config(message)
        .with_fix("call `.router(|world| app(world))` before the first `.route(..)`");
    Row {
        question: "configuration",
        text: "the audit's description".into(),
        entry: routes.join(", "),
        verdict: Verdict::Breaks,
        key_figure: String::new(),
        report: Some(Report::stopped("audit routes", finding)),
    }
}
