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

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::html::escape_html;
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

/// An app slug: 1–48 of `a-z`, `0-9`, `-`, starting with a letter or digit.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// The basemap layer of apps.
pub const BASEMAP: &str = "cmm_comuni";

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
    fn name(self) -> &'static str {
        match self {
            Mode::Online => "online",
            Mode::Static => "static",
        }
    }
}

/// What a bundle is made from: the config and the layers it draws (the basemap first, when
/// there is one), each with its saved style.
pub struct Inputs<'a> {
    pub org: &'a str,
    pub slug: &'a str,
    pub config: &'a AppConfig,
    /// The app's layers in config order, then the basemap if used.
    pub layers: Vec<(Layer, Option<StyleDoc>)>,
    /// This server, e.g. `http://host:8080` (online mode reads from it).
    pub base: &'a str,
}

/// The MapLibre style of an app.
pub fn style(inputs: &Inputs, mode: Mode) -> Json {
    let cfg = inputs.config;
    let all: Vec<Layer> = inputs.layers.iter().map(|(l, _)| l.clone()).collect();
    let names = crate::tiles::mvt_names(&all);
    let mut sources = serde_json::Map::new();
    if mode == Mode::Static {
        sources.insert(
            "atlante".into(),
            json!({"type": "vector", "url": "pmtiles://tiles.pmtiles", "attribution": crate::html::attributions_html(&all)}),
        );
    }
    let mut layers = vec![
        json!({"id": "background", "type": "background", "paint": {"background-color": "#eef1f5"}}),
    ];
    // Bottom to top: the basemap, then the config's layers from last to first.
    let mut order: Vec<usize> = (0..inputs.layers.len()).rev().collect();
    if let Some(pos) = inputs
        .layers
        .iter()
        .position(|(l, _)| l.id == BASEMAP && cfg.layers.iter().all(|a| a.id != BASEMAP))
    {
        order.retain(|i| *i != pos);
        order.insert(0, pos);
    }
    for i in order {
        let (l, saved) = &inputs.layers[i];
        let app_layer = cfg.layers.iter().find(|a| a.id == l.id);
        let source = match mode {
            Mode::Static => "atlante".to_string(),
            Mode::Online => {
                sources.insert(
                    l.id.clone(),
                    json!({"type": "vector", "tiles": [format!("{}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", inputs.base, l.id)],
                           "minzoom": 0, "maxzoom": 16, "attribution": crate::html::attribution_html(l)}),
                );
                l.id.clone()
            }
        };
        let source_layer = match mode {
            Mode::Static => names[i].clone(),
            Mode::Online => l.slug.clone(),
        };
        let mut drawn = match app_layer {
            Some(a) => styles::map_layers(
                l,
                a.style.as_ref().or(saved.as_ref()),
                &source,
                &source_layer,
                &l.id,
            ),
            None => basemap_layers(l, &source, &source_layer),
        };
        for d in &mut drawn {
            if let Some(a) = app_layer {
                if let Some(z) = a.min_zoom {
                    d["minzoom"] = json!(z);
                }
                if let Some(z) = a.max_zoom {
                    d["maxzoom"] = json!(z);
                }
            }
        }
        layers.extend(drawn);
    }
    let (center, zoom) = match &cfg.view {
        Some(v) => (v.center, v.zoom),
        None => {
            let mut b: Option<[f64; 4]> = None;
            for (l, _) in &inputs.layers {
                if cfg.layers.iter().any(|a| a.id == l.id) {
                    if let Some(e) = &l.extent {
                        crate::geom::extend_bbox(&mut b, e);
                    }
                }
            }
            let b = b.unwrap_or([8.7, 45.16, 9.55, 45.64]);
            ([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0], 11.0)
        }
    };
    json!({"version": 8, "name": cfg.title, "center": center, "zoom": zoom, "sources": sources, "layers": layers})
}

fn basemap_layers(l: &Layer, source: &str, source_layer: &str) -> Vec<Json> {
    vec![
        json!({"id": "basemap:fill", "type": "fill", "source": source, "source-layer": source_layer, "paint": {"fill-color": "#ffffff", "fill-opacity": 0.9}, "metadata": {"atlante:basemap": l.id}}),
        json!({"id": "basemap:line", "type": "line", "source": source, "source-layer": source_layer, "paint": {"line-color": "#7a8699", "line-width": 0.8}, "metadata": {"atlante:basemap": l.id}}),
    ]
}

/// `config.json` as the app script reads it: the config plus what it needs of each layer.
pub fn runtime_config(inputs: &Inputs, mode: Mode) -> Json {
    let layers: Vec<Json> = inputs
        .config
        .layers
        .iter()
        .filter_map(|a| {
            let (l, saved) = inputs.layers.iter().find(|(l, _)| l.id == a.id)?;
            let fields: Vec<Json> = l
                .fields
                .iter()
                .filter(|f| a.popup_fields.as_ref().is_none_or(|p| p.contains(&f.name)))
                .map(|f| json!({"name": f.name, "label": f.label}))
                .collect();
            // Keep the popup order the config gives.
            let mut fields = fields;
            if let Some(order) = &a.popup_fields {
                fields.sort_by_key(|f| order.iter().position(|n| f["name"] == json!(n)));
            }
            Some(json!({
                "id": l.id,
                "title": a.title.clone().unwrap_or_else(|| l.title.clone()),
                "geom_type": l.geom_type,
                "fields": fields,
                "label_field": a.label_field,
                "popup_template": a.popup_template,
                "legend": styles::legend(l, a.style.as_ref().or(saved.as_ref())),
            }))
        })
        .collect();
    json!({
        "org": inputs.org,
        "slug": inputs.slug,
        "mode": mode.name(),
        "title": inputs.config.title,
        "description": inputs.config.description,
        "logo": inputs.config.logo,
        "language": inputs.config.language,
        "theme_color": inputs.config.theme_color,
        "server": match mode { Mode::Online => json!(inputs.base), Mode::Static => Json::Null },
        "search_fields": inputs.config.search_fields,
        "layers": layers,
    })
}

/// The Content-Security-Policy of a generated app: no inline script or style, no eval;
/// MapLibre's workers come from blob: URLs; an online app talks to its server at `base`.
pub fn csp(base: &str, mode: Mode) -> String {
    let connect = match mode {
        Mode::Online => format!("'self' {base}"),
        Mode::Static => "'self'".into(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src {connect}; worker-src blob:; child-src blob:; object-src 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// `index.html`: every user string escaped; the CSP as a meta element (the server also
/// sends it as a header).
pub fn index_html(inputs: &Inputs, mode: Mode) -> String {
    let c = inputs.config;
    let lang = if c.language == "en" { "en" } else { "it" };
    let pmtiles = if mode == Mode::Static {
        "\n  <script src=\"vendor/pmtiles.js\"></script>"
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta http-equiv="Content-Security-Policy" content="{csp}">
  <meta name="description" content="{desc}">
  <meta name="generator" content="Atlante {version}">
  <title>{title}</title>
  <link rel="stylesheet" href="vendor/maplibre-gl.css">
  <link rel="stylesheet" href="app.css">
</head>
<body>
  <header id="bar"><span id="logo"></span><h1 id="title">{title}</h1><input id="search" type="search" autocomplete="off"></header>
  <aside id="legend"></aside>
  <main id="map"></main>
  <script src="vendor/maplibre-gl.js"></script>{pmtiles}
  <script src="app.js"></script>
</body>
</html>
"#,
        csp = escape_html(&csp(inputs.base, mode)),
        desc = escape_html(&c.description),
        title = escape_html(&c.title),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The files of a bundle but the tiles, by name; `pmtiles.js` only in static mode.
const FILES: &[&str] = &[
    "index.html",
    "app.js",
    "app.css",
    "config.json",
    "style.json",
    "vendor/maplibre-gl.js",
    "vendor/maplibre-gl.css",
    "vendor/LICENSE-maplibre.txt",
    "vendor/pmtiles.js",
];

/// A file of a bundle that is the same for every app (the script, its styles, MapLibre), by
/// name; None for any other name. From the embedded assets, or `web_dir` when configured.
pub fn asset(mode: Mode, web_dir: Option<&Path>, name: &str) -> Option<Vec<u8>> {
    let source = match name {
        "app.js" => "app/app.js",
        "app.css" => "app/app.css",
        "vendor/maplibre-gl.js" => "vendor/maplibre-gl/maplibre-gl.js",
        "vendor/maplibre-gl.css" => "vendor/maplibre-gl/maplibre-gl.css",
        "vendor/LICENSE-maplibre.txt" => "vendor/maplibre-gl/LICENSE.txt",
        "vendor/pmtiles.js" if mode == Mode::Static => "vendor/pmtiles/pmtiles.js",
        _ => return None,
    };
    crate::assets::get(web_dir, source).map(|b| b.into_owned())
}

/// One file of a bundle by its name; None for a name that is not one of [`FILES`] (or
/// `pmtiles.js` in online mode).
pub fn file(inputs: &Inputs, mode: Mode, web_dir: Option<&Path>, name: &str) -> Option<Vec<u8>> {
    match name {
        "index.html" => Some(index_html(inputs, mode).into_bytes()),
        "config.json" => Some(pretty(&runtime_config(inputs, mode))),
        "style.json" => Some(pretty(&style(inputs, mode))),
        _ => asset(mode, web_dir, name),
    }
}

/// Every file of a bundle but the tiles, as (path, bytes).
pub fn files(inputs: &Inputs, mode: Mode, web_dir: Option<&Path>) -> Vec<(String, Vec<u8>)> {
    FILES
        .iter()
        .filter_map(|name| Some((name.to_string(), file(inputs, mode, web_dir, name)?)))
        .collect()
}

fn pretty(v: &Json) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

/// Zips files under a folder named after the app.
pub fn zip(folder: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, bytes) in files {
        w.start_file(format!("{folder}/{name}"), opts)
            .map_err(std::io::Error::other)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish().map_err(std::io::Error::other)?.into_inner())
}

/// The layers of an app, with their saved styles, as `viewer` may see them (the one rule,
/// [`crate::catalog::may_see`]): a published app is served to everyone, so it is gathered
/// for no one (`None`) and draws only public layers; its owner's preview is gathered for
/// the owner. Layers of the config the viewer may not see are left out and named in
/// `withheld`; the comuni basemap comes last when the config asks for it.
pub struct Gathered {
    pub layers: Vec<(Layer, Option<StyleDoc>)>,
    pub withheld: Vec<String>,
}

pub async fn gather(
    catalog: &crate::catalog::Catalog,
    cfg: &AppConfig,
    viewer: Option<&crate::auth::Caller>,
) -> Result<Gathered, AppError> {
    let e = |e: crate::store::StoreError| AppError(e.to_string());
    let store = catalog.store();
    let mut out = Gathered {
        layers: Vec::new(),
        withheld: Vec::new(),
    };
    for a in &cfg.layers {
        match catalog.visible(&a.id, viewer) {
            Some(l) => {
                let s = styles::saved(store.as_ref(), &l.id).await.map_err(e)?;
                out.layers.push(((*l).clone(), s));
            }
            None => out.withheld.push(a.id.clone()),
        }
    }
    if cfg.basemap == "comuni" && cfg.layers.iter().all(|a| a.id != BASEMAP) {
        if let Some(l) = catalog.visible(BASEMAP, None) {
            out.layers.push(((*l).clone(), None));
        }
    }
    Ok(out)
}

/// Every file of a bundle; a static one with its `tiles.pmtiles` (zooms 0 to `maxzoom`).
pub async fn bundle(
    tiles: &crate::tiles::TileEngine,
    web_dir: Option<&Path>,
    inputs: &Inputs<'_>,
    mode: Mode,
    maxzoom: u8,
) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let mut out = files(inputs, mode, web_dir);
    if mode == Mode::Static {
        let layers: Vec<Layer> = inputs.layers.iter().map(|(l, _)| l.clone()).collect();
        let indexes = tiles
            .indexes_of(&layers)
            .await
            .map_err(|e| AppError(e.to_string()))?;
        let zooms: Vec<u8> = (0..=maxzoom.min(16)).collect();
        let (pm, _) = tokio::task::spawn_blocking(move || {
            crate::tiles::batch::export_pmtiles(&layers, &indexes, &zooms, || {})
        })
        .await
        .map_err(|e| AppError(e.to_string()))?
        .map_err(|e| AppError(format!("tiles: {e}")))?;
        out.push(("tiles.pmtiles".into(), pm));
    }
    Ok(out)
}

/// Writes files under `dir` (file names are the generator's own, never user strings).
pub fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    for (name, bytes) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, bytes)?;
    }
    Ok(())
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
