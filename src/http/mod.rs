//! The only module that knows axum: the route table (`routes.rs`), thin handlers, errors,
//! and the middleware every request passes: request id, trace, CORS, timeout, catch-panic,
//! then the caller's token (resolved once, [`Who`]) and, on writes, the audit log.

mod admin;
mod apps;
mod audit;
mod catalog;
pub mod error;
mod features;
mod opendata;
mod records;
pub mod routes;
mod serve;
mod tiles;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Auth, Caller};
use crate::catalog::Catalog;
use crate::config::Config;
pub use crate::html::escape_html;
use crate::model::Layer;
use crate::store::{DynStore, StoreError};
use crate::tiles::TileEngine;
use error::ApiError;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Uploads at once, in all and per organisation.
    pub uploads: Arc<crate::gate::Gate>,
    /// Feature queries' turns at the store.
    pub reads: Arc<crate::gate::Turns>,
    /// Whether the store answered its last background check (see [`AppState::spawn_health_check`]).
    pub store_up: Arc<std::sync::atomic::AtomicBool>,
    pub bundles: Arc<crate::apps::Bundler>,
    pub downloads: Arc<crate::opendata::download::Downloader>,
    pub catalog: Arc<Catalog>,
    pub tiles: Arc<TileEngine>,
    /// The fonts labels are drawn with (glyph ranges cut on first use).
    pub fonts: Arc<crate::fonts::Fonts>,
    pub auth: Arc<Auth>,
    pub config: Arc<Config>,
}

impl AppState {
    /// The state over a store: the catalog snapshot, the tile engine that follows it, and
    /// token resolution.
    pub async fn new(store: DynStore, config: Config) -> Result<AppState, StoreError> {
        let catalog = Catalog::open(store.clone()).await?;
        let disk = match &config.tile_disk_cache {
            Some(dir) => Some(Arc::new(
                crate::diskcache::DiskCache::open(dir, config.tile_disk_cache_bytes).map_err(
                    |e| StoreError::Location(format!("tile disk cache {}: {e}", dir.display())),
                )?,
            )),
            None => None,
        };
        let tiles = TileEngine::new(
            catalog.clone(),
            crate::tiles::EngineOptions {
                cache_bytes: config.tile_cache_bytes,
                index_bytes: config.tile_index_bytes,
                disk,
                index_dir: config.tile_index_dir.clone(),
            },
        );
        Ok(AppState {
            metrics: Arc::default(),
            uploads: Arc::new(crate::gate::Gate::new(
                "uploads",
                config.max_uploads,
                config.max_uploads_per_org,
            )),
            reads: Arc::new(crate::gate::Turns::new(
                config.store_reads,
                Duration::from_secs(2),
            )),
            store_up: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            bundles: Arc::new(crate::apps::Bundler::new(&config)),
            downloads: Arc::new(crate::opendata::download::Downloader::new(&config)),
            auth: Arc::new(Auth::new(store.clone())),
            store,
            catalog,
            tiles,
            fonts: Arc::new(crate::fonts::Fonts::scan(&config.fonts_dirs)),
            config: Arc::new(config),
        })
    }

    /// Pings the store every second (each ping bounded by a second) and keeps the answer
    /// for `/ready` and `/metrics`, so they answer at once even when the store is away.
    pub fn spawn_health_check(&self) {
        let (store, up) = (self.store.clone(), Arc::downgrade(&self.store_up));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let ok = matches!(
                    tokio::time::timeout(Duration::from_secs(1), store.ping()).await,
                    Ok(Ok(()))
                );
                let Some(up) = up.upgrade() else { return };
                if up.swap(ok, std::sync::atomic::Ordering::Relaxed) != ok {
                    if ok {
                        tracing::info!("the store answers again");
                    } else {
                        tracing::warn!("the store does not answer");
                    }
                }
            }
        });
    }

    /// The layer if the caller may see it; unknown and private answer the same 404.
    fn visible(&self, who: &Who, id: &str) -> Result<Arc<Layer>, ApiError> {
        self.visible_as(who, id, "layer")
    }

    /// The layer if the caller may see it ([`Catalog::visible`](crate::catalog::Catalog::visible),
    /// the one rule); an unknown and a private layer get the same 404, naming it `what`.
    fn visible_as(&self, who: &Who, id: &str, what: &str) -> Result<Arc<Layer>, ApiError> {
        self.catalog
            .visible(id, who.caller())
            .ok_or_else(|| ApiError::not_found(what))
    }
}

/// The caller of a request: resolved once from its bearer token by the auth middleware.
/// None for a request without `Authorization`; a bad token never gets this far (401).
#[derive(Debug, Clone, Default)]
pub struct Who(pub Option<Caller>);

impl Who {
    pub fn caller(&self) -> Option<&Caller> {
        self.0.as_ref()
    }

    /// The caller, who must be signed in.
    pub fn signed_in(&self) -> Result<&Caller, ApiError> {
        self.caller().ok_or_else(ApiError::unauthorized)
    }

    /// The caller, who must be allowed to write what `org` owns.
    pub fn writer(&self, org: &str) -> Result<&Caller, ApiError> {
        let c = self.signed_in()?;
        if !c.can_write(org) {
            return Err(ApiError::forbidden(org));
        }
        Ok(c)
    }

    /// The caller, who must be an admin of `org` (or the metropolitan admin).
    pub fn admin(&self, org: &str) -> Result<&Caller, ApiError> {
        let c = self.signed_in()?;
        if !c.can_admin(org) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                format!("only an admin token of organisation {org} may do this"),
            ));
        }
        Ok(c)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Who>().cloned().unwrap_or_default())
    }
}

/// Resolves `Authorization: Bearer …` once per request. A header that is present but not a
/// live token (unknown, revoked, expired) is a 401 on every route.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let who = match req.headers().get(axum::http::header::AUTHORIZATION) {
        None => Who(None),
        Some(v) => {
            let token = v
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let Some(token) = token else {
                return ApiError::unauthorized().into_response();
            };
            match state.auth.caller(token).await {
                Ok(Ok(c)) => Who(Some(c)),
                Ok(Err(denied)) => {
                    if !matches!(
                        *req.method(),
                        axum::http::Method::GET | axum::http::Method::HEAD
                    ) {
                        audit::write(
                            &state,
                            crate::store::AuditEntry {
                                seq: 0,
                                at: String::new(),
                                actor: crate::auth::token_id(&crate::auth::hash(token)),
                                actor_org: None,
                                action: "auth.denied".into(),
                                org: None,
                                target: format!("{} {}", req.method(), req.uri().path()),
                                outcome: "denied".into(),
                                status: Some(401),
                                detail: serde_json::json!({"reason": denied.message()}),
                            },
                        )
                        .await;
                    }
                    return ApiError::new(axum::http::StatusCode::UNAUTHORIZED, denied.message())
                        .into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    req.extensions_mut().insert(who);
    next.run(req).await
}

/// The whole router, built from [`routes::ROUTES`].
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config.max_upload_bytes as usize + (1 << 20);
    let request_id = HeaderName::from_static("x-request-id");
    let mut app = Router::new();
    for route in routes::ROUTES {
        let mut h = routes::handler(route);
        if route.class == routes::Class::Upload {
            h = h.layer(DefaultBodyLimit::max(upload_limit));
        }
        if let Some(action) = route.audit {
            h = h.layer(axum::middleware::from_fn_with_state(
                (state.clone(), action),
                audit::record,
            ));
        }
        let class = route.class.index();
        h = h.layer(axum::middleware::from_fn_with_state(
            (state.metrics.clone(), class),
            track,
        ));
        app = app.route(route.path, h);
    }
    let max_query = state.config.max_query_bytes;
    app.fallback(catalog::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| query_limit(max_query, req, next),
        ))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(state.config.request_timeout_secs),
        ))
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

pub use serve::{run, serve};

/// The router of `metrics_listen`: `/metrics` without a token (that address is for the
/// operator's network only).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(s): State<AppState>| async move { admin::metrics_text(&s) }),
        )
        .with_state(state)
}

/// Counts a routed request for `/metrics`: its class, status and time.
async fn track(
    State((metrics, class)): State<(Arc<crate::metrics::Metrics>, usize)>,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    metrics.request(
        class,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// A query string longer than the configured limit is a 414.
async fn query_limit(max: usize, req: Request, next: Next) -> Response {
    if req.uri().query().is_some_and(|q| q.len() > max) {
        return ApiError::new(
            axum::http::StatusCode::URI_TOO_LONG,
            format!("the query string is longer than {max} bytes"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Scheme and host for absolute links (QGIS, among others, resolves no relative link): the
/// configured public URL; else, when `trust_proxy_headers` is set, what the reverse proxy
/// says (`Forwarded`, or `X-Forwarded-Proto` / `X-Forwarded-Host`); else the `Host` header.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok());
    let clean_host = |h: &str| {
        let h = h.trim();
        (!h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .then(|| h.to_string())
    };
    let mut proto = "http".to_string();
    let mut host = None;
    if state.config.trust_proxy_headers {
        if let Some(fwd) = header("forwarded") {
            // The first (client-side) element: `for=…;proto=https;host=example.org`.
            let first = fwd.split(',').next().unwrap_or("");
            for pair in first.split(';') {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "proto" if v == "https" || v == "http" => proto = v.to_string(),
                    "host" => host = clean_host(v),
                    _ => {}
                }
            }
        }
        if let Some(p) =
            header("x-forwarded-proto").map(|p| p.split(',').next().unwrap_or("").trim())
        {
            if p == "https" || p == "http" {
                proto = p.to_string();
            }
        }
        if host.is_none() {
            host = header("x-forwarded-host")
                .and_then(|h| clean_host(h.split(',').next().unwrap_or("")));
        }
    }
    let host = host
        .or_else(|| header("host").and_then(clean_host))
        .unwrap_or_else(|| "localhost".into());
    format!("{proto}://{host}")
}

/// Does this request want HTML? `f` decides (`html`; `json`/`geojson`), then `Accept`; no
/// `Accept` means JSON, since many OGC clients send none.
fn wants_html(f: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match f {
        Some("html") => Ok(true),
        Some("json") | Some("geojson") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "f must be json or html, not '{}'",
            other.chars().take(20).collect::<String>()
        ))),
        None => Ok(headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))),
    }
}
