//! OGC API - Features, Part 1: request parameters checked against the catalog, and the
//! GeoJSON documents. Pure functions: no HTTP, no SQL.

use serde_json::{json, Map, Value as Json};

use crate::model::{Layer, Value};
pub mod edit;
pub mod openapi;

use crate::store::{ItemQuery, StoredFeature};

pub const DEFAULT_LIMIT: i64 = 10;
pub const MAX_LIMIT: i64 = 10_000;

/// The conformance classes of Part 1 Atlante implements.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
];

use crate::crs::{parse_uri, supported_uris, Transformer, CRS84};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParamError {
    #[error("{0}")]
    Bad(String),
}

fn bad(msg: impl Into<String>) -> ParamError {
    ParamError::Bad(msg.into())
}

/// A checked items request.
#[derive(Debug, Clone, PartialEq)]
pub struct Items {
    pub query: ItemQuery,
    /// Field indexes to return; None: all.
    pub properties: Option<Vec<usize>>,
    /// Output CRS: None for CRS84, else an EPSG code (authority axis order).
    pub crs: Option<u32>,
}

/// The URI of an output CRS.
pub fn crs_uri(crs: Option<u32>) -> String {
    match crs {
        None => CRS84.to_string(),
        Some(c) => format!("http://www.opengis.net/def/crs/EPSG/0/{c}"),
    }
}

/// Parses the `crs` parameter.
pub fn parse_crs(v: &str) -> Result<Option<u32>, ParamError> {
    parse_uri(v).map_err(ParamError::Bad)
}

/// Parses a bbox given in `bbox_crs` (its axis order) into CRS84.
fn parse_bbox_in(v: &str, bbox_crs: Option<u32>) -> Result<[f64; 4], ParamError> {
    let Some(epsg) = bbox_crs else {
        return parse_bbox(v);
    };
    let parts: Vec<&str> = v.split(',').collect();
    if parts.len() != 4 {
        return Err(bad(format!("bbox needs 4 numbers, got {}", parts.len())));
    }
    let mut b = [0.0; 4];
    for (i, p) in parts.iter().enumerate() {
        b[i] = parse_number(p, "bbox")?;
    }
    if b[0] > b[2] || b[1] > b[3] {
        return Err(bad("bbox minimum is greater than its maximum"));
    }
    let c = crate::crs::bbox_to_crs84(epsg, b)
        .ok_or_else(|| bad("bbox lies outside its CRS's area of use"))?;
    parse_bbox(&format!("{},{},{},{}", c[0], c[1], c[2], c[3]))
}

fn field_index(layer: &Layer, name: &str) -> Result<Option<usize>, ParamError> {
    if name == "id" || name == "fid" {
        return Ok(None);
    }
    layer
        .fields
        .iter()
        .position(|f| f.name == name)
        .map(Some)
        .ok_or_else(|| {
            bad(format!(
                "unknown property '{name}' for collection {}",
                layer.id
            ))
        })
}

fn parse_number(s: &str, what: &str) -> Result<f64, ParamError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| bad(format!("{what}: '{s}' is not a number")))?;
    if !v.is_finite() {
        return Err(bad(format!("{what}: '{s}' is not a finite number")));
    }
    Ok(v)
}

/// Parses `bbox=w,s,e,n` in CRS84.
pub fn parse_bbox(s: &str) -> Result<[f64; 4], ParamError> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 4 {
        return Err(bad(format!(
            "bbox needs 4 numbers (west,south,east,north), got {}",
            parts.len()
        )));
    }
    let mut b = [0.0; 4];
    for (i, p) in parts.iter().enumerate() {
        b[i] = parse_number(p, "bbox")?;
    }
    if !(-180.0..=180.0).contains(&b[0]) || !(-180.0..=180.0).contains(&b[2]) {
        return Err(bad("bbox longitudes must be within -180..180"));
    }
    if !(-90.0..=90.0).contains(&b[1]) || !(-90.0..=90.0).contains(&b[3]) {
        return Err(bad("bbox latitudes must be within -90..90"));
    }
    if b[1] > b[3] {
        return Err(bad("bbox south is greater than north"));
    }
    if b[0] > b[2] {
        return Err(bad("bbox crossing the antimeridian is not supported"));
    }
    Ok(b)
}

fn parse_int(s: &str, what: &str, min: i64, max: i64) -> Result<i64, ParamError> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| bad(format!("{what} must be an integer, not '{s}'")))?;
    if v < min || v > max {
        return Err(bad(format!("{what} must be between {min} and {max}")));
    }
    Ok(v)
}

/// Checks the query parameters of `/collections/{id}/items` against the layer.
/// Unknown parameters are refused, so a typo never silently returns everything.
pub fn parse_items(layer: &Layer, params: &[(String, String)]) -> Result<Items, ParamError> {
    let mut q = ItemQuery {
        bbox: None,
        sort: Vec::new(),
        filter: None,
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    let mut properties = None;
    let mut crs = None;
    let bbox_crs = match params.iter().find(|(k, _)| k == "bbox-crs") {
        Some((_, v)) => parse_crs(v)?,
        None => None,
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut conds = Vec::new();
    if let Some(f) = param("filter") {
        let filter_crs = param("filter-crs").map(parse_crs).transpose()?.flatten();
        let e =
            crate::cql2::parse(f, param("filter-lang")).map_err(|e| bad(format!("filter: {e}")))?;
        conds.push(
            crate::cql2::check::check(&e, layer, filter_crs)
                .map_err(|e| bad(format!("filter: {e}")))?,
        );
    } else if param("filter-lang").is_some() || param("filter-crs").is_some() {
        return Err(bad("filter-lang and filter-crs need a filter"));
    }
    if let Some(d) = param("datetime") {
        conds.push(datetime(layer, d)?);
    }
    // Queryables as query parameters: `?name=Milano` is `name = 'Milano'`.
    for (k, v) in params {
        if let Some(field) = layer.fields.iter().find(|f| &f.name == k) {
            conds.push(equals(layer, field, v)?);
        }
    }
    q.filter = match conds.len() {
        0 => None,
        1 => conds.pop(),
        _ => Some(crate::cql2::Cond::And(conds)),
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in params {
        if seen.contains(&k.as_str()) {
            return Err(bad(format!("parameter '{k}' given twice")));
        }
        seen.push(k);
        match k.as_str() {
            // Above the maximum is served at the maximum, with a next link (OGC API -
            // Features means it so: opengeospatial/ogcapi-features#640).
            "limit" => q.limit = parse_int(v, "limit", 1, i64::MAX)?.min(MAX_LIMIT),
            "offset" => q.offset = parse_int(v, "offset", 0, i64::MAX / 2)?,
            "bbox" => q.bbox = Some(parse_bbox_in(v, bbox_crs)?),
            "bbox-crs" => {}
            "properties" => {
                let mut idx = Vec::new();
                for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    match field_index(layer, name)? {
                        Some(i) if !idx.contains(&i) => idx.push(i),
                        _ => {}
                    }
                }
                properties = Some(idx);
            }
            "sortby" => {
                for item in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let (name, asc) = match item.as_bytes()[0] {
                        b'-' => (&item[1..], false),
                        b'+' => (&item[1..], true),
                        _ => (item, true),
                    };
                    q.sort.push((field_index(layer, name)?, asc));
                }
            }
            "f" => {}
            "crs" => crs = parse_crs(v)?,
            "filter" | "filter-lang" | "filter-crs" | "datetime" => {}
            other if layer.fields.iter().any(|f| f.name == other) => {}
            other => return Err(bad(format!("unknown parameter '{other}'"))),
        }
    }
    Ok(Items {
        query: q,
        properties,
        crs,
    })
}

/// `?field=value`: the feature's value equals `value`, read as the field's type.
fn equals(
    layer: &Layer,
    field: &crate::model::Field,
    v: &str,
) -> Result<crate::cql2::Cond, ParamError> {
    use crate::cql2::{CmpOp, Expr, Operand};
    use crate::model::FieldType;
    let value = match field.kind {
        FieldType::Integer | FieldType::Real => Operand::Number(parse_number(v, &field.name)?),
        FieldType::Boolean => match v {
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            _ => return Err(bad(format!("{} must be true or false", field.name))),
        },
        _ => Operand::Text(v.to_string()),
    };
    let e = Expr::Compare(CmpOp::Eq, Operand::Property(field.name.clone()), value);
    crate::cql2::check::check(&e, layer, None).map_err(|e| bad(format!("{}: {e}", field.name)))
}

/// `datetime` (an instant, or an interval `start/end` with `..` for an open end) on the
/// layer's first date or timestamp property: features whose value falls in it.
fn datetime(layer: &Layer, v: &str) -> Result<crate::cql2::Cond, ParamError> {
    use crate::cql2::{Expr, Operand, TemporalOp};
    use crate::model::FieldType;
    let field = layer
        .fields
        .iter()
        .find(|f| matches!(f.kind, FieldType::Date | FieldType::Datetime))
        .ok_or_else(|| {
            bad(format!(
                "collection {} has no temporal property for datetime",
                layer.id
            ))
        })?;
    let instant = |s: &str| match s {
        ".." | "" => Operand::Open,
        s if s.len() == 10 => Operand::Date(s.to_string()),
        s => Operand::Timestamp(s.to_string()),
    };
    let value = match v.split_once('/') {
        Some((a, b)) => Operand::Interval(Box::new(instant(a)), Box::new(instant(b))),
        None if v == ".." => return Err(bad("datetime '..' needs an interval: use ../..")),
        None => instant(v),
    };
    let e = Expr::Temporal(
        TemporalOp::Intersects,
        Operand::Property(field.name.clone()),
        value,
    );
    crate::cql2::check::check(&e, layer, None).map_err(|e| bad(format!("datetime: {e}")))
}

/// Maps CRS84 coordinates into the output CRS of a request, written at a fixed precision:
/// 7 decimals in degrees (about 1 cm), 3 in metres (1 mm) — finer than any municipal
/// survey, without the 17 digits a reprojected double carries.
pub struct Output {
    to: Option<Transformer>,
    scale: f64,
}

impl Output {
    pub fn new(crs: Option<u32>) -> Result<Output, ParamError> {
        let scale = match crs {
            None | Some(4326) => 1e7,
            Some(_) => 1e3,
        };
        let to = match crs {
            None => None,
            Some(c) => Some(
                Transformer::new(c).ok_or_else(|| bad(format!("no transformation to EPSG:{c}")))?,
            ),
        };
        Ok(Output { to, scale })
    }
    fn geometry(&mut self, wkb: &[u8]) -> Json {
        let scale = self.scale;
        let round = |v: f64| (v * scale).round() / scale;
        let g = match &mut self.to {
            None => crate::geom::wkb_to_geojson_with(wkb, &mut |x, y| Some((round(x), round(y)))),
            Some(t) => crate::geom::wkb_to_geojson_with(wkb, &mut |x, y| {
                t.forward(x, y).map(|(a, b)| (round(a), round(b)))
            }),
        };
        g.unwrap_or(Json::Null)
    }
}

/// A GeoJSON feature.
pub fn feature_json(
    layer: &Layer,
    f: &StoredFeature,
    properties: Option<&[usize]>,
    out: &mut Output,
) -> Json {
    let mut props = Map::new();
    let mut put = |i: usize| {
        if let (Some(field), Some(v)) = (layer.fields.get(i), f.values.get(i)) {
            props.insert(field.name.clone(), value_json(v));
        }
    };
    match properties {
        Some(idx) => idx.iter().for_each(|i| put(*i)),
        None => (0..layer.fields.len()).for_each(put),
    }
    json!({
        "type": "Feature",
        "id": f.fid,
        "geometry": out.geometry(&f.wkb),
        "properties": props,
    })
}

pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Boolean(b) => json!(b),
        Value::Text(s) | Value::Date(s) | Value::Datetime(s) => json!(s),
    }
}

/// The queryables of a layer (OGC API - Features Part 3), as JSON Schema: each column with
/// its type and its original name as title, plus the geometry.
pub fn queryables_json(layer: &Layer, base: &str) -> Json {
    use crate::model::{FieldType, GeomType};
    let mut props = Map::new();
    props.insert(
        "geometry".into(),
        json!({"$ref": match layer.geom_type {
            GeomType::Point => "https://geojson.org/schema/Point.json",
            GeomType::MultiPoint => "https://geojson.org/schema/MultiPoint.json",
            GeomType::MultiLineString => "https://geojson.org/schema/MultiLineString.json",
            GeomType::MultiPolygon => "https://geojson.org/schema/MultiPolygon.json",
        }}),
    );
    for f in &layer.fields {
        let mut s = match f.kind {
            FieldType::Integer => json!({"type": "integer"}),
            FieldType::Real => json!({"type": "number"}),
            FieldType::Boolean => json!({"type": "boolean"}),
            FieldType::Date => json!({"type": "string", "format": "date"}),
            FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
            FieldType::Text => json!({"type": "string"}),
        };
        s["title"] = json!(f.label);
        props.insert(f.name.clone(), s);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": format!("{base}/collections/{}/queryables", layer.id),
        "type": "object",
        "title": layer.title,
        "properties": props,
        "additionalProperties": false,
    })
}

/// The collection document of a layer.
pub fn collection_json(layer: &Layer, base: &str) -> Json {
    let b = layer.extent.unwrap_or([-180.0, -90.0, 180.0, 90.0]);
    let href = format!("{base}/collections/{}", layer.id);
    let mut doc = json!({
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": supported_uris(),
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [b], "crs": CRS84}},
        "attribution": layer.attribution,
        "license": layer.licence,
        "links": [
            {"rel": "self", "type": "application/json", "href": href},
            {"rel": "alternate", "type": "text/html", "href": format!("{href}?f=html")},
            {"rel": "items", "type": "application/geo+json", "href": format!("{href}/items")},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json", "href": format!("{href}/queryables")},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": "application/json", "href": format!("{href}/tiles")},
        ]
    });
    let links = doc["links"].as_array_mut().expect("links");
    let licence = crate::opendata::vocab::licence(&layer.licence);
    if let Some(l) = licence {
        links.push(json!({"rel": "license", "type": "text/html", "href": l.uri, "title": l.en}));
    }
    // Downloads of the whole layer, one per format.
    for f in crate::opendata::download::Format::ALL {
        links.push(json!({
            "rel": "enclosure", "type": f.media_type(), "title": format!("{} – {}", layer.title, f.title()),
            "href": format!("{href}/items?f={}", f.code()),
        }));
    }
    doc
}

/// Rebuilds the query string of an items request with another offset (and the limit it
/// was served with).
pub(crate) fn with_offset(params: &[(String, String)], limit: i64, offset: i64) -> String {
    let mut out: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "offset" && k != "f" && k != "limit")
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect();
    out.push(format!("limit={limit}"));
    out.push(format!("offset={offset}"));
    out.join("&")
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The items document: features, counts and paging links.
pub fn items_json(
    layer: &Layer,
    base: &str,
    params: &[(String, String)],
    req: &Items,
    features: &[StoredFeature],
    matched: i64,
    out: &mut Output,
) -> Json {
    let href = format!("{base}/collections/{}/items", layer.id);
    let q = &req.query;
    let mut links = vec![
        json!({"rel": "self", "type": "application/geo+json", "href": format!("{href}?{}", with_offset(params, q.limit, q.offset))}),
        json!({"rel": "alternate", "type": "text/html", "href": format!("{href}?{}&f=html", with_offset(params, q.limit, q.offset))}),
        json!({"rel": "collection", "type": "application/json", "href": format!("{base}/collections/{}", layer.id)}),
    ];
    if q.offset + (features.len() as i64) < matched {
        links.push(json!({"rel": "next", "type": "application/geo+json", "href": format!("{href}?{}", with_offset(params, q.limit, q.offset + q.limit))}));
    }
    if q.offset > 0 {
        links.push(json!({"rel": "prev", "type": "application/geo+json", "href": format!("{href}?{}", with_offset(params, q.limit, (q.offset - q.limit).max(0)))}));
    }
    json!({
        "type": "FeatureCollection",
        "features": features.iter().map(|f| feature_json(layer, f, req.properties.as_deref(), out)).collect::<Vec<_>>(),
        "numberMatched": matched,
        "numberReturned": features.len(),
        "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "links": links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bboxes() {
        assert!(parse_bbox("9,45,9.3,45.6").is_ok());
        for bad in [
            "9,45,9.3",
            "9,45,9.3,45.6,1",
            "NaN,45,9,46",
            "9,160,9.3,45",
            "a,b,c,d",
            "inf,0,1,1",
            "10,45,9,46",
        ] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
    }
}
