//! HTTP services as audited services (feature `http`): an axum `Router`, or any tower
//! `Service` over `http` requests, built from the [`World`]; each of its routes an entry point.

use super::{Audit, Ctx, Row, Verdict, World};
use crate::probes::http::encode_component;
use crate::report::{Finding, Report};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tower::ServiceExt;

/// One request to the built service: its status, or why it got none.
type Answer = Pin<Box<dyn Future<Output = Result<u16, String>>>>;
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
                    response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    Ok(status)
                }) as Answer
            }) as Erased
        }));
        self
    }

    /// A route of the [`router`](Self::router) as an entry point called `name`: a request
    /// `method path` with `body` as JSON (`None`: no body). `{key}` in the path or in the
    /// body's strings is the request's key (URL-encoded in the path). Every handler question
    /// is asked of it: whatever the route's code touches through the world decides which
    /// apply.
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
        let (path, body) = (path.into(), body.map(|b| b.to_string()));
        self.handler(name, move |world: World, ctx: Ctx| {
            let service = app(world);
            let request = build_request(&method, &path, body.as_deref(), &ctx);
            async move {
                // A status, a service error or an unbuildable request: the questions judge
                // what the route did to the world, not its answer.
                if let Ok(request) = request {
                    let _ = service(request).await;
                }
            }
        })
    }
}

/// The request for one call of a route: the key in its path and body, its correlation id in
/// `x-request-id` (as a gateway sets it).
fn build_request(
    method: &http::Method,
    path: &str,
    body: Option<&str>,
    ctx: &Ctx,
) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let key = ctx.key();
    let uri = path.replace(KEY, &encode_component(key));
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(REQUEST_ID_HEADER, ctx.request_id());
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
