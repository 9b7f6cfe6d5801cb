//! A feature's polygons in integer tile units, as a tile is cut: rings projected, clipped to
//! the buffered tile, quantised, simplified and oriented the MVT 2.1 way (exteriors
//! clockwise on screen, holes counter-clockwise), then made OGC-valid — by a cheap test when
//! it can prove the result simple, else by one overlay in integer units. Buffers are kept
//! from one feature to the next: a low-zoom tile cuts thousands of small polygons.

use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{IntOverlayOptions, Overlay, ShapeType};
use i_overlay::core::overlay_rule::OverlayRule;
use i_overlay::i_float::int::point::IntPoint;

use super::clip::{clip_ring, extend_kept, quantize_into, ring_area2, IPt, Simplifier, TileSpace};
use super::feature::Pt;
use super::mvt::Commands;

pub struct PolygonBuilder {
    /// The rings' points, one ring after another, without closing points.
    pts: Vec<IPt>,
    /// Where each ring ends in `pts`.
    ends: Vec<usize>,
    // Scratch.
    projected: Vec<Pt>,
    clip_tmp: Vec<Pt>,
    quantised: Vec<IPt>,
    contour: Vec<IntPoint>,
    dp: Simplifier,
    overlay: Overlay,
}

impl Default for PolygonBuilder {
    fn default() -> Self {
        let options = IntOverlayOptions {
            ogc: true,
            ..Default::default()
        };
        PolygonBuilder {
            pts: Vec::new(),
            ends: Vec::new(),
            projected: Vec::new(),
            clip_tmp: Vec::new(),
            quantised: Vec::new(),
            contour: Vec::new(),
            dp: Simplifier::default(),
            overlay: Overlay::new_custom(256, options, Default::default()),
        }
    }
}

impl PolygonBuilder {
    /// Starts a new feature.
    pub fn clear(&mut self) {
        self.pts.clear();
        self.ends.clear();
    }

    /// Adds one polygon (rings in Web Mercator, exterior first), projected by `ts`, clipped
    /// to the square `clip` (`[lo, hi]` in tile units) unless it lies inside, simplified
    /// with tolerance `tol`. A polygon whose exterior degenerates is left out whole; a hole
    /// that degenerates, alone.
    pub fn add(&mut self, rings: &[Vec<Pt>], ts: &TileSpace, clip: Option<[f64; 2]>, tol: f64) {
        for (i, r) in rings.iter().enumerate() {
            let mut q = std::mem::take(&mut self.quantised);
            q.clear();
            match clip {
                None => quantize_into(r.iter().map(|p| ts.apply(p)), &mut q),
                Some([lo, hi]) => {
                    self.projected.clear();
                    self.projected.extend(r.iter().map(|p| ts.apply(p)));
                    clip_ring(&mut self.projected, &mut self.clip_tmp, lo, hi);
                    quantize_into(self.projected.iter().copied(), &mut q);
                }
            }
            let kept = self.push_ring(&q, tol, i == 0);
            self.quantised = q;
            if !kept && i == 0 {
                return;
            }
        }
    }

    /// Makes the polygons added since [`Self::clear`] valid and writes them as commands.
    pub fn finish(&mut self, cmds: &mut Commands) {
        // The common case, one small ring, is checked directly: far cheaper than an overlay.
        let simple = self.ends.len() == 1 && self.pts.len() <= 64 && is_simple(&self.pts);
        if !self.ends.is_empty() && !simple {
            self.repair();
        }
        let mut start = 0;
        for &end in &self.ends {
            cmds.ring(&self.pts[start..end]);
            start = end;
        }
    }

    /// Appends a ring (closing point optional), simplified as a path from its first point
    /// round to itself and oriented; false (and nothing appended) if it degenerates.
    fn push_ring(&mut self, ring: &[IPt], tol: f64, exterior: bool) -> bool {
        let q = match ring {
            [first, .., last] if first == last => &ring[..ring.len() - 1],
            _ => ring,
        };
        if q.len() < 3 {
            return false;
        }
        let start = self.pts.len();
        if tol > 0.0 {
            let n = q.len();
            let at = |i: usize| {
                let p = q[i % n];
                [p[0] as f64, p[1] as f64]
            };
            let keep = self.dp.mark(n + 1, at, tol);
            extend_kept(&mut self.pts, q, keep);
        } else {
            self.pts.extend_from_slice(q);
        }
        let ring = &mut self.pts[start..];
        let area = if ring.len() >= 3 { ring_area2(ring) } else { 0 };
        if area == 0 {
            self.pts.truncate(start);
            return false;
        }
        if (area > 0) != exterior {
            ring.reverse();
        }
        self.ends.push(self.pts.len());
        true
    }

    /// Snapping to the tile grid can fold a ring or make parts overlap, and clipping leaves
    /// zero-width bridges along the tile's edge (see [`clip_ring`]). One overlay — the union
    /// of exteriors less the holes, extracted as OGC-valid polygons — repairs all of that.
    fn repair(&mut self) {
        self.overlay.clear();
        let mut start = 0;
        for &end in &self.ends {
            self.contour.clear();
            let ring = &self.pts[start..end];
            self.contour
                .extend(ring.iter().map(|p| IntPoint::new(p[0], p[1])));
            self.overlay.add_contour(&self.contour, ShapeType::Subject);
            start = end;
        }
        // Exteriors are clockwise on screen and holes counter-clockwise: with y down, that
        // makes exteriors count +1 in i_overlay's winding, holes -1. Keep what is positive:
        // overlapping parts merge, a hole pushed out of its exterior adds nothing.
        let shapes = self
            .overlay
            .overlay(OverlayRule::Subject, FillRule::Positive);
        self.clear();
        let mut q = std::mem::take(&mut self.quantised);
        for shape in shapes {
            for (i, contour) in shape.iter().enumerate() {
                q.clear();
                q.extend(contour.iter().map(|p| [p.x, p.y]));
                if !self.push_ring(&q, 0.0, i == 0) && i == 0 {
                    break;
                }
            }
        }
        self.quantised = q;
    }
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
        // Edges whose boxes are apart cannot meet: most pairs end here.
        if a[0].max(b[0]) < c[0].min(d[0])
            || c[0].max(d[0]) < a[0].min(b[0])
            || a[1].max(b[1]) < c[1].min(d[1])
            || c[1].max(d[1]) < a[1].min(b[1])
        {
            return false;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rings(b: &PolygonBuilder) -> Vec<Vec<IPt>> {
        let mut start = 0;
        b.ends
            .iter()
            .map(|&end| {
                let r = b.pts[start..end].to_vec();
                start = end;
                r
            })
            .collect()
    }

    #[test]
    fn rings_are_oriented_and_bowties_repaired() {
        let ts = TileSpace {
            minx: 0.0,
            maxy: 100.0,
            scale: 1.0,
        };
        let mut b = PolygonBuilder::default();
        // Counter-clockwise on screen as given (y up in metres): turned clockwise.
        let square = vec![
            [10.0, 90.0],
            [10.0, 50.0],
            [50.0, 50.0],
            [50.0, 90.0],
            [10.0, 90.0],
        ];
        b.add(&[square], &ts, None, 0.0);
        let mut cmds = Commands::default();
        b.finish(&mut cmds);
        let r = rings(&b);
        assert_eq!(r.len(), 1);
        assert!(ring_area2(&r[0]) > 0);

        // A bow tie (self-crossing, lobes turning opposite ways): the ring is turned the
        // way its larger lobe goes, which is kept as a valid triangle; the twisted lobe (in
        // tiles, a snapping artefact) counts as a hole outside and adds nothing.
        b.clear();
        let bowtie = vec![[0.0, 100.0], [40.0, 60.0], [40.0, 90.0], [0.0, 60.0]];
        b.add(&[bowtie], &ts, None, 0.0);
        b.finish(&mut Commands::default());
        let r = rings(&b);
        assert_eq!(r.len(), 1);
        assert!(ring_area2(&r[0]) > 0 && is_simple(&r[0]));
        assert!(r[0].contains(&[0, 0]) && r[0].contains(&[0, 40]));
    }

    #[test]
    fn simple_ring_test() {
        assert!(is_simple(&[[0, 0], [10, 0], [10, 10], [0, 10]]));
        assert!(!is_simple(&[[0, 0], [10, 10], [10, 0], [0, 10]]));
        // Touching itself at a vertex.
        assert!(!is_simple(&[
            [0, 0],
            [10, 0],
            [5, 5],
            [10, 10],
            [0, 10],
            [5, 5]
        ]));
    }
}
