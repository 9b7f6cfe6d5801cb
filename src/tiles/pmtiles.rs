//! A PMTiles v3 writer (single file, Hilbert-ordered, gzip tiles and directories, identical
//! tiles stored once), for static apps and CDNs.

use std::collections::HashMap;
use std::io::Write;

use super::math::TileCoord;

/// The PMTiles tile id: tiles of lower zooms first, then the Hilbert index within the zoom.
pub fn tile_id(t: TileCoord) -> u64 {
    let base: u64 = (0..t.z as u32).map(|i| 1u64 << (2 * i)).sum();
    let n = 1u64 << t.z;
    let (mut x, mut y) = (t.x as u64, t.y as u64);
    let mut d = 0u64;
    let mut s = n / 2;
    while s > 0 {
        let rx = ((x & s) > 0) as u64;
        let ry = ((y & s) > 0) as u64;
        d += s * s * ((3 * rx) ^ ry);
        // rotate
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - (x & (s - 1)).min(s - 1);
                y = s - 1 - (y & (s - 1)).min(s - 1);
            }
            std::mem::swap(&mut x, &mut y);
        }
        x &= s - 1;
        y &= s - 1;
        s /= 2;
    }
    base + d
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tile_id: u64,
    offset: u64,
    length: u32,
    run_length: u32,
}

fn serialize_dir(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, entries.len() as u64);
    let mut last = 0;
    for e in entries {
        varint(&mut out, e.tile_id - last);
        last = e.tile_id;
    }
    entries
        .iter()
        .for_each(|e| varint(&mut out, e.run_length as u64));
    entries
        .iter()
        .for_each(|e| varint(&mut out, e.length as u64));
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && e.offset == entries[i - 1].offset + entries[i - 1].length as u64 {
            varint(&mut out, 0);
        } else {
            varint(&mut out, e.offset + 1);
        }
    }
    gzip(&out)
}

/// Collects tiles (in any order) and writes the archive.
#[derive(Default)]
pub struct PmtilesWriter {
    /// (tile id, data index)
    tiles: Vec<(u64, usize)>,
    blobs: Vec<Vec<u8>>,
    by_content: HashMap<Vec<u8>, usize>,
    min_zoom: u8,
    max_zoom: u8,
}

impl PmtilesWriter {
    /// Adds a tile's gzip-compressed MVT bytes; empty tiles should not be added.
    pub fn add(&mut self, t: TileCoord, gz: Vec<u8>) {
        let idx = match self.by_content.get(&gz) {
            Some(i) => *i,
            None => {
                self.blobs.push(gz.clone());
                self.by_content.insert(gz, self.blobs.len() - 1);
                self.blobs.len() - 1
            }
        };
        if self.tiles.is_empty() {
            self.min_zoom = t.z;
            self.max_zoom = t.z;
        }
        self.min_zoom = self.min_zoom.min(t.z);
        self.max_zoom = self.max_zoom.max(t.z);
        self.tiles.push((tile_id(t), idx));
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// Writes the archive: `bounds` [w, s, e, n] in degrees, `metadata` the JSON metadata.
    pub fn finish(
        mut self,
        out: &mut impl Write,
        bounds: [f64; 4],
        metadata: &serde_json::Value,
    ) -> std::io::Result<()> {
        self.tiles.sort_unstable();
        // Tile data in tile-id order (clustered); shared contents keep their first offset.
        let mut data = Vec::new();
        let mut offsets: HashMap<usize, (u64, u32)> = HashMap::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(self.tiles.len());
        for (id, idx) in &self.tiles {
            let (off, len) = *offsets.entry(*idx).or_insert_with(|| {
                let off = data.len() as u64;
                data.extend_from_slice(&self.blobs[*idx]);
                (off, self.blobs[*idx].len() as u32)
            });
            match entries.last_mut() {
                Some(last)
                    if last.tile_id + last.run_length as u64 == *id
                        && last.offset == off
                        && last.length == len =>
                {
                    last.run_length += 1;
                }
                _ => entries.push(Entry {
                    tile_id: *id,
                    offset: off,
                    length: len,
                    run_length: 1,
                }),
            }
        }
        // Root directory, with leaves when it would not fit in the first 16 KiB.
        let (root, leaves) = {
            let root = serialize_dir(&entries);
            if root.len() <= 16_384 - 127 {
                (root, Vec::new())
            } else {
                let mut leaf_size = 4096usize;
                loop {
                    let mut leaves = Vec::new();
                    let mut root_entries = Vec::new();
                    for chunk in entries.chunks(leaf_size) {
                        let leaf = serialize_dir(chunk);
                        root_entries.push(Entry {
                            tile_id: chunk[0].tile_id,
                            offset: leaves.len() as u64,
                            length: leaf.len() as u32,
                            run_length: 0,
                        });
                        leaves.extend_from_slice(&leaf);
                    }
                    let root = serialize_dir(&root_entries);
                    if root.len() <= 16_384 - 127 {
                        break (root, leaves);
                    }
                    leaf_size *= 2;
                }
            }
        };
        let meta = gzip(metadata.to_string().as_bytes());
        let root_off = 127u64;
        let meta_off = root_off + root.len() as u64;
        let leaf_off = meta_off + meta.len() as u64;
        let data_off = leaf_off + leaves.len() as u64;
        let mut h = Vec::with_capacity(127);
        h.extend_from_slice(b"PMTiles");
        h.push(3);
        for v in [
            root_off,
            root.len() as u64,
            meta_off,
            meta.len() as u64,
            leaf_off,
            leaves.len() as u64,
            data_off,
            data.len() as u64,
            self.tiles.len() as u64,
            entries.len() as u64,
            self.blobs.len() as u64,
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        // clustered, internal compression gzip, tile compression gzip, tile type MVT.
        h.extend_from_slice(&[1, 2, 2, 1, self.min_zoom, self.max_zoom]);
        let e7 = |v: f64| ((v * 1e7).round() as i32).to_le_bytes();
        for v in bounds {
            h.extend_from_slice(&e7(v));
        }
        h.push(self.min_zoom.max(self.max_zoom.saturating_sub(4)));
        h.extend_from_slice(&e7((bounds[0] + bounds[2]) / 2.0));
        h.extend_from_slice(&e7((bounds[1] + bounds[3]) / 2.0));
        debug_assert_eq!(h.len(), 127);
        out.write_all(&h)?;
        out.write_all(&root)?;
        out.write_all(&meta)?;
        out.write_all(&leaves)?;
        out.write_all(&data)?;
        out.flush()
    }
}

/// The JSON metadata of a PMTiles v3 archive on disk (for an archive's layer names).
pub fn read_metadata(path: &std::path::Path) -> std::io::Result<serde_json::Value> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut f = std::fs::File::open(path)?;
    let mut h = [0u8; 127];
    f.read_exact(&mut h)?;
    if &h[..7] != b"PMTiles" || h[7] != 3 {
        return Err(bad("not a PMTiles v3 archive"));
    }
    let at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or_default());
    let (offset, len) = (at(24), at(32));
    if len > 16 << 20 {
        return Err(bad("metadata over 16 MiB"));
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut raw = vec![0u8; len as usize];
    f.read_exact(&mut raw)?;
    let text = match h[97] {
        2 => {
            let mut s = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut s)?;
            s
        }
        0 | 1 => raw,
        _ => return Err(bad("metadata compression not supported")),
    };
    serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ids_match_the_spec() {
        // Values from the PMTiles v3 specification's examples.
        let id = |z, x, y| tile_id(TileCoord::new(z, x, y).unwrap());
        assert_eq!(id(0, 0, 0), 0);
        assert_eq!(id(1, 0, 0), 1);
        assert_eq!(id(1, 0, 1), 2);
        assert_eq!(id(1, 1, 1), 3);
        assert_eq!(id(1, 1, 0), 4);
        assert_eq!(id(2, 0, 0), 5);
        assert_eq!(id(3, 0, 0), 21);
        assert_eq!(id(12, 3423, 1763), 19_078_479);
    }
}
