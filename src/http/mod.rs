//! The only module that knows axum: the route table, thin handlers, errors, middleware.

mod apps;
mod catalog;
pub mod error;
mod features;
mod tiles;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Caller;
use crate::config::Config;
pub use crate::html::escape_html;
use crate::store::{DynStore, StoreError};
use crate::tiles::TileEngine;
use error::ApiError;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<Config>,
    pub tiles: Arc<TileEngine>,
}

impl AppState {
    /// The state over a store: loads the catalog snapshot for the tile engine.
    pub async fn new(store: DynStore, config: Config) -> Result<AppState, StoreError> {
        let tiles = TileEngine::new(
            store.clone(),
            config.tile_cache_bytes,
            config.tile_disk_cache.clone(),
        )
        .await?;
        Ok(AppState {
            store,
            config: Arc::new(config),
            tiles,
        })
    }
}

/// Scheme and host for absolute links: the configured public URL, else the Host header.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The whole route table.
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config.max_upload_bytes as usize + (1 << 20);
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(catalog::landing))
        .route("/health", get(catalog::health))
        .route("/ready", get(catalog::ready))
        .route("/api/orgs", get(catalog::orgs))
        .route("/api/orgs/{org}", get(catalog::org))
        .route("/api/layers", get(catalog::layers))
        .route(
            "/api/layers/{id}",
            get(catalog::layer).patch(catalog::update_layer),
        )
        .route("/api/layers/{id}/rollback", post(catalog::rollback))
        .route("/conformance", get(catalog::conformance))
        .route("/api", get(catalog::openapi))
        .route("/collections", get(features::collections))
        .route("/collections/{id}", get(features::collection))
        .route(
            "/collections/{id}/items",
            get(features::items)
                .post(features::create)
                .layer(DefaultBodyLimit::max(64 << 20)),
        )
        .route("/collections/{id}/queryables", get(features::queryables))
        .route(
            "/collections/{id}/items/{fid}",
            get(features::item)
                .put(features::replace)
                .patch(features::patch)
                .delete(features::delete),
        )
        .route("/tiles/{spec}", get(tiles::tilejson_doc))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::xyz))
        .route("/tileMatrixSets", get(tiles::tile_matrix_sets))
        .route("/tileMatrixSets/{id}", get(tiles::web_mercator_quad))
        .route("/collections/{id}/tiles", get(tiles::collection_tilesets))
        .route(
            "/collections/{id}/tiles/{tms}",
            get(tiles::collection_tileset),
        )
        .route(
            "/collections/{id}/tiles/{tms}/{z}/{row}/{col}",
            get(tiles::collection_tile),
        )
        .route(
            "/api/orgs/{org}/layers/{slug}",
            post(upload::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/viewer-config", get(catalog::viewer_config))
        .route("/api/me", get(catalog::me))
        .route("/styles/{spec}", get(apps::style_json))
        .route(
            "/api/layers/{id}/style",
            get(apps::get_style)
                .put(apps::put_style)
                .delete(apps::delete_style),
        )
        .route("/api/orgs/{org}/apps", get(apps::list_apps))
        .route(
            "/api/orgs/{org}/apps/{slug}",
            get(apps::get_app)
                .put(apps::put_app)
                .delete(apps::delete_app),
        )
        .route("/api/orgs/{org}/apps/{slug}/preview", post(apps::preview))
        .route(
            "/api/orgs/{org}/apps/{slug}/{action}",
            post(apps::set_published),
        )
        .route("/apps/{org}/{slug}", get(apps::app_redirect))
        .route("/apps/{org}/{slug}/", get(apps::serve_app))
        .route("/apps/{org}/{slug}/{*file}", get(apps::serve_app))
        .route("/console", get(catalog::console_page))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .nest_service(
            "/static/vendor/maplibre-gl",
            ServeDir::new(state.config.web_dir.join("node_modules/maplibre-gl/dist")),
        )
        .nest_service(
            "/static/console",
            ServeDir::new(state.config.web_dir.join("console")),
        )
        .nest_service(
            "/static/viewer",
            ServeDir::new(state.config.web_dir.join("viewer")),
        )
        .fallback(catalog::not_found)
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(state.config.request_timeout_secs),
        ))
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serves the router on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The caller behind an `Authorization: Bearer` header; None when there is no header.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    match crate::auth::caller(state.store.as_ref(), token.trim()).await? {
        Some(c) => Ok(Some(c)),
        None => Err(ApiError::unauthorized()),
    }
}

/// The caller, who must be allowed to write what `org` owns.
async fn writer(state: &AppState, headers: &HeaderMap, org: &str) -> Result<Caller, ApiError> {
    let c = caller(state, headers)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if !c.can_write(org) {
        return Err(ApiError::forbidden(org));
    }
    Ok(c)
}

/// Does this request want HTML? `f` decides (`html`; `json`/`geojson`), then `Accept`; no
/// `Accept` means JSON, since many OGC clients send none.
fn wants_html(f: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match f {
        Some("html") => Ok(true),
        Some("json") | Some("geojson") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "f must be json or html, not '{other}'"
        ))),
        None => Ok(headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))),
    }
}
