//! Turning a saved style (or the defaults) into MapLibre: the layers drawing one Atlante
//! layer, its legend, and a whole style document for one layer.

use serde_json::{json, Value as Json};

use super::{default_color, defaults, Label, Look, StyleDoc, Symbology};
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

/// Where and how a layer is drawn in one map.
#[derive(Debug, Clone, Default)]
pub struct Placement<'a> {
    /// The map's source and the MVT layer in it.
    pub source: &'a str,
    pub source_layer: &'a str,
    /// The MapLibre layers get ids `{prefix}:{n}`.
    pub prefix: &'a str,
    /// Its position among the map's layers: a layer without a saved style takes the
    /// palette's colour in that position (so the layers of one map differ); None: the colour
    /// its id picks (the same everywhere).
    pub slot: Option<usize>,
    /// The field labels are drawn from, over the style's own `label`.
    pub label_field: Option<&'a str>,
}

/// The MapLibre layers drawing `layer` as `at` says.
pub fn map_layers(layer: &Layer, doc: Option<&StyleDoc>, at: &Placement) -> Vec<Json> {
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
                None => (json!(layer_color(layer, at.slot)), Look::default()),
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
    let label = doc.and_then(|d| d.label.as_ref());
    if let Some(field) = at.label_field.or(label.map(|l| l.field.as_str())) {
        out.push(label_layer(layer.geom_type, field, label));
    }
    for (i, l) in out.iter_mut().enumerate() {
        l["id"] = json!(format!("{}:{i}", at.prefix));
        l["source"] = json!(at.source);
        l["source-layer"] = json!(at.source_layer);
        l["metadata"] = json!({"atlante:layer": layer.id});
    }
    out
}

/// The default colour of a layer drawn in position `slot` of a map, or anywhere.
fn layer_color(layer: &Layer, slot: Option<usize>) -> String {
    match slot {
        Some(n) => super::palette_color(n),
        None => default_color(&layer.id),
    }
}

/// Labels from `field`: a halo for any background, collisions left to MapLibre (a label
/// that would overlap another is not drawn), along the line for line layers, beside the
/// point for point layers.
fn label_layer(geom: GeomType, field: &str, label: Option<&Label>) -> Json {
    let size = label.and_then(|l| l.size).unwrap_or(12.0);
    let color = label
        .and_then(|l| l.color.clone())
        .unwrap_or_else(|| "#1d2733".into());
    let mut layout = json!({
        "text-field": ["to-string", ["get", field]],
        "text-font": [crate::fonts::LABEL_FONT],
        "text-size": size,
        "text-max-width": 8,
        "text-padding": 2,
    });
    match geom {
        GeomType::MultiLineString => {
            layout["symbol-placement"] = json!("line");
            layout["symbol-spacing"] = json!(300);
        }
        GeomType::Point | GeomType::MultiPoint => {
            layout["text-variable-anchor"] = json!(["top", "bottom", "left", "right"]);
            layout["text-radial-offset"] = json!(0.7);
            layout["text-justify"] = json!("auto");
        }
        GeomType::MultiPolygon => {}
    }
    json!({"type": "symbol", "layout": layout, "paint": {
        "text-color": color, "text-halo-color": "#ffffff", "text-halo-width": 1.5, "text-halo-blur": 0.5}})
}

/// The glyphs URL of a style whose fonts come from `base` (this server, or `.` in a bundle).
pub fn glyphs_url(base: &str) -> String {
    format!("{base}/fonts/{{fontstack}}/{{range}}.pbf")
}

/// The legend of a style drawn in position `slot` of a map (see [`Placement::slot`]):
/// (label, colour) pairs.
pub fn legend(layer: &Layer, doc: Option<&StyleDoc>, slot: Option<usize>) -> Vec<(String, String)> {
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
        None => vec![(layer.title.clone(), layer_color(layer, slot))],
    }
}

/// A whole MapLibre style for one layer served by this server at `base`, drawn in position
/// `slot` of a map (see [`Placement::slot`]).
pub fn style_document(
    layer: &Layer,
    doc: Option<&StyleDoc>,
    base: &str,
    slot: Option<usize>,
) -> Json {
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
    layers.extend(map_layers(
        layer,
        doc,
        &Placement {
            source: &layer.id,
            source_layer: &layer.slug,
            prefix: &layer.id,
            slot,
            label_field: None,
        },
    ));
    let (center, zoom) = match layer.extent {
        Some(b) => ([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0], 10),
        None => ([9.19, 45.46], 9),
    };
    json!({
        "version": 8,
        "name": layer.title,
        "metadata": {"atlante:layer": layer.id, "atlante:legend": legend(layer, doc, slot)},
        "glyphs": glyphs_url(base),
        "center": center,
        "zoom": zoom,
        "sources": {layer.id.clone(): source},
        "layers": layers,
    })
}

/// The MapLibre layers drawing the base map ([`crate::tiles::base`]) from `source`, whose MVT
/// layers are named `names` (comuni, names of the comuni, names of the zone): the comuni
/// tinted by zona omogenea with grey outlines, the zone's names up to z10, the comuni's from
/// z9.5, the larger first (`basemap` in `styles/defaults.json`).
pub fn basemap_layers(source: &str, names: [&str; 3]) -> Vec<Json> {
    let d = defaults();
    let b = &d["basemap"];
    let mut tint = vec![json!("match"), json!(["get", "zona_code"])];
    for (code, colour) in b["zone"].as_object().into_iter().flatten() {
        tint.push(json!(code));
        tint.push(colour.clone());
    }
    tint.push(b["fill-color"].clone());
    let halo = json!({"text-color": b["text-color"], "text-halo-color": "#ffffff", "text-halo-width": 1.5});
    let mut layers = vec![
        json!({"id": "basemap:fill", "type": "fill", "source-layer": names[0],
               "paint": {"fill-color": tint, "fill-opacity": b["fill-opacity"]}}),
        json!({"id": "basemap:line", "type": "line", "source-layer": names[0],
               "paint": {"line-color": b["line-color"], "line-width": b["line-width"]}}),
        json!({"id": "basemap:zone", "type": "symbol", "source-layer": names[2], "maxzoom": 10,
               "layout": {"text-field": ["get", "nome"], "text-font": [crate::fonts::LABEL_FONT_BOLD],
                          "text-size": 12, "text-transform": "uppercase", "text-letter-spacing": 0.08,
                          "text-max-width": 7},
               "paint": halo}),
        json!({"id": "basemap:comuni", "type": "symbol", "source-layer": names[1], "minzoom": 9.5,
               "layout": {"text-field": ["get", "nome"], "text-font": [crate::fonts::LABEL_FONT],
                          "text-size": ["interpolate", ["linear"], ["zoom"], 10, 11, 14, 14],
                          "symbol-sort-key": ["-", 0, ["to-number", ["get", "area_km2"], 0]],
                          "text-max-width": 7, "text-padding": 3},
               "paint": halo}),
    ];
    for l in &mut layers {
        l["source"] = json!(source);
        l["metadata"] = json!({"atlante:basemap": true});
    }
    layers
}
