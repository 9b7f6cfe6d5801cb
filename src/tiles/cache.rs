//! The in-memory tile cache: bounded by bytes, oldest entries evicted first. Keys carry the
//! layer versions, so a new version can never be served a stale tile. An entry is counted
//! as what it really holds: the tile, room for its gzip copy (made on demand), its key
//! twice (map and queue) and the fixed cost of the entry itself.

use std::collections::{HashMap, VecDeque};
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
    order: VecDeque<String>,
    bytes: usize,
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
        if inner.map.insert(key.clone(), tile).is_none() {
            inner.order.push_back(key);
            inner.bytes += size;
        }
        while inner.bytes > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(t) = inner.map.remove(&old) {
                inner.bytes = inner.bytes.saturating_sub(entry_size(&old, &t));
            }
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
            if let Some(t) = inner.map.remove(&k) {
                inner.bytes = inner.bytes.saturating_sub(entry_size(&k, &t));
            }
        }
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
}
