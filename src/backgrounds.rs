//! Backgrounds an operator adds under the layers and the base map of comuni: raster tiles
//! (XYZ, or a WMTS `GetTile` URL with `{z}`, `{x}`, `{y}` in it — the regional orthophotos)
//! and vector tiles from a local PMTiles archive (in production an extract of Lombardy in the
//! Protomaps schema), each switchable in the viewer and in apps.
//!
//! Raster tiles come from their own host, so the pages' Content-Security-Policy names
//! exactly the hosts configured here ([`hosts`]) and nothing else. A PMTiles archive is
//! served by Atlante itself (`/backgrounds/{id}.pmtiles`, with HTTP range requests) and
//! drawn with MapLibre layers from the operator's style file, or Atlante's own plain style
//! of lines, areas and points ([`default_layers`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// One background, from the `[[backgrounds]]` tables of the configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Background {
    /// `[a-z0-9-]{1,32}`: its name in URLs and app configurations.
    pub id: String,
    pub title: String,
    /// `raster` or `pmtiles`.
    pub kind: String,
    /// raster: the tile URL template (`https://…/{z}/{x}/{y}.png` or a WMTS GetTile URL).
    #[serde(default)]
    pub url: Option<String>,
    /// pmtiles: the archive on this machine.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// pmtiles: a JSON array of MapLibre layers drawing the archive (source `background`);
    /// none: [`default_layers`] over the archive's own layer names.
    #[serde(default)]
    pub style: Option<PathBuf>,
    /// Plain text shown with the map.
    #[serde(default)]
    pub attribution: String,
    /// raster: 256 or 512.
    #[serde(default = "tile_size")]
    pub tile_size: u32,
    #[serde(default = "max_zoom")]
    pub max_zoom: u8,
}

fn tile_size() -> u32 {
    256
}
fn max_zoom() -> u8 {
    19
}

/// Checks the configured backgrounds (at start: a mistake stops the server with its reason).
pub fn check(all: &[Background]) -> Result<(), String> {
    for (i, b) in all.iter().enumerate() {
        let bad = |m: &str| Err(format!("background '{}': {m}", b.id));
        if b.id.is_empty()
            || b.id.len() > 32
            || !b
                .id
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return bad("id is 1-32 of a-z, 0-9, -");
        }
        if all[..i].iter().any(|o| o.id == b.id) {
            return bad("id given twice");
        }
        match (b.kind.as_str(), &b.url, &b.path) {
            ("raster", Some(u), None) => {
                if origin(u).is_none()
                    || !u.contains("{z}")
                    || !u.contains("{x}")
                    || !u.contains("{y}")
                {
                    return bad("url is an http(s) template with {z}, {x} and {y}");
                }
                if !matches!(b.tile_size, 256 | 512) {
                    return bad("tile_size is 256 or 512");
                }
            }
            ("pmtiles", None, Some(p)) => {
                if !p.is_file() {
                    return bad(&format!("no archive at {}", p.display()));
                }
                if let Some(s) = &b.style {
                    layers_of(b, s)?;
                }
            }
            _ => return bad("kind raster with a url, or kind pmtiles with a path"),
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .map(|r| ("https", r))
        .or_else(|| url.strip_prefix("http://").map(|r| ("http", r)))?;
    let host = rest.1.split(['/', '?', '#']).next()?;
    (!host.is_empty()
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']')))
    .then(|| format!("{}://{host}", rest.0))
}

/// The hosts raster backgrounds are read from, for the Content-Security-Policy.
pub fn hosts(all: &[Background]) -> String {
    let mut hosts: Vec<String> = all
        .iter()
        .filter(|b| b.kind == "raster")
        .filter_map(|b| b.url.as_deref().and_then(origin))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts.join(" ")
}

fn layers_of(b: &Background, style: &std::path::Path) -> Result<Vec<Json>, String> {
    let text = std::fs::read_to_string(style)
        .map_err(|e| format!("background '{}': style {}: {e}", b.id, style.display()))?;
    let layers: Vec<Json> = serde_json::from_str(&text)
        .map_err(|e| format!("background '{}': style {}: {e}", b.id, style.display()))?;
    crate::styles::validate_background_layers(&layers)
        .map_err(|e| format!("background '{}': style: {e}", b.id))?;
    Ok(layers)
}

/// Atlante's own look for an archive's MVT layers (named in its metadata): areas light
/// grey, lines grey, points small and dark from z13 — each layer drawn by geometry type.
pub fn default_layers(mvt_layers: &[String]) -> Vec<Json> {
    let mut out = Vec::new();
    for name in mvt_layers {
        let id = |k: &str| format!("bg:{name}:{k}");
        let is = |t: &str| json!(["==", ["geometry-type"], t]);
        out.push(
            json!({"id": id("fill"), "type": "fill", "source-layer": name, "filter": is("Polygon"),
            "paint": {"fill-color": "#e4e7eb", "fill-opacity": 0.8}}),
        );
        out.push(json!({"id": id("line"), "type": "line", "source-layer": name, "filter": is("LineString"),
            "paint": {"line-color": "#a7b0bc", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.4, 16, 2.5]}}));
        out.push(json!({"id": id("point"), "type": "circle", "source-layer": name, "filter": is("Point"), "minzoom": 13,
            "paint": {"circle-color": "#6b7684", "circle-radius": 2}}));
    }
    out
}

/// The MVT layer names of a PMTiles archive (its metadata's `vector_layers`).
pub fn archive_layers(b: &Background) -> Vec<String> {
    b.path
        .as_deref()
        .and_then(|p| crate::tiles::pmtiles::read_metadata(p).ok())
        .and_then(|m| {
            m["vector_layers"].as_array().map(|a| {
                a.iter()
                    .filter_map(|l| l["id"].as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// What the viewer and apps need of the backgrounds: per background its MapLibre source and
/// layers (`source` named `bg:{id}`), its title and attribution, and whether it needs the
/// network (raster tiles from their host) or comes from `base` (an archive here).
pub fn client_json(all: &[Background], base: &str) -> Json {
    let out: Vec<Json> = all
        .iter()
        .map(|b| {
            let source_id = format!("bg:{}", b.id);
            let (source, layers) = if b.kind == "raster" {
                (
                    json!({"type": "raster", "tiles": [b.url], "tileSize": b.tile_size, "maxzoom": b.max_zoom, "attribution": b.attribution}),
                    vec![json!({"id": format!("{source_id}:raster"), "type": "raster"})],
                )
            } else {
                let layers = b
                    .style
                    .as_deref()
                    .and_then(|s| layers_of(b, s).ok())
                    .unwrap_or_else(|| default_layers(&archive_layers(b)));
                (
                    json!({"type": "vector", "url": format!("pmtiles://{base}/backgrounds/{}.pmtiles", b.id), "attribution": b.attribution}),
                    layers,
                )
            };
            let layers: Vec<Json> = layers
                .into_iter()
                .map(|mut l| {
                    l["source"] = json!(source_id);
                    l["metadata"] = json!({"atlante:background": b.id});
                    l
                })
                .collect();
            json!({"id": b.id, "title": b.title, "kind": b.kind, "network": b.kind == "raster",
                   "source_id": source_id, "source": source, "layers": layers, "attribution": b.attribution})
        })
        .collect();
    Json::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(id: &str, url: &str) -> Background {
        Background {
            id: id.into(),
            title: "x".into(),
            kind: "raster".into(),
            url: Some(url.into()),
            path: None,
            style: None,
            attribution: String::new(),
            tile_size: 256,
            max_zoom: 19,
        }
    }

    #[test]
    fn backgrounds_are_checked() {
        assert!(check(&[raster(
            "orto",
            "https://tiles.example.it/orto/{z}/{x}/{y}.jpg"
        )])
        .is_ok());
        for b in [
            raster("Orto", "https://a.it/{z}/{x}/{y}"),
            raster("orto", "ftp://a.it/{z}/{x}/{y}"),
            raster("orto", "https://a.it/tiles"),
            raster("orto", "https://a.it\"; script-src *;/{z}/{x}/{y}"),
            raster("orto", "javascript:alert(1)//{z}{x}{y}"),
        ] {
            assert!(check(std::slice::from_ref(&b)).is_err(), "{b:?}");
        }
        let b = raster("orto", "https://a.it/{z}/{x}/{y}");
        assert!(check(&[b.clone(), b]).is_err(), "same id twice");
        let mut p = raster("osm", "https://a.it/{z}/{x}/{y}");
        p.kind = "pmtiles".into();
        assert!(check(&[p.clone()]).is_err(), "pmtiles needs a path");
        p.url = None;
        p.path = Some("/nonexistent.pmtiles".into());
        assert!(check(&[p]).is_err(), "a missing archive");
    }

    #[test]
    fn hosts_for_the_csp() {
        let all = [
            raster("a", "https://tiles.example.it/a/{z}/{x}/{y}.png"),
            raster("b", "https://tiles.example.it/b/{z}/{x}/{y}.png"),
            raster(
                "c",
                "http://wmts.example.org:8080/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
            ),
        ];
        assert_eq!(
            hosts(&all),
            "http://wmts.example.org:8080 https://tiles.example.it"
        );
    }
}
