//! One layer version held in memory for tiling: features in Web Mercator, in spatial order,
//! kept compactly ([`super::arena`]: flat arrays of quantised coordinates and packed
//! values), an R-tree of their bounding boxes, and lighter trees with generalised geometry
//! for low zooms. A tile is a query of a tree, then decode → clip → quantise → simplify →
//! orient → make valid → encode, per feature. Feature edits are applied in place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use super::arena::{Arena, GeomRef, QBox};
use super::clip::{clip_line, quantize, simplify, simplify_merc, IPt, TileSpace};
use super::feature::{from_wkb, merc_bbox, MercGeom, Pt};
use super::math::{TileCoord, BUFFER, EXTENT};
use super::mvt::{Commands, GeomKind, LayerBuilder};
use super::packed::PackedTree;
use super::polygon::PolygonBuilder;
use super::values::{Values, ValuesRef};
use crate::model::{GeomType, Layer, Value};
use crate::store::StoredFeature;

pub struct LayerIndex {
    pub layer: Layer,
    inner: RwLock<Inner>,
    /// The change-log sequence of the layer's data this index shows: its build, then each
    /// batch of feature edits applied in place ([`LayerIndex::apply`]).
    seq: AtomicI64,
    /// Held while edits are read from the store and applied, so one catch-up runs at a time.
    pub(super) catching_up: tokio::sync::Mutex<()>,
}

pub(super) struct Inner {
    /// By slot. A deleted feature leaves an empty slot (fid [`EMPTY`], in no tree) that the
    /// next inserted feature takes.
    pub(super) slots: Vec<Slot>,
    pub(super) geoms: Arena,
    pub(super) values: Values,
    /// The slots' boxes.
    pub(super) tree: PackedTree,
    /// What low-zoom tiles draw, one level per band of zooms (see [`LEVELS`]).
    pub(super) levels: Vec<Level>,
    pub(super) free: Vec<u32>,
    /// The features changed by the edits applied lately (not persisted).
    pub(super) changes: Changes,
    /// Bytes of geometry and values after the index was last laid out (0: not known yet);
    /// see [`Inner::compact_if_grown`].
    pub(super) laid_out: usize,
}

impl Inner {
    /// Bytes of geometry and values laid out, with what edits left behind.
    fn used(&self) -> usize {
        self.geoms.used()
            + self.values.used()
            + self.levels.iter().map(|l| l.geoms.used()).sum::<usize>()
    }

    /// Lays the geometries and values out again without what edits left behind (an edit
    /// appends the new geometry and values and leaves the old unreferenced), once they have
    /// grown by half since they were last laid out: under a steady stream of edits the
    /// index stays within 1.5 times its live size, and each edited byte is copied about
    /// twice in all. Runs under the write lock (`benches/index_edits.rs`: 150–160 ms for
    /// 212,850 polygons, 0.8 s for a million).
    fn compact_if_grown(&mut self) {
        let used = self.used();
        if self.laid_out == 0 {
            self.laid_out = used;
        }
        if used <= self.laid_out + self.laid_out / 2 + (1 << 20) {
            return;
        }
        let mut geoms = Arena::default();
        for s in &mut self.slots {
            s.geom = geoms.copy(&self.geoms, s.geom);
        }
        geoms.shrink();
        self.geoms = geoms;
        let (mut values, refs) =
            std::mem::take(&mut self.values).reorder(self.slots.iter().map(|s| s.values));
        values.shrink();
        for (s, r) in self.slots.iter_mut().zip(refs) {
            s.values = r;
        }
        self.values = values;
        for level in &mut self.levels {
            let mut geoms = Arena::default();
            for item in &mut level.items {
                item.1 = item.1.map(|g| geoms.copy(&level.geoms, g));
            }
            geoms.shrink();
            level.geoms = geoms;
        }
        tracing::debug!(
            before = used,
            after = self.used(),
            "tile index laid out again"
        );
        self.laid_out = self.used();
    }
}

/// The features each batch of edits applied to an index changed, by generation: a big pick
/// copies in chunks, letting edits in between, and mends what they changed (see
/// [`LayerIndex::pick`]).
#[derive(Default)]
pub(super) struct Changes {
    /// The generation of the data: one more per batch of edits applied.
    generation: u64,
    /// (generation, fid) of the latest changes, oldest first.
    fids: std::collections::VecDeque<(u64, i64)>,
    /// The newest generation whose changes are no longer all held.
    forgotten: u64,
}

/// How many changed features [`Changes`] holds.
const CHANGES_HELD: usize = 4096;

impl Changes {
    fn record(&mut self, fids: impl IntoIterator<Item = i64>) {
        self.generation += 1;
        for fid in fids {
            self.fids.push_back((self.generation, fid));
        }
        while self.fids.len() > CHANGES_HELD {
            if let Some((g, _)) = self.fids.pop_front() {
                self.forgotten = self.forgotten.max(g);
            }
        }
    }

    /// The features changed since generation `from`; None if that is no longer known.
    fn since(&self, from: u64) -> Option<std::collections::HashSet<i64>> {
        (from >= self.forgotten).then(|| {
            self.fids
                .iter()
                .filter(|(g, _)| *g > from)
                .map(|(_, fid)| *fid)
                .collect()
        })
    }
}

/// A feature: its id, box (Web Mercator, held in steps: see [`QBox`]), geometry and
/// values. 40 bytes.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    pub(super) fid: i64,
    pub(super) qbox: QBox,
    pub(super) geom: GeomRef,
    pub(super) values: ValuesRef,
}

impl Slot {
    pub(super) fn bbox(&self) -> [f64; 4] {
        self.qbox.get()
    }
}

/// A feature read from the store, before it has a slot.
struct Fresh {
    fid: i64,
    bbox: [f64; 4],
    geom: MercGeom,
    /// How each level holds it (see [`level_item`]).
    levels: Vec<Option<Option<MercGeom>>>,
}

/// The fid of an empty slot.
pub(super) const EMPTY: i64 = i64::MIN;

/// The features a band of low zooms can draw — points, and lines and polygons at least
/// [`min_size`] across at the band's deepest zoom — with lines and polygons generalised for
/// that zoom (Douglas–Peucker at half a tile unit). Low-zoom tiles cover many features too
/// small to draw and many vertices closer than a pixel: a level never hands those out.
pub(super) struct Level {
    pub(super) max_zoom: u8,
    /// None when the level holds half the features or more: then every slot is listed, in
    /// order, the full tree serves it, and `items[slot]` is the slot's (a feature too
    /// small for the level is listed as itself: tiles leave it out by its size, as the
    /// level would have). Else the boxes of `items`, by position.
    pub(super) tree: Option<PackedTree>,
    /// (feature slot, generalised geometry in `geoms`; None: the feature's own, as for
    /// points).
    pub(super) items: Vec<(u32, Option<GeomRef>)>,
    pub(super) geoms: Arena,
    /// With a tree: the position each slot's item had before an edit took it out (not
    /// persisted), which the slot's next item takes — edits leave the items where they
    /// were, in spatial order, instead of appending them.
    pub(super) vacated: HashMap<u32, u32>,
}

/// The deepest zoom of each level, in order: z0–8, z9–10, z11–12. Deeper tiles read the
/// full geometry.
const LEVELS: [u8; 3] = [8, 10, 12];

/// The levels a layer keeps: none for points, which a level would list one by one as
/// themselves (48 MB per million points for the three, read back on every start).
pub(super) fn levels_of(layer: &Layer) -> &'static [u8] {
    if matches!(layer.geom_type, GeomType::Point | GeomType::MultiPoint) {
        &[]
    } else {
        &LEVELS
    }
}

/// Lines and polygons smaller than this many tile units (a pixel is 8 units of a 512-pixel
/// tile) are left out of a tile: below 4 px up to z11, 1 px to z15. At low zoom they are
/// most of a dense layer and draw as noise; this keeps those tiles small and fast (see
/// docs/architecture.md).
fn min_size(z: u8) -> f64 {
    match z {
        0..=11 => 32.0,
        12..=15 => 8.0,
        _ => 1.0,
    }
}

/// The Z-order code of a box's centre over the Web Mercator square.
fn morton(b: &[f64; 4]) -> u32 {
    let h = super::math::HALF;
    crate::geom::zorder(b, &[-h, -h, h, h])
}

/// The first zoom at which a feature with this box (Web Mercator) is drawn: lines and
/// polygons from where they reach [`min_size`] (as tiles test them), points always. Beyond
/// [`super::math::MAX_ZOOM`] when never.
pub fn first_zoom(bbox: &[f64; 4], points: bool) -> u8 {
    if points {
        return 0;
    }
    let size = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
    (0..=super::math::MAX_ZOOM)
        .find(|&z| size * units_per_metre(z) >= min_size(z))
        .unwrap_or(super::math::MAX_ZOOM + 1)
}

/// Tile units per Web Mercator metre at zoom `z`.
fn units_per_metre(z: u8) -> f64 {
    EXTENT as f64 * f64::from(1u32 << z) / (2.0 * super::math::HALF)
}

impl LayerIndex {
    /// Builds the index from the store's features (CPU work: call off the async runtime).
    /// Each row is made compact as it is read; then features are laid out in spatial order
    /// (Z-order of the box centres): a tile's features then sit together in memory, which
    /// its thousands of reads at low zoom feel.
    pub fn build(layer: Layer, stored: impl IntoIterator<Item = StoredFeature>) -> LayerIndex {
        let mut geoms = Arena::default();
        let mut values = Values::default();
        let mut scanned: Vec<(u32, Slot)> = Vec::new();
        let zooms = levels_of(&layer);
        let mut level_items: Vec<Vec<(u32, Option<GeomRef>)>> = vec![Vec::new(); zooms.len()];
        let mut level_geoms: Vec<Arena> = zooms.iter().map(|_| Arena::default()).collect();
        for f in stored {
            let Some(fresh) = fresh(&layer, &f) else {
                continue;
            };
            let i = scanned.len() as u32;
            for (l, item) in fresh.levels.iter().enumerate() {
                if let Some(g) = item {
                    let g = g.as_ref().map(|g| level_geoms[l].push(g));
                    level_items[l].push((i, g));
                }
            }
            scanned.push((
                morton(&fresh.bbox),
                Slot {
                    fid: fresh.fid,
                    qbox: QBox::new(&fresh.bbox),
                    geom: geoms.push(&fresh.geom),
                    values: values.push(&f.values),
                },
            ));
        }
        let mut order: Vec<u32> = (0..scanned.len() as u32).collect();
        order.sort_by_key(|&i| scanned[i as usize].0);
        let mut slot_of = vec![0u32; order.len()];
        let (values, values_at) =
            values.reorder(order.iter().map(|&old| scanned[old as usize].1.values));
        let mut inner = Inner {
            slots: Vec::with_capacity(order.len()),
            geoms: Arena::default(),
            values,
            tree: PackedTree::default(),
            levels: Vec::new(),
            free: Vec::new(),
            changes: Changes::default(),
            laid_out: 0,
        };
        for ((new, &old), values) in order.iter().enumerate().zip(values_at) {
            slot_of[old as usize] = new as u32;
            let s = scanned[old as usize].1;
            inner.slots.push(Slot {
                geom: inner.geoms.copy(&geoms, s.geom),
                values,
                ..s
            });
        }
        drop((scanned, geoms));
        inner.geoms.shrink();
        inner.values.shrink();
        inner.tree = PackedTree::new(inner.slots.iter().map(|s| s.bbox()));
        for ((z, mut items), from) in zooms.iter().zip(level_items).zip(level_geoms) {
            for item in &mut items {
                item.0 = slot_of[item.0 as usize];
            }
            items.sort_by_key(|item| item.0);
            // A level holding half the features or more lists every slot instead and uses
            // the full tree (a second tree would cost more than the listing): the features
            // it would leave out are drawn as themselves, which tiles then leave out by
            // their size, as the level would have.
            let dense = items.len() * 2 >= inner.slots.len();
            if dense && items.len() != inner.slots.len() {
                let mut all: Vec<(u32, Option<GeomRef>)> =
                    (0..inner.slots.len() as u32).map(|s| (s, None)).collect();
                for (s, g) in items {
                    all[s as usize] = (s, g);
                }
                items = all;
            }
            let mut geoms = Arena::default();
            for item in &mut items {
                item.1 = item.1.map(|g| geoms.copy(&from, g));
            }
            geoms.shrink();
            items.shrink_to_fit();
            let tree = (!dense).then(|| {
                PackedTree::new(items.iter().map(|(s, _)| inner.slots[*s as usize].bbox()))
            });
            inner.levels.push(Level {
                max_zoom: *z,
                tree,
                items,
                geoms,
                vacated: HashMap::new(),
            });
        }
        LayerIndex {
            seq: AtomicI64::new(layer.data_seq),
            layer,
            inner: RwLock::new(inner),
            catching_up: tokio::sync::Mutex::new(()),
        }
    }

    /// Calls `f` with the text of field `field` (by position) of every feature that has
    /// text there (static bundles carry the glyphs their labels need).
    pub fn each_text(&self, field: usize, mut f: impl FnMut(&str)) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut values = Vec::new();
        for s in inner.slots.iter().filter(|s| s.fid != EMPTY) {
            inner.values.decode(s.values, &mut values);
            if let Some(Value::Text(t) | Value::Date(t) | Value::Datetime(t)) = values.get(field) {
                f(t);
            }
        }
    }

    /// The change-log sequence of the data shown.
    pub fn seq(&self) -> i64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Applies feature edits in place: every feature in `changed` (fid, and its box in
    /// EPSG:4326 before the edits if known, to find it fast) is taken out, and `current` —
    /// those of them that exist now, as the store has them — goes in. Idempotent, so edits
    /// seen twice do no harm. Then the index shows the data as of `seq`.
    pub fn apply(
        &self,
        changed: &[(i64, Option<[f64; 4]>)],
        current: Vec<StoredFeature>,
        seq: i64,
    ) {
        let fresh: Vec<(Fresh, Vec<Value>)> = current
            .into_iter()
            .filter_map(|f| Some((fresh(&self.layer, &f)?, f.values)))
            .collect();
        {
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            // A feature changed goes back in the slot it had (slots stay in spatial order);
            // the slots left empty are free once the batch is in, in the order emptied.
            let mut emptied = Vec::new();
            for (fid, hint) in changed {
                if let Some(slot) = inner.remove(*fid, hint.map(|b| lonlat_bbox_to_merc(&b))) {
                    emptied.push((*fid, slot));
                }
            }
            let mut had: HashMap<i64, u32> = emptied.iter().copied().collect();
            for (f, values) in fresh {
                let slot = had.remove(&f.fid);
                inner.insert(f, &values, slot);
            }
            for (_, slot) in emptied {
                if inner.slots[slot as usize].fid == EMPTY {
                    inner.free.push(slot);
                }
            }
            inner.changes.record(changed.iter().map(|(fid, _)| *fid));
            inner.compact_if_grown();
        }
        self.seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// An index from its parts (read back from disk), showing the data as of `seq`.
    pub(super) fn from_parts(layer: Layer, inner: Inner, seq: i64) -> LayerIndex {
        LayerIndex {
            layer,
            inner: RwLock::new(inner),
            seq: AtomicI64::new(seq),
            catching_up: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.slots.len() - inner.free.len()
    }

    /// Approximate heap bytes held: slots, geometries, values and the R-trees.
    pub fn heap_bytes(&self) -> usize {
        let inner = self.read();
        let levels: usize = inner
            .levels
            .iter()
            .map(|l| {
                l.items.capacity() * std::mem::size_of::<(u32, Option<GeomRef>)>()
                    + l.geoms.heap_bytes()
                    + l.tree.as_ref().map_or(0, PackedTree::heap_bytes)
            })
            .sum();
        levels
            + inner.slots.capacity() * std::mem::size_of::<Slot>()
            + inner.geoms.heap_bytes()
            + inner.values.heap_bytes()
            + inner.tree.heap_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of the features whose box (Web Mercator) lies inside `inner`, and of those
    /// whose box meets `outer` but does not lie inside `inner`, each ascending.
    pub fn fids_in(&self, inner: &[f64; 4], outer: &[f64; 4]) -> (Vec<i64>, Vec<i64>) {
        let within = |b: &[f64; 4]| {
            b[0] >= inner[0] && b[1] >= inner[1] && b[2] <= inner[2] && b[3] <= inner[3]
        };
        let (mut sure, mut edge) = (Vec::new(), Vec::new());
        let data = self.read();
        data.tree.query(outer, |id| {
            let s = &data.slots[id as usize];
            let b = s.bbox();
            if s.fid == EMPTY || !meets(&b, outer) {
                return;
            }
            if within(&b) {
                sure.push(s.fid)
            } else {
                edge.push(s.fid)
            }
        });
        drop(data);
        sure.sort_unstable();
        edge.sort_unstable();
        (sure, edge)
    }

    /// Renders this layer's part of a tile into an MVT layer called `name`.
    pub fn render(&self, tile: TileCoord, name: &str) -> LayerBuilder {
        self.draw(&self.pick(tile), tile, name)
    }

    /// Draws the features [`Self::pick`] copied out for a tile into an MVT layer called
    /// `name` (clipping, simplifying, encoding): no lock is held.
    pub(super) fn draw(&self, picked: &Picked, tile: TileCoord, name: &str) -> LayerBuilder {
        let (ts, env) = frame(tile);
        let mut out = LayerBuilder::new(name, EXTENT);
        out.set_keys(self.layer.fields.iter().map(|f| f.name.clone()).collect());
        let (lo, hi) = (-BUFFER, EXTENT as f64 + BUFFER);
        let tol = if tile.z >= 16 { 0.0 } else { 1.0 };
        let cell = point_cell(tile.z);
        let mut taken = std::collections::HashSet::new();
        // Made on the first polygon: point and line layers need none.
        let mut builder: Option<PolygonBuilder> = None;
        let mut cmds = Commands::default();
        let mut scratch = MercGeom::Points(Vec::new());
        let mut values: Vec<Value> = Vec::new();
        for f in &picked.slots {
            picked.geoms.decode(f.geom, &mut scratch);
            cmds.clear();
            let kind = match &scratch {
                MercGeom::Points(pts) => {
                    let q: Vec<IPt> = pts
                        .iter()
                        .map(|p| ts.apply(p))
                        .filter(|p| p[0] >= lo && p[0] <= hi && p[1] >= lo && p[1] <= hi)
                        .map(|p| [p[0].round() as i32, p[1].round() as i32])
                        .filter(|p| {
                            cell == 0
                                || taken.insert((p[0].div_euclid(cell), p[1].div_euclid(cell)))
                        })
                        .collect();
                    if !q.is_empty() {
                        cmds.points(&q);
                    }
                    GeomKind::Point
                }
                MercGeom::Lines(lines) => {
                    for line in lines {
                        let projected: Vec<Pt> = line.iter().map(|p| ts.apply(p)).collect();
                        for part in clip_line(&projected, lo, hi) {
                            let q = simplify(&quantize(&part), tol);
                            if q.len() >= 2 {
                                cmds.line(&q);
                            }
                        }
                    }
                    GeomKind::LineString
                }
                MercGeom::Polygons(polys) => {
                    // Inside the buffered tile (by its box): no clipping.
                    let b = f.bbox();
                    let inside =
                        b[0] >= env[0] && b[1] >= env[1] && b[2] <= env[2] && b[3] <= env[3];
                    let clip = (!inside).then_some([lo, hi]);
                    let polygons = builder.get_or_insert_with(PolygonBuilder::default);
                    polygons.clear();
                    for poly in polys {
                        polygons.add(poly, &ts, clip, tol);
                    }
                    polygons.finish(&mut cmds);
                    GeomKind::Polygon
                }
            };
            if !cmds.is_empty() {
                picked.values.decode(f.values, &mut values);
                out.add(f.fid as u64, kind, &cmds, &values);
            }
        }
        out
    }

    /// The features a tile draws, in drawing order, copied out (their compact bytes) under
    /// the read lock: the clipping and encoding that follow run without it.
    ///
    /// Only what the tile draws is sorted and copied: features too small for its zoom are
    /// left out as the tree finds them, and each one's place in the order is worked out
    /// once. A big tile is copied [`PICK_CHUNK`] features at a time, the lock let go in
    /// between, so a feature edit waits for a chunk, not for a whole low-zoom tile (a z12
    /// tile of a city's buildings copies a hundred thousand). Features that edits changed
    /// meanwhile are dropped from what was copied and taken again as they are now: the
    /// answer is the data as of the last chunk.
    pub(super) fn pick(&self, tile: TileCoord) -> Picked {
        self.pick_with(tile, PICK_CHUNK, &mut |_| {})
    }

    /// [`Self::pick`] in chunks of `chunk` features (`usize::MAX`: under one hold of the
    /// lock), calling `between(n)` before the lock is taken again for chunk `n` (tests edit
    /// the index there).
    fn pick_with(&self, tile: TileCoord, chunk: usize, between: &mut dyn FnMut(usize)) -> Picked {
        let (ts, env) = frame(tile);
        let mut inner = self.read();
        let level = inner.levels.iter().position(|l| tile.z <= l.max_zoom);
        let mut ids = self.candidates(&inner, level, tile, &ts, &env, None);
        ids.sort_unstable();
        let mut picked = Picked {
            slots: Vec::with_capacity(ids.len()),
            geoms: Arena::default(),
            values: Values::default(),
        };
        let from = inner.changes.generation;
        let mut seen = from;
        let mut changed = std::collections::HashSet::new();
        for (n, chunk) in ids.chunks(chunk).enumerate() {
            if n > 0 {
                drop(inner);
                between(n);
                inner = self.read();
                if inner.changes.generation != seen {
                    seen = inner.changes.generation;
                    match inner.changes.since(from) {
                        Some(c) => changed = c,
                        // Too much changed to mend: the whole tile again, in one go.
                        None => {
                            drop(inner);
                            return self.pick_with(tile, usize::MAX, &mut |_| {});
                        }
                    }
                    picked.slots.retain(|s| !changed.contains(&s.fid));
                }
            }
            for &(_, fid, id) in chunk {
                if changed.is_empty() || !changed.contains(&fid) {
                    copy_into(&inner, level, id, &mut picked);
                }
            }
        }
        if !changed.is_empty() {
            let mut again = self.candidates(&inner, level, tile, &ts, &env, Some(&changed));
            again.sort_unstable();
            for (_, _, id) in again {
                copy_into(&inner, level, id, &mut picked);
            }
            let by_fid = self.thinned(tile);
            picked
                .slots
                .sort_unstable_by_key(|s| (if by_fid { 0 } else { morton(&s.bbox()) }, s.fid));
        }
        picked
    }

    /// Whether a tile's points are thinned, and so go by fid (the first in a cell is kept).
    fn thinned(&self, tile: TileCoord) -> bool {
        point_cell(tile.z) > 0
            && matches!(self.layer.geom_type, GeomType::Point | GeomType::MultiPoint)
    }

    /// The features a tile draws (of `only`, if given), as (order, fid, id in the level):
    /// features go out in spatial order (Z-order of their boxes, then fid), which is also
    /// mostly their memory order — the same features give the same bytes whatever slots
    /// edits put them in, on every replica — and thinned points by fid.
    fn candidates(
        &self,
        inner: &Inner,
        level: Option<usize>,
        tile: TileCoord,
        ts: &TileSpace,
        env: &[f64; 4],
        only: Option<&std::collections::HashSet<i64>>,
    ) -> Vec<(u32, i64, u32)> {
        let min_size = min_size(tile.z);
        let by_fid = self.thinned(tile);
        let level = level.map(|l| &inner.levels[l]);
        let tree = level.and_then(|l| l.tree.as_ref()).unwrap_or(&inner.tree);
        let mut ids = Vec::new();
        tree.query(env, |id| {
            let s = match level {
                Some(l) => &inner.slots[l.items[id as usize].0 as usize],
                None => &inner.slots[id as usize],
            };
            let b = s.bbox();
            if !meets(&b, env) || only.is_some_and(|o| !o.contains(&s.fid)) {
                return;
            }
            let (w, h) = ((b[2] - b[0]) * ts.scale, (b[3] - b[1]) * ts.scale);
            if !s.geom.is_points() && w < min_size && h < min_size {
                return;
            }
            ids.push((if by_fid { 0 } else { morton(&b) }, s.fid, id));
        });
        ids
    }
}

/// Features a big tile copies under one hold of an index's read lock (see
/// [`LayerIndex::pick`]).
const PICK_CHUNK: usize = 4096;

/// Copies the feature at `id` of a level (or of the slots) into `picked`.
fn copy_into(inner: &Inner, level: Option<usize>, id: u32, picked: &mut Picked) {
    let (f, arena, g) = match level.map(|l| &inner.levels[l]) {
        Some(l) => {
            let (i, g) = l.items[id as usize];
            let f = &inner.slots[i as usize];
            match g {
                Some(g) => (f, &l.geoms, g),
                None => (f, &inner.geoms, f.geom),
            }
        }
        None => {
            let f = &inner.slots[id as usize];
            (f, &inner.geoms, f.geom)
        }
    };
    picked.slots.push(Slot {
        fid: f.fid,
        qbox: f.qbox,
        geom: picked.geoms.copy(arena, g),
        values: picked.values.copy(&inner.values, f.values),
    });
}

/// A tile's Web Mercator frame, and its box with the buffer.
fn frame(tile: TileCoord) -> (TileSpace, [f64; 4]) {
    let bounds = tile.bounds();
    let ts = TileSpace::new(bounds, EXTENT);
    let buf = BUFFER / ts.scale;
    let env = [
        bounds[0] - buf,
        bounds[1] - buf,
        bounds[2] + buf,
        bounds[3] + buf,
    ];
    (ts, env)
}

/// A tile's features, copied out of the index (see [`LayerIndex::pick`]).
pub(super) struct Picked {
    slots: Vec<Slot>,
    geoms: Arena,
    values: Values,
}

/// Point thinning at low zoom keeps one point per cell of this many tile units (0: none).
fn point_cell(z: u8) -> i32 {
    match z {
        0..=8 => 16,
        9..=12 => 4,
        _ => 0,
    }
}

/// How a level holds a feature: None when it leaves it out (too small to draw at the
/// level's zooms); Some(None) as it is (points, or where generalising saves little);
/// Some(Some(g)) generalised.
fn level_item(geom: &MercGeom, bbox: &[f64; 4], max_zoom: u8) -> Option<Option<MercGeom>> {
    let per_metre = units_per_metre(max_zoom);
    let smallest = min_size(max_zoom) / per_metre;
    let tol = 0.5 / per_metre;
    let big = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) >= smallest;
    match geom {
        MercGeom::Points(_) => Some(None),
        _ if !big => None,
        g => match generalise(g, tol) {
            // Kept only where it saves a good share of the points.
            Some(s) if 4 * points(&s) <= 3 * points(g) => Some(Some(s)),
            Some(_) => Some(None),
            None => None,
        },
    }
}

impl Inner {
    /// Takes a feature out (if held), leaving its slot empty (the caller lists it as free);
    /// answers the slot. `hint`: its box in Web Mercator as it was, to find it through the
    /// tree; otherwise every slot is looked at.
    fn remove(&mut self, fid: i64, hint: Option<[f64; 4]>) -> Option<u32> {
        let by_tree = hint.and_then(|b| {
            // A metre of slack: the box was computed from the same coordinates, but once
            // in each CRS.
            let env = [b[0] - 1.0, b[1] - 1.0, b[2] + 1.0, b[3] + 1.0];
            let mut found = None;
            self.tree.query(&env, |i| {
                if self.slots[i as usize].fid == fid {
                    found = Some(i)
                }
            });
            found
        });
        let slot = by_tree.or_else(|| {
            self.slots
                .iter()
                .position(|f| f.fid == fid)
                .map(|i| i as u32)
        })?;
        let bbox = self.slots[slot as usize].bbox();
        self.tree.remove(slot);
        for level in &mut self.levels {
            let Some(tree) = level.tree.as_mut() else {
                continue;
            };
            let mut held = None;
            tree.query(&bbox, |k| {
                if level.items[k as usize].0 == slot {
                    held = Some(k)
                }
            });
            if let Some(k) = held {
                tree.remove(k);
                level.items[k as usize].1 = None;
                level.vacated.insert(slot, k);
            }
        }
        self.slots[slot as usize].fid = EMPTY;
        Some(slot)
    }

    /// Puts a feature in an empty slot — `at` (emptied by this batch), else a free one or a
    /// new one — and in the levels that hold it.
    fn insert(&mut self, f: Fresh, values: &[Value], at: Option<u32>) {
        let held = Slot {
            fid: f.fid,
            qbox: QBox::new(&f.bbox),
            geom: self.geoms.push(&f.geom),
            values: self.values.push(values),
        };
        let slot = match at.or_else(|| self.free.pop()) {
            Some(s) => {
                self.slots[s as usize] = held;
                s
            }
            None => {
                self.slots.push(held);
                (self.slots.len() - 1) as u32
            }
        };
        let bbox = f.bbox;
        self.tree
            .insert(slot, &bbox, |i| self.slots[i as usize].bbox());
        for (level, item) in self.levels.iter_mut().zip(f.levels) {
            match level.tree.as_mut() {
                None => {
                    let g = item.flatten().map(|g| level.geoms.push(&g));
                    match level.items.get_mut(slot as usize) {
                        Some(held) => *held = (slot, g),
                        None => level.items.push((slot, g)),
                    }
                }
                Some(tree) => {
                    if let Some(g) = item {
                        let g = g.map(|g| level.geoms.push(&g));
                        let k = level.vacated.remove(&slot);
                        let items = &level.items;
                        tree.insert(k.unwrap_or(items.len() as u32), &bbox, |k| {
                            self.slots[items[k as usize].0 as usize].bbox()
                        });
                        match k {
                            Some(k) => level.items[k as usize] = (slot, g),
                            None => level.items.push((slot, g)),
                        }
                    }
                }
            }
        }
    }
}

/// Whether two boxes meet (edges included).
fn meets(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1]
}

/// A stored feature read for the index, with what each level makes of it; None (logged)
/// for geometry it cannot read.
fn fresh(layer: &Layer, f: &StoredFeature) -> Option<Fresh> {
    // The store only holds WKB that ingest wrote; skip rather than fail on oddities.
    let Ok(geom) = from_wkb(&f.wkb) else {
        tracing::warn!(layer = %layer.id, fid = f.fid, "unreadable geometry skipped");
        return None;
    };
    let bbox = merc_bbox(&geom);
    let levels = levels_of(layer)
        .iter()
        .map(|&z| level_item(&geom, &bbox, z))
        .collect();
    Some(Fresh {
        fid: f.fid,
        bbox,
        geom,
        levels,
    })
}

pub fn lonlat_bbox_to_merc(b: &[f64; 4]) -> [f64; 4] {
    let lo = super::math::lonlat_to_mercator(b[0], b[1]);
    let hi = super::math::lonlat_to_mercator(b[2], b[3]);
    [lo[0], lo[1], hi[0], hi[1]]
}

fn points(g: &MercGeom) -> usize {
    match g {
        MercGeom::Points(p) => p.len(),
        MercGeom::Lines(l) => l.iter().map(Vec::len).sum(),
        MercGeom::Polygons(p) => p.iter().flatten().map(Vec::len).sum(),
    }
}

/// A line or polygon geometry simplified with tolerance `tol` (metres); None if nothing of
/// it is left. Rings that collapse are dropped (a polygon whose exterior collapses, whole).
/// Simplification can make rings touch or cross: tiles repair that after snapping anyway.
fn generalise(g: &MercGeom, tol: f64) -> Option<MercGeom> {
    let out = match g {
        MercGeom::Points(p) => MercGeom::Points(p.clone()),
        MercGeom::Lines(lines) => MercGeom::Lines(
            lines
                .iter()
                .map(|l| simplify_merc(l, tol))
                .filter(|l| l.len() >= 2)
                .collect(),
        ),
        MercGeom::Polygons(polys) => MercGeom::Polygons(
            polys
                .iter()
                .filter_map(|rings| {
                    let mut kept = rings.iter().map(|r| simplify_merc(r, tol));
                    let exterior = kept.next().filter(|r| r.len() >= 4)?;
                    let holes = kept.filter(|r| r.len() >= 4);
                    Some(std::iter::once(exterior).chain(holes).collect())
                })
                .collect(),
        ),
    };
    (points(&out) > 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, FieldType};
    use geo::{Geometry, Rect};

    /// A square building of `side` metres-ish at (lon, lat), as the store hands it over.
    fn square(fid: i64, lon: f64, lat: f64, side: f64, value: i64) -> StoredFeature {
        let d = side / 111_000.0;
        let g = Geometry::Polygon(Rect::new((lon, lat), (lon + d, lat + d)).to_polygon());
        StoredFeature {
            fid,
            wkb: crate::geom::to_wkb(&g),
            values: vec![Value::Integer(value)],
        }
    }

    fn layer() -> Layer {
        let field = Field {
            name: "n".into(),
            label: "n".into(),
            kind: FieldType::Integer,
        };
        Layer::sketch("edifici", GeomType::MultiPolygon, vec![field])
    }

    /// 20,000 buildings of 30 m in a 140 × 143 grid over southern Milan, all in one z12 tile.
    fn buildings() -> Vec<StoredFeature> {
        (0..20_000)
            .map(|i| {
                let (x, y) = (f64::from(i % 140), f64::from(i / 140));
                square(
                    i64::from(i) + 1,
                    9.17 + x * 0.0003,
                    45.40 + y * 0.0001,
                    30.0,
                    0,
                )
            })
            .collect()
    }

    fn bytes(idx: &LayerIndex, picked: &Picked, t: TileCoord) -> Vec<u8> {
        let mut out = Vec::new();
        idx.draw(picked, t, "edifici").finish_into(&mut out);
        out
    }

    /// A batch of edits, as the engine applies one: `moves` are (fid, new feature or None).
    fn edit(idx: &LayerIndex, moves: Vec<(i64, Option<StoredFeature>)>) {
        let changed: Vec<(i64, Option<[f64; 4]>)> = moves.iter().map(|(f, _)| (*f, None)).collect();
        idx.apply(
            &changed,
            moves.into_iter().filter_map(|m| m.1).collect(),
            idx.seq() + 1,
        );
    }

    #[test]
    fn a_pick_edited_between_its_chunks_is_the_data_after_the_edits() {
        let t = TileCoord {
            z: 12,
            x: 2152,
            y: 1466,
        };
        let idx = LayerIndex::build(layer(), buildings());
        let before = idx.pick(t);
        assert!(
            before.slots.len() > 3 * PICK_CHUNK,
            "{} features",
            before.slots.len()
        );
        let mut edits = |n: usize| match n {
            // A feature already copied, changed; one not yet copied, moved away; one from
            // outside moved in; one deleted; a new one added.
            1 => edit(&idx, vec![(1, Some(square(1, 9.18, 45.405, 30.0, 7)))]),
            2 => edit(
                &idx,
                vec![
                    (19_000, Some(square(19_000, 10.5, 46.5, 15.0, 0))),
                    (15_000, None),
                    (30_000, Some(square(30_000, 9.1745, 45.4023, 40.0, 3))),
                ],
            ),
            3 => edit(&idx, vec![(2, Some(square(2, 9.171, 45.401, 30.0, 9)))]),
            _ => {}
        };
        let during = idx.pick_with(t, PICK_CHUNK, &mut edits);
        let after = idx.pick(t);
        assert_ne!(bytes(&idx, &before, t), bytes(&idx, &after, t));
        assert_eq!(bytes(&idx, &during, t), bytes(&idx, &after, t));
        let fids = |p: &Picked| p.slots.iter().map(|s| s.fid).collect::<Vec<_>>();
        assert_eq!(fids(&during), fids(&after));
        let after_fids = fids(&after);
        assert!(after_fids.contains(&30_000), "moved in");
        assert!(!after_fids.contains(&15_000), "deleted");
        assert!(!after_fids.contains(&19_000), "moved away");
    }

    /// A round building of 120 corners, 40 m across, at (lon, lat).
    fn round_building(fid: i64, lon: f64, lat: f64, value: i64) -> StoredFeature {
        let ring: Vec<(f64, f64)> = (0..=120)
            .map(|i| {
                let a = f64::from(i % 120) * std::f64::consts::TAU / 120.0;
                (lon + 0.00025 * a.cos(), lat + 0.00018 * a.sin())
            })
            .collect();
        let g = Geometry::Polygon(geo::Polygon::new(ring.into(), vec![]));
        StoredFeature {
            fid,
            wkb: crate::geom::to_wkb(&g),
            values: vec![Value::Integer(value)],
        }
    }

    #[test]
    fn a_steady_stream_of_edits_keeps_the_index_near_its_live_size() {
        // Feature f in round r: on a 25 × 20 grid, moved 1e-6° east each round.
        let fresh = |r: i64| -> Vec<StoredFeature> {
            (1..=500)
                .map(|f| {
                    let lon = 9.17 + (f % 25) as f64 * 0.001 + r as f64 * 1e-6;
                    round_building(f, lon, 45.40 + (f / 25) as f64 * 0.0006, r)
                })
                .collect()
        };
        let idx = LayerIndex::build(layer(), fresh(0));
        let live = idx.read().used();
        // 30 rounds of every feature moved a little, 100 at a time: 15,000 edits, ~40 MiB
        // of geometry laid out in all.
        for r in 1..=30 {
            for batch in fresh(r).chunks(100) {
                let changed: Vec<(i64, Option<[f64; 4]>)> =
                    batch.iter().map(|f| (f.fid, None)).collect();
                idx.apply(&changed, batch.to_vec(), idx.seq() + 1);
            }
            let used = idx.read().used();
            assert!(
                used <= live + live / 2 + (1 << 20) + 100 * 1024,
                "round {r}: {used} bytes laid out for {live} live"
            );
        }
        let t = TileCoord {
            z: 15,
            x: 17219,
            y: 11734,
        };
        let rebuilt = LayerIndex::build(layer(), fresh(30));
        assert!(!idx.pick(t).slots.is_empty());
        assert_eq!(
            bytes(&idx, &idx.pick(t), t),
            bytes(&rebuilt, &rebuilt.pick(t), t)
        );
    }

    #[test]
    fn edits_keep_each_feature_in_its_place() {
        // 20,000 buildings of 30 m, every tenth 400 m wide (drawn by the z11–12 level).
        let at = |i: i64, r: i64| {
            let (x, y) = ((i - 1) % 140, (i - 1) / 140);
            let side = if i % 10 == 0 { 400.0 } else { 30.0 };
            square(
                i,
                9.17 + x as f64 * 0.0003,
                45.40 + y as f64 * 0.0001,
                side,
                r,
            )
        };
        let idx = LayerIndex::build(layer(), (1..=20_000).map(|i| at(i, 0)));
        let shape = |idx: &LayerIndex| {
            let inner = idx.read();
            let levels: Vec<usize> = inner.levels.iter().map(|l| l.items.len()).collect();
            let fids: Vec<i64> = inner.slots.iter().map(|s| s.fid).collect();
            (levels, fids)
        };
        let before = shape(&idx);
        assert!(
            idx.read()
                .levels
                .iter()
                .any(|l| l.tree.is_some() && !l.items.is_empty()),
            "a level with its own tree holds the wide buildings"
        );
        // 2,000 rounds of ten features each (one batch: the slots must not trade places),
        // the wide ones among them, each put back with a new value.
        for r in 1..=2_000i64 {
            let batch: Vec<StoredFeature> = (0..10)
                .map(|k| at(1 + (r * 97 + k * 10) % 20_000, r))
                .collect();
            let changed: Vec<(i64, Option<[f64; 4]>)> =
                batch.iter().map(|f| (f.fid, None)).collect();
            idx.apply(&changed, batch, idx.seq() + 1);
        }
        let after = shape(&idx);
        assert_eq!(after.0, before.0, "items per level");
        let moved = before
            .1
            .iter()
            .zip(&after.1)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(moved, 0, "slots whose feature changed");
        let mut last = vec![0; 20_001];
        for r in 1..=2_000i64 {
            for k in 0..10 {
                last[(1 + (r * 97 + k * 10) % 20_000) as usize] = r;
            }
        }
        let rebuilt = LayerIndex::build(layer(), (1..=20_000).map(|i| at(i, last[i as usize])));
        for t in [
            TileCoord {
                z: 11,
                x: 1076,
                y: 733,
            },
            TileCoord {
                z: 12,
                x: 2152,
                y: 1466,
            },
            TileCoord {
                z: 15,
                x: 17219,
                y: 11734,
            },
        ] {
            assert_eq!(
                bytes(&idx, &idx.pick(t), t),
                bytes(&rebuilt, &rebuilt.pick(t), t),
                "{t:?}"
            );
        }
    }

    #[test]
    fn point_layers_keep_no_levels_and_refuse_files_that_have_them() {
        let field = Field {
            name: "n".into(),
            label: "n".into(),
            kind: FieldType::Integer,
        };
        let civici = Layer::sketch("edifici", GeomType::Point, vec![field]);
        let point = |fid: i64, lon: f64, lat: f64| StoredFeature {
            fid,
            wkb: crate::geom::to_wkb(&Geometry::Point(geo::Point::new(lon, lat))),
            values: vec![Value::Integer(fid)],
        };
        let stored = (1..=2_000).map(|i| {
            point(
                i,
                9.1 + (i % 50) as f64 * 0.004,
                45.4 + (i / 50) as f64 * 0.003,
            )
        });
        let idx = LayerIndex::build(civici.clone(), stored);
        assert!(idx.read().levels.is_empty());
        // A point added later is drawn at low zoom and deep.
        edit(&idx, vec![(5_000, Some(point(5_000, 9.19, 45.4642)))]);
        for (z, x, y) in [(8, 134, 91), (16, 34440, 23454)] {
            let t = TileCoord { z, x, y };
            assert!(idx.pick(t).slots.iter().any(|s| s.fid == 5_000), "z{z}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("civici.idx");
        super::super::persist::save(&file, &idx).unwrap();
        let back = super::super::persist::load(&file, &civici).expect("read back");
        let t = TileCoord {
            z: 12,
            x: 2152,
            y: 1465,
        };
        assert_eq!(bytes(&idx, &idx.pick(t), t), bytes(&back, &back.pick(t), t));
        // An index with levels (as point layers had before) is not taken for a point layer.
        let polygons = LayerIndex::build(layer(), buildings().into_iter().take(100));
        super::super::persist::save(&file, &polygons).unwrap();
        assert!(super::super::persist::load(&file, &layer()).is_some());
        assert!(super::super::persist::load(&file, &civici).is_none());
    }

    #[test]
    fn a_pick_edited_beyond_what_is_held_is_taken_again_whole() {
        let t = TileCoord {
            z: 12,
            x: 2152,
            y: 1466,
        };
        let idx = LayerIndex::build(layer(), buildings());
        let mut many = |n: usize| {
            if n == 1 {
                let moves = (1..=CHANGES_HELD as i64 + 10)
                    .map(|f| {
                        (
                            f,
                            Some(square(
                                f,
                                9.17 + (f % 140) as f64 * 0.0003,
                                45.40 + (f / 140) as f64 * 0.0001,
                                30.0,
                                5,
                            )),
                        )
                    })
                    .collect();
                edit(&idx, moves);
                edit(&idx, vec![(20_000, None)]);
            }
        };
        let during = idx.pick_with(t, PICK_CHUNK, &mut many);
        let after = idx.pick(t);
        assert_eq!(bytes(&idx, &during, t), bytes(&idx, &after, t));
    }
}
