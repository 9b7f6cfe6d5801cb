//! The web assets embedded in the binary at build time (see `build.rs`): the viewer, the
//! console, the generated apps' script and styles, MapLibre GL JS and pmtiles. The binary
//! serves the same files wherever it runs; `web_dir` in the configuration serves a folder
//! instead (for working on the pages without rebuilding).

use std::borrow::Cow;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// An asset by its path under `/static/` (e.g. `viewer/viewer.js`), from `dir` when one is
/// configured, else embedded. Only names in the embedded table are ever served, so a
/// request can name no other file.
pub fn get(dir: Option<&Path>, name: &str) -> Option<Cow<'static, [u8]>> {
    let (_, embedded) = ASSETS.iter().find(|(n, _)| *n == name)?;
    if let Some(dir) = dir {
        let source = match name.strip_prefix("vendor/") {
            Some(v) => vendor_source(v)?,
            None => name.to_string(),
        };
        if let Ok(bytes) = std::fs::read(dir.join(source)) {
            return Some(Cow::Owned(bytes));
        }
    }
    Some(Cow::Borrowed(embedded))
}

fn vendor_source(v: &str) -> Option<String> {
    Some(match v {
        "maplibre-gl/LICENSE.txt" => "node_modules/maplibre-gl/LICENSE.txt".into(),
        v if v.starts_with("maplibre-gl/") => {
            format!(
                "node_modules/maplibre-gl/dist/{}",
                &v["maplibre-gl/".len()..]
            )
        }
        "pmtiles/pmtiles.js" => "node_modules/pmtiles/dist/pmtiles.js".into(),
        _ => return None,
    })
}

/// The media type of an asset by its extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("zip") => "application/zip",
        Some("pmtiles") => "application/vnd.pmtiles",
        Some("pbf") => "application/x-protobuf",
        Some("geojson") => "application/geo+json",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded() {
        assert!(super::get(None, "viewer/index.html").is_some());
        assert!(super::get(None, "vendor/maplibre-gl/maplibre-gl.js").is_some());
        assert!(super::get(None, "../Cargo.toml").is_none());
        assert!(super::get(None, "viewer/../../Cargo.toml").is_none());
    }
}
