//! OGC API - Features endpoints: collections, items, one item; GeoJSON or HTML.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};
use std::sync::Arc;

use super::audit::noted;
use super::error::ApiError;
use super::{base_url, escape_html, wants_html, AppState, Who};
use crate::features::edit::{feature_row, post_rows};
use crate::features::{
    self, collection_json, crs_uri, feature_json, items_json, parse_crs, parse_items, Output,
};
use crate::model::Layer;
use crate::opendata::download::Format;
use crate::opendata::ogc_records::{self, RecordQuery};
use crate::store::{Edit, StoredFeature};

const GEOJSON: &str = "application/geo+json";

/// A collection's download links with the sizes of the files already made.
fn sized(state: &AppState, layer: &crate::model::Layer, mut doc: Json_) -> Json_ {
    for link in doc["links"].as_array_mut().into_iter().flatten() {
        if link["rel"] != "enclosure" {
            continue;
        }
        let href = link["href"].as_str().unwrap_or_default();
        let format = href.rsplit_once("f=").and_then(|(_, f)| Format::parse(f));
        if let Some(size) = format.and_then(|f| state.downloads.cached_size(layer, f)) {
            link["length"] = size.into();
        }
    }
    doc
}

fn f_param(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(k, _)| k == "f")
        .map(|(_, v)| v.as_str())
}

/// A value as text for an HTML cell (escaped by the caller).
fn value_text(v: &crate::model::Value) -> String {
    match features::value_json(v) {
        Json_::String(s) => s,
        Json_::Null => String::new(),
        other => other.to_string(),
    }
}

fn html_page(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"/static/viewer/viewer.css\"></head>\
         <body style=\"display:block;padding:16px\">{body}</body></html>",
        escape_html(title)
    );
    let mut res = Html(page).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; object-src 'none'"),
    );
    res
}

pub async fn collections(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let mut layers = state.catalog.visible_all(who.caller());
    // The local-resources catalogue (OGC API - Records): the same query parameters as the
    // record collection filter and order this list.
    let search = RecordQuery::parse(&params).map_err(ApiError::bad_request)?;
    if search.searches() {
        let records = super::records::records_for(&state, &base, &layers).await?;
        let order: Vec<&str> = search
            .select(&records)
            .iter()
            .map(|r| r.layer_id.as_str())
            .collect();
        layers = order
            .iter()
            .filter_map(|id| layers.iter().find(|l| l.id == *id).cloned())
            .collect();
    }
    if wants_html(f_param(&params), &headers)? {
        let rows: String = layers
            .iter()
            .map(|l| {
                format!(
                    "<tr><td><a href=\"{b}/collections/{id}?f=html\">{id}</a></td><td>{t}</td><td>{n}</td></tr>",
                    b = escape_html(&base),
                    id = escape_html(&l.id),
                    t = escape_html(&l.title),
                    n = l.feature_count
                )
            })
            .collect();
        return Ok(html_page(
            "Collections",
            &format!("<h1>Collections</h1><table>{rows}</table>"),
        ));
    }
    let mut collections: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| sized(&state, l, collection_json(l, &base)))
        .collect();
    if !search.searches() {
        let public = state.catalog.visible_all(None);
        collections.push(ogc_records::collection_json(&base, &public));
    }
    Ok(Json(json!({
        "collections": collections,
        "links": [
            {"rel": "self", "type": "application/json", "href": format!("{base}/collections")},
            {"rel": "alternate", "type": "text/html", "href": format!("{base}/collections?f=html")}
        ]
    }))
    .into_response())
}

pub async fn collection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state.visible_as(&who, &id, "collection")?;
    if wants_html(f_param(&params), &headers)? {
        let fields: String = layer
            .fields
            .iter()
            .map(|f| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{:?}</td></tr>",
                    escape_html(&f.name),
                    escape_html(&f.label),
                    f.kind
                )
            })
            .collect();
        let body = format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/collections/{}/items?f=html\">items</a></p><table>{fields}</table>",
            escape_html(&layer.title),
            escape_html(&layer.description),
            escape_html(&layer.id)
        );
        return Ok(html_page(&layer.title, &body));
    }
    let doc = collection_json(&layer, &base_url(&state, &headers));
    Ok(Json(sized(&state, &layer, doc)).into_response())
}

pub async fn queryables(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state.visible_as(&who, &id, "collection")?;
    let mut res = Json(features::queryables_json(
        &layer,
        &base_url(&state, &headers),
    ))
    .into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    Ok(res)
}

pub async fn items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state.visible_as(&who, &id, "collection")?;
    if let Some(format) = f_param(&params).and_then(Format::parse) {
        let req = parse_items(&layer, &params).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let base = base_url(&state, &headers);
        return super::opendata::download(&state, &base, &layer, req, format).await;
    }
    let html = wants_html(f_param(&params), &headers)?;
    let req = parse_items(&layer, &params).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let turn =
        state.reads.take().await.ok_or_else(|| {
            ApiError::busy("too many feature queries at once: try again shortly", 1)
        })?;
    let (found, matched) = state.tiles.items(&layer, &req.query).await?;
    drop(turn);
    if html {
        let mut rows = String::new();
        for f in &found {
            rows.push_str(&format!(
                "<tr><td><a href=\"/collections/{}/items/{}?f=html\">{}</a></td>",
                escape_html(&layer.id),
                f.fid,
                f.fid
            ));
            for v in &f.values {
                let text = value_text(v);
                rows.push_str(&format!("<td>{}</td>", escape_html(&text)));
            }
            rows.push_str("</tr>");
        }
        let head: String = layer
            .fields
            .iter()
            .map(|f| format!("<th>{}</th>", escape_html(&f.label)))
            .collect();
        let body = format!(
            "<h1>{}</h1><p>{} of {matched}</p><table><tr><th>id</th>{head}</tr>{rows}</table>",
            escape_html(&layer.title),
            found.len()
        );
        return Ok(html_page(&layer.title, &body));
    }
    let mut out = Output::new(req.crs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let base = base_url(&state, &headers);
    let doc = items_json(&layer, &base, &params, &req, &found, matched, &mut out);
    geojson_response(doc, req.crs)
}

pub async fn item(
    State(state): State<AppState>,
    Path((id, fid)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state.visible_as(&who, &id, "collection")?;
    let html = wants_html(f_param(&params), &headers)?;
    let mut crs = None;
    for (k, v) in &params {
        match k.as_str() {
            "f" => {}
            "crs" => crs = parse_crs(v).map_err(|e| ApiError::bad_request(e.to_string()))?,
            _ => return Err(ApiError::bad_request(format!("unknown parameter '{k}'"))),
        }
    }
    let fid: i64 = fid.parse().map_err(|_| ApiError::not_found("feature"))?;
    let f = state
        .store
        .item(&layer, fid)
        .await?
        .ok_or_else(|| ApiError::not_found("feature"))?;
    let base = base_url(&state, &headers);
    if html {
        let rows: String = layer
            .fields
            .iter()
            .zip(&f.values)
            .map(|(field, v)| {
                let text = value_text(v);
                format!(
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape_html(&field.label),
                    escape_html(&text)
                )
            })
            .collect();
        return Ok(html_page(
            &layer.title,
            &format!(
                "<h1>{} · {}</h1><table>{rows}</table>",
                escape_html(&layer.title),
                f.fid
            ),
        ));
    }
    let etag = feature_etag(&f);
    let mut out = Output::new(crs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut doc = feature_json(&layer, &f, None, &mut out);
    doc["links"] = json!([
        {"rel": "self", "type": GEOJSON, "href": format!("{base}/collections/{}/items/{}", layer.id, f.fid)},
        {"rel": "collection", "type": "application/json", "href": format!("{base}/collections/{}", layer.id)}
    ]);
    let mut res = geojson_response(doc, crs)?;
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

/// A feature's entity tag: a digest of its geometry and values.
fn feature_etag(f: &StoredFeature) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(f.fid.to_le_bytes());
    h.update(&f.wkb);
    h.update(format!("{:?}", f.values));
    format!("\"{}\"", hex::encode(&h.finalize()[..12]))
}

fn parse_body(body: &[u8]) -> Result<Json_, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// The feature to change, after the token and `If-Match` checks.
async fn writable_feature(
    state: &AppState,
    who: &Who,
    headers: &HeaderMap,
    id: &str,
    fid: &str,
) -> Result<(Arc<Layer>, StoredFeature), ApiError> {
    let layer = state.visible_as(who, id, "collection")?;
    who.writer(&layer.org)?;
    let fid: i64 = fid.parse().map_err(|_| ApiError::not_found("feature"))?;
    let f = state
        .store
        .item(&layer, fid)
        .await?
        .ok_or_else(|| ApiError::not_found("feature"))?;
    if let Some(want) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let tag = feature_etag(&f);
        if !want.split(',').any(|t| t.trim() == tag || t.trim() == "*") {
            return Err(ApiError::new(
                axum::http::StatusCode::PRECONDITION_FAILED,
                "the feature changed since you read it (If-Match does not match its ETag)",
            ));
        }
    }
    Ok((layer, f))
}

/// Applies edits (the store announces them: the catalog and the tiles follow).
async fn apply(state: &AppState, layer: &Layer, edits: &[Edit]) -> Result<Vec<i64>, ApiError> {
    Ok(state.store.edit(layer, edits).await?)
}

async fn feature_response(
    state: &AppState,
    layer: &Layer,
    fid: i64,
    status: axum::http::StatusCode,
) -> Result<Response, ApiError> {
    let layer = state
        .catalog
        .get(&layer.id)
        .map_or_else(|| layer.clone(), |l| (*l).clone());
    let f = state
        .store
        .item(&layer, fid)
        .await?
        .ok_or_else(|| ApiError::not_found("feature"))?;
    let etag = feature_etag(&f);
    let doc = feature_json(
        &layer,
        &f,
        None,
        &mut Output::new(None).map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    let mut res = geojson_response(doc, None)?;
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

/// `POST /collections/{id}/items`: one Feature or a FeatureCollection, all or nothing.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let layer = state.visible_as(&who, &id, "collection")?;
    who.writer(&layer.org)?;
    let rows =
        post_rows(&layer, &parse_body(&body)?).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let single = rows.len() == 1;
    let edits: Vec<Edit> = rows.into_iter().map(Edit::Insert).collect();
    let ids = apply(&state, &layer, &edits).await?;
    let base = base_url(&state, &headers);
    if single {
        let mut res =
            feature_response(&state, &layer, ids[0], axum::http::StatusCode::CREATED).await?;
        if let Ok(v) =
            HeaderValue::from_str(&format!("{base}/collections/{}/items/{}", layer.id, ids[0]))
        {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(noted(res, &layer.org, &layer.id, json!({"fids": ids})));
    }
    Ok(noted(
        (axum::http::StatusCode::CREATED, Json(json!({"ids": ids}))),
        &layer.org,
        &layer.id,
        json!({"fids": ids}),
    ))
}

/// PUT replaces geometry and properties; PATCH (`merge`) keeps what the body leaves out.
async fn update(
    state: AppState,
    (id, fid): (String, String),
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
    merge: bool,
) -> Result<Response, ApiError> {
    let (layer, f) = writable_feature(&state, &who, &headers, &id, &fid).await?;
    let base = merge.then_some((f.wkb.as_slice(), f.values.as_slice()));
    let row = feature_row(&layer, &parse_body(&body)?, base)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    apply(&state, &layer, &[Edit::Replace(f.fid, row)]).await?;
    let res = feature_response(&state, &layer, f.fid, axum::http::StatusCode::OK).await?;
    Ok(noted(res, &layer.org, &layer.id, json!({"fids": [f.fid]})))
}

/// `PUT /collections/{id}/items/{fid}`
pub async fn replace(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    update(state, path, who, headers, body, false).await
}

/// `PATCH /collections/{id}/items/{fid}` (JSON merge patch)
pub async fn patch(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    update(state, path, who, headers, body, true).await
}

/// `DELETE /collections/{id}/items/{fid}`
pub async fn delete(
    State(state): State<AppState>,
    Path((id, fid)): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (layer, f) = writable_feature(&state, &who, &headers, &id, &fid).await?;
    apply(&state, &layer, &[Edit::Delete(f.fid)]).await?;
    Ok(noted(
        axum::http::StatusCode::NO_CONTENT,
        &layer.org,
        &layer.id,
        json!({"fids": [f.fid]}),
    ))
}

/// A GeoJSON body with its `Content-Crs` header (OGC API - Features Part 2).
fn geojson_response(doc: Json_, crs: Option<u32>) -> Result<Response, ApiError> {
    let mut res = Json(doc).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON));
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs_uri(crs))) {
        res.headers_mut().insert("content-crs", v);
    }
    Ok(res)
}
