//! Tile endpoints: XYZ MVT and TileJSON, and OGC API - Tiles (WebMercatorQuad only).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::error::ApiError;
use super::{base_url, AppState, Who};
use crate::fonts::FontError;
use crate::model::Layer;
use crate::tiles::math::{TileCoord, HALF, MAX_ZOOM};
use crate::tiles::{tilejson::tilejson, MAX_COMPOSITE};

pub const MVT: &str = "application/vnd.mapbox-vector-tile";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const CRS_3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";

/// The layers a comma-separated list names, each visible to the caller, in one canonical
/// order (by id), so any order of the same ids gives the same tile, cache key and ETag.
/// Unknown and private layers get the same 404.
fn resolve(state: &AppState, who: &Who, spec: &str) -> Result<Vec<Layer>, ApiError> {
    let mut ids: Vec<&str> = Vec::new();
    for id in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request("no layer named"));
    }
    if ids.len() > MAX_COMPOSITE {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_COMPOSITE} layers in one tile"
        )));
    }
    ids.sort_unstable();
    ids.iter()
        .map(|id| match state.catalog.visible(id, who.caller()) {
            Some(l) => Ok((*l).clone()),
            None => Err(ApiError::not_found("layer")),
        })
        .collect()
}

fn bad_tile() -> ApiError {
    ApiError::bad_request(format!(
        "tile coordinates out of range: zoom 0-{MAX_ZOOM}, and x, y (column, row) 0 to 2^zoom-1, as integers"
    ))
}

/// Does `Accept-Encoding` admit gzip (named, and not with a zero `q`)?
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    v.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        parts.next().is_some_and(|n| n.eq_ignore_ascii_case("gzip"))
            && parts.all(|p| {
                p.strip_prefix("q=")
                    .is_none_or(|q| q.parse::<f32>().map_or(true, |q| q > 0.0))
            })
    })
}

async fn tile_response(
    state: &AppState,
    headers: &HeaderMap,
    layers: Vec<Layer>,
    t: TileCoord,
) -> Result<Response, ApiError> {
    let gzip = accepts_gzip(headers);
    let tile = state.tiles.tile(&layers, t, gzip).await?;
    let public = layers.iter().all(Layer::is_public);
    let cache_control = if public {
        "public, max-age=60"
    } else {
        "private, max-age=60"
    };
    let etag = HeaderValue::from_str(&tile.etag)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == tile.etag || t.trim() == "*")
        }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip && !tile.raw.is_empty() {
        let mut r = tile.gzip().clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        tile.raw.clone().into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT));
    h.insert(header::ETAG, etag);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Authorization"),
    );
    Ok(res)
}

/// `GET /tiles/{layers}/{z}/{x}/{y}.mvt`
pub async fn xyz(
    State(state): State<AppState>,
    Path((spec, z, x, y)): Path<(String, String, String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = TileCoord::parse(&z, &x, &y).ok_or_else(bad_tile)?;
    let layers = resolve(&state, &who, &spec)?;
    tile_response(&state, &headers, layers, t).await
}

/// `GET /tiles/{layers}.json`
pub async fn tilejson_doc(
    State(state): State<AppState>,
    Path(spec): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let spec = spec
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::not_found("resource"))?;
    let layers = resolve(&state, &who, spec)?;
    Ok(Json(tilejson(&layers, &base_url(&state, &headers))))
}

pub async fn tile_matrix_sets(State(state): State<AppState>, headers: HeaderMap) -> Json<Json_> {
    let base = base_url(&state, &headers);
    Json(json!({"tileMatrixSets": [{
        "id": "WebMercatorQuad", "title": "Google Maps Compatible for the World", "uri": TMS_URI,
        "links": [{"rel": "self", "type": "application/json", "href": format!("{base}/tileMatrixSets/WebMercatorQuad")}]
    }]}))
}

pub async fn web_mercator_quad(Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    if id != "WebMercatorQuad" {
        return Err(ApiError::not_found("tile matrix set"));
    }
    let matrices: Vec<Json_> = (0..=MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            json!({
                "id": z.to_string(),
                "scaleDenominator": 559_082_264.028_717_8 / n as f64,
                "cellSize": 156_543.033_928_040_97 / n as f64,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-HALF, HALF],
                "tileWidth": 256, "tileHeight": 256, "matrixWidth": n, "matrixHeight": n
            })
        })
        .collect();
    Ok(Json(json!({
        "id": "WebMercatorQuad", "title": "Google Maps Compatible for the World", "uri": TMS_URI,
        "crs": CRS_3857, "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices
    })))
}

fn tileset(l: &Layer, base: &str) -> Json_ {
    let b = l.extent.unwrap_or([-180.0, -85.0, 180.0, 85.0]);
    json!({
        "title": l.title, "dataType": "vector", "crs": CRS_3857, "tileMatrixSetURI": TMS_URI,
        "links": [
            {"rel": "self", "type": "application/json", "href": format!("{base}/collections/{}/tiles/WebMercatorQuad", l.id)},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": "application/json", "href": format!("{base}/tileMatrixSets/WebMercatorQuad")},
            {"rel": "item", "type": MVT, "templated": true,
             "href": format!("{base}/collections/{}/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", l.id)}
        ],
        "boundingBox": {"lowerLeft": [b[0], b[1]], "upperRight": [b[2], b[3]], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "layers": [{"id": l.slug, "dataType": "vector", "geometryType": match l.geom_type {
            crate::model::GeomType::Point | crate::model::GeomType::MultiPoint => "points",
            crate::model::GeomType::MultiLineString => "lines",
            crate::model::GeomType::MultiPolygon => "polygons",
        }}]
    })
}

/// `GET /collections/{id}/tiles`
pub async fn collection_tilesets(
    State(state): State<AppState>,
    Path(id): Path<String>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let l = resolve(&state, &who, &id)?.remove(0);
    Ok(Json(
        json!({"tilesets": [tileset(&l, &base_url(&state, &headers))]}),
    ))
}

/// `GET /collections/{id}/tiles/{tms}`
pub async fn collection_tileset(
    State(state): State<AppState>,
    Path((id, tms)): Path<(String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    if tms != "WebMercatorQuad" {
        return Err(ApiError::not_found("tile matrix set"));
    }
    let l = resolve(&state, &who, &id)?.remove(0);
    Ok(Json(tileset(&l, &base_url(&state, &headers))))
}

/// `GET /collections/{id}/tiles/{tms}/{tileMatrix}/{tileRow}/{tileCol}` (row before column).
pub async fn collection_tile(
    State(state): State<AppState>,
    Path((id, tms, z, row, col)): Path<(String, String, String, String, String)>,
    who: Who,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if tms != "WebMercatorQuad" {
        return Err(ApiError::not_found("tile matrix set"));
    }
    let t = TileCoord::parse(&z, &col, &row).ok_or_else(bad_tile)?;
    let layers = resolve(&state, &who, &id)?;
    if layers.len() != 1 {
        return Err(ApiError::not_found("collection"));
    }
    tile_response(&state, &headers, layers, t).await
}

/// Conformance classes declared so far.
pub const TILES_CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
];

/// `GET /basemap/{z}/{x}/{y}.mvt`: the base map ([`crate::tiles::base`]), always there.
pub async fn basemap_tile(
    State(state): State<AppState>,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = TileCoord::parse(&z, &x, &y).ok_or_else(bad_tile)?;
    let layers = state.tiles.base().await?.layers();
    tile_response(&state, &headers, layers, t).await
}

/// `GET /basemap.json`: the base map's TileJSON.
pub async fn basemap_tilejson(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Json_>, ApiError> {
    let base = state.tiles.base().await?;
    let mut doc = tilejson(&base.layers(), &base_url(&state, &headers));
    doc["name"] = json!("Comuni e zone omogenee");
    doc["tiles"] = json!([format!(
        "{}/basemap/{{z}}/{{x}}/{{y}}.mvt",
        base_url(&state, &headers)
    )]);
    Ok(Json(doc))
}

/// `GET /fonts`: the fonts labels may use.
pub async fn fonts(State(state): State<AppState>) -> Json<Json_> {
    Json(json!({"fonts": state.fonts.names()}))
}

/// `GET /fonts/{fontstack}/{start}-{end}.pbf`: a MapLibre glyph range.
pub async fn glyphs(
    State(state): State<AppState>,
    Path((stack, range)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let range = range
        .strip_suffix(".pbf")
        .ok_or_else(|| ApiError::not_found("glyph range"))?
        .to_string();
    let fonts = state.fonts.clone();
    let pbf = tokio::task::spawn_blocking(move || fonts.glyphs(&stack, &range))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| match e {
            FontError::BadRequest(m) => ApiError::bad_request(m),
            FontError::Unknown(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            FontError::Failed(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-protobuf"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        pbf,
    )
        .into_response())
}

/// `GET /backgrounds/{id}.pmtiles`: a background's PMTiles archive, with HTTP range
/// requests (MapLibre's pmtiles protocol reads its directories and tiles by range). Only
/// the ids of the configuration name a file.
pub async fn background_archive(
    State(state): State<AppState>,
    Path(file): Path<String>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    use tower::ServiceExt;
    let path = file
        .strip_suffix(".pmtiles")
        .and_then(|id| state.config.backgrounds.iter().find(|b| b.id == id))
        .and_then(|b| b.path.clone())
        .ok_or_else(|| ApiError::not_found("background"))?;
    let res = tower_http::services::ServeFile::new_with_mime(
        path,
        &"application/vnd.pmtiles".parse().expect("a mime type"),
    )
    .oneshot(req)
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut res = res.map(axum::body::Body::new);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(res)
}
