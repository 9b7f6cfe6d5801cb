//! One layer version held in memory for tiling: features in Web Mercator, in spatial order,
//! an R-tree of their bounding boxes, and lighter trees with generalised geometry for low
//! zooms. A tile is a query of a tree, then clip → quantise → simplify → orient → make
//! valid → encode, per feature.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::clip::{clip_line, quantize, simplify, simplify_merc, IPt, TileSpace};
use super::feature::{from_wkb, merc_bbox, IndexedFeature, MercGeom, Pt};
use super::math::{TileCoord, BUFFER, EXTENT};
use super::mvt::{Commands, GeomKind, LayerBuilder};
use super::polygon::PolygonBuilder;
use crate::model::Layer;
use crate::store::StoredFeature;

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

pub struct LayerIndex {
    pub layer: Layer,
    features: Vec<IndexedFeature>,
    tree: RTree<Entry>,
    /// What low-zoom tiles draw, one level per band of zooms (see [`LEVELS`]).
    levels: Vec<Level>,
}

/// The features a band of low zooms can draw — points, and lines and polygons at least
/// [`min_size`] across at the band's deepest zoom — with lines and polygons generalised for
/// that zoom (Douglas–Peucker at half a tile unit). Low-zoom tiles cover many features too
/// small to draw and many vertices closer than a pixel: a level never hands those out.
struct Level {
    max_zoom: u8,
    /// None when the level holds every feature, in order: the full tree serves it.
    tree: Option<RTree<Entry>>,
    /// (feature index, generalised geometry; None: the feature's own, as for points).
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
        let mut features = Vec::with_capacity(stored.len());
        for f in stored {
            // The store only holds WKB that ingest wrote; skip rather than fail on oddities.
            let Ok(geom) = from_wkb(&f.wkb) else {
                tracing::warn!(layer = %layer.id, fid = f.fid, "unreadable geometry skipped");
                continue;
            };
            let bbox = merc_bbox(&geom);
            features.push(IndexedFeature {
                fid: f.fid,
                bbox,
                geom,
                values: f.values,
            });
        }
        // Spatial order (Z-order of the box centres), with each geometry copied afresh in
        // that order: a tile's features then sit close together in memory, which its
        // thousands of reads at low zoom feel.
        features.sort_by_cached_key(|f| morton(&f.bbox));
        let features = features.to_vec();
        let rect = |b: &[f64; 4]| Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]);
        let entries: Vec<Entry> = features
            .iter()
            .enumerate()
            .map(|(i, f)| GeomWithData::new(rect(&f.bbox), i as u32))
            .collect();
        let levels = LEVELS
            .iter()
            .map(|&z| Level::build(&features, z, rect))
            .collect();
        LayerIndex {
            layer,
            features,
            tree: RTree::bulk_load(entries),
            levels,
        }
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Approximate heap bytes held: geometries, values and the R-tree entries.
    pub fn heap_bytes(&self) -> usize {
        use crate::model::Value;
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
        let levels: usize = self
            .levels
            .iter()
            .map(|l| {
                l.items.capacity() * std::mem::size_of::<(u32, Option<MercGeom>)>()
                    + l.items.iter().flat_map(|(_, g)| g).map(geom).sum::<usize>()
                    + l.tree.as_ref().map_or(0, RTree::size) * (std::mem::size_of::<Entry>() + 16)
            })
            .sum();
        levels
            + self.features.capacity() * std::mem::size_of::<IndexedFeature>()
            + self
                .features
                .iter()
                .map(|f| {
                    geom(&f.geom)
                        + f.values.capacity() * std::mem::size_of::<Value>()
                        + f.values.iter().map(value).sum::<usize>()
                })
                .sum::<usize>()
            + self.tree.size() * (std::mem::size_of::<Entry>() + 16)
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
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
        let level = self.levels.iter().find(|l| tile.z <= l.max_zoom);
        let tree = level.and_then(|l| l.tree.as_ref()).unwrap_or(&self.tree);
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
        // Point thinning at low zoom: one point per cell of `cell` tile units.
        let cell = match tile.z {
            0..=8 => 16,
            9..=12 => 4,
            _ => 0,
        };
        let mut taken = std::collections::HashSet::new();
        // Made on the first polygon: point and line layers need none.
        let mut builder: Option<PolygonBuilder> = None;
        let mut cmds = Commands::default();
        for id in ids {
            let (f, geom) = match level {
                Some(l) => {
                    let (i, g) = &l.items[id as usize];
                    let f = &self.features[*i as usize];
                    (f, g.as_ref().unwrap_or(&f.geom))
                }
                None => (
                    &self.features[id as usize],
                    &self.features[id as usize].geom,
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
    fn build(
        features: &[IndexedFeature],
        max_zoom: u8,
        rect: impl Fn(&[f64; 4]) -> Rectangle<[f64; 2]>,
    ) -> Level {
        let per_metre = units_per_metre(max_zoom);
        let smallest = min_size(max_zoom) / per_metre;
        let tol = 0.5 / per_metre;
        let mut items = Vec::new();
        let mut entries = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let big = (f.bbox[2] - f.bbox[0]).max(f.bbox[3] - f.bbox[1]) >= smallest;
            let geom = match &f.geom {
                MercGeom::Points(_) => None,
                _ if !big => continue,
                g => match generalise(g, tol) {
                    // Kept only where it saves a good share of the points.
                    Some(s) if 4 * points(&s) <= 3 * points(g) => Some(s),
                    Some(_) => None,
                    None => continue,
                },
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
