//! The in-memory tile cache: bounded by bytes, oldest entries evicted first. Keys carry the
//! layer versions, so a new version can never be served a stale tile.

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

struct Inner {
    map: HashMap<String, Arc<Tile>>,
    order: VecDeque<String>,
    bytes: usize,
}

pub struct TileCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
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
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Tile>> {
        self.inner.lock().ok()?.map.get(key).cloned()
    }

    pub fn put(&self, key: String, tile: Arc<Tile>) {
        if self.max_bytes == 0 || tile.raw.len() > self.max_bytes / 4 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        // Compressed copies count too: reserve for them up front.
        let size = tile.raw.len() * 2 + key.len();
        if inner.map.insert(key.clone(), tile).is_none() {
            inner.order.push_back(key);
            inner.bytes += size;
        }
        while inner.bytes > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(t) = inner.map.remove(&old) {
                inner.bytes = inner.bytes.saturating_sub(t.raw.len() * 2 + old.len());
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
                inner.bytes = inner.bytes.saturating_sub(t.raw.len() * 2 + k.len());
            }
        }
        let Inner { map, order, .. } = &mut *inner;
        order.retain(|k| map.contains_key(k));
    }

    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.map.clear();
            inner.order.clear();
            inner.bytes = 0;
        }
    }
}
