//! Gathering an app's layers (through the one visibility rule) and building its bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{files, AppConfig, AppError, Inputs, Mode};
use crate::diskcache::DiskCache;
use crate::fonts::{Fonts, LABEL_FONT, LABEL_FONT_BOLD};
use crate::gate::Gate;
use crate::model::Layer;
use crate::styles::{self, StyleDoc};
use crate::tiles::base::MVT_LAYERS;
use crate::tiles::batch::{BatchError, Coverage, Limits, Stop};
use crate::tiles::index::LayerIndex;

/// The layers of an app, with their saved styles, as `viewer` may see them (the one rule,
/// [`crate::catalog::may_see`]): a published app is served to everyone, so it is gathered
/// for no one (`None`) and draws only public layers; its owner's preview is gathered for
/// the owner. Layers of the config the viewer may not see are left out and named in
/// `withheld`; the base map's layers ([`crate::tiles::base`]) come last when the config asks
/// for it.
pub struct Gathered {
    pub layers: Vec<(Layer, Option<StyleDoc>)>,
    pub withheld: Vec<String>,
    /// The comuni's names and boxes, with the base map.
    pub comuni: Vec<(String, [f64; 4])>,
}

pub async fn gather(
    catalog: &crate::catalog::Catalog,
    tiles: &crate::tiles::TileEngine,
    cfg: &AppConfig,
    viewer: Option<&crate::auth::Caller>,
) -> Result<Gathered, AppError> {
    let e = |e: crate::store::StoreError| AppError(e.to_string());
    let store = catalog.store();
    let mut out = Gathered {
        layers: Vec::new(),
        withheld: Vec::new(),
        comuni: Vec::new(),
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
    if cfg.basemap == "comuni" {
        let base = tiles.base().await.map_err(e)?;
        out.layers
            .extend(base.layers().into_iter().map(|l| (l, None)));
        out.comuni = base.comuni.clone();
    }
    Ok(out)
}

/// Why a bundle was not built.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The heavy-job gate is full: try again shortly (503 with Retry-After).
    #[error("too many bundles are being built right now: try again in a minute")]
    Busy,
    /// Beyond the tile or byte limits (413).
    #[error("{0}")]
    TooLarge(String),
    /// The client went away or the deadline passed.
    #[error("{0}")]
    Stopped(String),
    #[error("{0}")]
    Failed(String),
}

impl From<BatchError> for BundleError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::TooMany { .. } | BatchError::TooBig { .. } => {
                BundleError::TooLarge(format!("static bundle: {e}"))
            }
            BatchError::Stopped(why) => BundleError::Stopped(format!("bundle stopped: {why}")),
            other => BundleError::Failed(format!("bundle tiles: {other}")),
        }
    }
}

/// Builds app bundles within limits and keeps each version's zip: a bundle is built once
/// per app version (its configuration, its layers' states, their styles, the mode and
/// zoom), then served from the cache.
pub struct Bundler {
    cache: Option<Arc<DiskCache>>,
    limits: Limits,
    deadline: Duration,
    gate: Gate,
}

impl Bundler {
    pub fn new(config: &crate::config::Config) -> Bundler {
        let dir = config.cache_dir.join("bundles");
        let cache = match DiskCache::open(&dir, config.bundle_cache_bytes) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "bundle cache unavailable: bundles are rebuilt each time");
                None
            }
        };
        Bundler {
            cache,
            limits: Limits {
                max_tiles: config.max_bundle_tiles,
                max_bytes: config.max_bundle_bytes,
            },
            deadline: Duration::from_secs(config.heavy_job_secs),
            gate: Gate::new("heavy jobs", config.max_heavy_jobs, config.max_heavy_jobs),
        }
    }

    /// The heavy-job gate (for metrics).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The zip of an app's bundle, from the cache or built now (when the heavy-job gate has
    /// room). `stop` ends the build when the client goes away.
    #[allow(clippy::too_many_arguments)]
    pub async fn zip(
        &self,
        tiles: &crate::tiles::TileEngine,
        fonts: &Arc<Fonts>,
        web_dir: Option<&Path>,
        inputs: &Inputs<'_>,
        mode: Mode,
        maxzoom: u8,
        stop: &Stop,
    ) -> Result<Vec<u8>, BundleError> {
        // One folder per app, mode and zoom, holding the zip of the current version only.
        let folder = PathBuf::from(format!("{}-{}", inputs.org, inputs.slug))
            .join(format!("{}-z{maxzoom}", mode.name()));
        let key = folder.join(format!(
            "{}.zip",
            version_key(inputs, mode, maxzoom, web_dir)
        ));
        if let Some(c) = self.cache.clone() {
            let k = key.clone();
            if let Ok(Some(bytes)) = tokio::task::spawn_blocking(move || c.get(&k)).await {
                return Ok(bytes);
            }
        }
        let _pass = self.gate.try_enter(inputs.org).ok_or(BundleError::Busy)?;
        let stop = Stop::with_deadline_of(stop, Instant::now() + self.deadline);
        let files = bundle(
            tiles,
            fonts,
            web_dir,
            inputs,
            mode,
            maxzoom,
            self.limits,
            &stop,
        )
        .await?;
        let zip = super::zip(&format!("{}-{}", inputs.org, inputs.slug), &files)
            .map_err(|e| BundleError::Failed(e.to_string()))?;
        if let Some(c) = self.cache.clone() {
            let zip = zip.clone();
            let stored = tokio::task::spawn_blocking(move || {
                c.remove_dir(&folder);
                c.put(&key, &zip)
            })
            .await;
            if let Ok(Err(e)) = stored {
                tracing::warn!(error = %e, "bundle not cached");
            }
        }
        Ok(zip)
    }
}

/// A digest of everything a bundle is made from: the generator's own files (scripts,
/// styles, MapLibre: a new build of Atlante with the same version number changes them),
/// the configuration, each layer's state (its last change of any kind), their saved
/// styles, the backgrounds, the mode, the zoom and, online, the server it reads.
fn version_key(inputs: &Inputs, mode: Mode, maxzoom: u8, web_dir: Option<&Path>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(super::generate::assets_digest(web_dir));
    h.update(serde_json::to_vec(&inputs.backgrounds).unwrap_or_default());
    h.update(mode.name());
    h.update([maxzoom]);
    if mode == Mode::Online {
        h.update(inputs.base);
    }
    h.update(serde_json::to_vec(inputs.config).unwrap_or_default());
    for (l, style) in &inputs.layers {
        h.update(&l.id);
        h.update(l.change_seq.to_le_bytes());
        h.update(l.data_seq.to_le_bytes());
        h.update(serde_json::to_vec(style).unwrap_or_default());
    }
    hex::encode(&h.finalize()[..16])
}

/// Every file of a bundle; a static one with its `tiles.pmtiles` (zooms 0 to `maxzoom`,
/// within `limits`, counted before rendering) and the glyphs of its labels.
#[allow(clippy::too_many_arguments)]
pub async fn bundle(
    tiles: &crate::tiles::TileEngine,
    fonts: &Arc<Fonts>,
    web_dir: Option<&Path>,
    inputs: &Inputs<'_>,
    mode: Mode,
    maxzoom: u8,
    limits: Limits,
    stop: &Stop,
) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    let mut out = files(inputs, mode, web_dir);
    if mode == Mode::Static {
        let layers: Vec<Layer> = inputs.layers.iter().map(|(l, _)| l.clone()).collect();
        let zooms: Vec<u8> = (0..=maxzoom.min(16)).collect();
        Coverage::of_layers(&layers, &zooms)?.check(limits.max_tiles)?;
        let indexes = tiles
            .indexes_of(&layers)
            .await
            .map_err(|e| BundleError::Failed(e.to_string()))?;
        let wanted = labels_wanted(inputs, &indexes);
        let stop = stop.clone();
        let (pm, _) = tokio::task::spawn_blocking(move || {
            crate::tiles::batch::export_pmtiles(&layers, &indexes, &zooms, limits, &stop, || {})
        })
        .await
        .map_err(|e| BundleError::Failed(e.to_string()))??;
        out.push(("tiles.pmtiles".into(), pm));
        let fonts = fonts.clone();
        let glyphs = tokio::task::spawn_blocking(move || glyph_files(&fonts, &wanted))
            .await
            .map_err(|e| BundleError::Failed(e.to_string()))??;
        out.extend(glyphs);
        for bg in &inputs.backgrounds {
            if let (true, Some(path)) = (super::generate::carried(inputs, &bg.id), &bg.path) {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| BundleError::Failed(format!("background {}: {e}", bg.id)))?;
                out.push((super::generate::background_file(&bg.id), bytes));
            }
        }
        for (slot, a) in inputs.config.layers.iter().enumerate() {
            let Some((l, _)) = inputs.layers.iter().find(|(l, _)| l.id == a.id) else {
                continue;
            };
            match attributes(tiles.store().as_ref(), l, a.popup_fields.as_deref()).await? {
                Some(bytes) => out.push((super::generate::data_file(slot), bytes)),
                None => {
                    tracing::warn!(layer = %l.id, "static bundle without the layer's attributes: too many")
                }
            }
        }
    }
    Ok(out)
}

/// The glyph ranges (their starts) each font of a static app's labels needs: the texts of
/// its layers' label fields, and the base map's names.
fn labels_wanted(
    inputs: &Inputs,
    indexes: &[Arc<LayerIndex>],
) -> std::collections::BTreeMap<&'static str, std::collections::BTreeSet<u32>> {
    let mut wanted: std::collections::BTreeMap<_, std::collections::BTreeSet<u32>> =
        Default::default();
    let mut add = |font: &'static str, idx: &LayerIndex, field: usize, upper: bool| {
        let mut texts = Vec::new();
        idx.each_text(field, |t| {
            texts.push(if upper {
                t.to_uppercase()
            } else {
                t.to_string()
            })
        });
        wanted
            .entry(font)
            .or_default()
            .extend(crate::fonts::ranges_for(texts.iter().map(String::as_str)));
    };
    for ((l, saved), idx) in inputs.layers.iter().zip(indexes) {
        if l.id == MVT_LAYERS[1].0 {
            add(LABEL_FONT, idx, 0, false);
        } else if l.id == MVT_LAYERS[2].0 {
            add(LABEL_FONT_BOLD, idx, 0, true);
        }
        let Some(a) = inputs.config.layers.iter().find(|a| a.id == l.id) else {
            continue;
        };
        let style = a.style.as_ref().or(saved.as_ref());
        let field = a.label_field.as_deref().or(style
            .and_then(|s| s.label.as_ref())
            .map(|lb| lb.field.as_str()));
        if let Some(i) = field.and_then(|f| l.fields.iter().position(|x| x.name == f)) {
            add(LABEL_FONT, idx, i, false);
        }
    }
    wanted
}

/// The files `fonts/{font}/{start}-{end}.pbf` of the wanted ranges. A font not installed is
/// left out with a warning (its labels are then not drawn).
fn glyph_files(
    fonts: &Fonts,
    wanted: &std::collections::BTreeMap<&'static str, std::collections::BTreeSet<u32>>,
) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    let mut out = Vec::new();
    for (font, starts) in wanted {
        for start in starts {
            let range = format!("{start}-{}", start + 255);
            match fonts.glyphs(font, &range) {
                Ok(pbf) => out.push((format!("fonts/{font}/{range}.pbf"), pbf)),
                Err(crate::fonts::FontError::Unknown(_)) => {
                    tracing::warn!(
                        font,
                        "font not installed: the bundle's labels in it are not drawn"
                    );
                    break;
                }
                Err(e) => return Err(BundleError::Failed(e.to_string())),
            }
        }
    }
    Ok(out)
}

/// A static app's table, search and export read each layer's attributes (the popup
/// fields) and geometries from a GeoJSON file of the bundle, not from its tiles (which
/// are clipped, generalised and thinned). Layers beyond these limits go without: their
/// table says the data is not in the app.
const MAX_DATA_FEATURES: i64 = 100_000;
const MAX_DATA_BYTES: usize = 16 << 20;

/// The GeoJSON of a layer's `fields` (all when None) for a static app, or None past the
/// limits.
async fn attributes(
    store: &dyn crate::store::Store,
    layer: &Layer,
    fields: Option<&[String]>,
) -> Result<Option<Vec<u8>>, BundleError> {
    if layer.feature_count > MAX_DATA_FEATURES {
        return Ok(None);
    }
    let (features, _) = store
        .items(layer, &crate::store::ItemQuery::everything())
        .await
        .map_err(|e| BundleError::Failed(e.to_string()))?;
    let idx: Vec<usize> = (0..layer.fields.len())
        .filter(|&i| fields.is_none_or(|f| f.contains(&layer.fields[i].name)))
        .collect();
    let mut output =
        crate::features::Output::new(None).map_err(|e| BundleError::Failed(e.to_string()))?;
    let mut out = br#"{"type":"FeatureCollection","features":["#.to_vec();
    for (i, f) in features.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let json = crate::features::feature_json(layer, f, Some(&idx), &mut output);
        serde_json::to_writer(&mut out, &json).map_err(|e| BundleError::Failed(e.to_string()))?;
        if out.len() > MAX_DATA_BYTES {
            return Ok(None);
        }
    }
    out.extend_from_slice(b"]}");
    Ok(Some(out))
}
