//! Standalone web-GIS apps. An organisation saves an [`AppConfig`] (schema:
//! `docs/app-config.schema.json`); the generator turns it into a bundle of plain files:
//! `index.html` (with a Content-Security-Policy, no inline script or style), `app.js`,
//! `app.css`, `config.json`, `style.json` and MapLibre's files. Two modes:
//! * **online**: the style reads this server's tiles, so the app is always current;
//! * **static**: the style reads `tiles.pmtiles`, an export of the app's layers bundled with
//!   it; popups read the attributes carried by the tiles. It runs from any static host.
//!
//! Every user string reaches HTML escaped here, and the app script writes text with
//! `textContent` only. Slugs are validated and never become file paths: bundles are built
//! in memory from fixed file names.

mod bundle;
mod generate;

pub use bundle::{bundle, gather, BundleError, Bundler, Gathered};
pub use generate::{
    asset, csp, file, files, index_html, runtime_config, style, write_dir, zip, Inputs,
};

use serde::{Deserialize, Serialize};

use crate::model::Layer;
use crate::styles::{self, StyleDoc};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct AppError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, AppError> {
    Err(AppError(msg.into()))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// A `data:image/png|jpeg|svg+xml;base64,…` URI (bundled, so static apps keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// Drawn in this order: the first on top.
    pub layers: Vec<AppLayer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    /// `comuni` (the metropolitan comuni as a light basemap, the default) or `none`.
    #[serde(default = "comuni")]
    pub basemap: String,
    /// Fields the app's search box looks in.
    #[serde(default)]
    pub search_fields: Vec<SearchField>,
    /// `it` or `en`.
    #[serde(default = "italian")]
    pub language: String,
    #[serde(default = "theme")]
    pub theme_color: String,
    /// The tools the app offers (all by default).
    #[serde(default)]
    pub tools: Tools,
    /// Backgrounds of this server's configuration the app offers (by id): raster ones need
    /// the network; a PMTiles archive is carried by a static bundle when small enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backgrounds: Vec<String>,
}

/// The tools of an app (`web/common/tools.js`), each on or off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Tools {
    /// Layer switcher: on/off, opacity, order, legend per class.
    pub layers: bool,
    /// Attribute table with a CQL2 filter builder and export.
    pub table: bool,
    /// Geodesic distance and area.
    pub measure: bool,
    /// PNG and PDF (A4/A3).
    pub print: bool,
    /// A link restoring the view, layers and filter, and an `<iframe>` snippet.
    pub share: bool,
    /// The reader's position (on HTTPS or localhost).
    pub locate: bool,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            layers: true,
            table: true,
            measure: true,
            print: true,
            share: true,
            locate: true,
        }
    }
}

fn comuni() -> String {
    "comuni".into()
}
fn italian() -> String {
    "it".into()
}
fn theme() -> String {
    "#0b5394".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppLayer {
    /// The layer id (`{org}_{slug}`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Overrides the layer's saved style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<StyleDoc>,
    /// Fields shown in the popup, in order; None: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popup_fields: Option<Vec<String>>,
    /// Text with `{field}` placeholders, shown above the popup's table (as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popup_template: Option<String>,
    /// The field naming a feature: the popup heading and the search result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_zoom: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_zoom: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// [lon, lat]
    pub center: [f64; 2],
    pub zoom: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchField {
    pub layer: String,
    pub field: String,
}

/// The server's backgrounds an app's configuration names, in its order.
pub fn backgrounds_of(
    cfg: &AppConfig,
    all: &[crate::backgrounds::Background],
) -> Vec<crate::backgrounds::Background> {
    cfg.backgrounds
        .iter()
        .filter_map(|id| all.iter().find(|b| &b.id == id).cloned())
        .collect()
}

/// An app slug: 1–48 of `a-z`, `0-9`, `-`, starting with a letter or digit.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

impl AppConfig {
    /// Checks the config; `layer` finds a layer the app's organisation may use.
    pub fn validate(&self, layer: impl Fn(&str) -> Option<Layer>) -> Result<(), AppError> {
        let t = self.title.trim();
        if t.is_empty() || t.chars().count() > 200 {
            return bad("title: 1 to 200 characters");
        }
        if self.description.chars().count() > 2000 {
            return bad("description: at most 2000 characters");
        }
        if let Some(logo) = &self.logo {
            let ok = [
                "data:image/png;base64,",
                "data:image/jpeg;base64,",
                "data:image/svg+xml;base64,",
            ]
            .iter()
            .any(|p| logo.starts_with(p))
                && logo.len() <= 200_000;
            if !ok {
                return bad("logo: a data:image/png, jpeg or svg+xml base64 URI of at most 200 kB");
            }
        }
        if self.layers.is_empty() || self.layers.len() > 20 {
            return bad("layers: 1 to 20");
        }
        for (i, al) in self.layers.iter().enumerate() {
            let l = layer(&al.id).ok_or_else(|| {
                AppError(format!("layers[{i}]: unknown layer '{}'", clip(&al.id)))
            })?;
            if self.layers[..i].iter().any(|o| o.id == al.id) {
                return bad(format!("layers[{i}]: '{}' is listed twice", al.id));
            }
            let field = |name: &str, what: &str| -> Result<(), AppError> {
                if l.fields.iter().any(|f| f.name == name) {
                    Ok(())
                } else {
                    bad(format!(
                        "layers[{i}].{what}: unknown field '{}' of {}",
                        clip(name),
                        l.id
                    ))
                }
            };
            for f in al.popup_fields.iter().flatten() {
                field(f, "popup_fields")?;
            }
            if let Some(f) = &al.label_field {
                field(f, "label_field")?;
            }
            if al.popup_template.as_ref().is_some_and(|t| t.len() > 2000) {
                return bad(format!(
                    "layers[{i}].popup_template: at most 2000 characters"
                ));
            }
            if al.title.as_ref().is_some_and(|t| t.chars().count() > 200) {
                return bad(format!("layers[{i}].title: at most 200 characters"));
            }
            if let Some(s) = &al.style {
                styles::validate(&l, s).map_err(|e| AppError(format!("layers[{i}].style: {e}")))?;
            }
            let z = |v: Option<f64>| v.is_none_or(|z| (0.0..=24.0).contains(&z));
            if !z(al.min_zoom) || !z(al.max_zoom) {
                return bad(format!("layers[{i}]: zooms are between 0 and 24"));
            }
            if let (Some(a), Some(b)) = (al.min_zoom, al.max_zoom) {
                if a > b {
                    return bad(format!("layers[{i}]: min_zoom is above max_zoom"));
                }
            }
        }
        if let Some(v) = &self.view {
            let [lon, lat] = v.center;
            if !(-180.0..=180.0).contains(&lon)
                || !(-85.0..=85.0).contains(&lat)
                || !(0.0..=22.0).contains(&v.zoom)
            {
                return bad("view: center [lon, lat] within the world, zoom 0 to 22");
            }
        }
        if !matches!(self.basemap.as_str(), "comuni" | "none") {
            return bad("basemap: 'comuni' or 'none'");
        }
        for (i, s) in self.search_fields.iter().enumerate() {
            let Some(l) = self
                .layers
                .iter()
                .find(|a| a.id == s.layer)
                .and_then(|a| layer(&a.id))
            else {
                return bad(format!(
                    "search_fields[{i}]: layer '{}' is not in the app",
                    clip(&s.layer)
                ));
            };
            if !l.fields.iter().any(|f| f.name == s.field) {
                return bad(format!(
                    "search_fields[{i}]: unknown field '{}'",
                    clip(&s.field)
                ));
            }
        }
        if !matches!(self.language.as_str(), "it" | "en") {
            return bad("language: 'it' or 'en'");
        }
        styles::check_color(&self.theme_color).map_err(|e| AppError(format!("theme_color: {e}")))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Online,
    Static,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "online" => Some(Mode::Online),
            "static" => Some(Mode::Static),
            _ => None,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Online => "online",
            Mode::Static => "static",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["mappa", "pgt-2024", "a1"] {
            assert!(valid_slug(ok), "{ok}");
        }
        for ko in [
            "",
            "-x",
            "../etc",
            "A",
            "a/b",
            "a b",
            "x".repeat(49).as_str(),
            "%2e%2e",
        ] {
            assert!(!valid_slug(ko), "{ko}");
        }
    }
}
