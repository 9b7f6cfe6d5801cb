//! Layer styles. A layer is drawn from its saved [`StyleDoc`] — a symbology (single colour,
//! categorized by value, graduated by class breaks) or hand-written MapLibre layers — or from
//! the defaults per geometry type in `styles/defaults.json`. Everything a user sends is
//! validated here before it is stored: fields against the catalog, colours, numbers, and raw
//! MapLibre layers against the style spec (v8): layer types, property names per type, value
//! types and expression operators.

mod classify;
mod render;
mod spec;

pub use classify::{propose, Draft, MAX_CATEGORIES};
pub use render::{basemap_layers, glyphs_url, legend, map_layers, style_document, Placement};
pub use spec::{check_color, validate_background_layers, validate_layers};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::model::Layer;

const DEFAULTS: &str = include_str!("../../styles/defaults.json");

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct StyleError(pub String);

pub(crate) fn bad<T>(msg: impl Into<String>) -> Result<T, StyleError> {
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
    /// Map labels from a field, beside either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
}

/// Labels of a layer: the text of `field`, in `size` pixels (6–32, default 12) and `color`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
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

pub(crate) fn defaults() -> Json {
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

/// The default colour of the layer in position `n` (from 0) of a map: the palette in order.
pub fn palette_color(n: usize) -> String {
    let d = defaults();
    let palette = d["palette"].as_array().cloned().unwrap_or_default();
    palette
        .get(n % palette.len().max(1))
        .and_then(Json::as_str)
        .unwrap_or("#0072b2")
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
    if let Some(l) = &doc.label {
        if !layer.fields.iter().any(|f| f.name == l.field) {
            return bad(format!(
                "unknown label field '{}' for layer {}",
                l.field, layer.id
            ));
        }
        if l.size.is_some_and(|s| !(6.0..=32.0).contains(&s)) {
            return bad("label size must be between 6 and 32");
        }
        if let Some(c) = &l.color {
            check_color(c)?;
        }
    }
    match (&doc.symbology, &doc.layers) {
        (Some(s), None) => validate_symbology(layer, s),
        (None, Some(l)) => validate_layers(l),
        (None, None) if doc.label.is_some() => Ok(()),
        _ => bad("a style has either 'symbology' or 'layers' (and may have a 'label')"),
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
