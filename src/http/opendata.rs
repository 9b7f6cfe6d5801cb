//! Open-data endpoints: the DCAT-AP_IT catalogue of the public layers, in Turtle, RDF/XML
//! or JSON-LD (by extension, or by `Accept` on `/catalog`). Only public layers, whoever
//! asks: a catalogue is for the public.

use axum::extract::{Path, State};
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
    let graph = dcat::catalogue(&base_url(state, headers), &layers, &orgs);
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
