//! How feature edits reach the tile engine without a rebuild: the edits logged above an
//! index's sequence are read from the change log and applied to it in place
//! ([`TileEngine::catch_up`]); the cached tiles the edited features touch — before and
//! after, from the first zoom that draws them — are forgotten in memory and on disk; and a
//! tile rendered while edits land is kept only if none of them touches it
//! ([`TileEngine::stale`], from a record of the recent edits' boxes).

use std::collections::HashMap;
use std::sync::Arc;

use super::index::LayerIndex;
use super::{disk_path_of, index, math, versioned, TileCoord, TileEngine};
use crate::diskcache::DiskCache;
use crate::model::{GeomType, Layer};
use crate::store::changes::{ChangeKind, FeatureChange};
use crate::store::StoreError;

/// The marker in a layer version's disk cache folder: the data sequence its tiles show.
pub(super) const DISK_SEQ: &str = "seq";

/// Boxes in Web Mercator, each with the first zoom that draws it.
pub(super) type Boxes = Vec<([f64; 4], u8)>;

/// The feature edits heard lately, newest last, so that a tile rendered while they landed
/// can be kept when none of them touches it.
#[derive(Default)]
pub(super) struct Recent {
    /// (layer id, change sequence, the edited features' boxes before and after).
    edits: std::collections::VecDeque<(String, i64, Boxes)>,
    /// The highest sequence among those no longer held.
    dropped: i64,
}

/// How many edits [`Recent`] holds.
const RECENT_EDITS: usize = 4096;

impl TileEngine {
    /// After feature edits: forgets the tiles the features touched (before and after), on
    /// disk too, and catches the index up in the background if it is built.
    pub(super) fn edited(
        self: &Arc<Self>,
        layer: &Arc<Layer>,
        features: &[FeatureChange],
        seq: i64,
    ) {
        let key = versioned(layer);
        // Each box with the first zoom that draws it: a building's edit leaves the heavy
        // low-zoom tiles, which never showed it, in the cache.
        let points = matches!(layer.geom_type, GeomType::Point | GeomType::MultiPoint);
        let boxes: Boxes = features
            .iter()
            .flat_map(|f| [f.before, f.after])
            .flatten()
            .map(|b| {
                let m = index::lonlat_bbox_to_merc(&b);
                (m, index::first_zoom(&m, points))
            })
            .collect();
        tracing::debug!(layer = %layer.id, features = features.len(), "features edited: their tiles are dropped");
        if let Ok(mut recent) = self.recent.lock() {
            recent
                .edits
                .push_back((layer.id.clone(), seq, boxes.clone()));
            while recent.edits.len() > RECENT_EDITS {
                if let Some((_, s, _)) = recent.edits.pop_front() {
                    recent.dropped = recent.dropped.max(s);
                }
            }
        }
        self.cache.forget_area(&key, &boxes);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(disk) = self.disk.clone() {
            let (key, data_seq) = (key.clone(), layer.data_seq.max(seq));
            rt.spawn_blocking(move || forget_on_disk(&disk, &key, &boxes, data_seq));
        }
        let built = self
            .indexes
            .lock()
            .ok()
            .and_then(|m| m.get(&key).and_then(|c| c.0.get().cloned()));
        if let Some(idx) = built {
            let engine = self.clone();
            rt.spawn(async move {
                if let Err(e) = engine.catch_up(&idx).await {
                    tracing::warn!(layer = %idx.layer.id, error = %e, "index catch-up failed; the next tile retries");
                }
            });
        }
    }

    /// Drops disk-cached layer versions that are no longer current, or whose tiles may
    /// predate edits (made while this process was down, or between a commit and the
    /// marker's update: the marker is written after the tiles are forgotten).
    pub(super) fn sweep_disk(&self) {
        let Some(disk) = &self.disk else {
            return;
        };
        let current: HashMap<String, i64> = self
            .catalog
            .all()
            .iter()
            .map(|l| (versioned(l), l.data_seq.max(l.base_seq)))
            .collect();
        for dir in disk.subdirs(std::path::Path::new("")) {
            let name = dir.to_string_lossy().to_string();
            let shown = disk
                .get(&dir.join(DISK_SEQ))
                .and_then(|b| String::from_utf8(b).ok()?.trim().parse::<i64>().ok());
            let fresh = match (current.get(&name), shown) {
                (Some(data_seq), Some(shown)) => shown >= *data_seq,
                // No marker: written before any edit, so only good while the layer has none.
                (Some(data_seq), None) => name.rsplit('.').next() == Some(&data_seq.to_string()),
                (None, _) => false,
            };
            if !fresh {
                tracing::info!(dir = %name, "disk tile cache: stale layer version dropped");
                disk.remove_dir(&dir);
            }
        }
    }

    /// Applies to an index the feature edits the change log holds above its sequence, up
    /// to the layer's data sequence in the catalog: the store says which features changed,
    /// and their current rows are read (so edits seen twice or out of order converge).
    pub async fn catch_up(&self, idx: &Arc<LayerIndex>) -> Result<(), StoreError> {
        let target = match self.catalog.get(&idx.layer.id) {
            Some(now) if versioned(&now) == versioned(&idx.layer) => now.data_seq,
            _ => return Ok(()),
        };
        if idx.seq() >= target {
            return Ok(());
        }
        let _one = idx.catching_up.lock().await;
        let store = self.catalog.store();
        while idx.seq() < target {
            let changes = store
                .layer_changes_since(&idx.layer.id, idx.seq(), 500)
                .await?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                break;
            };
            let mut changed: Vec<(i64, Option<[f64; 4]>)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for f in changes
                .iter()
                .filter(|c| c.kind == ChangeKind::Edited)
                .flat_map(|c| &c.features)
            {
                if seen.insert(f.fid) {
                    changed.push((f.fid, f.before));
                }
            }
            let mut current = Vec::with_capacity(changed.len());
            for (fid, _) in &changed {
                if let Some(f) = store.item(&idx.layer, *fid).await? {
                    current.push(f);
                }
            }
            let started = std::time::Instant::now();
            let i = idx.clone();
            let n = changed.len();
            tokio::task::spawn_blocking(move || i.apply(&changed, current, last))
                .await
                .map_err(|e| StoreError::Corrupt(format!("index update failed: {e}")))?;
            tracing::debug!(layer = %idx.layer.id, features = n, seq = last,
                us = started.elapsed().as_micros() as u64, "index caught up");
        }
        Ok(())
    }

    /// Whether a tile rendered from indexes showing the data sequences `shown` may miss an
    /// edit: one logged since (up to the catalog's sequence now) that touches it — or one
    /// not yet known here (its listener has not run, or the record of recent edits no
    /// longer reaches back that far), to be safe.
    pub(super) fn stale(&self, layers: &[Layer], shown: &[i64], t: TileCoord) -> bool {
        let Ok(recent) = self.recent.lock() else {
            return true;
        };
        layers.iter().zip(shown).any(|(l, &from)| {
            let Some(to) = self.catalog.get(&l.id).map(|c| c.data_seq) else {
                return true;
            };
            if to <= from {
                return false;
            }
            if recent.dropped >= from {
                return true;
            }
            let mut newest_known = false;
            for (id, seq, boxes) in &recent.edits {
                if id != &l.id || *seq <= from || *seq > to {
                    continue;
                }
                newest_known |= *seq == to;
                let hits = boxes.iter().any(|(b, first)| {
                    let r = math::tiles_touching(b, t.z);
                    *first <= t.z && r[0] <= t.x && t.x <= r[2] && r[1] <= t.y && t.y <= r[3]
                });
                if hits {
                    return true;
                }
            }
            !newest_known
        })
    }
}

/// Forgets disk-cached tiles of one layer version where boxes (Web Mercator) touch them:
/// each tile at zooms where they cover few, whole zoom folders beyond; then records the
/// data sequence the folder now shows.
pub(super) fn forget_on_disk(disk: &DiskCache, key: &str, boxes: &Boxes, data_seq: i64) {
    let dir = std::path::PathBuf::from(key);
    for z in 0..=math::MAX_ZOOM {
        let ranges: Vec<[u32; 4]> = boxes
            .iter()
            .filter(|(_, from)| *from <= z)
            .map(|(b, _)| math::tiles_touching(b, z))
            .collect();
        let count: u64 = ranges
            .iter()
            .map(|r| u64::from(r[2] - r[0] + 1) * u64::from(r[3] - r[1] + 1))
            .sum();
        if count > 256 {
            disk.remove_dir(&dir.join(z.to_string()));
            continue;
        }
        for r in ranges {
            for x in r[0]..=r[2] {
                for y in r[1]..=r[3] {
                    disk.remove_file(&disk_path_of(&dir, TileCoord { z, x, y }));
                }
            }
        }
    }
    if let Err(e) = disk.put(&dir.join(DISK_SEQ), data_seq.to_string().as_bytes()) {
        tracing::debug!(error = %e, "disk cache marker not written");
    }
}
