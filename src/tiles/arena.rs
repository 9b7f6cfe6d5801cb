//! Features held compactly for tiling: every geometry's points in one flat array of
//! quantised Web Mercator coordinates (2³² steps across the world, 0.93 cm), ring sizes in
//! another (attribute values are packed beside them: [`super::values`]). No heap object per
//! feature: a million buildings are a handful of allocations. Geometries are decoded into
//! reused scratch space as a tile is cut.

use super::feature::{MercGeom, Pt};
use super::math::HALF;

/// A geometry in an [`Arena`]: where its coded points start, its ring sizes, and its kind
/// with the number of rings in one word (never zero, so `Option<GeomRef>` costs nothing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeomRef {
    /// Byte offset of its first point in the coded points.
    pts: u32,
    /// First ring size.
    rings: u32,
    /// The kind in the top two bits (1, 2, 3), the number of rings below.
    kind_rings: std::num::NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Points = 1,
    Lines = 2,
    Polygons = 3,
}

const KIND_SHIFT: u32 = 30;

/// Marks, in a ring size, the first ring of a polygon.
const FIRST: u32 = 1 << 31;

const STEPS: f64 = u32::MAX as f64;

fn quantise(v: f64) -> u32 {
    ((v + HALF) / (2.0 * HALF) * STEPS)
        .round()
        .clamp(0.0, STEPS) as u32
}

fn dequantise(q: u32) -> f64 {
    q as f64 / STEPS * (2.0 * HALF) - HALF
}

/// A box (Web Mercator) in the arena's steps, rounded outward: 16 bytes, not 32. It holds
/// the exact box, give or take a centimetre outward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QBox([u32; 4]);

impl QBox {
    pub fn new(b: &[f64; 4]) -> QBox {
        let step = |v: f64| (v + HALF) / (2.0 * HALF) * STEPS;
        let down = |v: f64| step(v).floor().clamp(0.0, STEPS) as u32;
        let up = |v: f64| step(v).ceil().clamp(0.0, STEPS) as u32;
        QBox([down(b[0]), down(b[1]), up(b[2]), up(b[3])])
    }

    pub fn get(&self) -> [f64; 4] {
        self.0.map(dequantise)
    }

    pub fn words(&self) -> [u32; 4] {
        self.0
    }

    pub fn from_words(w: [u32; 4]) -> QBox {
        QBox(w)
    }
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

pub(super) fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

pub(super) fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

/// Reads a geometry's coded points one after another.
struct Points<'a> {
    bytes: &'a [u8],
    at: usize,
    prev: Option<[u32; 2]>,
}

impl Points<'_> {
    fn next(&mut self) -> Option<[u32; 2]> {
        let p = match self.prev {
            None => {
                let b = self.bytes.get(self.at..self.at + 8)?;
                self.at += 8;
                [
                    u32::from_le_bytes(b[..4].try_into().ok()?),
                    u32::from_le_bytes(b[4..].try_into().ok()?),
                ]
            }
            Some([x, y]) => {
                let dx = unzigzag(get_varint(self.bytes, &mut self.at)?);
                let dy = unzigzag(get_varint(self.bytes, &mut self.at)?);
                [
                    u32::try_from(i64::from(x) + dx).ok()?,
                    u32::try_from(i64::from(y) + dy).ok()?,
                ]
            }
        };
        self.prev = Some(p);
        Some(p)
    }
}

/// Geometries, appended; never rewritten (an edit appends the new geometry and leaves
/// the old one unreferenced). Coordinates are coded: a geometry's first point as two
/// little-endian `u32`, each next one as zigzag varint steps from the point before (a
/// building's corners are a few metres apart: two bytes each instead of four).
#[derive(Default)]
pub struct Arena {
    pts: Vec<u8>,
    rings: Vec<u32>,
}

impl GeomRef {
    fn kind(&self) -> Kind {
        match self.kind_rings.get() >> KIND_SHIFT {
            1 => Kind::Points,
            2 => Kind::Lines,
            _ => Kind::Polygons,
        }
    }

    fn nrings(&self) -> u32 {
        self.kind_rings.get() & ((1 << KIND_SHIFT) - 1)
    }

    pub fn is_points(&self) -> bool {
        self.kind() == Kind::Points
    }

    /// As three words, for a persisted index.
    pub fn to_words(self) -> [u32; 3] {
        [self.pts, self.rings, self.kind_rings.get()]
    }

    pub fn from_words(w: [u32; 3]) -> Option<GeomRef> {
        (w[2] >> KIND_SHIFT != 0).then_some(())?;
        Some(GeomRef {
            pts: w[0],
            rings: w[1],
            kind_rings: std::num::NonZeroU32::new(w[2])?,
        })
    }

    fn ring_range(&self) -> std::ops::Range<usize> {
        self.rings as usize..self.rings as usize + self.nrings() as usize
    }
}

impl Arena {
    pub fn push(&mut self, g: &MercGeom) -> GeomRef {
        let (pts, rings) = (self.pts.len() as u32, self.rings.len() as u32);
        let mut prev: Option<[u32; 2]> = None;
        let mut ring = |arena: &mut Arena, r: &[Pt], first: bool| {
            for p in r {
                let q = [quantise(p[0]), quantise(p[1])];
                match prev {
                    None => {
                        arena.pts.extend_from_slice(&q[0].to_le_bytes());
                        arena.pts.extend_from_slice(&q[1].to_le_bytes());
                    }
                    Some([x, y]) => {
                        put_varint(&mut arena.pts, zigzag(i64::from(q[0]) - i64::from(x)));
                        put_varint(&mut arena.pts, zigzag(i64::from(q[1]) - i64::from(y)));
                    }
                }
                prev = Some(q);
            }
            arena
                .rings
                .push(r.len() as u32 | if first { FIRST } else { 0 });
        };
        let kind = match g {
            MercGeom::Points(p) => {
                ring(self, p, false);
                Kind::Points
            }
            MercGeom::Lines(lines) => {
                lines.iter().for_each(|l| ring(self, l, false));
                Kind::Lines
            }
            MercGeom::Polygons(polys) => {
                for poly in polys {
                    for (i, r) in poly.iter().enumerate() {
                        ring(self, r, i == 0);
                    }
                }
                Kind::Polygons
            }
        };
        let nrings = self.rings.len() as u32 - rings;
        GeomRef {
            pts,
            rings,
            kind_rings: std::num::NonZeroU32::new((kind as u32) << KIND_SHIFT | nrings)
                .expect("a kind is never 0"),
        }
    }

    /// The bytes a geometry's points take, if they are all there.
    fn span(&self, g: GeomRef) -> Option<usize> {
        let rings = self.rings.get(g.ring_range())?;
        let n: usize = rings.iter().map(|r| (r & !FIRST) as usize).sum();
        let mut cur = Points {
            bytes: &self.pts,
            at: g.pts as usize,
            prev: None,
        };
        for _ in 0..n {
            cur.next()?;
        }
        Some(cur.at - g.pts as usize)
    }

    /// Copies a geometry of another arena into this one.
    pub fn copy(&mut self, from: &Arena, g: GeomRef) -> GeomRef {
        let len = from.span(g).unwrap_or(0);
        let out = GeomRef {
            pts: self.pts.len() as u32,
            rings: self.rings.len() as u32,
            kind_rings: g.kind_rings,
        };
        self.pts
            .extend_from_slice(&from.pts[g.pts as usize..g.pts as usize + len]);
        self.rings.extend_from_slice(&from.rings[g.ring_range()]);
        out
    }

    /// The geometry, into `out` (its buffers reused when it holds the same kind).
    pub fn decode(&self, g: GeomRef, out: &mut MercGeom) {
        let rings = &self.rings[g.ring_range()];
        let mut cur = Points {
            bytes: &self.pts,
            at: g.pts as usize,
            prev: None,
        };
        let mut next = |n: u32, into: &mut Vec<Pt>| {
            into.clear();
            for _ in 0..(n & !FIRST) {
                let Some(q) = cur.next() else { break };
                into.push([dequantise(q[0]), dequantise(q[1])]);
            }
        };
        match g.kind() {
            Kind::Points => {
                if !matches!(out, MercGeom::Points(_)) {
                    *out = MercGeom::Points(Vec::new());
                }
                if let MercGeom::Points(p) = out {
                    next(rings[0], p);
                }
            }
            Kind::Lines => {
                if !matches!(out, MercGeom::Lines(_)) {
                    *out = MercGeom::Lines(Vec::new());
                }
                if let MercGeom::Lines(lines) = out {
                    lines.resize_with(rings.len(), Vec::new);
                    for (r, l) in rings.iter().zip(lines.iter_mut()) {
                        next(*r, l);
                    }
                }
            }
            Kind::Polygons => {
                if !matches!(out, MercGeom::Polygons(_)) {
                    *out = MercGeom::Polygons(Vec::new());
                }
                if let MercGeom::Polygons(polys) = out {
                    let n = rings.iter().filter(|r| *r & FIRST != 0).count();
                    polys.resize_with(n, Vec::new);
                    let mut p = 0;
                    let mut i = 0;
                    while i < rings.len() {
                        let end = rings[i + 1..]
                            .iter()
                            .position(|r| r & FIRST != 0)
                            .map_or(rings.len(), |k| i + 1 + k);
                        let poly = &mut polys[p];
                        poly.resize_with(end - i, Vec::new);
                        for (r, ring) in rings[i..end].iter().zip(poly.iter_mut()) {
                            next(*r, ring);
                        }
                        p += 1;
                        i = end;
                    }
                }
            }
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.pts.capacity() + self.rings.capacity() * 4
    }

    /// Bytes laid out (referenced or left behind by edits).
    pub fn used(&self) -> usize {
        self.pts.len() + self.rings.len() * 4
    }

    /// Gives back what growing left unused.
    pub fn shrink(&mut self) {
        self.pts.shrink_to_fit();
        self.rings.shrink_to_fit();
    }

    /// The coded points and ring sizes, for a persisted index.
    pub fn parts(&self) -> (&[u8], &[u32]) {
        (&self.pts, &self.rings)
    }

    /// An arena from persisted parts (check references with [`Arena::holds`]).
    pub fn from_parts(pts: Vec<u8>, rings: Vec<u32>) -> Arena {
        Arena { pts, rings }
    }

    /// Whether a geometry's reference lies inside this arena (for references read from
    /// disk, whose bytes a CRC has checked): its rings, and where its points start.
    /// Decoding reads the points with bounds checks, so a bad one ends a geometry early
    /// rather than anything worse.
    pub fn holds(&self, g: GeomRef) -> bool {
        g.nrings() > 0
            && self.rings.get(g.ring_range()).is_some()
            && (g.pts as usize) < self.pts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometries_and_values_round_trip() {
        let mut a = Arena::default();
        let poly = MercGeom::Polygons(vec![
            vec![
                vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 0.0]],
                vec![[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 1.0]],
            ],
            vec![vec![[20.0, 20.0], [30.0, 20.0], [30.0, 30.0], [20.0, 20.0]]],
        ]);
        let lines = MercGeom::Lines(vec![
            vec![[5.0, 5.0], [6.0, 7.0]],
            vec![[1e6, -1e6], [2e6, 3e6]],
        ]);
        let points = MercGeom::Points(vec![[1_020_000.123, 5_700_000.456]]);
        let refs: Vec<GeomRef> = [&poly, &lines, &points].iter().map(|g| a.push(g)).collect();
        let mut b = Arena::default();
        let copied = b.copy(&a, refs[0]);
        let mut out = MercGeom::Points(Vec::new());
        for (g, r) in [&poly, &lines, &points].iter().zip(&refs) {
            a.decode(*r, &mut out);
            let close = |x: &Pt, y: &Pt| (x[0] - y[0]).abs() < 0.005 && (x[1] - y[1]).abs() < 0.005;
            match (g, &out) {
                (MercGeom::Polygons(x), MercGeom::Polygons(y)) => {
                    assert_eq!(x.len(), y.len());
                    for (px, py) in x.iter().zip(y) {
                        assert_eq!(px.len(), py.len());
                        for (rx, ry) in px.iter().zip(py) {
                            assert!(rx.iter().zip(ry).all(|(p, q)| close(p, q)));
                        }
                    }
                }
                (MercGeom::Lines(x), MercGeom::Lines(y)) => {
                    assert_eq!(x.len(), y.len());
                    assert!(x
                        .iter()
                        .flatten()
                        .zip(y.iter().flatten())
                        .all(|(p, q)| close(p, q)));
                }
                (MercGeom::Points(x), MercGeom::Points(y)) => {
                    assert!(x.iter().zip(y).all(|(p, q)| close(p, q)));
                }
                _ => panic!("kind changed"),
            }
        }
        let mut again = MercGeom::Points(Vec::new());
        b.decode(copied, &mut again);
        a.decode(refs[0], &mut out);
        assert_eq!(again, out);
    }

    #[test]
    fn a_building_is_coded_small_and_checked_whole() {
        let mut a = Arena::default();
        // A 20 m × 12 m building: its first corner in 8 bytes, the others in about 4.
        let ring = vec![
            [1_020_000.0, 5_700_000.0],
            [1_020_020.0, 5_700_000.0],
            [1_020_020.0, 5_700_012.0],
            [1_020_000.0, 5_700_012.0],
            [1_020_000.0, 5_700_000.0],
        ];
        let g = a.push(&MercGeom::Polygons(vec![vec![ring]]));
        assert!(
            a.parts().0.len() <= 8 + 4 * 5,
            "{} bytes",
            a.parts().0.len()
        );
        assert!(a.holds(g));
        // A torn arena: the geometry decodes short, and copies as nothing; no panic.
        let (pts, rings) = a.parts();
        let cut = Arena::from_parts(pts[..pts.len() - 1].to_vec(), rings.to_vec());
        assert!(cut.holds(g));
        let mut out = MercGeom::Points(Vec::new());
        cut.decode(g, &mut out);
        assert!(matches!(&out, MercGeom::Polygons(p) if p[0][0].len() == 4));
        assert!(!Arena::from_parts(Vec::new(), rings.to_vec()).holds(g));
    }
}
