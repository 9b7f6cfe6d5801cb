//! Turning a saved style (or the defaults) into MapLibre: the layers drawing one Atlante
//! layer, its legend, and a whole style document for one layer.

use serde_json::{json, Value as Json};

use super::{default_color, defaults, Look, StyleDoc, Symbology};
use crate::model::{GeomType, Layer};

fn color_expression(s: &Symbology) -> Json {
    match s {
        Symbology::Single { color, .. } => json!(color),
        Symbology::Categorized {
            field,
            categories,
            other,
            ..
        } => {
            let mut e = vec![json!("match"), json!(["get", field])];
            let mut seen = Vec::new();
            for c in categories {
                if !seen.contains(&c.value) {
                    seen.push(c.value.clone());
                    e.push(c.value.clone());
                    e.push(json!(c.color));
                }
            }
            e.push(json!(other));
            Json::Array(e)
        }
        Symbology::Graduated {
            field,
            breaks,
            colors,
            ..
        } => {
            let mut e = vec![
                json!("step"),
                json!(["to-number", ["get", field], 0]),
                json!(colors[0]),
            ];
            for (b, c) in breaks.iter().zip(&colors[1..]) {
                e.push(json!(b));
                e.push(json!(c));
            }
            Json::Array(e)
        }
    }
}

fn look(s: &Symbology) -> &Look {
    match s {
        Symbology::Single { look, .. }
        | Symbology::Categorized { look, .. }
        | Symbology::Graduated { look, .. } => look,
    }
}

/// The MapLibre layers drawing `layer` from MVT layer `source_layer` of `source`, with ids
/// `{prefix}:{n}`.
pub fn map_layers(
    layer: &Layer,
    doc: Option<&StyleDoc>,
    source: &str,
    source_layer: &str,
    prefix: &str,
) -> Vec<Json> {
    let d = defaults();
    let key = match layer.geom_type {
        GeomType::MultiPolygon => "MultiPolygon",
        GeomType::MultiLineString => "MultiLineString",
        GeomType::Point => "Point",
        GeomType::MultiPoint => "MultiPoint",
    };
    let base = &d[key];
    let num = |k: &str| base[k].as_f64().unwrap_or(1.0);
    let mut out: Vec<Json> = match doc {
        Some(StyleDoc {
            layers: Some(raw), ..
        }) => raw.clone(),
        _ => {
            let (color, lk) = match doc.and_then(|d| d.symbology.as_ref()) {
                Some(s) => (color_expression(s), look(s).clone()),
                None => (json!(default_color(&layer.id)), Look::default()),
            };
            match layer.geom_type {
                GeomType::MultiPolygon => vec![
                    json!({"type": "fill", "paint": {"fill-color": color, "fill-opacity": lk.opacity.unwrap_or(num("fill-opacity"))}}),
                    json!({"type": "line", "paint": {"line-color": color, "line-width": lk.width.unwrap_or(num("line-width"))}}),
                ],
                GeomType::MultiLineString => vec![
                    json!({"type": "line", "paint": {"line-color": color, "line-width": lk.width.unwrap_or(num("line-width")), "line-opacity": lk.opacity.unwrap_or(1.0)}}),
                ],
                GeomType::Point | GeomType::MultiPoint => vec![json!({"type": "circle", "paint": {
                    "circle-color": color, "circle-radius": lk.radius.unwrap_or(num("circle-radius")),
                    "circle-opacity": lk.opacity.unwrap_or(1.0),
                    "circle-stroke-color": base["circle-stroke-color"], "circle-stroke-width": num("circle-stroke-width")}})],
            }
        }
    };
    for (i, l) in out.iter_mut().enumerate() {
        l["id"] = json!(format!("{prefix}:{i}"));
        l["source"] = json!(source);
        l["source-layer"] = json!(source_layer);
        l["metadata"] = json!({"atlante:layer": layer.id});
    }
    out
}

/// The legend of a style: (label, colour) pairs.
pub fn legend(layer: &Layer, doc: Option<&StyleDoc>) -> Vec<(String, String)> {
    match doc.and_then(|d| d.symbology.as_ref()) {
        Some(Symbology::Single { color, .. }) => vec![(layer.title.clone(), color.clone())],
        Some(Symbology::Categorized {
            categories, other, ..
        }) => {
            let mut v: Vec<(String, String)> = categories
                .iter()
                .map(|c| {
                    let label = c.label.clone().unwrap_or_else(|| match &c.value {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                    (label, c.color.clone())
                })
                .collect();
            v.push(("altro".into(), other.clone()));
            v
        }
        Some(Symbology::Graduated { breaks, colors, .. }) => {
            let mut v = Vec::new();
            for (i, c) in colors.iter().enumerate() {
                let label = match (i.checked_sub(1).map(|j| breaks[j]), breaks.get(i)) {
                    (None, Some(hi)) => format!("< {hi}"),
                    (Some(lo), Some(hi)) => format!("{lo} – {hi}"),
                    (Some(lo), None) => format!("≥ {lo}"),
                    (None, None) => String::new(),
                };
                v.push((label, c.clone()));
            }
            v
        }
        None => vec![(layer.title.clone(), default_color(&layer.id))],
    }
}

/// A whole MapLibre style for one layer served by this server at `base`.
pub fn style_document(layer: &Layer, doc: Option<&StyleDoc>, base: &str) -> Json {
    let source = json!({
        "type": "vector",
        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", layer.id)],
        "minzoom": 0,
        "maxzoom": 16,
        "bounds": layer.extent.unwrap_or([-180.0, -85.0, 180.0, 85.0]),
        "attribution": crate::html::attribution_html(layer),
    });
    let mut layers = vec![
        json!({"id": "background", "type": "background", "paint": {"background-color": "#eef1f5"}}),
    ];
    layers.extend(map_layers(layer, doc, &layer.id, &layer.slug, &layer.id));
    let (center, zoom) = match layer.extent {
        Some(b) => ([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0], 10),
        None => ([9.19, 45.46], 9),
    };
    json!({
        "version": 8,
        "name": layer.title,
        "metadata": {"atlante:layer": layer.id, "atlante:legend": legend(layer, doc)},
        "center": center,
        "zoom": zoom,
        "sources": {layer.id.clone(): source},
        "layers": layers,
    })
}

/// The MapLibre layers drawing layer `layer_id` as the base map under the others (white
/// areas, grey outlines: `basemap` in `styles/defaults.json`).
pub fn basemap_layers(layer_id: &str, source: &str, source_layer: &str) -> Vec<Json> {
    let d = defaults();
    let b = &d["basemap"];
    let common = json!({"source": source, "source-layer": source_layer, "metadata": {"atlante:basemap": layer_id}});
    let mut fill = json!({"id": "basemap:fill", "type": "fill", "paint": {"fill-color": b["fill-color"], "fill-opacity": b["fill-opacity"]}});
    let mut line = json!({"id": "basemap:line", "type": "line", "paint": {"line-color": b["line-color"], "line-width": b["line-width"]}});
    for l in [&mut fill, &mut line] {
        for (k, v) in common.as_object().into_iter().flatten() {
            l[k] = v.clone();
        }
    }
    vec![fill, line]
}
