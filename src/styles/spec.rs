//! The subset of the MapLibre style spec (v8) a saved style may use: CSS colours, layer
//! types, paint and layout properties per type with their value types, and expression
//! operators. Raw layers are checked here before they are stored.

use serde_json::Value as Json;

use super::{bad, StyleError};

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

/// Checks the MapLibre layers of an operator's background style (see
/// [`crate::backgrounds`]): their shape — types, ids, source layers, zooms, filters and
/// expressions — but not every property name, as styles made by other tools (Protomaps'
/// basemaps) use the whole spec. `source` is Atlante's to set.
pub fn validate_background_layers(layers: &[Json]) -> Result<(), StyleError> {
    const TYPES: &[&str] = &[
        "fill",
        "line",
        "circle",
        "symbol",
        "fill-extrusion",
        "raster",
        "heatmap",
    ];
    if layers.is_empty() || layers.len() > 512 {
        return bad("a background style has 1 to 512 layers");
    }
    for l in layers {
        let Some(o) = l.as_object() else {
            return bad("a style layer is an object");
        };
        if !o.get("id").is_some_and(Json::is_string) {
            return bad("every layer has a string id");
        }
        if !o
            .get("type")
            .and_then(Json::as_str)
            .is_some_and(|t| TYPES.contains(&t))
        {
            return bad(format!("layer types: {}", TYPES.join(", ")));
        }
        for (k, v) in o {
            match k.as_str() {
                "id" | "type" | "metadata" => {}
                "source-layer" if v.is_string() => {}
                "minzoom" | "maxzoom" if v.as_f64().is_some_and(|z| (0.0..=24.0).contains(&z)) => {}
                "filter" => check_expression(v, 0)?,
                "paint" | "layout" => {
                    let Some(props) = v.as_object() else {
                        return bad(format!("'{k}' is an object"));
                    };
                    for (pk, pv) in props {
                        // Font stacks are arrays of names, not expressions.
                        if pk != "text-font"
                            && pv.is_array()
                            && pv.get(0).is_some_and(Json::is_string)
                        {
                            check_expression(pv, 0)?;
                        }
                    }
                }
                other => {
                    return bad(format!(
                        "'{}' is not set in a background layer",
                        other.chars().take(40).collect::<String>()
                    ))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
