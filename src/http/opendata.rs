//! Open-data endpoints: the DCAT-AP_IT catalogue of the public layers, in Turtle, RDF/XML
//! or JSON-LD (by extension, or by `Accept` on `/catalog`). Only public layers, whoever
//! asks: a catalogue is for the public.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{base_url, AppState};
use crate::opendata::dcat;

#[derive(Clone, Copy)]
enum Syntax {
    Turtle,
    RdfXml,
    JsonLd,
}

impl Syntax {
    fn media_type(self) -> &'static str {
        match self {
            Syntax::Turtle => "text/turtle; charset=utf-8",
            Syntax::RdfXml => "application/rdf+xml; charset=utf-8",
            Syntax::JsonLd => "application/ld+json",
        }
    }

    /// From `Accept`: the first of the three it names (Turtle when none).
    fn accepted(headers: &HeaderMap) -> Syntax {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        accept
            .split(',')
            .map(|part| part.split(';').next().unwrap_or("").trim())
            .find_map(|m| match m {
                "text/turtle" => Some(Syntax::Turtle),
                "application/rdf+xml" => Some(Syntax::RdfXml),
                "application/ld+json" => Some(Syntax::JsonLd),
                _ => None,
            })
            .unwrap_or(Syntax::Turtle)
    }
}

/// `GET /catalog`: the DCAT-AP_IT catalogue, by content negotiation.
pub async fn catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(&state, &headers, Syntax::accepted(&headers)).await
}

/// `GET /catalog/{file}`: `dcat.ttl`, `dcat.rdf` or `dcat.jsonld`.
pub async fn catalog_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let syntax = match file.as_str() {
        "dcat.ttl" => Syntax::Turtle,
        "dcat.rdf" => Syntax::RdfXml,
        "dcat.jsonld" => Syntax::JsonLd,
        _ => {
            return Err(ApiError::not_found(
                "catalogue file (dcat.ttl, dcat.rdf or dcat.jsonld)",
            ))
        }
    };
    render(&state, &headers, syntax).await
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    syntax: Syntax,
) -> Result<Response, ApiError> {
    let layers = state.catalog.visible_all(None);
    let orgs = state.store.orgs().await?;
    let sizes = |l: &crate::model::Layer, f| state.downloads.cached_size(l, f);
    let graph = dcat::catalogue(&base_url(state, headers), &layers, &orgs, &sizes);
    let body = match syntax {
        Syntax::Turtle => graph.to_turtle(),
        Syntax::RdfXml => graph.to_rdfxml(),
        Syntax::JsonLd => graph.to_jsonld().to_string(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, syntax.media_type()),
            (header::VARY, "Accept"),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/vocabularies`: the terms a layer's description may use (codes and labels),
/// for the console's lists.
pub async fn vocabularies() -> axum::Json<serde_json::Value> {
    use crate::opendata::vocab;
    let list = |terms: &[vocab::Term]| {
        terms
            .iter()
            .map(|t| serde_json::json!({"code": t.code, "uri": vocab::uri_of(t), "it": t.it, "en": t.en}))
            .collect::<Vec<_>>()
    };
    axum::Json(serde_json::json!({
        "licences": list(vocab::LICENCES),
        "themes": list(vocab::THEMES),
        "frequencies": list(vocab::FREQUENCIES),
        "default_licence": vocab::DEFAULT_LICENCE,
    }))
}

/// `items?f=gpkg|shp|csv|geojson|kml|fgb`: the whole selection (`bbox`, `filter`,
/// `datetime`, `crs`; not a page: `limit` and `offset` do not cut it) as a file. A
/// whole layer in EPSG:4326 is made once per layer state and kept.
pub async fn download(
    state: &AppState,
    base: &str,
    layer: &crate::model::Layer,
    req: crate::features::Items,
    format: crate::opendata::download::Format,
) -> Result<Response, ApiError> {
    let mut q = req.query;
    let epsg = req.crs.unwrap_or(4326);
    // Every feature in EPSG:4326: the file that is kept per layer state.
    let whole = q.bbox.is_none() && q.filter.is_none() && q.sort.is_empty() && epsg == 4326;
    q.limit = i64::MAX;
    q.offset = 0;
    let (file, len) = state
        .downloads
        .file(&state.store, layer, q, format, epsg, whole)
        .await?;
    // Counted for the dashboard, off the answer's path; a failure costs only the count.
    let (store, id) = (state.store.clone(), layer.id.clone());
    tokio::spawn(async move {
        if let Err(e) = store.count_download(&id, format.code()).await {
            tracing::warn!(layer = %id, error = %e, "download not counted");
        }
    });
    let name = format!("{}.{}", layer.id, format.extension());
    let body = axum::body::Body::from_stream(file_stream(file));
    let mut res = (
        [
            (header::CONTENT_TYPE, format.media_type().to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&format!("<{}>", crate::features::crs_uri(Some(epsg))))
    {
        res.headers_mut().insert("content-crs", v);
    }
    // The licence and the dataset page, for every format (CSV, KML and FlatGeobuf have no
    // room for them in the file).
    let links = format!(
        "<{}>; rel=\"license\", <{}/datasets/{}>; rel=\"describedby\"; type=\"text/html\"",
        crate::opendata::download::licence_uri(layer),
        base,
        layer.id
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&links) {
        res.headers_mut().insert(header::LINK, v);
    }
    Ok(res)
}

/// A file's bytes as a body stream, 256 KiB at a time, read off the async threads.
fn file_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 256 << 10];
            let n = std::io::Read::read(&mut file, &mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((file, buf))) => Some((Ok(bytes::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    })
}

/// The HTML answer of a page of ours: only our own scripts run (the dataset page's small
/// map; a JSON-LD block is data, not a script), nothing is fetched from elsewhere.
fn page(html: String) -> Response {
    let mut res = axum::response::Html(html).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; worker-src blob:; child-src blob:; \
             img-src 'self' data: blob:; connect-src 'self'; style-src 'self' 'unsafe-inline'; \
             object-src 'none'; base-uri 'none'",
        ),
    );
    res
}

/// How many entries of a layer's history a page or an answer shows.
const HISTORY: i64 = 500;

/// `GET /api/layers/{id}/history`: the layer's publication log (the last 500 entries,
/// oldest first), to whoever may see the layer.
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: super::Who,
) -> Result<axum::Json<Vec<crate::store::LogEntry>>, ApiError> {
    let layer = state.visible(&who, &id)?;
    Ok(axum::Json(state.store.history(&layer.id, HISTORY).await?))
}

/// `GET /stats` (HTML; JSON with `?f=json` or `Accept: application/json`): the publishing
/// dashboard (see [`crate::opendata::stats`]). Public figures only.
pub async fn stats(
    State(state): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let public = state.catalog.visible_all(None);
    let orgs = state.store.orgs().await?;
    let log = state.store.publication_log().await?;
    let downloads = state.store.download_counts().await?;
    let figures = crate::opendata::stats::compute(&public, &orgs, &log, &downloads);
    let json = match q.get("f").map(String::as_str) {
        Some("json") => true,
        Some("html") => false,
        Some(_) => return Err(ApiError::bad_request("f must be html or json")),
        None => headers
            .get(header::ACCEPT)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|a| a.contains("application/json") && !a.contains("text/html")),
    };
    Ok(if json {
        axum::Json(figures).into_response()
    } else {
        page(crate::opendata::stats::html(&figures))
    })
}

/// `GET /datasets/{id}`: a public layer's dataset page, the IRI the catalogue gives it.
/// Public layers only, whoever asks (a private one is as missing as an unknown one).
pub async fn dataset_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state
        .catalog
        .visible(&id, None)
        .ok_or_else(|| ApiError::not_found("dataset"))?;
    let org = state.store.org(&layer.org).await?;
    let versions = state.store.versions(&layer.id).await?;
    let history = state.store.history(&layer.id, HISTORY).await?;
    let sizes = |f| state.downloads.cached_size(&layer, f);
    let base = base_url(&state, &headers);
    let inputs = crate::opendata::page::PageInputs {
        base: &base,
        org: org.as_ref(),
        sizes: &sizes,
        versions: &versions,
        history: &history,
    };
    Ok(page(crate::opendata::page::dataset_page(&layer, &inputs)))
}

/// `GET /sitemap.xml`: the dataset pages of the public layers.
pub async fn sitemap(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let layers = state.catalog.visible_all(None);
    let body = crate::opendata::page::sitemap(&base_url(&state, &headers), &layers);
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}
