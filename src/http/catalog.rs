//! Catalog endpoints: landing page, organisations, layers, health and readiness.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};

use super::error::ApiError;
use super::{caller, escape_html, writer, AppState};
use crate::auth::Caller;
use crate::model::Layer;
use crate::store::LayerMetaUpdate;

#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    f: Option<String>,
}

/// Does this request want HTML? `?f=` decides, then `Accept`; no `Accept` means JSON.
fn wants_html(q: &FormatQuery, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.f.as_deref() {
        Some("html") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "f must be json or html, not '{other}'"
        ))),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))),
    }
}

fn visible(layer: &Layer, who: Option<&Caller>) -> bool {
    layer.is_public() || who.is_some_and(|c| c.can_read_private(&layer.org))
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
    if wants_html(&q, &headers)? {
        let layers = state.store.layers().await?;
        let mut rows = String::new();
        for l in layers.iter().filter(|l| l.is_public()) {
            rows.push_str(&format!(
                "<tr><td><a href=\"/api/layers/{id}\">{id}</a></td><td>{title}</td><td>{kind}</td><td>{n}</td></tr>\n",
                id = escape_html(&l.id),
                title = escape_html(&l.title),
                kind = l.geom_type.sql_name(),
                n = l.feature_count
            ));
        }
        let page = format!(
            "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>Atlante</title></head>\
             <body><h1>Atlante — SIT Metropolitano</h1><p>Città Metropolitana di Milano.</p>\
             <table><thead><tr><th>layer</th><th>title</th><th>geometry</th><th>features</th></tr></thead>\
             <tbody>{rows}</tbody></table><p><a href=\"/?f=json\">JSON</a></p></body></html>"
        );
        return Ok(Html(page).into_response());
    }
    Ok(Json(json!({
        "title": "Atlante",
        "description": "SIT Metropolitano of the Città Metropolitana di Milano: layers of its 133 comuni",
        "links": [
            {"rel": "self", "type": "application/json", "href": "/?f=json"},
            {"rel": "alternate", "type": "text/html", "href": "/?f=html"},
            {"rel": "data", "type": "application/json", "href": "/api/layers", "title": "layers"},
            {"rel": "related", "type": "application/json", "href": "/api/orgs", "title": "organisations"}
        ]
    }))
    .into_response())
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
        .filter(|l| visible(l, who.as_ref()))
        .map(layer_json)
        .collect();
    Ok(Json(json!({"layers": layers})))
}

/// A layer the caller may see; unknown and private answer the same 404.
async fn visible_layer(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Layer, ApiError> {
    let who = caller(state, headers).await?;
    match state.store.layer(id).await? {
        Some(l) if visible(&l, who.as_ref()) => Ok(l),
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

pub async fn not_found() -> ApiError {
    ApiError::not_found("resource")
}
