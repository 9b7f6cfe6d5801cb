//! One layer version held in memory for tiling: features in Web Mercator and an R-tree of
//! their bounding boxes. A tile is a query of the tree, then clip → quantise → simplify →
//! orient → encode, per feature.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::clip::{clip_line, quantize, quantize_iter, ring_area2, simplify, IPt, TileSpace};
use super::feature::{from_wkb, merc_bbox, IndexedFeature, MercGeom, Pt};
use super::math::{TileCoord, BUFFER, EXTENT};
use super::mvt::{Commands, GeomKind, LayerBuilder};
use crate::model::Layer;
use crate::store::StoredFeature;

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

pub struct LayerIndex {
    pub layer: Layer,
    features: Vec<IndexedFeature>,
    tree: RTree<Entry>,
    /// Only what a tile of zoom ≤ [`COARSE_ZOOM`] can draw: points, and lines and polygons
    /// at least [`LOW_ZOOM_MIN`] units across at that zoom. Low-zoom tiles cover many
    /// features too small to draw; this tree never hands them out.
    coarse: RTree<Entry>,
}

/// Up to this zoom, lines and polygons under 4 screen pixels (32 units) are left out.
const COARSE_ZOOM: u8 = 11;
const LOW_ZOOM_MIN: f64 = 32.0;

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
        let entry = |(i, f): (usize, &IndexedFeature)| {
            GeomWithData::new(
                Rectangle::from_corners([f.bbox[0], f.bbox[1]], [f.bbox[2], f.bbox[3]]),
                i as u32,
            )
        };
        let entries: Vec<Entry> = features.iter().enumerate().map(entry).collect();
        let coarse_min = LOW_ZOOM_MIN / units_per_metre(COARSE_ZOOM);
        let coarse: Vec<Entry> = features
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                matches!(f.geom, MercGeom::Points(_))
                    || (f.bbox[2] - f.bbox[0]).max(f.bbox[3] - f.bbox[1]) >= coarse_min
            })
            .map(entry)
            .collect();
        LayerIndex {
            layer,
            features,
            tree: RTree::bulk_load(entries),
            coarse: RTree::bulk_load(coarse),
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
        self.features.capacity() * std::mem::size_of::<IndexedFeature>()
            + self
                .features
                .iter()
                .map(|f| {
                    geom(&f.geom)
                        + f.values.capacity() * std::mem::size_of::<Value>()
                        + f.values.iter().map(value).sum::<usize>()
                })
                .sum::<usize>()
            + (self.tree.size() + self.coarse.size()) * (std::mem::size_of::<Entry>() + 16)
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
        let tree = if tile.z <= COARSE_ZOOM {
            &self.coarse
        } else {
            &self.tree
        };
        let mut ids: Vec<u32> = tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data)
            .collect();
        ids.sort_unstable();
        let mut out = LayerBuilder::new(name, EXTENT);
        out.set_keys(self.layer.fields.iter().map(|f| f.name.clone()).collect());
        let (lo, hi) = (-BUFFER, EXTENT as f64 + BUFFER);
        let tol = if tile.z >= 16 { 0.0 } else { 1.0 };
        // Lines and polygons smaller than a few screen pixels (a pixel is 8 units of a
        // 512-pixel tile) are left out: below 4 px up to z11, 1 px to z15.
        // At low zoom they are most of a dense layer and draw as noise; this keeps those
        // tiles small and fast (see docs/architecture.md).
        let min_size = match tile.z {
            0..=COARSE_ZOOM => LOW_ZOOM_MIN,
            12..=15 => 8.0,
            _ => 1.0,
        };
        // Point thinning at low zoom: one point per cell of `cell` tile units.
        let cell = match tile.z {
            0..=8 => 16,
            9..=12 => 4,
            _ => 0,
        };
        let mut taken = std::collections::HashSet::new();
        for id in ids {
            let f = &self.features[id as usize];
            let w = (f.bbox[2] - f.bbox[0]) * ts.scale;
            let h = (f.bbox[3] - f.bbox[1]) * ts.scale;
            let mut cmds = Commands::default();
            let kind = match &f.geom {
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
                    let mut parts: Vec<Vec<Vec<IPt>>> = Vec::with_capacity(polys.len());
                    // Inside the buffered tile (by its box): rings are projected while they
                    // are quantised, with no copy; else clipped first.
                    let inside = f.bbox[0] >= env.lower()[0]
                        && f.bbox[1] >= env.lower()[1]
                        && f.bbox[2] <= env.upper()[0]
                        && f.bbox[3] <= env.upper()[1];
                    for poly in polys {
                        if inside {
                            parts.extend(tile_polygon(
                                poly.iter()
                                    .map(|r| quantize_iter(r.iter().map(|p| ts.apply(p)))),
                                tol,
                            ));
                        } else {
                            let projected: Vec<Vec<Pt>> = poly
                                .iter()
                                .map(|r| r.iter().map(|p| ts.apply(p)).collect())
                                .collect();
                            for clipped in clip_polygon(&projected, lo, hi) {
                                parts.extend(tile_polygon(clipped.iter().map(quantize), tol));
                            }
                        }
                    }
                    for poly in make_valid(parts) {
                        poly.iter().for_each(|r| cmds.ring(r));
                    }
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

/// One polygon in integer tile units (rings quantised, then simplified and oriented), or
/// None if its exterior degenerates.
fn tile_polygon(rings: impl Iterator<Item = Vec<IPt>>, tol: f64) -> Option<Vec<Vec<IPt>>> {
    let mut out = Vec::with_capacity(rings.size_hint().0);
    for (i, ring) in rings.enumerate() {
        match tile_ring(ring, tol, i == 0) {
            Some(r) => out.push(r),
            None if i == 0 => return None,
            None => {}
        }
    }
    Some(out)
}

/// Snapping to the tile grid can fold a ring or make parts overlap. An OGC-valid union of
/// the snapped rings (exteriors and holes by orientation) repairs that; it only runs when a
/// cheap test cannot rule a problem out.
fn make_valid(parts: Vec<Vec<Vec<IPt>>>) -> Vec<Vec<Vec<IPt>>> {
    // The common case, one small ring, is checked directly: far cheaper than an overlay.
    if parts.len() == 1 && parts[0].len() == 1 && parts[0][0].len() <= 64 && is_simple(&parts[0][0])
    {
        return parts;
    }
    let (once, exact) = union_snapped(&parts);
    if exact {
        return once;
    }
    // New vertices at intersections were rounded: one more pass settles them.
    union_snapped(&once).0
}

/// Does a ring (without its closing point) have no repeated vertex and no two edges that
/// touch or cross, other than neighbours at their shared vertex? O(n²), for small rings.
fn is_simple(r: &[IPt]) -> bool {
    let n = r.len();
    if n < 3 {
        return false;
    }
    let orient = |a: IPt, b: IPt, c: IPt| -> i64 {
        let v = (b[0] - a[0]) as i64 * (c[1] - a[1]) as i64
            - (b[1] - a[1]) as i64 * (c[0] - a[0]) as i64;
        v.signum()
    };
    let on = |a: IPt, b: IPt, p: IPt| {
        p[0] >= a[0].min(b[0])
            && p[0] <= a[0].max(b[0])
            && p[1] >= a[1].min(b[1])
            && p[1] <= a[1].max(b[1])
    };
    let touch = |a: IPt, b: IPt, c: IPt, d: IPt| -> bool {
        let (o1, o2, o3, o4) = (
            orient(a, b, c),
            orient(a, b, d),
            orient(c, d, a),
            orient(c, d, b),
        );
        (o1 != o2 && o3 != o4)
            || (o1 == 0 && on(a, b, c))
            || (o2 == 0 && on(a, b, d))
            || (o3 == 0 && on(c, d, a))
            || (o4 == 0 && on(c, d, b))
    };
    for i in 0..n {
        let (a, b) = (r[i], r[(i + 1) % n]);
        for j in i + 1..n {
            let (c, d) = (r[j], r[(j + 1) % n]);
            let neighbours = j == i + 1 || (i == 0 && j == n - 1);
            if neighbours {
                // Adjacent edges may only share their common vertex: no folding back.
                let (shared, p, q) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                if orient(p, shared, q) == 0 && !on(p, q, shared) {
                    return false;
                }
                continue;
            }
            if touch(a, b, c, d) {
                return false;
            }
        }
    }
    true
}

/// The union of snapped polygons, snapped again; true if no vertex needed rounding.
fn union_snapped(parts: &[Vec<Vec<IPt>>]) -> (Vec<Vec<Vec<IPt>>>, bool) {
    let to_ls = |r: &Vec<IPt>| {
        let mut c: Vec<(f64, f64)> = r.iter().map(|p| (p[0] as f64, p[1] as f64)).collect();
        c.push(c[0]);
        geo::LineString::from(c)
    };
    let polys: Vec<geo::Polygon<f64>> = parts
        .iter()
        .map(|rings| geo::Polygon::new(to_ls(&rings[0]), rings[1..].iter().map(to_ls).collect()))
        .collect();
    let unioned = geo::unary_union(&polys);
    let exact = unioned.0.iter().all(|p| {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .flat_map(|l| l.0.iter())
            .all(|c| c.x.fract() == 0.0 && c.y.fract() == 0.0)
    });
    let out = unioned
        .0
        .iter()
        .filter_map(|p| {
            let to = |l: &geo::LineString| l.0.iter().map(|c| [c.x, c.y]).collect::<Vec<Pt>>();
            let rings = std::iter::once(to(p.exterior())).chain(p.interiors().iter().map(to));
            tile_polygon(rings.map(|r| quantize(&r)), 0.0)
        })
        .collect();
    (out, exact)
}

/// Intersects a polygon crossing the buffered tile's edge with it. A polygon clipper (not
/// Sutherland–Hodgman, whose edge-hugging bridges make rings self-touch) keeps rings valid.
fn clip_polygon(rings: &[Vec<Pt>], lo: f64, hi: f64) -> Vec<Vec<Vec<Pt>>> {
    use geo::BooleanOps;
    let ring =
        |r: &Vec<Pt>| geo::LineString::from(r.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>());
    let Some(exterior) = rings.first() else {
        return Vec::new();
    };
    let poly = geo::Polygon::new(ring(exterior), rings[1..].iter().map(ring).collect());
    let frame = geo::Rect::new((lo, lo), (hi, hi)).to_polygon();
    poly.intersection(&frame)
        .0
        .into_iter()
        .map(|p| {
            let to = |l: &geo::LineString| l.0.iter().map(|c| [c.x, c.y]).collect::<Vec<Pt>>();
            std::iter::once(to(p.exterior()))
                .chain(p.interiors().iter().map(to))
                .collect()
        })
        .collect()
}

/// A quantised ring, simplified and oriented (exterior clockwise on screen, holes
/// counter-clockwise), without its closing point; None if it degenerates.
fn tile_ring(mut q: Vec<IPt>, tol: f64, exterior: bool) -> Option<Vec<IPt>> {
    if q.len() > 1 && q.first() == q.last() {
        q.pop();
    }
    if q.len() < 3 {
        return None;
    }
    // Simplify as an open path from the first point back to itself.
    q.push(q[0]);
    let mut s = simplify(&q, tol);
    s.pop();
    if s.len() < 3 {
        return None;
    }
    let area = ring_area2(&s);
    if area == 0 {
        return None;
    }
    if (area > 0) != exterior {
        s.reverse();
    }
    Some(s)
}
