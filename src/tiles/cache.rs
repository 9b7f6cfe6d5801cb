//! The in-memory tile cache: bounded by bytes, oldest entries evicted first. Keys are
//! `{layers}/{z}/{x}/{y}` where `{layers}` names each layer's version (a new version can
//! never be served a stale tile); a feature edit forgets the tiles its boxes touch
//! ([`TileCache::forget_area`]). An entry is counted
//! as what it really holds: the tile, room for its gzip copy (made on demand), its key
//! twice (map and queue) and the fixed cost of the entry itself.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

/// A rendered tile: raw MVT bytes, gzip made once on first demand, and its ETag. Bytes are
/// shared (reference-counted), so serving a cached tile copies nothing.
#[derive(Debug)]
pub struct Tile {
    pub raw: Bytes,
    gzip: OnceLock<Bytes>,
    /// A quoted strong validator, for the `ETag` header.
    pub etag: String,
}

impl Tile {
    pub fn new(raw: Vec<u8>) -> Tile {
        use sha2::{Digest, Sha256};
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&raw)[..12]));
        Tile {
            raw: raw.into(),
            gzip: OnceLock::new(),
            etag,
        }
    }

    /// The gzip-compressed tile, compressed once and kept.
    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(&self.raw);
            e.finish().unwrap_or_default().into()
        })
    }
}

/// What an entry costs beyond its bytes: the `Arc<Tile>` allocation (the tile's buffers
/// and its ETag string), the map's and the queue's slots.
const ENTRY_OVERHEAD: usize = 256;

fn entry_size(key: &str, tile: &Tile) -> usize {
    tile.raw.len() * 2 + key.len() * 2 + ENTRY_OVERHEAD
}

struct Inner {
    map: HashMap<String, Arc<Tile>>,
    /// Insertion order; may hold keys already forgotten (skipped when evicting, compacted
    /// when they grow to half the queue).
    order: VecDeque<String>,
    bytes: usize,
    /// The `{layers}` parts of the keys held, to find a layer's tiles without a scan.
    sets: HashSet<String>,
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some(t) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(entry_size(key, &t));
        }
    }

    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 1024 {
            let Inner { map, order, .. } = self;
            order.retain(|k| map.contains_key(k));
        }
    }
}

/// A cache key's `{layers}`, zoom, column and row.
fn parse_key(key: &str) -> Option<(&str, u8, u32, u32)> {
    let mut parts = key.rsplitn(4, '/');
    let y = parts.next()?.parse().ok()?;
    let x = parts.next()?.parse().ok()?;
    let z = parts.next()?.parse().ok()?;
    Some((parts.next()?, z, x, y))
}

pub struct TileCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl TileCache {
    pub fn new(max_bytes: usize) -> Self {
        TileCache {
            max_bytes,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                sets: HashSet::new(),
            }),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Tile>> {
        use std::sync::atomic::Ordering;
        let hit = self.inner.lock().ok()?.map.get(key).cloned();
        match hit {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        hit
    }

    /// (hits, misses) since start, for metrics.
    pub fn hits_misses(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    pub fn put(&self, key: String, tile: Arc<Tile>) {
        let size = entry_size(&key, &tile);
        if self.max_bytes == 0 || size > self.max_bytes / 4 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some((set, ..)) = parse_key(&key) {
            if !inner.sets.contains(set) {
                inner.sets.insert(set.to_string());
            }
        }
        match inner.map.insert(key.clone(), tile) {
            None => {
                inner.order.push_back(key);
                inner.bytes += size;
            }
            Some(old) => {
                inner.bytes = inner.bytes.saturating_sub(entry_size(&key, &old)) + size;
            }
        }
        while inner.bytes > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.remove(&old);
        }
    }

    /// Forgets the tiles that show the layer version `layer` (as in keys) at places its
    /// `boxes` (Web Mercator) touch, each from the zoom given with it on, alone or with other
    /// layers. Zooms where the boxes cover many tiles are swept through the keys instead.
    pub fn forget_area(&self, layer: &str, boxes: &[([f64; 4], u8)]) {
        use super::math::{tiles_touching, MAX_ZOOM};
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let sets: Vec<String> = inner
            .sets
            .iter()
            .filter(|s| s.split(',').any(|l| l == layer))
            .cloned()
            .collect();
        if sets.is_empty() || boxes.is_empty() {
            return;
        }
        let mut sweep_from = None;
        let ranges_at = |z: u8| -> Vec<[u32; 4]> {
            boxes
                .iter()
                .filter(|(_, from)| *from <= z)
                .map(|(b, _)| tiles_touching(b, z))
                .collect()
        };
        for z in 0..=MAX_ZOOM {
            let ranges = ranges_at(z);
            let count: u64 = ranges
                .iter()
                .map(|r| u64::from(r[2] - r[0] + 1) * u64::from(r[3] - r[1] + 1))
                .sum();
            if count * sets.len() as u64 > 1024 {
                sweep_from = Some(z);
                break;
            }
            for set in &sets {
                for r in &ranges {
                    for x in r[0]..=r[2] {
                        for y in r[1]..=r[3] {
                            inner.remove(&format!("{set}/{z}/{x}/{y}"));
                        }
                    }
                }
            }
        }
        if let Some(z0) = sweep_from {
            let ranges: Vec<Vec<[u32; 4]>> = (0..=MAX_ZOOM).map(ranges_at).collect();
            let gone: Vec<String> = inner
                .map
                .keys()
                .filter(|k| {
                    parse_key(k).is_some_and(|(set, z, x, y)| {
                        z >= z0
                            && sets.iter().any(|s| s == set)
                            && ranges[usize::from(z.min(MAX_ZOOM))]
                                .iter()
                                .any(|r| r[0] <= x && x <= r[2] && r[1] <= y && y <= r[3])
                    })
                })
                .cloned()
                .collect();
            for k in gone {
                inner.remove(&k);
            }
        }
        inner.compact();
    }

    /// Forgets one tile.
    pub fn forget(&self, key: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.remove(key);
            inner.compact();
        }
    }

    /// Forgets every tile that contains `layer_id` (its versions are in the key).
    pub fn forget_layer(&self, layer_id: &str) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let needle = format!("{layer_id}@");
        let gone: Vec<String> = inner
            .map
            .keys()
            .filter(|k| k.split(['/', ',']).any(|p| p.starts_with(&needle)))
            .cloned()
            .collect();
        for k in gone {
            inner.remove(&k);
        }
        inner
            .sets
            .retain(|s| !s.split(',').any(|p| p.starts_with(&needle)));
        let Inner { map, order, .. } = &mut *inner;
        order.retain(|k| map.contains_key(k));
    }

    /// (entries, bytes counted), for metrics.
    pub fn stats(&self) -> (usize, usize) {
        self.inner.lock().map_or((0, 0), |i| (i.map.len(), i.bytes))
    }

    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.map.clear();
            inner.order.clear();
            inner.sets.clear();
            inner.bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_entries_hold() {
        // 10,000 empty tiles (the common case at the edge of a layer) in 1 MB: counted by
        // what they hold, not by their zero bytes.
        let c = TileCache::new(1 << 20);
        for i in 0..10_000 {
            c.put(
                format!("015146_nil@3.1234/16/{i}/23456"),
                Arc::new(Tile::new(Vec::new())),
            );
        }
        let (n, bytes) = c.stats();
        assert!(bytes <= 1 << 20);
        assert!(n < (1 << 20) / ENTRY_OVERHEAD, "{n} entries");
        c.put("k".into(), Arc::new(Tile::new(vec![1; 10_000])));
        assert!(c.get("k").is_some());
        assert!(c.stats().1 <= 1 << 20);
    }

    #[test]
    fn an_area_forgets_the_tiles_it_touches_and_only_those() {
        use crate::tiles::math::{lonlat_to_mercator, tile_for_lonlat};
        let c = TileCache::new(1 << 24);
        let [mx, my] = lonlat_to_mercator(9.1919, 45.4642);
        let mut here = Vec::new();
        for z in 0..=22 {
            let t = tile_for_lonlat(9.1919, 45.4642, z);
            for set in ["a@1.1", "a@1.1,b@2.2", "b@2.2"] {
                let key = format!("{set}/{z}/{}/{}", t.x, t.y);
                c.put(key.clone(), Arc::new(Tile::new(vec![z; 10])));
                here.push(key);
            }
            // A tile two columns away, untouched.
            c.put(
                format!("a@1.1/{z}/{}/{}", t.x + 2, t.y),
                Arc::new(Tile::new(vec![1])),
            );
        }
        c.forget_area("a@1.1", &[([mx, my, mx, my], 0)]);
        for key in &here {
            assert_eq!(c.get(key).is_some(), key.starts_with("b@"), "{key}");
        }
        assert_eq!(c.stats().0, 23 + 23, "b's tiles and the far ones stay");
        // A box covering a whole country sweeps instead of listing tiles.
        // (two columns east of Milan is outside it up to z5).
        c.forget_area("a@1.1", &[([-1e6, 4e6, 2e6, 7e6], 0)]);
        assert_eq!(c.stats().0, 23 + 6);
        // A box drawn only from z12 on leaves the tiles above.
        let t = tile_for_lonlat(9.1919, 45.4642, 11);
        c.put(
            format!("a@1.1/11/{}/{}", t.x, t.y),
            Arc::new(Tile::new(vec![1])),
        );
        c.forget_area("a@1.1", &[([mx, my, mx, my], 12)]);
        assert!(c.get(&format!("a@1.1/11/{}/{}", t.x, t.y)).is_some());
    }
}
