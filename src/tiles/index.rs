//! One layer version held in memory for tiling: features in Web Mercator, in spatial order,
//! an R-tree of their bounding boxes, and lighter trees with generalised geometry for low
//! zooms. A tile is a query of a tree, then clip → quantise → simplify → orient → make
//! valid → encode, per feature.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::clip::{clip_line, quantize, simplify, simplify_merc, IPt, TileSpace};
use super::feature::{from_wkb, merc_bbox, IndexedFeature, MercGeom, Pt};
use super::math::{TileCoord, BUFFER, EXTENT};
use super::mvt::{Commands, GeomKind, LayerBuilder};
use super::polygon::PolygonBuilder;
use crate::model::{GeomType, Layer};
use crate::store::StoredFeature;

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

pub struct LayerIndex {
    pub layer: Layer,
    inner: RwLock<Inner>,
    /// The change-log sequence of the layer's data this index shows: its build, then each
    /// batch of feature edits applied in place ([`LayerIndex::apply`]).
    seq: AtomicI64,
    /// Held while edits are read from the store and applied, so one catch-up runs at a time.
    pub(super) catching_up: tokio::sync::Mutex<()>,
}

struct Inner {
    /// By slot. A deleted feature leaves an empty slot (fid [`EMPTY`], in no tree) that the
    /// next inserted feature takes.
    features: Vec<IndexedFeature>,
    tree: RTree<Entry>,
    /// What low-zoom tiles draw, one level per band of zooms (see [`LEVELS`]).
    levels: Vec<Level>,
    free: Vec<u32>,
}

/// The fid of an empty slot.
const EMPTY: i64 = i64::MIN;

/// The features a band of low zooms can draw — points, and lines and polygons at least
/// [`min_size`] across at the band's deepest zoom — with lines and polygons generalised for
/// that zoom (Douglas–Peucker at half a tile unit). Low-zoom tiles cover many features too
/// small to draw and many vertices closer than a pixel: a level never hands those out.
struct Level {
    max_zoom: u8,
    /// None when the level holds every feature, in order: the full tree serves it, and
    /// `items[slot]` is the slot's (then a feature that is too small for the level is still
    /// listed: tiles leave it out by its size, as the level would have).
    tree: Option<RTree<Entry>>,
    /// (feature slot, generalised geometry; None: the feature's own, as for points).
    items: Vec<(u32, Option<MercGeom>)>,
}

/// The deepest zoom of each level, in order: z0–8, z9–10, z11–12. Deeper tiles read the
/// full geometry.
const LEVELS: [u8; 3] = [8, 10, 12];

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

/// The Z-order (Morton) code of a box's centre on a 2¹⁶ × 2¹⁶ grid over the world.
fn morton(b: &[f64; 4]) -> u32 {
    let cell = |v: f64| {
        let u = (v + super::math::HALF) / (2.0 * super::math::HALF);
        (u.clamp(0.0, 1.0) * 65535.0) as u32
    };
    // Spreads the 16 bits of v to the even bits of the result.
    let spread = |mut v: u32| {
        v = (v | (v << 8)) & 0x00ff_00ff;
        v = (v | (v << 4)) & 0x0f0f_0f0f;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    };
    spread(cell((b[0] + b[2]) / 2.0)) | (spread(cell((b[1] + b[3]) / 2.0)) << 1)
}

/// Tile units per Web Mercator metre at zoom `z`.
fn units_per_metre(z: u8) -> f64 {
    EXTENT as f64 * f64::from(1u32 << z) / (2.0 * super::math::HALF)
}

impl LayerIndex {
    /// Builds the index from the store's features (CPU work: call off the async runtime).
    pub fn build(layer: Layer, stored: Vec<StoredFeature>) -> LayerIndex {
        let mut features: Vec<IndexedFeature> = stored
            .into_iter()
            .filter_map(|f| indexed(&layer, f))
            .collect();
        // Spatial order (Z-order of the box centres), with each geometry copied afresh in
        // that order: a tile's features then sit close together in memory, which its
        // thousands of reads at low zoom feel.
        features.sort_by_cached_key(|f| morton(&f.bbox));
        let features = features.to_vec();
        let entries: Vec<Entry> = features
            .iter()
            .enumerate()
            .map(|(i, f)| GeomWithData::new(rect(&f.bbox), i as u32))
            .collect();
        let levels = LEVELS.iter().map(|&z| Level::build(&features, z)).collect();
        LayerIndex {
            seq: AtomicI64::new(layer.data_seq),
            layer,
            inner: RwLock::new(Inner {
                features,
                tree: RTree::bulk_load(entries),
                levels,
                free: Vec::new(),
            }),
            catching_up: tokio::sync::Mutex::new(()),
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
        let fresh: Vec<IndexedFeature> = current
            .into_iter()
            .filter_map(|f| indexed(&self.layer, f))
            .collect();
        let level_items: Vec<Vec<Option<Option<MercGeom>>>> = fresh
            .iter()
            .map(|f| LEVELS.iter().map(|&z| level_item(f, z)).collect())
            .collect();
        {
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            for (fid, hint) in changed {
                inner.remove(*fid, hint.map(|b| lonlat_bbox_to_merc(&b)));
            }
            for (f, items) in fresh.into_iter().zip(level_items) {
                inner.insert(f, items);
            }
        }
        self.seq.fetch_max(seq, Ordering::AcqRel);
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.features.len() - inner.free.len()
    }

    /// Approximate heap bytes held: geometries, values and the R-tree entries.
    pub fn heap_bytes(&self) -> usize {
        use crate::model::Value;
        let inner = self.read();
        let pt = std::mem::size_of::<Pt>();
        let geom = |g: &MercGeom| match g {
            MercGeom::Points(p) => p.capacity() * pt,
            MercGeom::Lines(l) => l.iter().map(|r| r.capacity() * pt + 24).sum(),
            MercGeom::Polygons(p) => {
                p.iter()
                    .flatten()
                    .map(|r| r.capacity() * pt + 24)
                    .sum::<usize>()
                    + p.len() * 24
            }
        };
        let value = |v: &Value| match v {
            Value::Text(s) | Value::Date(s) | Value::Datetime(s) => s.capacity(),
            _ => 0,
        };
        let levels: usize = inner
            .levels
            .iter()
            .map(|l| {
                l.items.capacity() * std::mem::size_of::<(u32, Option<MercGeom>)>()
                    + l.items.iter().flat_map(|(_, g)| g).map(geom).sum::<usize>()
                    + l.tree.as_ref().map_or(0, RTree::size) * (std::mem::size_of::<Entry>() + 16)
            })
            .sum();
        levels
            + inner.features.capacity() * std::mem::size_of::<IndexedFeature>()
            + inner
                .features
                .iter()
                .map(|f| {
                    geom(&f.geom)
                        + f.values.capacity() * std::mem::size_of::<Value>()
                        + f.values.iter().map(value).sum::<usize>()
                })
                .sum::<usize>()
            + inner.tree.size() * (std::mem::size_of::<Entry>() + 16)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders this layer's part of a tile into an MVT layer called `name`.
    pub fn render(&self, tile: TileCoord, name: &str) -> LayerBuilder {
        let bounds = tile.bounds();
        let ts = TileSpace::new(bounds, EXTENT);
        let buf = BUFFER / ts.scale;
        let env = AABB::from_corners(
            [bounds[0] - buf, bounds[1] - buf],
            [bounds[2] + buf, bounds[3] + buf],
        );
        let inner = self.read();
        let level = inner.levels.iter().find(|l| tile.z <= l.max_zoom);
        let tree = level.and_then(|l| l.tree.as_ref()).unwrap_or(&inner.tree);
        let mut ids: Vec<u32> = tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
            .collect();
        // Features go out in the index's (spatial) order, which is also their memory order.
        ids.sort_unstable();
        let mut out = LayerBuilder::new(name, EXTENT);
        out.set_keys(self.layer.fields.iter().map(|f| f.name.clone()).collect());
        let (lo, hi) = (-BUFFER, EXTENT as f64 + BUFFER);
        let tol = if tile.z >= 16 { 0.0 } else { 1.0 };
        let min_size = min_size(tile.z);
        // Point thinning at low zoom: one point per cell of `cell` tile units, the first by
        // fid (so the choice does not depend on where edits left a feature in memory).
        let cell = match tile.z {
            0..=8 => 16,
            9..=12 => 4,
            _ => 0,
        };
        let fid_of = |id: u32| match level {
            Some(l) => inner.features[l.items[id as usize].0 as usize].fid,
            None => inner.features[id as usize].fid,
        };
        if cell > 0 && matches!(self.layer.geom_type, GeomType::Point | GeomType::MultiPoint) {
            ids.sort_unstable_by_key(|&id| fid_of(id));
        }
        let mut taken = std::collections::HashSet::new();
        // Made on the first polygon: point and line layers need none.
        let mut builder: Option<PolygonBuilder> = None;
        let mut cmds = Commands::default();
        for id in ids {
            let (f, geom) = match level {
                Some(l) => {
                    let (i, g) = &l.items[id as usize];
                    let f = &inner.features[*i as usize];
                    (f, g.as_ref().unwrap_or(&f.geom))
                }
                None => (
                    &inner.features[id as usize],
                    &inner.features[id as usize].geom,
                ),
            };
            let w = (f.bbox[2] - f.bbox[0]) * ts.scale;
            let h = (f.bbox[3] - f.bbox[1]) * ts.scale;
            cmds.clear();
            let kind = match geom {
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
                    if w < min_size && h < min_size {
                        continue;
                    }
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
                    if w < min_size && h < min_size {
                        continue;
                    }
                    // Inside the buffered tile (by its box): no clipping.
                    let inside = f.bbox[0] >= env.lower()[0]
                        && f.bbox[1] >= env.lower()[1]
                        && f.bbox[2] <= env.upper()[0]
                        && f.bbox[3] <= env.upper()[1];
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
                out.add(f.fid as u64, kind, &cmds, &f.values);
            }
        }
        out
    }
}

impl Level {
    fn build(features: &[IndexedFeature], max_zoom: u8) -> Level {
        let mut items = Vec::new();
        let mut entries = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let Some(geom) = level_item(f, max_zoom) else {
                continue;
            };
            entries.push(GeomWithData::new(rect(&f.bbox), items.len() as u32));
            items.push((i as u32, geom));
        }
        let every = items.len() == features.len();
        Level {
            max_zoom,
            tree: (!every).then(|| RTree::bulk_load(entries)),
            items,
        }
    }
}

/// How a level holds a feature: None when it leaves it out (too small to draw at the
/// level's zooms); Some(None) as it is (points, or where generalising saves little);
/// Some(Some(g)) generalised.
fn level_item(f: &IndexedFeature, max_zoom: u8) -> Option<Option<MercGeom>> {
    let per_metre = units_per_metre(max_zoom);
    let smallest = min_size(max_zoom) / per_metre;
    let tol = 0.5 / per_metre;
    let big = (f.bbox[2] - f.bbox[0]).max(f.bbox[3] - f.bbox[1]) >= smallest;
    match &f.geom {
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
    /// Takes a feature out (if held), leaving its slot empty. `hint`: its box in Web
    /// Mercator as it was, to find it through the tree; otherwise every slot is looked at.
    fn remove(&mut self, fid: i64, hint: Option<[f64; 4]>) {
        let by_tree = hint.and_then(|b| {
            // A metre of slack: the box was computed from the same coordinates, but once
            // in each CRS.
            let env = AABB::from_corners([b[0] - 1.0, b[1] - 1.0], [b[2] + 1.0, b[3] + 1.0]);
            self.tree
                .locate_in_envelope_intersecting(&env)
                .map(|e| e.data)
                .find(|&i| self.features[i as usize].fid == fid)
        });
        let Some(slot) = by_tree.or_else(|| {
            self.features
                .iter()
                .position(|f| f.fid == fid)
                .map(|i| i as u32)
        }) else {
            return;
        };
        let bbox = self.features[slot as usize].bbox;
        self.tree.remove(&GeomWithData::new(rect(&bbox), slot));
        for level in &mut self.levels {
            let Some(tree) = level.tree.as_mut() else {
                continue;
            };
            let env = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
            let held = tree
                .locate_in_envelope_intersecting(&env)
                .find(|e| level.items[e.data as usize].0 == slot)
                .copied();
            if let Some(e) = held {
                tree.remove(&e);
                level.items[e.data as usize].1 = None;
            }
        }
        let f = &mut self.features[slot as usize];
        f.fid = EMPTY;
        f.geom = MercGeom::Points(Vec::new());
        f.values = Vec::new();
        self.free.push(slot);
    }

    /// Puts a feature in an empty slot (or a new one), with how each level holds it.
    fn insert(&mut self, f: IndexedFeature, levels: Vec<Option<Option<MercGeom>>>) {
        let bbox = f.bbox;
        let slot = match self.free.pop() {
            Some(s) => {
                self.features[s as usize] = f;
                s
            }
            None => {
                self.features.push(f);
                (self.features.len() - 1) as u32
            }
        };
        self.tree.insert(GeomWithData::new(rect(&bbox), slot));
        for (level, item) in self.levels.iter_mut().zip(levels) {
            match level.tree.as_mut() {
                None => {
                    let item = (slot, item.flatten());
                    match level.items.get_mut(slot as usize) {
                        Some(held) => *held = item,
                        None => level.items.push(item),
                    }
                }
                Some(tree) => {
                    if let Some(g) = item {
                        tree.insert(GeomWithData::new(rect(&bbox), level.items.len() as u32));
                        level.items.push((slot, g));
                    }
                }
            }
        }
    }
}

fn rect(b: &[f64; 4]) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([b[0], b[1]], [b[2], b[3]])
}

/// A stored feature as the index holds it; None (logged) for geometry it cannot read.
fn indexed(layer: &Layer, f: StoredFeature) -> Option<IndexedFeature> {
    // The store only holds WKB that ingest wrote; skip rather than fail on oddities.
    let Ok(geom) = from_wkb(&f.wkb) else {
        tracing::warn!(layer = %layer.id, fid = f.fid, "unreadable geometry skipped");
        return None;
    };
    Some(IndexedFeature {
        fid: f.fid,
        bbox: merc_bbox(&geom),
        geom,
        values: f.values,
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
