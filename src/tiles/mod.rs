//! The tile engine: per-layer in-memory spatial indexes built from the store, MVT rendering,
//! a bounded cache keyed by layer version, and TileJSON. Knows nothing of HTTP.
//!
//! The engine reads layers from the catalog service ([`crate::catalog`]) and subscribes to
//! it. A publish or rollback (in this process or another) drops the layer's index and
//! tiles. A feature edit changes the index in place — the edits logged since the index's
//! sequence are read from the store's change log and applied ([`TileEngine::catch_up`]) —
//! and forgets only the cached tiles the edited features touch, before and after, at every
//! zoom. Visibility is checked by the callers, through the catalog, before a tile is asked
//! for.

pub mod arena;
pub mod base;
pub mod batch;
pub mod cache;
pub mod clip;
mod edits;
pub mod feature;
pub mod index;
mod items;
pub mod math;
mod memory;
pub mod mvt;
mod packed;
pub mod persist;
pub mod pmtiles;
mod polygon;
mod threads;
pub mod tilejson;
mod values;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::catalog::Catalog;
use crate::diskcache::DiskCache;
use crate::model::Layer;
use crate::store::changes::ChangeKind;
use crate::store::{StoreError, StoredFeature};
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
    /// Keyed by [`versioned`], with the tick of their last use.
    indexes: Mutex<HashMap<String, (IndexCell, u64)>>,
    /// Heap bytes the indexes may hold (0: no limit); see [`TileEngine::make_room`].
    index_budget: usize,
    /// Where indexes are persisted ([`persist`]), under the change log's identity.
    index_dir: Option<std::path::PathBuf>,
    log_id: OnceCell<String>,
    /// Indexes read back from disk since start.
    loaded: std::sync::atomic::AtomicU64,
    /// Items requests answered through an index since start ([`items`]).
    items_from_index: std::sync::atomic::AtomicU64,
    recent: Mutex<edits::Recent>,
    ticks: std::sync::atomic::AtomicU64,
    pub cache: TileCache,
    /// Two renders per core at a time, first come first served: under load a tile waits
    /// for a turn instead of sharing the cores with every other request (which stretched
    /// the slow low-zoom tiles, and so the tail latency, by the number of connections).
    /// One per core gave a slightly lower p99 and a lower throughput (docs/architecture.md).
    renders: tokio::sync::Semaphore,
    /// The same for tiles from [`QUICK_ZOOM`] down, which are cheap (a few features): they
    /// take turns among themselves, never behind the heavy low-zoom renders, so the tile
    /// that shows an edit (z14–z16) does not wait for a whole city's z11 to be cut.
    quick_renders: tokio::sync::Semaphore,
    /// The threads that render tiles above [`QUICK_ZOOM`], at a lower CPU priority.
    low_priority: threads::LowPriority,
    /// Renders under way, by tile and the data their indexes showed as they started: a
    /// request for the same tile of the same data waits for that render instead of making
    /// its own (after an edit, every reader asks for the tiles it touched at once).
    flights: Mutex<HashMap<(String, Vec<i64>), Flight>>,
    /// The base map, cut from the organisations on first use.
    base: OnceCell<Arc<base::Base>>,
}

type Flight = Arc<OnceCell<Arc<Tile>>>;

/// Tiles at this zoom and deeper render in their own lane (see `quick_renders`).
const QUICK_ZOOM: u8 = 14;

/// A layer's data key: its version and the change-log sequence of its last publish or
/// rollback. Feature edits and metadata changes leave it alone (edits are applied to the
/// index and its tiles in place).
pub fn versioned(l: &Layer) -> String {
    format!("{}@{}.{}", l.id, l.version, l.base_seq)
}

/// What an engine may hold, and where.
#[derive(Default)]
pub struct EngineOptions {
    /// Bytes of rendered tiles in memory (0: no cache).
    pub cache_bytes: usize,
    /// Bytes of indexes in memory (0: no limit).
    pub index_bytes: usize,
    /// The disk tile cache.
    pub disk: Option<Arc<DiskCache>>,
    /// Where indexes are persisted (None: they are not).
    pub index_dir: Option<std::path::PathBuf>,
}

impl TileEngine {
    /// An engine over the catalog; indexes are built on first use (or by [`Self::warm`]),
    /// and dropped (with their tiles) when the catalog says a layer's data changed.
    pub fn new(catalog: Arc<Catalog>, opts: EngineOptions) -> Arc<TileEngine> {
        let engine = Arc::new(TileEngine {
            catalog: catalog.clone(),
            disk: opts.disk,
            indexes: Mutex::new(HashMap::new()),
            index_budget: opts.index_bytes,
            index_dir: opts.index_dir,
            log_id: OnceCell::new(),
            loaded: Default::default(),
            items_from_index: Default::default(),
            recent: Mutex::default(),
            ticks: Default::default(),
            cache: TileCache::new(opts.cache_bytes),
            renders: tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            quick_renders: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            low_priority: threads::LowPriority::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            flights: Mutex::default(),
            base: OnceCell::new(),
        });
        engine.sweep_disk();
        let weak = Arc::downgrade(&engine);
        catalog.subscribe(move |e| {
            let Some(engine) = weak.upgrade() else {
                return;
            };
            let old = e.before.as_deref().map(versioned);
            if old.is_some() && old != e.after.as_deref().map(versioned) {
                tracing::info!(layer = %e.change.layer_id, "layer data replaced: its index and tiles are dropped");
                if let (Some(old), Ok(mut map)) = (old, engine.indexes.lock()) {
                    map.remove(&old);
                }
                engine.cache.forget_layer(&e.change.layer_id);
                if let (Some(disk), Some(old)) = (engine.disk.clone(), e.before.as_deref()) {
                    let dir = std::path::PathBuf::from(versioned(old));
                    tokio::task::spawn_blocking(move || disk.remove_dir(&dir));
                }
                if let (Some(file), Ok(rt)) = (
                    e.before.as_deref().and_then(|old| engine.index_file(old)),
                    tokio::runtime::Handle::try_current(),
                ) {
                    rt.spawn_blocking(move || std::fs::remove_file(file));
                }
                // The new data's index, built (and persisted) now rather than on its
                // first tile.
                if let (Some(now), Ok(rt)) = (e.after.clone(), tokio::runtime::Handle::try_current()) {
                    let engine = engine.clone();
                    rt.spawn(async move {
                        if let Err(e) = engine.index(&now).await {
                            tracing::warn!(layer = %now.id, error = %e, "index build failed");
                        }
                    });
                }
            } else if let (ChangeKind::Edited, Some(now)) = (e.change.kind, e.after.clone()) {
                engine.edited(&now, &e.change.features, e.change.seq);
            }
        });
        engine
    }

    /// The index of a layer's current version, built once, with the feature edits logged
    /// since applied.
    pub async fn index(&self, layer: &Layer) -> Result<Arc<LayerIndex>, StoreError> {
        let cell = {
            let mut map = self
                .indexes
                .lock()
                .map_err(|_| StoreError::Corrupt("tile index map poisoned".into()))?;
            let held = map.entry(versioned(layer)).or_default();
            held.1 = self
                .ticks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            held.0.clone()
        };
        let idx = cell
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                if let Some(idx) = self.load(layer).await {
                    self.loaded
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(layer = %layer.id, version = layer.version, features = idx.len(),
                        ms = started.elapsed().as_millis() as u64, "tile index read from disk");
                    self.make_room(&versioned(layer), idx.heap_bytes());
                    return Ok(Arc::new(idx));
                }
                // Only for big layers: a steady stream of small publishes would otherwise
                // keep mimalloc purging at once, which slows every render.
                let _purging = (layer.feature_count >= memory::PURGE_FROM_FEATURES)
                    .then(memory::PurgeAtOnce::start);
                // Rows are made compact as they arrive, off the async runtime.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<StoredFeature>>(2);
                let l = layer.clone();
                let build = tokio::task::spawn_blocking(move || {
                    let rows = std::iter::from_fn(move || rx.blocking_recv()).flatten();
                    let idx = LayerIndex::build(l, rows);
                    memory::give_back();
                    idx
                });
                let scanned = self.catalog.store().scan_batches(layer, 4096, tx).await;
                let idx = build
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("index build failed: {e}")))?;
                scanned?;
                let bytes = idx.heap_bytes();
                tracing::info!(layer = %layer.id, version = layer.version, features = idx.len(),
                    mib = bytes as f64 / 1048576.0,
                    ms = started.elapsed().as_millis() as u64, "tile index built");
                self.make_room(&versioned(layer), bytes);
                let idx = Arc::new(idx);
                self.save(&idx).await;
                Ok::<_, StoreError>(idx)
            })
            .await?
            .clone();
        self.catch_up(&idx).await?;
        Ok(idx)
    }

    /// The index of a layer's current version if it is held (built or read back), without
    /// building it.
    fn held(&self, layer: &Layer) -> Option<Arc<LayerIndex>> {
        let mut map = self.indexes.lock().ok()?;
        let held = map.get_mut(&versioned(layer))?;
        held.1 = self
            .ticks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        held.0.get().cloned()
    }

    /// Heap bytes of the indexes built, for metrics.
    pub fn index_bytes(&self) -> usize {
        self.indexes.lock().map_or(0, |m| {
            m.values()
                .filter_map(|c| c.0.get())
                .map(|i| i.heap_bytes())
                .sum()
        })
    }

    /// How many indexes were read back from disk since start, for metrics and tests.
    pub fn indexes_loaded(&self) -> u64 {
        self.loaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many layer indexes are held, for metrics and tests.
    pub fn indexes_held(&self) -> usize {
        self.indexes
            .lock()
            .map_or(0, |m| m.values().filter(|c| c.0.get().is_some()).count())
    }

    /// Keeps the indexes within the budget once `key`'s index (of `bytes`) joins them:
    /// the least recently used others go (renders holding them finish first). A dropped
    /// index is built again from the store on its next tile.
    fn make_room(&self, key: &str, bytes: usize) {
        if self.index_budget == 0 {
            return;
        }
        let Ok(mut map) = self.indexes.lock() else {
            return;
        };
        let mut held: Vec<(u64, String, usize)> = map
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .filter_map(|(k, (c, tick))| Some((*tick, k.clone(), c.get()?.heap_bytes())))
            .collect();
        let mut total = bytes + held.iter().map(|h| h.2).sum::<usize>();
        held.sort();
        for (_, k, b) in held {
            if total <= self.index_budget {
                break;
            }
            tracing::info!(index = %k, mib = b as f64 / 1048576.0, "tile index dropped: over the memory budget");
            map.remove(&k);
            total -= b;
        }
    }

    /// The indexes of several layers, in order (the base map's layers among them).
    pub async fn indexes_of(&self, layers: &[Layer]) -> Result<Vec<Arc<LayerIndex>>, StoreError> {
        let mut out = Vec::with_capacity(layers.len());
        for l in layers {
            match base::MVT_LAYERS.iter().position(|(id, _)| *id == l.id) {
                Some(i) => out.push(self.base().await?.indexes[i].clone()),
                None => out.push(self.index(l).await?),
            }
        }
        Ok(out)
    }

    /// The store the indexes are built from.
    pub fn store(&self) -> &crate::store::DynStore {
        self.catalog.store()
    }

    /// The base map ([`base`]), cut from the organisations of the store on first use (their
    /// names and boundaries only change with a new release's seed, which restarts).
    pub async fn base(&self) -> Result<Arc<base::Base>, StoreError> {
        self.base
            .get_or_try_init(|| async {
                let orgs = self.catalog.store().orgs_with_boundaries().await?;
                let built = tokio::task::spawn_blocking(move || base::Base::build(&orgs))
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("base map: {e}")))?;
                Ok::<_, StoreError>(Arc::new(built))
            })
            .await
            .cloned()
    }

    /// Builds (or reads back) every layer's index now, so the first tiles are fast, after
    /// removing persisted indexes that are no longer current.
    pub async fn warm(&self) {
        if let (Some(dir), Ok(log)) = (
            self.index_dir.clone(),
            self.log_id
                .get_or_try_init(|| self.catalog.store().log_id())
                .await
                .cloned(),
        ) {
            let current: std::collections::HashSet<String> = self
                .catalog
                .all()
                .iter()
                .map(|l| format!("{}.idx", versioned(l)))
                .collect();
            let _ = tokio::task::spawn_blocking(move || {
                persist::sweep_index_files(&dir, &log, &current)
            })
            .await;
        }
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
        // The data each index shows as the render starts: edits logged after it (or not yet
        // applied to it) may be missing from the tile, which is then kept only if none of
        // them touches it (see [`TileEngine::stale`]).
        let shown: Vec<i64> = indexes.iter().map(|i| i.seq()).collect();
        let flight_key = (key.clone(), shown.clone());
        let flight: Flight = self
            .flights
            .lock()
            .map_err(|_| StoreError::Corrupt("tile renders map poisoned".into()))?
            .entry(flight_key.clone())
            .or_default()
            .clone();
        let rendered = flight
            .get_or_try_init(|| self.render_and_keep(layers, indexes, t, gzip, key, shown, disk))
            .await
            .cloned();
        if let Ok(mut map) = self.flights.lock() {
            if map
                .get(&flight_key)
                .is_some_and(|f| Arc::ptr_eq(f, &flight))
            {
                map.remove(&flight_key);
            }
        }
        rendered
    }

    /// Renders a tile (one of the cores' turns), keeps it in the caches, and forgets it
    /// again if an edit that touches it landed meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn render_and_keep(
        &self,
        layers: &[Layer],
        indexes: Vec<Arc<LayerIndex>>,
        t: TileCoord,
        gzip: bool,
        key: String,
        shown: Vec<i64>,
        disk: Option<(Arc<DiskCache>, std::path::PathBuf)>,
    ) -> Result<Arc<Tile>, StoreError> {
        let quick = t.z >= QUICK_ZOOM;
        let lane = if quick {
            &self.quick_renders
        } else {
            &self.renders
        };
        let queued = std::time::Instant::now();
        let _core = lane
            .acquire()
            .await
            .map_err(|e| StoreError::Corrupt(format!("tile rendering stopped: {e}")))?;
        let waited = queued.elapsed();
        let finish = move |indexes: Vec<Arc<LayerIndex>>, picked: Vec<index::Picked>| {
            let tile = Tile::new(draw(&indexes, &picked, t));
            if gzip && !tile.raw.is_empty() {
                tile.gzip();
            }
            Arc::new(tile)
        };
        // Low-zoom tiles are drawn on threads of lower CPU priority: cheap deep tiles (the
        // one that shows an edit) are then never starved by them on a busy server. Their
        // features are copied out at the usual priority: a low-priority thread holding an
        // index's read lock, preempted by busier ones, kept feature edits waiting for it.
        let tile = if quick {
            tokio::task::spawn_blocking(move || {
                let picked = pick(&indexes, t);
                finish(indexes, picked)
            })
            .await
            .ok()
        } else {
            match tokio::task::spawn_blocking(move || (pick(&indexes, t), indexes)).await {
                Ok((picked, indexes)) => {
                    self.low_priority.run(move || finish(indexes, picked)).await
                }
                Err(_) => None,
            }
        }
        .ok_or_else(|| StoreError::Corrupt("tile rendering failed".into()))?;
        tracing::debug!(
            z = t.z,
            x = t.x,
            y = t.y,
            wait_ms = waited.as_secs_f64() * 1e3,
            render_ms = (queued.elapsed() - waited).as_secs_f64() * 1e3,
            "tile rendered"
        );
        // Put, then checked: an edit landing meanwhile either finds the tile to forget, or
        // is seen here.
        self.cache.put(key.clone(), tile.clone());
        if let Some((d, rel)) = disk.clone() {
            let raw = tile.raw.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || d.put(&rel, &raw)).await {
                tracing::debug!(error = %e, "disk cache write failed");
            }
        }
        if self.stale(layers, &shown, t) {
            self.cache.forget(&key);
            if let Some((d, rel)) = disk {
                tokio::task::spawn_blocking(move || d.remove_file(&rel));
            }
        }
        Ok(tile)
    }
}

/// Where the disk cache keeps a single-layer tile, relative to its folder. Ids and versions
/// come from the catalog.
pub fn disk_path(l: &Layer, t: TileCoord) -> std::path::PathBuf {
    disk_path_of(std::path::Path::new(&versioned(l)), t)
}

pub(super) fn disk_path_of(dir: &std::path::Path, t: TileCoord) -> std::path::PathBuf {
    dir.join(t.z.to_string())
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
    draw(indexes, &pick(indexes, t), t)
}

/// Copies out of each index the features a tile draws (under its read lock).
fn pick(indexes: &[Arc<LayerIndex>], t: TileCoord) -> Vec<index::Picked> {
    indexes.iter().map(|i| i.pick(t)).collect()
}

/// Draws what [`pick`] copied out: one MVT layer per index, empty ones left out.
fn draw(indexes: &[Arc<LayerIndex>], picked: &[index::Picked], t: TileCoord) -> Vec<u8> {
    let layers: Vec<Layer> = indexes.iter().map(|i| i.layer.clone()).collect();
    let names = mvt_names(&layers);
    let mut out = Vec::new();
    for ((idx, picked), name) in indexes.iter().zip(picked).zip(&names) {
        let layer = idx.draw(picked, t, name);
        if !layer.is_empty() {
            layer.finish_into(&mut out);
        }
    }
    out
}
