//! The tile engine: per-layer in-memory spatial indexes built from the store, MVT rendering,
//! a bounded cache keyed by layer version, and TileJSON. Knows nothing of HTTP.
//!
//! The engine keeps a snapshot of the catalog. It is refreshed when this process changes a
//! layer, when PostGIS notifies a change made elsewhere (LISTEN/NOTIFY), and by a poll every
//! two seconds (which also covers several processes on one GeoPackage).

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
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex, OnceCell};

use crate::model::Layer;
use crate::store::{DynStore, StoreError};
use cache::{Tile, TileCache};
use index::LayerIndex;
use math::TileCoord;

/// At most this many layers in one composite tile.
pub const MAX_COMPOSITE: usize = 16;

type IndexCell = Arc<OnceCell<Arc<LayerIndex>>>;

pub struct TileEngine {
    store: DynStore,
    /// Optional disk cache of single-layer tiles: `{dir}/{id}@{version}/{z}/{x}/{y}.mvt`.
    disk: Option<std::path::PathBuf>,
    catalog: RwLock<HashMap<String, Layer>>,
    /// Keyed by `id@version`.
    indexes: Mutex<HashMap<String, IndexCell>>,
    pub cache: TileCache,
    /// Two renders per core at a time, first come first served: under load a tile waits
    /// for a turn instead of sharing the cores with every other request (which stretched
    /// the slow low-zoom tiles, and so the tail latency, by the number of connections).
    /// One per core gave a slightly lower p99 and a lower throughput (docs/architecture.md).
    renders: tokio::sync::Semaphore,
}

/// A layer's content key: its version and, since features can be edited in place
/// (OGC API - Features Part 4), the time of its last change.
fn versioned(l: &Layer) -> String {
    use sha2::{Digest, Sha256};
    let edit = hex::encode(&Sha256::digest(l.updated_at.as_bytes())[..4]);
    format!("{}@{}.{edit}", l.id, l.version)
}

impl TileEngine {
    /// Loads the catalog snapshot; indexes are built on first use (or by [`Self::warm`]).
    pub async fn new(
        store: DynStore,
        cache_bytes: usize,
        disk: Option<std::path::PathBuf>,
    ) -> Result<Arc<TileEngine>, StoreError> {
        let layers = store.layers().await?;
        Ok(Arc::new(TileEngine {
            store,
            disk,
            catalog: RwLock::new(layers.into_iter().map(|l| (l.id.clone(), l)).collect()),
            indexes: Mutex::new(HashMap::new()),
            cache: TileCache::new(cache_bytes),
            renders: tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }))
    }

    /// A layer from the snapshot.
    pub fn layer(&self, id: &str) -> Option<Layer> {
        self.catalog.read().ok()?.get(id).cloned()
    }

    pub fn layers(&self) -> Vec<Layer> {
        let mut v: Vec<Layer> = self
            .catalog
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Re-reads one layer from the store after a change; drops what the old version held.
    pub async fn refresh(&self, id: &str) -> Result<(), StoreError> {
        let fresh = self.store.layer(id).await?;
        let old = {
            let Ok(mut cat) = self.catalog.write() else {
                return Ok(());
            };
            match fresh {
                Some(l) => cat.insert(id.to_string(), l),
                None => cat.remove(id),
            }
        };
        if let Some(old) = old {
            self.indexes.lock().await.remove(&versioned(&old));
        }
        self.cache.forget_layer(id);
        Ok(())
    }

    /// Compares the whole catalog with the store and refreshes what changed.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let fresh = self.store.layers().await?;
        let changed: Vec<String> = {
            let cat = self.catalog.read().map(|c| c.clone()).unwrap_or_default();
            let mut ids: Vec<String> = fresh
                .iter()
                .filter(|l| cat.get(&l.id) != Some(l))
                .map(|l| l.id.clone())
                .collect();
            ids.extend(
                cat.keys()
                    .filter(|k| !fresh.iter().any(|l| &l.id == *k))
                    .cloned(),
            );
            ids
        };
        for id in changed {
            tracing::info!(layer = %id, "layer changed: refreshing its index and tiles");
            self.refresh(&id).await?;
        }
        Ok(())
    }

    /// Keeps the snapshot current: PostGIS notifications when the store has them, and a poll.
    pub fn watch(self: &Arc<Self>) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let mut changes = engine.store.changes().await;
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                let notified = async {
                    match changes.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    id = notified => match id {
                        Some(id) => { let _ = engine.refresh(&id).await; }
                        None => changes = None,
                    },
                    _ = tick.tick() => {
                        if let Err(e) = engine.sync().await {
                            tracing::warn!(error = %e, "catalog poll failed");
                        }
                    }
                }
            }
        });
    }

    /// The index of a layer's current version, built once.
    pub async fn index(&self, layer: &Layer) -> Result<Arc<LayerIndex>, StoreError> {
        let cell = {
            let mut map = self.indexes.lock().await;
            map.entry(versioned(layer)).or_default().clone()
        };
        let idx = cell
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let rows = self.store.scan(layer).await?;
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
        for l in self.layers() {
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
            ([l], Some(dir)) => Some(disk_path(dir, l, t)),
            _ => None,
        };
        if let Some(p) = disk.as_ref() {
            if let Ok(raw) = tokio::fs::read(p).await {
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
        if let Some(p) = disk {
            write_disk(&p, &tile.raw).await;
        }
        self.cache.put(key, tile.clone());
        Ok(tile)
    }
}

/// Where the disk cache keeps a single-layer tile. Ids and versions come from the catalog.
pub fn disk_path(dir: &std::path::Path, l: &Layer, t: TileCoord) -> std::path::PathBuf {
    dir.join(versioned(l))
        .join(t.z.to_string())
        .join(t.x.to_string())
        .join(format!("{}.mvt", t.y))
}

/// Writes a cache file atomically (temp file, then rename); a failure only costs a re-render.
pub async fn write_disk(path: &std::path::Path, raw: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let ok = async {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&tmp, raw).await?;
        tokio::fs::rename(&tmp, path).await
    }
    .await;
    if let Err(e) = ok {
        tracing::debug!(error = %e, path = %path.display(), "disk cache write failed");
    }
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
