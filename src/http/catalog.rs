//! Catalog endpoints: landing page, organisations, layers and their metadata, health and
//! readiness, the viewer's and console's pages and files.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};

use super::audit::noted;
use super::error::ApiError;
use super::{base_url, wants_html, AppState, Who};
use crate::model::Layer;
use crate::store::LayerMetaUpdate;

#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    f: Option<String>,
}

pub fn layer_json(l: &Layer, base: &str) -> Json_ {
    let mut v = serde_json::to_value(l).unwrap_or_default();
    // For map clients, whose attribution controls render HTML: the text escaped, the link
    // ours (`attribution` itself stays the plain text the comune wrote).
    v["attribution_html"] = json!(crate::html::attribution_html(l));
    // The colour the server draws the layer with by default, for lists and swatches.
    v["color"] = json!(crate::styles::default_color(&l.id));
    // What the open-data record still lacks (the console lists it).
    v["metadata_missing"] = json!(crate::opendata::missing(l));
    v["links"] = json!([
        {"rel": "self", "type": "application/json", "href": format!("{base}/api/layers/{}", l.id)},
        {"rel": "collection", "type": "application/json", "href": format!("{base}/collections/{}", l.id)},
        {"rel": "tiles", "type": "application/json", "href": format!("{base}/tiles/{}.json", l.id)},
        {"rel": "style", "type": "application/json", "href": format!("{base}/styles/{}.json", l.id)}
    ]);
    v
}

pub async fn landing(
    State(state): State<AppState>,
    Query(q): Query<FormatQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if wants_html(q.f.as_deref(), &headers)? {
        return web_page(&state, "viewer/index.html");
    }
    let b = base_url(&state, &headers);
    Ok(Json(json!({
        "title": "Atlante",
        "description": "SIT Metropolitano of the Città Metropolitana di Milano: layers of its 133 comuni",
        "links": [
            {"rel": "self", "type": "application/json", "href": format!("{b}/?f=json")},
            {"rel": "alternate", "type": "text/html", "href": format!("{b}/?f=html")},
            {"rel": "data", "type": "application/json", "href": format!("{b}/collections"), "title": "collections (OGC API - Features)"},
            {"rel": "related", "type": "application/json", "href": format!("{b}/api/layers"), "title": "layers: the catalog"},
            {"rel": "related", "type": "application/json", "href": format!("{b}/api/orgs"), "title": "organisations"},
            {"rel": "related", "type": "text/turtle", "href": format!("{b}/catalog"), "title": "open data: the DCAT-AP_IT catalogue"},
            {"rel": "related", "type": "application/xml", "href": format!("{b}/sitemap.xml"), "title": "open data: the dataset pages"},
            {"rel": "related", "type": "application/xml", "href": format!("{b}/csw?service=CSW&request=GetCapabilities"), "title": "open data: CSW 2.0.2 (RNDT, ISO 19139)"},
            {"rel": "related", "type": "application/json", "href": format!("{b}/collections/catalog"), "title": "open data: the records (OGC API - Records)"},
            {"rel": "related", "type": "text/html", "href": format!("{b}/stats"), "title": "open data: the publishing dashboard"},
            {"rel": "conformance", "type": "application/json", "href": format!("{b}/conformance")},
            {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "href": format!("{b}/api")},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "type": "application/json", "href": format!("{b}/tileMatrixSets")}
        ]
    }))
    .into_response())
}

/// A page of the web assets (the viewer, the console) with its Content-Security-Policy,
/// which allows no inline script.
fn web_page(state: &AppState, page: &str) -> Result<Response, ApiError> {
    let bytes = crate::assets::get(state.config.web_dir.as_deref(), page)
        .ok_or_else(|| ApiError::not_found("page"))?;
    // Raster backgrounds come from their hosts, named here and nowhere else.
    let basemap = crate::backgrounds::hosts(&state.config.backgrounds);
    let csp = format!(
        "default-src 'self'; script-src 'self'; worker-src blob:; child-src blob:; \
         img-src 'self' data: blob: {basemap}; connect-src 'self' {basemap}; \
         style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
    );
    let mut res = Html(bytes.into_owned()).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}

/// `GET /static/{file}`: an embedded asset (only the embedded names exist).
pub async fn static_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = crate::assets::get(state.config.web_dir.as_deref(), &file)
        .ok_or_else(|| ApiError::not_found("file"))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::assets::content_type(&file)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes.into_owned(),
    )
        .into_response())
}

/// What the viewer needs from the configuration: the base map (always there: the comuni
/// and zone omogenee of the catalog, with names), the glyphs of its labels and the
/// operator's backgrounds.
pub async fn viewer_config(State(state): State<AppState>, headers: HeaderMap) -> Json<Json_> {
    let base = base_url(&state, &headers);
    let names = crate::tiles::base::MVT_LAYERS.map(|(_, name)| name);
    Json(json!({
        "backgrounds": crate::backgrounds::client_json(&state.config.backgrounds, &base),
        "glyphs": crate::styles::glyphs_url(&base),
        "basemap": {
            "tiles": [format!("{base}/basemap/{{z}}/{{x}}/{{y}}.mvt")],
            "attribution": "Comuni: ISTAT; openpolis/geojson-italy (CC BY 4.0)",
            "layers": crate::styles::basemap_layers("basemap", names),
        },
    }))
}

/// Conformance classes: Features Parts 1–4, CQL2 and Tiles.
pub async fn conformance() -> Json<Json_> {
    let all: Vec<&str> = crate::features::CONFORMANCE
        .iter()
        .chain(crate::cql2::CONFORMANCE)
        .chain(super::tiles::TILES_CONFORMANCE)
        .chain(crate::opendata::ogc_records::CONFORMANCE)
        .copied()
        .collect();
    Json(json!({"conformsTo": all}))
}

/// The OpenAPI 3.0 document: every route of the table, and the collections the caller may
/// see with their queryables.
pub async fn openapi(
    State(state): State<AppState>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layers: Vec<Layer> = state
        .catalog
        .visible_all(who.caller())
        .iter()
        .map(|l| (**l).clone())
        .collect();
    let doc = crate::features::openapi::document(
        super::routes::ROUTES
            .iter()
            .map(|r| crate::features::openapi::Op {
                method: r.method,
                path: r.path,
                summary: r.summary,
                write: r.audit.is_some(),
            }),
        &layers,
        &base_url(&state, &headers),
    );
    let mut res = Json(doc).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.oai.openapi+json;version=3.0"),
    );
    Ok(res)
}

pub async fn health() -> Json<Json_> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: the store answers, within a second (503 with Retry-After otherwise).
pub async fn ready(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(1), state.store.ping()).await;
    match ping {
        Ok(Ok(())) => Json(json!({"status": "ready", "store": state.store.kind()})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "store not ready");
            unready()
        }
        Err(_) => {
            tracing::warn!("store not ready: no answer within a second");
            unready()
        }
    }
}

fn unready() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(json!({"status": "unavailable"})),
    )
        .into_response()
}

pub async fn orgs(State(state): State<AppState>) -> Result<Json<Json_>, ApiError> {
    let orgs: Vec<Json_> = state
        .store
        .orgs()
        .await?
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap_or_default())
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

/// `GET /api/layers`: the layers the caller may see, from the catalog snapshot.
pub async fn layers(State(state): State<AppState>, who: Who, headers: HeaderMap) -> Json<Json_> {
    let base = base_url(&state, &headers);
    let layers: Vec<Json_> = state
        .catalog
        .visible_all(who.caller())
        .iter()
        .map(|l| layer_json(l, &base))
        .collect();
    Json(json!({"layers": layers}))
}

pub async fn layer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let l = state.visible(&who, &id)?;
    Ok(Json(layer_json(&l, &base_url(&state, &headers))))
}

/// `PATCH /api/layers/{id}` (owner): metadata and visibility; not a new version.
pub async fn update_layer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let layer = state.visible(&who, &id)?;
    who.writer(&layer.org)?;
    let update: LayerMetaUpdate = ApiError::json_body(&body, "layer settings")?;
    let after = state.store.update_layer_meta(&id, &update).await?;
    let detail = update_summary(&update);
    Ok(noted(
        Json(layer_json(&after, &base_url(&state, &headers))),
        &layer.org,
        &id,
        detail,
    ))
}

/// Which settings a PATCH changed (for the audit log), visibility with its value.
fn update_summary(u: &LayerMetaUpdate) -> Json_ {
    let mut changed = Vec::new();
    for (name, set) in [
        ("title", u.title.is_some()),
        ("description", u.description.is_some()),
        ("theme", u.theme.is_some()),
        ("licence", u.licence.is_some()),
        ("attribution", u.attribution.is_some()),
        ("attribution_url", u.attribution_url.is_some()),
    ] {
        if set {
            changed.push(name);
        }
    }
    json!({"changed": changed, "visibility": u.visibility})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackQuery {
    #[serde(default)]
    discard_edits: bool,
}

/// `POST /api/layers/{id}/rollback[?discard_edits=true]` (owner): refused (409) when it
/// would discard feature edits made since the version was published, unless asked to.
pub async fn rollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RollbackQuery>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state.visible(&who, &id)?;
    who.writer(&layer.org)?;
    let edits = state.store.edits_since_publish(&id).await?;
    if edits > 0 && !q.discard_edits {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "rolling back would discard {edits} feature edits made since version {} was \
                 published: add ?discard_edits=true to roll back anyway",
                layer.version
            ),
        ));
    }
    let after = state.store.rollback(&id).await?;
    Ok(noted(
        Json(layer_json(&after, &base_url(&state, &headers))),
        &layer.org,
        &id,
        json!({"from_version": layer.version, "to_version": after.version, "discarded_edits": edits}),
    ))
}

/// `DELETE /api/layers/{id}` (owner): to the trash, restorable with `atlante layer restore`
/// for the retention period.
pub async fn delete_layer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
) -> Result<Response, ApiError> {
    let layer = state.visible(&who, &id)?;
    who.writer(&layer.org)?;
    state.store.delete_layer(&id).await?;
    Ok(noted(
        StatusCode::NO_CONTENT,
        &layer.org,
        &id,
        json!({"version": layer.version, "retention_days": state.config.retention_days}),
    ))
}

/// `GET /console`: the console for comuni.
pub async fn console_page(State(state): State<AppState>) -> Result<Response, ApiError> {
    web_page(&state, "console/index.html")
}

/// `GET /api/me`: who the token is (organisation, role), for the console's sign-in.
pub async fn me(State(state): State<AppState>, who: Who) -> Result<Json<Json_>, ApiError> {
    let c = who.signed_in()?;
    let org = state.store.org(&c.org).await?;
    Ok(Json(json!({
        "org": c.org,
        "role": c.role,
        "token": c.token_id,
        "org_name": org.map(|o| o.name).unwrap_or_default(),
    })))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("resource")
}
