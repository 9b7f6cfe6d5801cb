//! TileJSON 3.0.0 documents for one or several layers.

use serde_json::{json, Map, Value as Json};

use super::math::MAX_ZOOM;
use super::mvt_names;
use crate::model::{FieldType, Layer};

/// TileJSON for `layers`, with tile URLs under `base` (scheme and host, no trailing slash).
pub fn tilejson(layers: &[Layer], base: &str) -> Json {
    let ids: Vec<&str> = layers.iter().map(|l| l.id.as_str()).collect();
    let names = mvt_names(layers);
    let mut bounds: Option<[f64; 4]> = None;
    for l in layers {
        if let Some(e) = &l.extent {
            crate::geom::extend_bbox(&mut bounds, e);
        }
    }
    let b = bounds.unwrap_or([-180.0, -85.051129, 180.0, 85.051129]);
    let vector_layers: Vec<Json> = layers
        .iter()
        .zip(&names)
        .map(|(l, name)| {
            let fields: Map<String, Json> = l
                .fields
                .iter()
                .map(|f| {
                    let t = match f.kind {
                        FieldType::Integer | FieldType::Real => "Number",
                        FieldType::Boolean => "Boolean",
                        _ => "String",
                    };
                    (f.name.clone(), Json::String(t.into()))
                })
                .collect();
            json!({"id": name, "fields": fields, "description": l.title, "minzoom": 0, "maxzoom": MAX_ZOOM})
        })
        .collect();
    json!({
        "tilejson": "3.0.0",
        "name": layers.iter().map(|l| l.title.as_str()).collect::<Vec<_>>().join(", "),
        "description": layers.iter().map(|l| l.description.as_str()).filter(|d| !d.is_empty()).collect::<Vec<_>>().join(" "),
        // TileJSON clients may render this as HTML: the comunes' text escaped, links ours.
        "attribution": crate::html::attributions_html(layers),
        "version": layers.iter().map(|l| format!("{}@{}", l.id, l.version)).collect::<Vec<_>>().join(","),
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", ids.join(","))],
        "vector_layers": vector_layers,
        "bounds": b,
        "center": [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, 10],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
    })
}
