//! The catalogues of records of the public layers: the CSW 2.0.2 endpoint (`/csw`, KVP GET
//! and XML POST, see [`crate::opendata::csw`]) and the OGC API - Records collection
//! (`/collections/catalog`, see [`crate::opendata::ogc_records`]). Public layers only,
//! whoever asks: a catalogue is for the public.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::{base_url, AppState};
use crate::model::METRO_ORG;
use crate::opendata::csw::{self, CswError, Request};
use crate::opendata::ogc_records::{self, RecordQuery};
use crate::opendata::record::{self, Record};

/// Largest XML request the CSW reads.
pub const CSW_BODY_LIMIT: usize = 256 << 10;

/// The records of the layers `layers`, and the Città Metropolitana's e-mail.
async fn records_of(
    state: &AppState,
    base: &str,
    layers: &[std::sync::Arc<crate::model::Layer>],
) -> Result<(Vec<Record>, Option<String>), ApiError> {
    let orgs = state.store.orgs().await?;
    let log = state.store.publication_log().await?;
    let metro = orgs
        .iter()
        .find(|o| o.id == METRO_ORG)
        .and_then(|o| o.email.clone());
    Ok((record::records(base, layers, &orgs, &log), metro))
}

/// The records of the public layers (what the catalogues give whoever asks), and the
/// Città Metropolitana's e-mail.
async fn public_records(
    state: &AppState,
    base: &str,
) -> Result<(Vec<Record>, Option<String>), ApiError> {
    records_of(state, base, &state.catalog.visible_all(None)).await
}

/// The records of `layers` (for `/collections`: the layers the caller may see).
pub(super) async fn records_for(
    state: &AppState,
    base: &str,
    layers: &[std::sync::Arc<crate::model::Layer>],
) -> Result<Vec<Record>, ApiError> {
    Ok(records_of(state, base, layers).await?.0)
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn exception(e: CswError) -> Response {
    xml(StatusCode::BAD_REQUEST, e.to_xml())
}

/// `GET /csw?service=CSW&request=…`
pub async fn csw_get(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match csw::from_kvp(&params) {
        Ok(req) => answer(&state, &headers, req).await,
        Err(e) => Ok(exception(e)),
    }
}

/// `POST /csw` with an XML request.
pub async fn csw_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Ok(text) = std::str::from_utf8(&body) else {
        return Ok(exception(CswError {
            code: "InvalidParameterValue",
            locator: "request".into(),
            text: "the request is not UTF-8".into(),
        }));
    };
    match csw::from_xml(text) {
        Ok(req) => answer(&state, &headers, req).await,
        Err(e) => Ok(exception(e)),
    }
}

async fn answer(state: &AppState, headers: &HeaderMap, req: Request) -> Result<Response, ApiError> {
    let base = base_url(state, headers);
    let body = match req {
        Request::GetCapabilities => {
            let (_, metro) = public_records(state, &base).await?;
            csw::capabilities(&format!("{base}/csw"), metro.as_deref())
        }
        Request::DescribeRecord(types) => match csw::describe_record(&types) {
            Ok(x) => x,
            Err(e) => return Ok(exception(e)),
        },
        Request::GetRecords(q) => {
            let (all, metro) = public_records(state, &base).await?;
            csw::get_records(&q, &all, metro.as_deref())
        }
        Request::GetRecordById { ids, schema, esn } => {
            let (all, metro) = public_records(state, &base).await?;
            csw::get_record_by_id(&ids, schema, esn, &all, metro.as_deref())
        }
    };
    Ok(xml(StatusCode::OK, body))
}

/// `GET /collections/catalog`: the record collection.
pub async fn records_collection(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let base = base_url(&state, &headers);
    let public = state.catalog.visible_all(None);
    Ok(Json(ogc_records::collection_json(&base, &public)))
}

fn geojson(v: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/geo+json")],
        v.to_string(),
    )
        .into_response()
}

/// `GET /collections/catalog/items?q=…&bbox=…&datetime=…&type=…&ids=…&sortby=…`
pub async fn records_items(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = RecordQuery::parse(&params).map_err(ApiError::bad_request)?;
    let base = base_url(&state, &headers);
    let (all, _) = public_records(&state, &base).await?;
    Ok(geojson(ogc_records::items_json(&base, &q, &params, &all)))
}

/// `GET /collections/catalog/items/{id}`: one record (by layer id or `{IPA}:{layer}`).
pub async fn record_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let (all, _) = public_records(&state, &base).await?;
    let r = all
        .iter()
        .find(|r| r.layer_id == id || r.identifier == id)
        .ok_or_else(|| ApiError::not_found("record"))?;
    Ok(geojson(ogc_records::record_json(&base, r)))
}
