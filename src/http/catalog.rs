//! Catalog endpoints: landing page, organisations, layers, health and readiness.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};

use super::error::ApiError;
use super::{caller, wants_html, writer, AppState};
use crate::auth::may_see;
use crate::model::Layer;
use crate::store::LayerMetaUpdate;

#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    f: Option<String>,
}

fn layer_json(l: &Layer) -> Json_ {
    let mut v = serde_json::to_value(l).unwrap_or_default();
    v["links"] = json!([{"rel": "self", "type": "application/json", "href": format!("/api/layers/{}", l.id)}]);
    v
}

pub async fn landing(
    State(state): State<AppState>,
    Query(q): Query<FormatQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if wants_html(q.f.as_deref(), &headers)? {
        return web_page(&state, "viewer/index.html").await;
    }
    Ok(Json(json!({
        "title": "Atlante",
        "description": "SIT Metropolitano of the Città Metropolitana di Milano: layers of its 133 comuni",
        "links": [
            {"rel": "self", "type": "application/json", "href": "/?f=json"},
            {"rel": "alternate", "type": "text/html", "href": "/?f=html"},
            {"rel": "data", "type": "application/json", "href": "/api/layers", "title": "layers"},
            {"rel": "related", "type": "application/json", "href": "/api/orgs", "title": "organisations"},
            {"rel": "conformance", "type": "application/json", "href": "/conformance"},
            {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "href": "/api"},
            {"rel": "data", "type": "application/json", "href": "/collections", "title": "collections (OGC API - Features)"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "type": "application/json", "href": "/tileMatrixSets"}
        ]
    }))
    .into_response())
}

/// The viewer's page, with a Content-Security-Policy that allows no inline script.
/// A page of `web/` (the viewer, the console) with its Content-Security-Policy.
async fn web_page(state: &AppState, page: &str) -> Result<Response, ApiError> {
    let path = state.config.web_dir.join(page);
    let page = tokio::fs::read_to_string(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: {e}", path.display()),
        )
    })?;
    let basemap = state
        .config
        .basemap_url
        .as_deref()
        .and_then(|u| u.split('/').take(3).collect::<Vec<_>>().join("/").into())
        .filter(|o: &String| o.starts_with("http"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'; worker-src blob:; child-src blob:; \
         img-src 'self' data: blob: {basemap}; connect-src 'self' {basemap}; \
         style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
    );
    let mut res = Html(page).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}

/// What the viewer needs from the configuration.
pub async fn viewer_config(State(state): State<AppState>) -> Json<Json_> {
    Json(json!({
        "basemap_url": state.config.basemap_url,
        "basemap_attribution": state.config.basemap_attribution,
    }))
}

/// Conformance classes: Features Parts 1–4, CQL2 and Tiles.
pub async fn conformance() -> Json<Json_> {
    let all: Vec<&str> = crate::features::CONFORMANCE
        .iter()
        .chain(crate::cql2::CONFORMANCE)
        .chain(super::tiles::TILES_CONFORMANCE)
        .copied()
        .collect();
    Json(json!({"conformsTo": all}))
}

/// The OpenAPI 3.0 document, for the collections the caller may see.
pub async fn openapi(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&state, &headers).await?;
    let layers: Vec<Layer> = state
        .tiles
        .layers()
        .into_iter()
        .filter(|l| may_see(l, who.as_ref()))
        .collect();
    let doc = crate::features::openapi::document(&layers, &super::base_url(&state, &headers));
    let mut res = Json(doc).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/vnd.oai.openapi+json;version=3.0"),
    );
    Ok(res)
}

pub async fn health() -> Json<Json_> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ready", "store": state.store.kind()})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

pub async fn orgs(State(state): State<AppState>) -> Result<Json<Json_>, ApiError> {
    let orgs: Vec<Json_> = state
        .store
        .orgs()
        .await?
        .into_iter()
        .map(|mut o| {
            o.boundary = None;
            serde_json::to_value(o).unwrap_or_default()
        })
        .collect();
    Ok(Json(json!({"orgs": orgs})))
}

pub async fn org(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let org = state
        .store
        .org(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    Ok(Json(serde_json::to_value(org).unwrap_or_default()))
}

pub async fn layers(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let who = caller(&state, &headers).await?;
    let layers: Vec<Json_> = state
        .store
        .layers()
        .await?
        .iter()
        .filter(|l| may_see(l, who.as_ref()))
        .map(layer_json)
        .collect();
    Ok(Json(json!({"layers": layers})))
}

/// A layer the caller may see; unknown and private answer the same 404.
pub(super) async fn visible_layer(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Layer, ApiError> {
    let who = caller(state, headers).await?;
    match state.store.layer(id).await? {
        Some(l) if may_see(&l, who.as_ref()) => Ok(l),
        _ => Err(ApiError::not_found("layer")),
    }
}

pub async fn layer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    Ok(Json(layer_json(
        &visible_layer(&state, &headers, &id).await?,
    )))
}

pub async fn update_layer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, ApiError> {
    let layer = visible_layer(&state, &headers, &id).await?;
    writer(&state, &headers, &layer.org).await?;
    let update: LayerMetaUpdate = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("bad layer settings: {e}")))?;
    let layer = state.store.update_layer_meta(&id, &update).await?;
    state.tiles.refresh(&id).await?;
    Ok(Json(layer_json(&layer)))
}

pub async fn rollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let layer = visible_layer(&state, &headers, &id).await?;
    writer(&state, &headers, &layer.org).await?;
    let layer = state.store.rollback(&id).await?;
    state.tiles.refresh(&id).await?;
    Ok(Json(layer_json(&layer)))
}

/// `GET /console`: the console for comuni.
pub async fn console_page(State(state): State<AppState>) -> Result<Response, ApiError> {
    web_page(&state, "console/index.html").await
}

/// `GET /api/me`: who the token is (organisation, role), for the console's sign-in.
pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let c = caller(&state, &headers)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let org = state.store.org(&c.org).await?;
    Ok(Json(json!({
        "org": c.org,
        "role": c.role,
        "org_name": org.map(|o| o.name).unwrap_or_default(),
    })))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("resource")
}
