//! Layer styles. A layer is drawn from its saved [`StyleDoc`] — a symbology (single colour,
//! categorized by value, graduated by class breaks) or hand-written MapLibre layers — or from
//! the defaults per geometry type in `styles/defaults.json`. Everything a user sends is
//! validated here before it is stored: fields against the catalog, colours, numbers, and raw
//! MapLibre layers against the style spec (v8): layer types, property names per type, value
//! types and expression operators.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::model::{GeomType, Layer};

const DEFAULTS: &str = include_str!("../styles/defaults.json");

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct StyleError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, StyleError> {
    Err(StyleError(msg.into()))
}

/// What an owner saves for a layer: exactly one of the two.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct StyleDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbology: Option<Symbology>,
    /// MapLibre layers without `source`/`source-layer` (Atlante sets them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<Json>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Symbology {
    Single {
        color: String,
        #[serde(flatten)]
        look: Look,
    },
    /// One colour per value of `field`; `other` for the rest.
    Categorized {
        field: String,
        categories: Vec<Category>,
        #[serde(default = "grey")]
        other: String,
        #[serde(flatten)]
        look: Look,
    },
    /// `colors[i]` for values in [breaks[i-1], breaks[i]); `colors.len() = breaks.len() + 1`.
    Graduated {
        field: String,
        breaks: Vec<f64>,
        colors: Vec<String>,
        #[serde(flatten)]
        look: Look,
    },
}

fn grey() -> String {
    "#9e9e9e".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Look {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opacity: Option<f64>,
    /// Line width, or polygon outline width, in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// Point radius in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub value: Json,
    pub color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn defaults() -> Json {
    serde_json::from_str(DEFAULTS).unwrap_or(Json::Null)
}

/// The default colour of a layer: from the palette, by a stable hash of its id.
pub fn default_color(layer_id: &str) -> String {
    let d = defaults();
    let palette: Vec<&str> = d["palette"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let h = layer_id.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    palette
        .get(h as usize % palette.len().max(1))
        .unwrap_or(&"#1f77b4")
        .to_string()
}

/// The style a layer's owner saved, if any (kind `style` in the store's documents).
pub async fn saved(
    store: &dyn crate::store::Store,
    layer_id: &str,
) -> Result<Option<StyleDoc>, crate::store::StoreError> {
    Ok(store
        .document("style", layer_id)
        .await?
        .and_then(|d| serde_json::from_value(d.body).ok()))
}

/// Checks a style document sent for `layer`.
pub fn validate(layer: &Layer, doc: &StyleDoc) -> Result<(), StyleError> {
    match (&doc.symbology, &doc.layers) {
        (Some(s), None) => validate_symbology(layer, s),
        (None, Some(l)) => validate_layers(l),
        _ => bad("a style has either 'symbology' or 'layers'"),
    }
}

fn check_look(look: &Look) -> Result<(), StyleError> {
    for (name, v, max) in [
        ("opacity", look.opacity, 1.0),
        ("width", look.width, 50.0),
        ("radius", look.radius, 50.0),
    ] {
        if let Some(v) = v {
            if !(0.0..=max).contains(&v) {
                return bad(format!("{name} must be between 0 and {max}"));
            }
        }
    }
    Ok(())
}

fn validate_symbology(layer: &Layer, s: &Symbology) -> Result<(), StyleError> {
    let field = |name: &str| {
        layer
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| StyleError(format!("unknown field '{name}' for layer {}", layer.id)))
    };
    match s {
        Symbology::Single { color, look } => {
            check_color(color)?;
            check_look(look)
        }
        Symbology::Categorized {
            field: f,
            categories,
            other,
            look,
        } => {
            field(f)?;
            if categories.is_empty() || categories.len() > 256 {
                return bad("categorized styling needs 1 to 256 categories");
            }
            for c in categories {
                if !(c.value.is_string() || c.value.is_number() || c.value.is_boolean()) {
                    return bad("a category value is a string, a number or a boolean");
                }
                check_color(&c.color)?;
            }
            check_color(other)?;
            check_look(look)
        }
        Symbology::Graduated {
            field: f,
            breaks,
            colors,
            look,
        } => {
            let fd = field(f)?;
            if !matches!(
                fd.kind,
                crate::model::FieldType::Integer | crate::model::FieldType::Real
            ) {
                return bad(format!(
                    "graduated styling needs a numeric field, '{f}' is not"
                ));
            }
            if breaks.is_empty() || breaks.len() > 64 {
                return bad("graduated styling needs 1 to 64 class breaks");
            }
            if breaks.windows(2).any(|w| w[0] >= w[1]) || breaks.iter().any(|b| !b.is_finite()) {
                return bad("class breaks must be finite and increasing");
            }
            if colors.len() != breaks.len() + 1 {
                return bad(format!(
                    "{} breaks make {} classes: give {} colors",
                    breaks.len(),
                    breaks.len() + 1,
                    breaks.len() + 1
                ));
            }
            colors.iter().try_for_each(|c| check_color(c))?;
            check_look(look)
        }
    }
}

/// A CSS colour MapLibre accepts: `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`, `rgba()`,
/// `hsl()`, `hsla()` with numeric arguments, or a common colour name.
pub fn check_color(c: &str) -> Result<(), StyleError> {
    const NAMES: &[&str] = &[
        "black",
        "white",
        "red",
        "green",
        "blue",
        "yellow",
        "orange",
        "purple",
        "grey",
        "gray",
        "brown",
        "pink",
        "cyan",
        "magenta",
        "navy",
        "teal",
        "olive",
        "maroon",
        "lime",
        "aqua",
        "silver",
        "fuchsia",
        "gold",
        "transparent",
        "darkgreen",
        "darkblue",
        "darkred",
        "lightgrey",
        "lightgray",
        "lightblue",
        "lightgreen",
        "steelblue",
        "tomato",
        "crimson",
    ];
    let ok = if let Some(hex) = c.strip_prefix('#') {
        matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    } else if let Some((f, rest)) = c.split_once('(') {
        let args = rest.strip_suffix(')').unwrap_or("");
        let n = args.split(',').count();
        matches!(f, "rgb" | "rgba" | "hsl" | "hsla")
            && rest.ends_with(')')
            && (n == 3 || n == 4)
            && args.split(',').all(|a| {
                let a = a.trim().trim_end_matches('%');
                a.parse::<f64>().is_ok_and(f64::is_finite)
            })
    } else {
        NAMES.contains(&c)
    };
    if ok {
        Ok(())
    } else {
        bad(format!(
            "'{}' is not a colour (use #rrggbb, rgb(…) or a CSS colour name)",
            c.chars().take(40).collect::<String>()
        ))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Color,
    Number,
    Bool,
    Str,
    Numbers,
    Enum(&'static [&'static str]),
}

const ANCHOR: &[&str] = &["map", "viewport"];

fn property(layer_type: &str, key: &str, paint: bool) -> Option<Kind> {
    use Kind::*;
    if !paint {
        return match (layer_type, key) {
            (_, "visibility") => Some(Enum(&["visible", "none"])),
            ("line", "line-cap") => Some(Enum(&["butt", "round", "square"])),
            ("line", "line-join") => Some(Enum(&["bevel", "round", "miter"])),
            ("line", "line-miter-limit" | "line-round-limit") => Some(Number),
            ("fill", "fill-sort-key")
            | ("line", "line-sort-key")
            | ("circle", "circle-sort-key") => Some(Number),
            _ => None,
        };
    }
    let k = key.strip_prefix(layer_type)?.strip_prefix('-')?;
    Some(match (layer_type, k) {
        (_, "color" | "outline-color" | "stroke-color") => Color,
        (_, "translate") => Numbers,
        (_, "translate-anchor" | "pitch-scale" | "pitch-alignment") => Enum(ANCHOR),
        ("fill", "antialias") | ("fill-extrusion", "vertical-gradient") => Bool,
        (_, "pattern") => Str,
        ("line", "dasharray") => Numbers,
        (
            _,
            "opacity" | "width" | "gap-width" | "offset" | "blur" | "radius" | "stroke-width"
            | "stroke-opacity" | "height" | "base" | "weight" | "intensity",
        ) => Number,
        _ => return None,
    })
}

/// MapLibre expression operators (style spec v8).
const OPERATORS: &[&str] = &[
    "let",
    "var",
    "literal",
    "array",
    "at",
    "in",
    "index-of",
    "slice",
    "case",
    "match",
    "coalesce",
    "step",
    "interpolate",
    "interpolate-hcl",
    "interpolate-lab",
    "ln2",
    "pi",
    "e",
    "typeof",
    "string",
    "number",
    "number-format",
    "object",
    "boolean",
    "collator",
    "format",
    "image",
    "to-string",
    "to-number",
    "to-boolean",
    "to-rgba",
    "to-color",
    "get",
    "has",
    "length",
    "properties",
    "feature-state",
    "geometry-type",
    "id",
    "zoom",
    "heatmap-density",
    "line-progress",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "sqrt",
    "log10",
    "ln",
    "log2",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "min",
    "max",
    "round",
    "abs",
    "ceil",
    "floor",
    "distance",
    "==",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "all",
    "any",
    "!",
    "within",
    "is-supported-script",
    "upcase",
    "downcase",
    "concat",
    "resolved-locale",
    "rgb",
    "rgba",
    "linear",
    "exponential",
    "cubic-bezier",
];

fn check_expression(v: &Json, depth: usize) -> Result<(), StyleError> {
    if depth > 32 {
        return bad("expression nested too deep");
    }
    let Some(items) = v.as_array() else {
        return Ok(());
    };
    match items.first().and_then(Json::as_str) {
        Some("literal") => Ok(()),
        Some(op) if OPERATORS.contains(&op) => items[1..]
            .iter()
            .try_for_each(|x| check_expression(x, depth + 1)),
        Some(op) => bad(format!(
            "'{}' is not a MapLibre expression operator",
            op.chars().take(40).collect::<String>()
        )),
        // An array of values (a match label list, a dash array).
        None => items
            .iter()
            .try_for_each(|x| check_expression(x, depth + 1)),
    }
}

fn check_value(kind: Kind, key: &str, v: &Json) -> Result<(), StyleError> {
    if v.is_array() && v.get(0).is_some_and(Json::is_string) {
        return check_expression(v, 0);
    }
    let ok = match kind {
        Kind::Color => v.as_str().map(check_color).transpose()?.is_some(),
        Kind::Number => v.as_f64().is_some_and(f64::is_finite),
        Kind::Bool => v.is_boolean(),
        Kind::Str => v.is_string(),
        Kind::Numbers => v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.as_f64().is_some())),
        Kind::Enum(options) => v.as_str().is_some_and(|s| options.contains(&s)),
    };
    if ok {
        Ok(())
    } else {
        bad(format!("'{key}' has a value of the wrong type"))
    }
}

/// Raw MapLibre layers, checked against the style spec.
pub fn validate_layers(layers: &[Json]) -> Result<(), StyleError> {
    const TYPES: &[&str] = &["fill", "line", "circle", "fill-extrusion", "heatmap"];
    if layers.is_empty() || layers.len() > 32 {
        return bad("a style has 1 to 32 layers");
    }
    for l in layers {
        let Some(o) = l.as_object() else {
            return bad("a style layer is an object");
        };
        let t = o.get("type").and_then(Json::as_str).unwrap_or("");
        if !TYPES.contains(&t) {
            return bad(format!(
                "layer type '{}' is not one of {}",
                t.chars().take(40).collect::<String>(),
                TYPES.join(", ")
            ));
        }
        for (k, v) in o {
            match k.as_str() {
                "id" if v.is_string() => {}
                "type" => {}
                "minzoom" | "maxzoom" if v.as_f64().is_some_and(|z| (0.0..=24.0).contains(&z)) => {}
                "filter" => check_expression(v, 0)?,
                "metadata" if v.is_object() => {}
                "paint" | "layout" => {
                    let Some(props) = v.as_object() else {
                        return bad(format!("'{k}' is an object"));
                    };
                    for (pk, pv) in props {
                        let kind = property(t, pk, k == "paint").ok_or_else(|| {
                            StyleError(format!(
                                "'{}' is not a {k} property of a {t} layer",
                                pk.chars().take(60).collect::<String>()
                            ))
                        })?;
                        check_value(kind, pk, pv)?;
                    }
                }
                other => {
                    return bad(format!(
                        "'{}' is not allowed in a style layer (source and source-layer are set by Atlante)",
                        other.chars().take(60).collect::<String>()
                    ))
                }
            }
        }
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours() {
        for ok in [
            "#abc",
            "#a1b2c3",
            "#a1b2c3d4",
            "rgb(1, 2, 3)",
            "rgba(1,2,3,0.5)",
            "hsl(10, 50%, 50%)",
            "steelblue",
        ] {
            assert!(check_color(ok).is_ok(), "{ok}");
        }
        for ko in [
            "#ggg",
            "red;",
            "url(x)",
            "rgb(1,2)",
            "expression(alert(1))",
            "</style>",
        ] {
            assert!(check_color(ko).is_err(), "{ko}");
        }
    }

    #[test]
    fn raw_layers() {
        assert!(validate_layers(&[json!({"type": "fill", "paint": {"fill-color": ["match", ["get", "tipo"], "A", "#f00", "#0f0"]}})]).is_ok());
        for (l, msg) in [
            (json!({"type": "symbol"}), "layer type"),
            (
                json!({"type": "fill", "paint": {"line-color": "#f00"}}),
                "not a paint property",
            ),
            (
                json!({"type": "fill", "paint": {"fill-opacity": "high"}}),
                "wrong type",
            ),
            (
                json!({"type": "fill", "paint": {"fill-color": ["eval", "x"]}}),
                "not a MapLibre expression operator",
            ),
            (json!({"type": "fill", "source": "x"}), "not allowed"),
        ] {
            let e = validate_layers(&[l]).unwrap_err();
            assert!(e.0.contains(msg), "{}", e.0);
        }
    }
}
