//! Tile indexes on a server's own disk, so that a restart or an eviction costs a page-in
//! rather than a scan of the store. A file holds an index as it is in memory — slots, the
//! geometry arenas, the packed values, the low-zoom levels — and the change-log sequence it
//! shows; its name carries the change log's identity and the layer's data key
//! (`{log}/{id}@{version}.{base_seq}.idx`), so a new version, a replaced store or a
//! restored backup never reuse it. Edits made since the file was written are in the change
//! log: the engine applies them after loading, which is also how an index and its pending
//! edits survive `kill -9`. A file is written whole under a temporary name, then renamed;
//! a CRC-32 over its body catches a torn or damaged file, which is then rebuilt.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::arena::{Arena, GeomRef, QBox};
use super::index::{Inner, LayerIndex, Level, Slot, EMPTY};
use super::packed::PackedTree;
use super::values::{Values, ValuesRef};
use super::versioned;
use crate::model::Layer;

/// Version 4: boxes in steps, coded geometries, values with an end byte, decimals and
/// shared texts, fixed-size slots and level items.
const MAGIC: &[u8; 8] = b"ATLIDX04";
/// A slot on disk: fid, box, geometry reference, values offset.
const SLOT_BYTES: usize = 8 + 16 + 12 + 4;
/// A low-zoom level's item on disk: slot, generalised geometry reference (zeros: none).
const ITEM_BYTES: usize = 16;
/// Bytes read or written at a time.
const BLOCK: usize = 1 << 20;

/// Writes `idx` to `path` (atomically). Holds the index's read lock meanwhile.
pub fn save(path: &Path, idx: &LayerIndex) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let file = std::fs::File::create(&tmp)?;
    let mut w = Body {
        out: file,
        crc: flate2::Crc::new(),
        block: Vec::with_capacity(BLOCK + 64),
    };
    w.out.write_all(MAGIC)?;
    {
        let inner = idx.read();
        w.i64(idx.seq())?;
        w.u64(inner.slots.len() as u64)?;
        for s in &inner.slots {
            w.i64(s.fid)?;
            w.words(&s.qbox.words())?;
            w.words(&s.geom.to_words())?;
            w.words(&[s.values.at])?;
        }
        w.u64(inner.free.len() as u64)?;
        w.words(&inner.free)?;
        w.arena(&inner.geoms)?;
        let (values, texts, per_field) = inner.values.parts();
        w.u64(values.len() as u64)?;
        w.bytes(values)?;
        // The shared texts: their lengths, then their bytes one after another.
        w.u64(texts.len() as u64)?;
        w.words(&texts.iter().map(|t| t.len() as u32).collect::<Vec<_>>())?;
        w.u64(texts.iter().map(|t| t.len() as u64).sum())?;
        for t in texts {
            w.bytes(t.as_bytes())?;
        }
        w.u64(per_field.len() as u64)?;
        w.words(per_field)?;
        w.u64(inner.levels.len() as u64)?;
        for l in &inner.levels {
            w.bytes(&[l.max_zoom, u8::from(l.tree.is_some())])?;
            // Only the items a tree holds (edits leave dead ones behind), in their order.
            let items: Vec<(u32, Option<GeomRef>)> = match &l.tree {
                None => l.items.clone(),
                Some(t) => t.ids().iter().map(|&i| l.items[i as usize]).collect(),
            };
            w.u64(items.len() as u64)?;
            // 16 bytes each: the slot, and the generalised geometry's words (zero: none).
            for (slot, g) in items {
                w.words(&[slot])?;
                w.words(&g.map_or([0; 3], GeomRef::to_words))?;
            }
            w.arena(&l.geoms)?;
        }
    }
    w.flush()?;
    let crc = w.crc.sum();
    let mut file = w.out;
    file.write_all(&crc.to_le_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Reads an index of `layer` back; None if the file is missing, damaged or not one. Read
/// as a stream (the file is never in memory whole), its CRC checked at the end.
pub fn load(path: &Path, layer: &Layer) -> Option<LayerIndex> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut r = Reader {
        input: file,
        crc: flate2::Crc::new(),
        left: size.checked_sub((MAGIC.len() + 4) as u64)?,
        buf: Vec::new(),
        at: 0,
    };
    let mut magic = [0u8; 8];
    std::io::Read::read_exact(&mut r.input, &mut magic).ok()?;
    if &magic != MAGIC {
        return None;
    }
    let index = read_body(&mut r, layer);
    let mut crc = [0u8; 4];
    let whole = std::io::Read::read_exact(&mut r.input, &mut crc).is_ok()
        && r.remaining() == 0
        && r.crc.sum().to_le_bytes() == crc;
    if index.is_none() || !whole {
        tracing::warn!(file = %path.display(), "persisted tile index damaged: rebuilt");
        return None;
    }
    index
}

fn read_body(r: &mut Reader, layer: &Layer) -> Option<LayerIndex> {
    let started = std::time::Instant::now();
    let mut stages: Vec<(&str, u128)> = Vec::new();
    let mut stage = |name: &'static str| stages.push((name, started.elapsed().as_millis()));
    let seq = r.i64()?;
    let n = r.len(SLOT_BYTES)?;
    let mut slots = Vec::with_capacity(n);
    // A block of slots at a time: 40 bytes each, fid, box, geometry, values.
    let mut block = vec![0u8; SLOT_BYTES * 4096];
    let mut left = n;
    while left > 0 {
        let take = left.min(4096);
        let buf = &mut block[..take * SLOT_BYTES];
        r.fill(buf)?;
        for c in buf.chunks_exact(SLOT_BYTES) {
            let w = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            let fid = i64::from_le_bytes(c[..8].try_into().ok()?);
            let geom = match GeomRef::from_words([w(24), w(28), w(32)]) {
                Some(g) => g,
                // An empty slot's references point nowhere: only live ones must be whole.
                None if fid == EMPTY => GeomRef::from_words([0, 0, 1 << 30])?,
                None => return None,
            };
            slots.push(Slot {
                fid,
                qbox: QBox::from_words([w(8), w(12), w(16), w(20)]),
                geom,
                values: ValuesRef { at: w(36) },
            });
        }
        left -= take;
    }
    let n = r.len(4)?;
    let free = r.u32s(n)?;
    let geoms = r.arena()?;
    let n = r.len(1)?;
    let values = r.bytes(n)?;
    let n = r.len(4)?;
    let lengths = r.u32s(n)?;
    let n = r.len(1)?;
    let all = String::from_utf8(r.bytes(n)?).ok()?;
    let mut texts = Vec::with_capacity(lengths.len());
    let mut at = 0usize;
    for len in lengths {
        let end = at.checked_add(len as usize)?;
        texts.push(Box::<str>::from(all.get(at..end)?));
        at = end;
    }
    let n = r.len(4)?;
    let per_field = r.u32s(n)?;
    let values = Values::from_parts(values, texts, per_field);
    stage("slots, geometries, values");
    let live = |s: &Slot| s.fid != EMPTY;
    if slots
        .iter()
        .any(|s| live(s) && !(geoms.holds(s.geom) && values.holds(s.values)))
        || free.iter().any(|&f| f as usize >= slots.len())
    {
        return None;
    }
    let mut levels = Vec::new();
    for _ in 0..r.len(1)? {
        let [max_zoom, has_tree] = [r.u8()?, r.u8()?];
        let n = r.len(ITEM_BYTES)?;
        let mut items = Vec::with_capacity(n);
        let mut left = n;
        while left > 0 {
            let take = left.min(4096);
            let buf = &mut block[..take * ITEM_BYTES];
            r.fill(buf)?;
            for c in buf.chunks_exact(ITEM_BYTES) {
                let w = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                let g = match [w(4), w(8), w(12)] {
                    [0, 0, 0] => None,
                    words => Some(GeomRef::from_words(words)?),
                };
                items.push((w(0), g));
            }
            left -= take;
        }
        let geoms = r.arena()?;
        if items
            .iter()
            .any(|(s, g)| *s as usize >= slots.len() || g.is_some_and(|g| !geoms.holds(g)))
        {
            return None;
        }
        let tree = (has_tree == 1)
            .then(|| PackedTree::new(items.iter().map(|(s, _)| slots[*s as usize].bbox())));
        levels.push(Level {
            max_zoom,
            tree,
            items,
            geoms,
            vacated: Default::default(),
        });
    }
    // Files written before point layers dropped their levels are read again from the store.
    if levels.len() != super::index::levels_of(layer).len() {
        return None;
    }
    stage("checks and levels");
    let mut tree = PackedTree::new(slots.iter().map(|s| s.bbox()));
    for (i, s) in slots.iter().enumerate() {
        if !live(s) {
            tree.remove(i as u32);
        }
    }
    stage("tree");
    tracing::info!(layer = %layer.id, ?stages, "tile index read: milliseconds since the start, by stage");
    let inner = Inner {
        tree,
        slots,
        geoms,
        values,
        levels,
        free,
        changes: Default::default(),
        laid_out: 0,
    };
    Some(LayerIndex::from_parts(layer.clone(), inner, seq))
}

/// A writer that keeps the CRC of what it writes, a block at a time.
struct Body<W: Write> {
    out: W,
    crc: flate2::Crc,
    block: Vec<u8>,
}

impl<W: Write> Body<W> {
    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.block.extend_from_slice(b);
        if self.block.len() >= BLOCK {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.block);
        self.out.write_all(&self.block)?;
        self.block.clear();
        Ok(())
    }
    fn u64(&mut self, v: u64) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> std::io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn words(&mut self, w: &[u32]) -> std::io::Result<()> {
        for v in w {
            self.bytes(&v.to_le_bytes())?;
        }
        Ok(())
    }
    fn arena(&mut self, a: &Arena) -> std::io::Result<()> {
        let (pts, rings) = a.parts();
        self.u64(pts.len() as u64)?;
        self.bytes(pts)?;
        self.u64(rings.len() as u64)?;
        self.words(rings)
    }
}

/// A reader of a file's body, a block at a time, that keeps its CRC; every read checked
/// against what is left.
struct Reader {
    input: std::fs::File,
    crc: flate2::Crc,
    /// Bytes of the body not read from the file yet.
    left: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Reader {
    fn remaining(&self) -> u64 {
        self.left + (self.buf.len() - self.at) as u64
    }
    fn fill(&mut self, out: &mut [u8]) -> Option<()> {
        let mut done = 0;
        while done < out.len() {
            if self.at == self.buf.len() {
                // Never past the body: the CRC follows it.
                let n = usize::try_from(self.left.min(BLOCK as u64)).ok()?;
                if n == 0 {
                    return None;
                }
                self.buf.resize(n, 0);
                std::io::Read::read_exact(&mut self.input, &mut self.buf).ok()?;
                self.crc.update(&self.buf);
                self.left -= n as u64;
                self.at = 0;
            }
            let n = (out.len() - done).min(self.buf.len() - self.at);
            out[done..done + n].copy_from_slice(&self.buf[self.at..self.at + n]);
            self.at += n;
            done += n;
        }
        Some(())
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut b = vec![0u8; n];
        self.fill(&mut b)?;
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    /// A count of items of at least `min` bytes each, checked against what is left.
    fn len(&mut self, min: usize) -> Option<usize> {
        let n = u64::from_le_bytes(self.array()?);
        (n.checked_mul(min as u64)? <= self.remaining()).then_some(usize::try_from(n).ok()?)
    }
    fn arena(&mut self) -> Option<Arena> {
        let n = self.len(1)?;
        let pts = self.bytes(n)?;
        let n = self.len(4)?;
        let rings = self.u32s(n)?;
        Some(Arena::from_parts(pts, rings))
    }
    /// `n` little-endian u32s, read a block at a time.
    fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let mut out = Vec::with_capacity(n);
        let mut block = vec![0u8; 4 * 16384];
        let mut left = n;
        while left > 0 {
            let take = left.min(16384);
            let buf = &mut block[..take * 4];
            self.fill(buf)?;
            out.extend(
                buf.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            left -= take;
        }
        Some(out)
    }
}

impl super::TileEngine {
    /// Where `layer`'s index is persisted, once the change log's identity is known.
    pub(super) fn index_file(&self, layer: &Layer) -> Option<std::path::PathBuf> {
        let dir = self.index_dir.as_ref()?.join(self.log_id.get()?);
        Some(dir.join(format!("{}.idx", versioned(layer))))
    }

    /// The persisted index of `layer`, if there is a good one.
    pub(super) async fn load(&self, layer: &Layer) -> Option<LayerIndex> {
        self.index_dir.as_ref()?;
        let id = self
            .log_id
            .get_or_try_init(|| self.catalog.store().log_id())
            .await
            .ok()?;
        if id.is_empty() {
            return None;
        }
        let file = self.index_file(layer)?;
        let l = layer.clone();
        tokio::task::spawn_blocking(move || {
            let idx = load(&file, &l);
            super::memory::give_back();
            idx
        })
        .await
        .ok()
        .flatten()
    }

    /// Persists an index in the background (a failure is logged: the index is rebuilt
    /// from the store next time).
    pub(super) async fn save(&self, idx: &Arc<LayerIndex>) {
        let Some(file) = self.index_file(&idx.layer) else {
            return;
        };
        let idx = idx.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            match save(&file, &idx) {
                Ok(()) => tracing::info!(layer = %idx.layer.id, file = %file.display(),
                    ms = started.elapsed().as_millis() as u64, "tile index written to disk"),
                Err(e) => {
                    tracing::warn!(layer = %idx.layer.id, error = %e, "tile index not written to disk")
                }
            }
        });
    }
}

/// Removes persisted indexes of other change logs (a replaced store) and of layer versions
/// that are no longer current.
pub(super) fn sweep_index_files(
    dir: &std::path::Path,
    log: &str,
    current: &std::collections::HashSet<String>,
) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name != log {
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            if !current.contains(&*f.file_name().to_string_lossy()) {
                tracing::info!(file = %f.path().display(), "persisted tile index no longer current: removed");
                let _ = std::fs::remove_file(f.path());
            }
        }
    }
}
