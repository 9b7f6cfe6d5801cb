//! The generator: an app's files from its configuration and layers — `index.html` (every
//! user string escaped, a Content-Security-Policy, no inline code), `config.json`,
//! `style.json`, the app script and MapLibre — and their zip.

use std::path::Path;

use serde_json::{json, Value as Json};

use super::{AppConfig, Mode};
use crate::html::escape_html;
use crate::model::Layer;
use crate::styles::{self, StyleDoc};
use crate::tiles::base::is_base;

/// What a bundle is made from: the config and the layers it draws, each with its saved
/// style.
pub struct Inputs<'a> {
    pub org: &'a str,
    pub slug: &'a str,
    pub config: &'a AppConfig,
    /// The app's layers in config order, then the base map's if used
    /// ([`crate::tiles::base`]).
    pub layers: Vec<(Layer, Option<StyleDoc>)>,
    /// This server, e.g. `http://host:8080` (online mode reads from it).
    pub base: &'a str,
    /// The comuni's names and boxes, for the search box (with the base map).
    pub comuni: Vec<(String, [f64; 4])>,
    /// The backgrounds the config names, from the server's configuration.
    pub backgrounds: Vec<crate::backgrounds::Background>,
}

/// The MapLibre style of an app: the base map at the bottom, then the config's layers from
/// last to first, each with its label layer; glyphs from the server (online) or the bundle.
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
    let base: Vec<usize> = (0..all.len()).filter(|&i| is_base(&all[i].id)).collect();
    if base.len() == crate::tiles::base::MVT_LAYERS.len() {
        let (source, mvt) = match mode {
            Mode::Static => ("atlante", [0, 1, 2].map(|k| names[base[k]].as_str())),
            Mode::Online => {
                sources.insert(
                    "basemap".into(),
                    json!({"type": "vector", "tiles": [format!("{}/basemap/{{z}}/{{x}}/{{y}}.mvt", inputs.base)],
                           "minzoom": 0, "maxzoom": 16, "attribution": crate::html::attribution_html(&all[base[0]])}),
                );
                (
                    "basemap",
                    crate::tiles::base::MVT_LAYERS.map(|(_, name)| name),
                )
            }
        };
        layers.extend(styles::basemap_layers(source, mvt));
    }
    // Bottom to top: the config's layers from last to first.
    for (slot, a) in cfg.layers.iter().enumerate().rev() {
        let Some(i) = all.iter().position(|l| l.id == a.id) else {
            continue;
        };
        let (l, saved) = &inputs.layers[i];
        let (source, source_layer) = match mode {
            Mode::Static => ("atlante".to_string(), names[i].clone()),
            Mode::Online => {
                sources.insert(
                    l.id.clone(),
                    json!({"type": "vector", "tiles": [format!("{}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", inputs.base, l.id)],
                           "minzoom": 0, "maxzoom": 16, "attribution": crate::html::attribution_html(l)}),
                );
                (l.id.clone(), l.slug.clone())
            }
        };
        let mut drawn = styles::map_layers(
            l,
            a.style.as_ref().or(saved.as_ref()),
            &styles::Placement {
                source: &source,
                source_layer: &source_layer,
                prefix: &l.id,
                slot: Some(slot),
                label_field: a.label_field.as_deref(),
            },
        );
        for d in &mut drawn {
            if let Some(z) = a.min_zoom {
                d["minzoom"] = json!(z);
            }
            if let Some(z) = a.max_zoom {
                d["maxzoom"] = json!(z);
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
    let glyphs = match mode {
        Mode::Online => styles::glyphs_url(inputs.base),
        // Made absolute by the app script: MapLibre wants a whole URL.
        Mode::Static => styles::glyphs_url("."),
    };
    json!({"version": 8, "name": cfg.title, "center": center, "zoom": zoom, "glyphs": glyphs, "sources": sources, "layers": layers})
}

/// `config.json` as the app script reads it: the config plus what it needs of each layer.
pub fn runtime_config(inputs: &Inputs, mode: Mode) -> Json {
    let layers: Vec<Json> = inputs
        .config
        .layers
        .iter()
        .enumerate()
        .filter_map(|(slot, a)| {
            let (l, saved) = inputs.layers.iter().find(|(l, _)| l.id == a.id)?;
            let fields: Vec<Json> = l
                .fields
                .iter()
                .filter(|f| a.popup_fields.as_ref().is_none_or(|p| p.contains(&f.name)))
                .map(|f| json!({"name": f.name, "label": f.label, "type": f.kind}))
                .collect();
            // Keep the popup order the config gives.
            let mut fields = fields;
            if let Some(order) = &a.popup_fields {
                fields.sort_by_key(|f| order.iter().position(|n| f["name"] == json!(n)));
            }
            Some(json!({
                "id": l.id,
                // The config's title, else (an English app) the layer's English one.
                "title": a.title.clone().unwrap_or_else(|| match inputs.config.language.as_str() {
                    "en" if !l.meta.title_en.is_empty() => l.meta.title_en.clone(),
                    _ => l.title.clone(),
                }),
                "geom_type": l.geom_type,
                "fields": fields,
                "label_field": a.label_field,
                "popup_template": a.popup_template,
                "legend": styles::legend(l, a.style.as_ref().or(saved.as_ref()), Some(slot)),
                // Static apps: the attributes the table, search and export read (when the
                // bundle could carry them: see `apps::bundle`).
                "data": (mode == Mode::Static).then(|| data_file(slot)),
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
        "tools": inputs.config.tools,
        "backgrounds": backgrounds_json(inputs, mode),
        "comuni": inputs.comuni,
        "layers": layers,
    })
}

/// The backgrounds of an app as its script reads them, each saying whether it needs the
/// network: raster tiles always; a PMTiles archive online (from this server) or when too
/// large for a static bundle (then it is left out of it, with `left_out`).
fn backgrounds_json(inputs: &Inputs, mode: Mode) -> Json {
    let mut list = crate::backgrounds::client_json(&inputs.backgrounds, inputs.base);
    for b in list.as_array_mut().into_iter().flatten() {
        if b["kind"] != "pmtiles" {
            continue;
        }
        let id = b["id"].as_str().unwrap_or_default().to_string();
        match mode {
            Mode::Online => b["network"] = json!(true),
            Mode::Static if carried(inputs, &id) => {
                b["source"]["url"] = json!(format!("pmtiles://{}", background_file(&id)));
            }
            Mode::Static => b["left_out"] = json!(true),
        }
    }
    if let Some(a) = list.as_array_mut() {
        a.retain(|b| b["left_out"] != true);
    }
    list
}

/// Whether a static bundle carries a background's archive (up to [`MAX_CARRIED`] bytes).
pub fn carried(inputs: &Inputs, id: &str) -> bool {
    inputs.backgrounds.iter().any(|b| {
        b.id == id
            && b.path
                .as_deref()
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|m| m.len() <= MAX_CARRIED)
    })
}

/// The largest background archive a static bundle carries.
pub const MAX_CARRIED: u64 = 64 << 20;

/// Where a static bundle keeps a background's archive (ids come from the configuration).
pub fn background_file(id: &str) -> String {
    format!("backgrounds/{id}.pmtiles")
}

/// The file of a static app holding the attributes of its `slot`-th layer.
pub fn data_file(slot: usize) -> String {
    format!("data/{slot}.geojson")
}

/// The Content-Security-Policy of a generated app: no inline script or style, no eval;
/// MapLibre's workers come from blob: URLs; an online app talks to its server at `base`.
pub fn csp(base: &str, mode: Mode, backgrounds: &[crate::backgrounds::Background]) -> String {
    let hosts = crate::backgrounds::hosts(backgrounds);
    let connect = match mode {
        Mode::Online => format!("'self' {base} {hosts}"),
        Mode::Static => format!("'self' {hosts}"),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {hosts}; \
         connect-src {connect}; worker-src blob:; child-src blob:; object-src 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// `index.html`: every user string escaped; the CSP as a meta element (the server also
/// sends it as a header).
pub fn index_html(inputs: &Inputs, mode: Mode) -> String {
    let c = inputs.config;
    let lang = if c.language == "en" { "en" } else { "it" };
    let pmtiles = if mode == Mode::Static || !inputs.backgrounds.is_empty() {
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
  <link rel="stylesheet" href="tools.css">
  <link rel="stylesheet" href="app.css">
</head>
<body>
  <header id="bar"><span id="logo"></span><h1 id="title">{title}</h1><input id="search" type="search" autocomplete="off"></header>
  <main id="map"></main>
  <aside id="side"><section id="legend"></section></aside>
  <script src="vendor/maplibre-gl.js"></script>{pmtiles}
  <script src="common.js"></script>
  <script src="cql2.js"></script>
  <script src="pdf.js"></script>
  <script src="tools.js"></script>
  <script src="app.js"></script>
</body>
</html>
"#,
        csp = escape_html(&csp(inputs.base, mode, &inputs.backgrounds)),
        desc = escape_html(&c.description),
        title = escape_html(&c.title),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The files of a bundle but the tiles, by name.
const FILES: &[&str] = &[
    "index.html",
    "common.js",
    "cql2.js",
    "pdf.js",
    "tools.js",
    "tools.css",
    "app.js",
    "app.css",
    "config.json",
    "style.json",
    "vendor/maplibre-gl.js",
    "vendor/maplibre-gl.css",
    "vendor/LICENSE-maplibre.txt",
    "vendor/pmtiles.js",
];

/// A digest of the files every bundle shares ([`asset`]); the embedded ones' once.
pub fn assets_digest(web_dir: Option<&Path>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    static EMBEDDED: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let digest = || {
        let mut h = Sha256::new();
        for name in FILES {
            if let Some(bytes) = asset(web_dir, name) {
                h.update(name);
                h.update(bytes);
            }
        }
        h.finalize().into()
    };
    match web_dir {
        None => *EMBEDDED.get_or_init(digest),
        Some(_) => digest(),
    }
}

/// A file of a bundle that is the same for every app (the script, its styles, MapLibre), by
/// name; None for any other name. From the embedded assets, or `web_dir` when configured.
pub fn asset(web_dir: Option<&Path>, name: &str) -> Option<Vec<u8>> {
    let source = match name {
        "common.js" => "common/atlante.js",
        "cql2.js" => "common/cql2.js",
        "pdf.js" => "common/pdf.js",
        "tools.js" => "common/tools.js",
        "tools.css" => "common/tools.css",
        "app.js" => "app/app.js",
        "app.css" => "app/app.css",
        "vendor/maplibre-gl.js" => "vendor/maplibre-gl/maplibre-gl.js",
        "vendor/maplibre-gl.css" => "vendor/maplibre-gl/maplibre-gl.css",
        "vendor/LICENSE-maplibre.txt" => "vendor/maplibre-gl/LICENSE.txt",
        "vendor/pmtiles.js" => "vendor/pmtiles/pmtiles.js",
        _ => return None,
    };
    crate::assets::get(web_dir, source).map(|b| b.into_owned())
}

/// One file of a bundle by its name; None for a name that is not one of [`FILES`].
pub fn file(inputs: &Inputs, mode: Mode, web_dir: Option<&Path>, name: &str) -> Option<Vec<u8>> {
    match name {
        "index.html" => Some(index_html(inputs, mode).into_bytes()),
        "config.json" => Some(pretty(&runtime_config(inputs, mode))),
        "style.json" => Some(pretty(&style(inputs, mode))),
        _ => asset(web_dir, name),
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

    /// A bundle built by another build of Atlante (other scripts) has another key: the
    /// shared files' digest follows their bytes.
    #[test]
    fn the_assets_digest_follows_the_files() {
        let embedded = assets_digest(None);
        assert_eq!(assets_digest(None), embedded);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            assets_digest(Some(dir.path())),
            embedded,
            "nothing overridden"
        );
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/app.js"), "// another build").unwrap();
        assert_ne!(assets_digest(Some(dir.path())), embedded);
    }
}
