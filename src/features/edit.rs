//! OGC API - Features Part 4 bodies: GeoJSON features checked against a layer's schema and
//! geometry type, turned into store rows. Pure functions.

use geo::Validation;
use geo_types::Geometry;
use serde_json::{Map, Value as Json};

use super::{bad, ParamError};
use crate::geom::{bbox, coerce, geo_kind, to_wkb};
use crate::model::{FieldType, Layer, Row, Value};

/// Bounds on one request body, so a hostile document cannot exhaust memory or the stack.
pub const MAX_FEATURES: usize = 10_000;
const MAX_DEPTH: usize = 4;

/// A GeoJSON geometry of a feature: parsed by [`crate::geom::from_geojson`], then every
/// position within CRS84's range (longitude, latitude).
pub fn geometry(v: &Json) -> Result<Geometry<f64>, ParamError> {
    let g = crate::geom::from_geojson(v).map_err(bad)?;
    let mut ok = true;
    crate::geom::visit_coords(&g, &mut |c| {
        ok &= (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y);
    });
    if !ok {
        return Err(bad(
            "positions must be longitude, latitude within range (CRS84)",
        ));
    }
    Ok(g)
}

fn depth(v: &Json) -> usize {
    match v {
        Json::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Json::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A property value checked against its column's type.
fn value(v: &Json, kind: FieldType, name: &str) -> Result<Value, ParamError> {
    let wrong = || bad(format!("property '{name}' must be {kind:?}"));
    Ok(match (kind, v) {
        (_, Json::Null) => Value::Null,
        (FieldType::Integer, Json::Number(n)) => Value::Integer(n.as_i64().ok_or_else(wrong)?),
        (FieldType::Real, Json::Number(n)) => {
            Value::Real(n.as_f64().filter(|f| f.is_finite()).ok_or_else(wrong)?)
        }
        (FieldType::Boolean, Json::Bool(b)) => Value::Boolean(*b),
        (FieldType::Text, Json::String(s)) => Value::Text(s.replace('\0', "")),
        (FieldType::Date, Json::String(s)) => {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| wrong())?;
            Value::Date(s.clone())
        }
        (FieldType::Datetime, Json::String(s)) => {
            let d = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| wrong())?;
            Value::Datetime(
                d.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            )
        }
        _ => return Err(wrong()),
    })
}

/// A row from a GeoJSON feature. With `base` (PATCH), absent members keep the base's values;
/// without, absent properties are null and the geometry is required.
pub fn feature_row(
    layer: &Layer,
    f: &Json,
    base: Option<(&[u8], &[Value])>,
) -> Result<Row, ParamError> {
    if depth(f) > MAX_DEPTH + 6 {
        return Err(bad("the feature is nested too deeply"));
    }
    let obj = f
        .as_object()
        .ok_or_else(|| bad("the body must be a GeoJSON Feature"))?;
    if base.is_none() && obj.get("type").and_then(Json::as_str) != Some("Feature") {
        return Err(bad("the body must be a GeoJSON Feature"));
    }
    let mut values: Vec<Value> = match base {
        Some((_, v)) => v.to_vec(),
        None => vec![Value::Null; layer.fields.len()],
    };
    let empty = Map::new();
    let props = match obj.get("properties") {
        Some(Json::Object(p)) => p,
        Some(Json::Null) | None => &empty,
        Some(_) => return Err(bad("properties must be an object")),
    };
    for (k, v) in props {
        let i = layer
            .fields
            .iter()
            .position(|f| &f.name == k)
            .ok_or_else(|| {
                bad(format!(
                    "unknown property '{k}' for collection {}",
                    layer.id
                ))
            })?;
        values[i] = value(v, layer.fields[i].kind, k)?;
    }
    let wkb = match (obj.get("geometry"), base) {
        (Some(g), _) if !g.is_null() => {
            let g = geometry(g)?;
            let kind = geo_kind(&g);
            let g = coerce(g, layer.geom_type).ok_or_else(|| {
                bad(format!(
                    "a {kind} does not fit a {} collection",
                    layer.geom_type.sql_name()
                ))
            })?;
            if let Err(e) = g.check_validation() {
                return Err(bad(format!("invalid geometry: {e}")));
            }
            to_wkb(&g)
        }
        (_, Some((wkb, _))) => wkb.to_vec(),
        _ => return Err(bad("the feature has no geometry")),
    };
    let b = crate::geom::from_wkb(&wkb)
        .and_then(|g| bbox(&g))
        .ok_or_else(|| bad("empty geometry"))?;
    Ok(Row {
        wkb,
        bbox: b,
        values,
    })
}

/// The features of a POST body: one Feature, or a FeatureCollection (at most [`MAX_FEATURES`]).
pub fn post_rows(layer: &Layer, body: &Json) -> Result<Vec<Row>, ParamError> {
    match body["type"].as_str() {
        Some("Feature") => Ok(vec![feature_row(layer, body, None)?]),
        Some("FeatureCollection") => {
            let fs = body["features"]
                .as_array()
                .ok_or_else(|| bad("a FeatureCollection needs features"))?;
            if fs.is_empty() || fs.len() > MAX_FEATURES {
                return Err(bad(format!("send 1 to {MAX_FEATURES} features at once")));
            }
            fs.iter()
                .enumerate()
                .map(|(i, f)| {
                    feature_row(layer, f, None).map_err(|e| bad(format!("feature {}: {e}", i + 1)))
                })
                .collect()
        }
        _ => Err(bad(
            "the body must be a GeoJSON Feature or FeatureCollection",
        )),
    }
}
