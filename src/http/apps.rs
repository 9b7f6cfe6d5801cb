//! Styles and apps over HTTP: `/styles/{layer}.json`, `/api/layers/{id}/style`,
//! `/api/orgs/{org}/apps[/{slug}]`, and the generated apps at `/apps/{org}/{slug}/`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::audit::noted;
use super::{base_url, error::ApiError, AppState, Who};
use crate::apps::{self, AppConfig, Inputs, Mode};
use crate::store::Document;
use crate::styles::{self, StyleDoc};

async fn saved_style(state: &AppState, id: &str) -> Result<Option<StyleDoc>, ApiError> {
    Ok(styles::saved(state.store.as_ref(), id).await?)
}

/// The query of `GET /styles/{layer}.json`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleQuery {
    /// The layer's position in the caller's map (0–63): without a saved style it takes the
    /// palette's colour there (see [`styles::Placement::slot`]).
    slot: Option<usize>,
}

/// `GET /styles/{layer}.json[?slot=n]`: a MapLibre style drawing the layer with its saved
/// style.
pub async fn style_json(
    State(state): State<AppState>,
    Path(spec): Path<String>,
    Query(q): Query<StyleQuery>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let id = spec
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::not_found("style"))?;
    if q.slot.is_some_and(|n| n > 63) {
        return Err(ApiError::bad_request("slot: 0 to 63"));
    }
    let layer = state.visible(&who, id)?;
    let doc = saved_style(&state, id).await?;
    Ok(Json(styles::style_document(
        &layer,
        doc.as_ref(),
        &base_url(&state, &headers),
        q.slot,
    )))
}

/// `GET /api/layers/{id}/style`: the saved style document, `{}` when there is none.
pub async fn get_style(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
) -> Result<Json<Json_>, ApiError> {
    state.visible(&who, &id)?;
    let doc = saved_style(&state, &id).await?.unwrap_or_default();
    Ok(Json(serde_json::to_value(doc).unwrap_or_default()))
}

/// `GET /api/layers/{id}/style/proposal?kind=…&field=…` (owner): a style the server proposes
/// from the layer's data (see [`styles::propose`]); nothing is saved. Owners only: it reads
/// every feature of the layer, which is not for anonymous callers to repeat at will.
pub async fn style_proposal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(draft): Query<styles::Draft>,
    who: Who,
) -> Result<Json<Json_>, ApiError> {
    let layer = state.visible(&who, &id)?;
    who.writer(&layer.org)?;
    let values = match draft.field.as_deref() {
        Some(name) if draft.kind != "single" => {
            match layer.fields.iter().position(|f| f.name == name) {
                Some(i) => state
                    .store
                    .scan(&layer)
                    .await?
                    .into_iter()
                    .filter_map(|f| f.values.into_iter().nth(i))
                    .collect(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let doc = styles::propose(&layer, &draft, &values).map_err(|e| ApiError::bad_request(e.0))?;
    Ok(Json(serde_json::to_value(doc).unwrap_or_default()))
}

/// `PUT /api/layers/{id}/style` (owner): validated against the catalog and the style spec.
pub async fn put_style(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let layer = state.visible(&who, &id)?;
    who.writer(&layer.org)?;
    let doc: StyleDoc = ApiError::json_body(&body, "style")?;
    styles::validate(&layer, &doc).map_err(|e| ApiError::bad_request(e.0))?;
    let body = serde_json::to_value(&doc).unwrap_or_default();
    state
        .store
        .put_document(&Document {
            kind: "style".into(),
            key: id.clone(),
            org: layer.org.clone(),
            body: body.clone(),
            published: true,
            updated_at: String::new(),
        })
        .await?;
    Ok(noted(Json(body), &layer.org, &id, json!({})))
}

/// `DELETE /api/layers/{id}/style` (owner): back to the default.
pub async fn delete_style(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
) -> Result<Response, ApiError> {
    let layer = state.visible(&who, &id)?;
    who.writer(&layer.org)?;
    state.store.delete_document("style", &id).await?;
    Ok(noted(StatusCode::NO_CONTENT, &layer.org, &id, json!({})))
}

fn app_key(org: &str, slug: &str) -> Result<String, ApiError> {
    if org.is_empty() || !org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ApiError::not_found("organisation"));
    }
    if !apps::valid_slug(slug) {
        return Err(ApiError::bad_request(
            "an app slug is 1 to 48 of a-z, 0-9 and '-', not starting with '-'",
        ));
    }
    Ok(format!("{org}/{slug}"))
}

/// An app as its owner sees it, with the layers of its configuration that are not public
/// now (a published app does not serve them; the console says so).
fn app_json(state: &AppState, d: &Document, base: &str) -> Json_ {
    let slug = d.key.split_once('/').map_or("", |(_, s)| s);
    let withheld: Vec<String> = d.body["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l["id"].as_str())
                .filter(|id| state.catalog.visible(id, None).is_none())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    json!({
        "withheld": withheld,
        "org": d.org,
        "slug": slug,
        "published": d.published,
        "updated_at": d.updated_at,
        "config": d.body,
        "url": format!("{base}/apps/{}/{slug}/", d.org),
        "bundle": format!("{base}/apps/{}/{slug}/bundle.zip", d.org),
    })
}

/// `GET /api/orgs/{org}/apps`: all of them for the organisation's token, else the published.
pub async fn list_apps(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let own = who.caller().is_some_and(|c| c.can_write(&org));
    let base = base_url(&state, &headers);
    let apps: Vec<Json_> = state
        .store
        .documents("app", Some(&org))
        .await?
        .iter()
        .filter(|d| own || d.published)
        .map(|d| {
            let mut j = app_json(&state, d, &base);
            if !own {
                j["withheld"] = json!([]);
            }
            j
        })
        .collect();
    Ok(Json(json!({"apps": apps})))
}

/// A configuration whose layers the caller may see (its organisation's own, and public
/// ones: the one rule).
fn checked_config(state: &AppState, who: &Who, body: &[u8]) -> Result<AppConfig, ApiError> {
    let cfg: AppConfig = ApiError::json_body(body, "app configuration")?;
    cfg.validate(|id| {
        state
            .catalog
            .visible(id, who.caller())
            .map(|l| (*l).clone())
    })
    .map_err(|e| ApiError::bad_request(e.0))?;
    for id in &cfg.backgrounds {
        if !state.config.backgrounds.iter().any(|b| &b.id == id) {
            return Err(ApiError::bad_request(format!(
                "backgrounds: no background '{}' on this server",
                id.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok(cfg)
}

/// `PUT /api/orgs/{org}/apps/{slug}` (organisation's token): saves the configuration; an
/// existing app keeps its published state, a new one starts unpublished.
pub async fn put_app(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let key = app_key(&org, &slug)?;
    who.writer(&org)?;
    let cfg = checked_config(&state, &who, &body)?;
    let published = state
        .store
        .document("app", &key)
        .await?
        .is_some_and(|d| d.published);
    if published {
        only_public_layers(&state, cfg.layers.iter().map(|l| l.id.as_str()))?;
    }
    let d = state
        .store
        .put_document(&Document {
            kind: "app".into(),
            key,
            org: org.clone(),
            body: serde_json::to_value(&cfg).unwrap_or_default(),
            published,
            updated_at: String::new(),
        })
        .await?;
    let j = app_json(&state, &d, &base_url(&state, &headers));
    Ok(noted(Json(j), &org, &d.key, json!({})))
}

pub async fn get_app(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let key = app_key(&org, &slug)?;
    let own = who.caller().is_some_and(|c| c.can_write(&org));
    match state.store.document("app", &key).await? {
        Some(d) if own || d.published => {
            let mut j = app_json(&state, &d, &base_url(&state, &headers));
            if !own {
                j["withheld"] = json!([]);
            }
            Ok(Json(j))
        }
        _ => Err(ApiError::not_found("app")),
    }
}

pub async fn delete_app(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    who: Who,
) -> Result<Response, ApiError> {
    let key = app_key(&org, &slug)?;
    who.writer(&org)?;
    if state.store.delete_document("app", &key).await? {
        Ok(noted(StatusCode::NO_CONTENT, &org, &key, json!({})))
    } else {
        Err(ApiError::not_found("app"))
    }
}

/// A published app is public: it may hold only public layers (409 naming the others).
fn only_public_layers<'a>(
    state: &AppState,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let private: Vec<&str> = ids
        .filter(|id| state.catalog.visible(id, None).is_none())
        .collect();
    if private.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "a published app is public and may hold only public layers: make these public or \
             take them out of the app first: {}",
            private.join(", ")
        ),
    ))
}

/// `POST /api/orgs/{org}/apps/{slug}/publish`: a published app is public, so it may hold
/// only public layers (409 naming the others).
pub async fn publish(
    state: State<AppState>,
    path: Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_published(state, path, who, headers, true).await
}

/// `POST /api/orgs/{org}/apps/{slug}/unpublish`
pub async fn unpublish(
    state: State<AppState>,
    path: Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_published(state, path, who, headers, false).await
}

async fn set_published(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
    published: bool,
) -> Result<Response, ApiError> {
    let key = app_key(&org, &slug)?;
    who.writer(&org)?;
    let mut d = state
        .store
        .document("app", &key)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    if published {
        only_public_layers(
            &state,
            d.body["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["id"].as_str()),
        )?;
    }
    d.published = published;
    let d = state.store.put_document(&d).await?;
    let j = app_json(&state, &d, &base_url(&state, &headers));
    Ok(noted(Json(j), &org, &key, json!({"published": published})))
}

/// `POST /api/orgs/{org}/apps/{slug}/preview` (organisation's token): the style and runtime
/// config an unsaved configuration would produce, for the console's live preview.
pub async fn preview(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, ApiError> {
    app_key(&org, &slug)?;
    who.writer(&org)?;
    let cfg = checked_config(&state, &who, &body)?;
    let base = base_url(&state, &headers);
    let inputs = inputs(&state, &who, &org, &slug, &cfg, &base).await?;
    Ok(Json(json!({
        "style": apps::style(&inputs, Mode::Online),
        "config": apps::runtime_config(&inputs, Mode::Online),
    })))
}

/// What the generator needs, with the layers `who` may see (anonymous for a published
/// app: only its public layers are served, whoever asks).
async fn inputs<'a>(
    state: &AppState,
    who: &Who,
    org: &'a str,
    slug: &'a str,
    cfg: &'a AppConfig,
    base: &'a str,
) -> Result<Inputs<'a>, ApiError> {
    let gathered = apps::gather(&state.catalog, &state.tiles, cfg, who.caller())
        .await
        .map_err(|e| ApiError::bad_request(e.0))?;
    Ok(Inputs {
        org,
        slug,
        config: cfg,
        layers: gathered.layers,
        base,
        comuni: gathered.comuni,
        backgrounds: apps::backgrounds_of(cfg, &state.config.backgrounds),
    })
}

/// A published app's saved configuration, or the same 404 as for an unknown one.
async fn published_app(state: &AppState, org: &str, slug: &str) -> Result<AppConfig, ApiError> {
    let key = app_key(org, slug).map_err(|_| ApiError::not_found("app"))?;
    match state.store.document("app", &key).await? {
        Some(d) if d.published => serde_json::from_value(d.body).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("app {key}: {e}"))
        }),
        _ => Err(ApiError::not_found("app")),
    }
}

#[derive(serde::Deserialize)]
pub struct BundleQuery {
    mode: Option<String>,
    /// Highest zoom exported in a static bundle (default 14).
    maxzoom: Option<u8>,
}

/// `GET /apps/{org}/{slug}/` and its files, and `bundle.zip?mode=online|static`.
pub async fn serve_app(
    State(state): State<AppState>,
    Path(parts): Path<Vec<(String, String)>>,
    Query(q): Query<BundleQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let get = |k: &str| parts.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (org, slug) = (get("org").unwrap_or(""), get("slug").unwrap_or(""));
    let file = get("file").unwrap_or("index.html");
    let file = if file.is_empty() { "index.html" } else { file };
    let cfg = published_app(&state, org, slug).await?;
    let base = base_url(&state, &headers);
    let web_dir = state.config.web_dir.as_deref();
    // The script, styles and MapLibre are the same for every app: no layers to gather.
    if let Some(bytes) = apps::asset(web_dir, file) {
        let backgrounds = apps::backgrounds_of(&cfg, &state.config.backgrounds);
        return app_file(file, bytes, &base, &backgrounds);
    }
    // A published app is public: its layers are gathered for no one in particular.
    let inputs = inputs(&state, &Who(None), org, slug, &cfg, &base).await?;
    if file == "bundle.zip" {
        let mode = Mode::parse(q.mode.as_deref().unwrap_or("online"))
            .ok_or_else(|| ApiError::bad_request("mode is online or static"))?;
        let maxzoom = q.maxzoom.unwrap_or(14);
        if maxzoom > 16 {
            return Err(ApiError::bad_request("maxzoom: 0 to 16"));
        }
        // The build stops if the client goes away (this future is dropped).
        let stop = crate::tiles::batch::Stop::default();
        let guard = stop.on_drop();
        let zip = state
            .bundles
            .zip(
                &state.tiles,
                &state.fonts,
                web_dir,
                &inputs,
                mode,
                maxzoom,
                &stop,
            )
            .await?;
        guard.done();
        let disposition = format!(
            "attachment; filename=\"{org}-{slug}-{}.zip\"",
            q.mode.as_deref().unwrap_or("online")
        );
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/zip"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&disposition)
                        .unwrap_or(HeaderValue::from_static("attachment")),
                ),
            ],
            zip,
        )
            .into_response());
    }
    // The online app's own generated files, by their fixed names.
    let bytes = apps::file(&inputs, Mode::Online, web_dir, file)
        .ok_or_else(|| ApiError::not_found("file"))?;
    app_file(file, bytes, &base, &inputs.backgrounds)
}

/// A file of an online app, with its type and the app's Content-Security-Policy.
fn app_file(
    file: &str,
    bytes: Vec<u8>,
    base: &str,
    backgrounds: &[crate::backgrounds::Background],
) -> Result<Response, ApiError> {
    let csp = apps::csp(base, Mode::Online, backgrounds);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::assets::content_type(file)),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&csp)
                    .unwrap_or(HeaderValue::from_static("default-src 'self'")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

use axum::http::HeaderName;

/// `/apps/{org}/{slug}` without the slash: to the app's folder, so relative files resolve
/// (a published app only; anything else is the same 404).
pub async fn app_redirect(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    published_app(&state, &org, &slug).await?;
    Ok(axum::response::Redirect::permanent(&format!("/apps/{org}/{slug}/")).into_response())
}
