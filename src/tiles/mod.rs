//! The tile engine: per-layer in-memory spatial indexes built from the store, MVT rendering,
//! a bounded cache keyed by layer version, and TileJSON. Knows nothing of HTTP.
//!
//! The engine reads layers from the catalog service ([`crate::catalog`]) and subscribes to
//! it: when a layer's data changes (in this process or another), its index and tiles go.
//! Visibility is checked by the callers, through the catalog, before a tile is asked for.

pub mod batch;
pub mod cache;
pub mod clip;
pub mod feature;
pub mod index;
pub mod math;
pub mod mvt;
pub mod pmtiles;
mod polygon;
pub mod tilejson;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::catalog::Catalog;
use crate::diskcache::DiskCache;
use crate::model::Layer;
use crate::store::StoreError;
use cache::{Tile, TileCache};
use index::LayerIndex;
use math::TileCoord;

/// At most this many layers in one composite tile.
pub const MAX_COMPOSITE: usize = 16;

type IndexCell = Arc<OnceCell<Arc<LayerIndex>>>;

pub struct TileEngine {
    catalog: Arc<Catalog>,
    /// Optional disk cache of single-layer tiles, `{id}@{version}.{data}/{z}/{x}/{y}.mvt`,
    /// bounded in bytes; a layer's old versions are removed when its data changes.
    disk: Option<Arc<DiskCache>>,
    /// Keyed by [`versioned`].
    indexes: Mutex<HashMap<String, IndexCell>>,
    pub cache: TileCache,
    /// Two renders per core at a time, first come first served: under load a tile waits
    /// for a turn instead of sharing the cores with every other request (which stretched
    /// the slow low-zoom tiles, and so the tail latency, by the number of connections).
    /// One per core gave a slightly lower p99 and a lower throughput (docs/architecture.md).
    renders: tokio::sync::Semaphore,
}

/// A layer's data key: its version and the change-log sequence of its last data change
/// (publish, rollback, feature edit). Metadata changes leave it alone.
pub fn versioned(l: &Layer) -> String {
    format!("{}@{}.{}", l.id, l.version, l.data_seq)
}

impl TileEngine {
    /// An engine over the catalog; indexes are built on first use (or by [`Self::warm`]),
    /// and dropped (with their tiles) when the catalog says a layer's data changed.
    pub fn new(
        catalog: Arc<Catalog>,
        cache_bytes: usize,
        disk: Option<Arc<DiskCache>>,
    ) -> Arc<TileEngine> {
        let engine = Arc::new(TileEngine {
            catalog: catalog.clone(),
            disk,
            indexes: Mutex::new(HashMap::new()),
            cache: TileCache::new(cache_bytes),
            renders: tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        });
        let weak = Arc::downgrade(&engine);
        catalog.subscribe(move |e| {
            let Some(engine) = weak.upgrade() else {
                return;
            };
            let old = e.before.as_deref().map(versioned);
            if old.is_some() && old != e.after.as_deref().map(versioned) {
                tracing::info!(layer = %e.change.layer_id, "layer data changed: its index and tiles are dropped");
                if let (Some(old), Ok(mut map)) = (old, engine.indexes.lock()) {
                    map.remove(&old);
                }
                engine.cache.forget_layer(&e.change.layer_id);
                if let (Some(disk), Some(old)) = (engine.disk.clone(), e.before.as_deref()) {
                    let dir = std::path::PathBuf::from(versioned(old));
                    tokio::task::spawn_blocking(move || disk.remove_dir(&dir));
                }
            }
        });
        engine
    }

    /// The index of a layer's current version, built once.
    pub async fn index(&self, layer: &Layer) -> Result<Arc<LayerIndex>, StoreError> {
        let cell = {
            let mut map = self
                .indexes
                .lock()
                .map_err(|_| StoreError::Corrupt("tile index map poisoned".into()))?;
            map.entry(versioned(layer)).or_default().clone()
        };
        let idx = cell
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let rows = self.catalog.store().scan(layer).await?;
                let l = layer.clone();
                let idx = tokio::task::spawn_blocking(move || LayerIndex::build(l, rows))
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("index build failed: {e}")))?;
                tracing::info!(layer = %layer.id, version = layer.version, features = idx.len(),
                    mib = idx.heap_bytes() as f64 / 1048576.0,
                    ms = started.elapsed().as_millis() as u64, "tile index built");
                Ok::<_, StoreError>(Arc::new(idx))
            })
            .await?;
        Ok(idx.clone())
    }

    /// Heap bytes of the indexes built, for metrics.
    pub fn index_bytes(&self) -> usize {
        self.indexes.lock().map_or(0, |m| {
            m.values()
                .filter_map(|c| c.get())
                .map(|i| i.heap_bytes())
                .sum()
        })
    }

    /// The indexes of several layers, in order.
    pub async fn indexes_of(&self, layers: &[Layer]) -> Result<Vec<Arc<LayerIndex>>, StoreError> {
        let mut out = Vec::with_capacity(layers.len());
        for l in layers {
            out.push(self.index(l).await?);
        }
        Ok(out)
    }

    /// Builds every layer's index now (at start, so the first tiles are fast).
    pub async fn warm(&self) {
        for l in self.catalog.all() {
            if let Err(e) = self.index(&l).await {
                tracing::warn!(layer = %l.id, error = %e, "index build failed");
            }
        }
    }

    /// The cache key of a tile of these layer versions.
    pub fn key(layers: &[Layer], t: TileCoord) -> String {
        let ids: Vec<String> = layers.iter().map(versioned).collect();
        format!("{}/{}/{}/{}", ids.join(","), t.z, t.x, t.y)
    }

    /// A tile of one or more layers (already checked for visibility), from cache or rendered.
    /// With `gzip`, a freshly rendered tile is also compressed while off the async runtime.
    pub async fn tile(
        &self,
        layers: &[Layer],
        t: TileCoord,
        gzip: bool,
    ) -> Result<Arc<Tile>, StoreError> {
        let key = Self::key(layers, t);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let disk = match (layers, &self.disk) {
            ([l], Some(d)) => Some((d.clone(), disk_path(l, t))),
            _ => None,
        };
        if let Some((d, rel)) = disk.clone() {
            if let Ok(Some(raw)) = tokio::task::spawn_blocking(move || d.get(&rel)).await {
                let tile = Arc::new(Tile::new(raw));
                self.cache.put(key, tile.clone());
                return Ok(tile);
            }
        }
        let indexes = self.indexes_of(layers).await?;
        let _core = self
            .renders
            .acquire()
            .await
            .map_err(|e| StoreError::Corrupt(format!("tile rendering stopped: {e}")))?;
        let tile = tokio::task::spawn_blocking(move || {
            let tile = Tile::new(render(&indexes, t));
            if gzip && !tile.raw.is_empty() {
                tile.gzip();
            }
            Arc::new(tile)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("tile rendering failed: {e}")))?;
        if let Some((d, rel)) = disk {
            let raw = tile.raw.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = d.put(&rel, &raw) {
                    tracing::debug!(error = %e, "disk cache write failed");
                }
            });
        }
        self.cache.put(key, tile.clone());
        Ok(tile)
    }
}

/// Where the disk cache keeps a single-layer tile, relative to its folder. Ids and versions
/// come from the catalog.
pub fn disk_path(l: &Layer, t: TileCoord) -> std::path::PathBuf {
    std::path::PathBuf::from(versioned(l))
        .join(t.z.to_string())
        .join(t.x.to_string())
        .join(format!("{}.mvt", t.y))
}

/// The MVT layer name of each layer: its slug, or its id where two slugs would collide.
pub fn mvt_names(layers: &[Layer]) -> Vec<String> {
    layers
        .iter()
        .map(|l| {
            if layers.iter().filter(|o| o.slug == l.slug).count() > 1 {
                l.id.clone()
            } else {
                l.slug.clone()
            }
        })
        .collect()
}

/// Renders a tile from indexes, one MVT layer each (empty layers are left out).
pub fn render(indexes: &[Arc<LayerIndex>], t: TileCoord) -> Vec<u8> {
    let layers: Vec<Layer> = indexes.iter().map(|i| i.layer.clone()).collect();
    let names = mvt_names(&layers);
    let mut out = Vec::new();
    for (idx, name) in indexes.iter().zip(&names) {
        let layer = idx.render(t, name);
        if !layer.is_empty() {
            layer.finish_into(&mut out);
        }
    }
    out
}
