//! Features held compactly for tiling: every geometry's points in one flat array of
//! quantised Web Mercator coordinates (2³² steps across the world, 0.93 cm), ring sizes in
//! another, attribute values packed in one byte array. No heap object per feature: a
//! million buildings are a handful of allocations. Geometries and values are decoded into
//! reused scratch space as a tile is cut.

use super::feature::{MercGeom, Pt};
use super::math::HALF;
use crate::model::Value;

/// A geometry in an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeomRef {
    kind: Kind,
    /// First point.
    pts: u32,
    /// First ring size.
    rings: u32,
    nrings: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Points,
    Lines,
    Polygons,
}

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

/// Geometries, appended; never rewritten (an edit appends the new geometry and leaves
/// the old one unreferenced).
#[derive(Default)]
pub struct Arena {
    pts: Vec<[u32; 2]>,
    rings: Vec<u32>,
}

impl GeomRef {
    pub fn is_points(&self) -> bool {
        self.kind == Kind::Points
    }

    /// As four words, for a persisted index.
    pub fn to_words(self) -> [u32; 4] {
        [self.kind as u32, self.pts, self.rings, self.nrings]
    }

    pub fn from_words(w: [u32; 4]) -> Option<GeomRef> {
        let kind = [Kind::Points, Kind::Lines, Kind::Polygons]
            .into_iter()
            .find(|k| *k as u32 == w[0])?;
        Some(GeomRef {
            kind,
            pts: w[1],
            rings: w[2],
            nrings: w[3],
        })
    }
}

impl Arena {
    pub fn push(&mut self, g: &MercGeom) -> GeomRef {
        let (pts, rings) = (self.pts.len() as u32, self.rings.len() as u32);
        let ring = |arena: &mut Arena, r: &[Pt], first: bool| {
            arena
                .pts
                .extend(r.iter().map(|p| [quantise(p[0]), quantise(p[1])]));
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
        GeomRef {
            kind,
            pts,
            rings,
            nrings: self.rings.len() as u32 - rings,
        }
    }

    /// Copies a geometry of another arena into this one.
    pub fn copy(&mut self, from: &Arena, g: GeomRef) -> GeomRef {
        let rings = &from.rings[g.rings as usize..(g.rings + g.nrings) as usize];
        let n: u32 = rings.iter().map(|r| r & !FIRST).sum();
        let out = GeomRef {
            kind: g.kind,
            pts: self.pts.len() as u32,
            rings: self.rings.len() as u32,
            nrings: g.nrings,
        };
        self.pts
            .extend_from_slice(&from.pts[g.pts as usize..(g.pts + n) as usize]);
        self.rings.extend_from_slice(rings);
        out
    }

    /// The geometry, into `out` (its buffers reused when it holds the same kind).
    pub fn decode(&self, g: GeomRef, out: &mut MercGeom) {
        let rings = &self.rings[g.rings as usize..(g.rings + g.nrings) as usize];
        let mut at = g.pts as usize;
        let mut next = |n: u32, into: &mut Vec<Pt>| {
            into.clear();
            let n = (n & !FIRST) as usize;
            into.extend(
                self.pts[at..at + n]
                    .iter()
                    .map(|q| [dequantise(q[0]), dequantise(q[1])]),
            );
            at += n;
        };
        match g.kind {
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
        self.pts.capacity() * 8 + self.rings.capacity() * 4
    }

    /// Gives back what growing left unused.
    pub fn shrink(&mut self) {
        self.pts.shrink_to_fit();
        self.rings.shrink_to_fit();
    }

    /// The points and ring sizes, for a persisted index.
    pub fn parts(&self) -> (&[[u32; 2]], &[u32]) {
        (&self.pts, &self.rings)
    }

    /// An arena from persisted parts, if every reference into it stays inside.
    pub fn from_parts(pts: Vec<[u32; 2]>, rings: Vec<u32>) -> Arena {
        Arena { pts, rings }
    }

    /// Whether a geometry lies inside this arena (for references read from disk).
    pub fn holds(&self, g: GeomRef) -> bool {
        let end = g.rings as usize + g.nrings as usize;
        end <= self.rings.len()
            && g.nrings > 0
            && g.pts as usize
                + self.rings[g.rings as usize..end]
                    .iter()
                    .map(|r| (r & !FIRST) as usize)
                    .sum::<usize>()
                <= self.pts.len()
    }
}

/// Attribute values packed one feature after another: a tag byte, then the value.
#[derive(Default)]
pub struct Values {
    bytes: Vec<u8>,
}

/// Where a feature's values are in [`Values`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValuesRef {
    pub at: u32,
    pub len: u32,
}

impl Values {
    pub fn push(&mut self, values: &[Value]) -> ValuesRef {
        let at = self.bytes.len();
        let b = &mut self.bytes;
        for v in values {
            match v {
                Value::Null => b.push(0),
                Value::Integer(i) => {
                    b.push(1);
                    b.extend_from_slice(&i.to_le_bytes());
                }
                Value::Real(f) => {
                    b.push(2);
                    b.extend_from_slice(&f.to_le_bytes());
                }
                Value::Boolean(x) => b.push(if *x { 4 } else { 3 }),
                Value::Text(s) | Value::Date(s) | Value::Datetime(s) => {
                    b.push(match v {
                        Value::Text(_) => 5,
                        Value::Date(_) => 6,
                        _ => 7,
                    });
                    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    b.extend_from_slice(s.as_bytes());
                }
            }
        }
        ValuesRef {
            at: at as u32,
            len: (self.bytes.len() - at) as u32,
        }
    }

    pub fn copy(&mut self, from: &Values, r: ValuesRef) -> ValuesRef {
        let at = self.bytes.len() as u32;
        self.bytes
            .extend_from_slice(&from.bytes[r.at as usize..(r.at + r.len) as usize]);
        ValuesRef { at, len: r.len }
    }

    /// The values, into `out` (its text buffers reused where the kinds line up).
    pub fn decode(&self, r: ValuesRef, out: &mut Vec<Value>) {
        let mut b = &self.bytes[r.at as usize..(r.at + r.len) as usize];
        let mut i = 0;
        let take8 = |b: &mut &[u8]| {
            let (head, rest) = b.split_at(8);
            *b = rest;
            <[u8; 8]>::try_from(head).unwrap_or_default()
        };
        while let Some((&tag, rest)) = b.split_first() {
            b = rest;
            let v = match tag {
                1 => Value::Integer(i64::from_le_bytes(take8(&mut b))),
                2 => Value::Real(f64::from_le_bytes(take8(&mut b))),
                3 => Value::Boolean(false),
                4 => Value::Boolean(true),
                5..=7 => {
                    let (len, rest) = b.split_at(4);
                    let n = u32::from_le_bytes(<[u8; 4]>::try_from(len).unwrap_or_default());
                    let (text, rest) = rest.split_at(n as usize);
                    b = rest;
                    let text = std::str::from_utf8(text).unwrap_or_default();
                    // Reuse the String already in this position.
                    let mut s = match out.get_mut(i) {
                        Some(Value::Text(s) | Value::Date(s) | Value::Datetime(s)) => {
                            std::mem::take(s)
                        }
                        _ => String::new(),
                    };
                    s.clear();
                    s.push_str(text);
                    match tag {
                        5 => Value::Text(s),
                        6 => Value::Date(s),
                        _ => Value::Datetime(s),
                    }
                }
                _ => Value::Null,
            };
            match out.get_mut(i) {
                Some(slot) => *slot = v,
                None => out.push(v),
            }
            i += 1;
        }
        out.truncate(i);
    }

    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Gives back what growing left unused.
    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Values {
        Values { bytes }
    }

    /// Whether a reference lies inside (for references read from disk).
    pub fn holds(&self, r: ValuesRef) -> bool {
        r.at as usize + r.len as usize <= self.bytes.len()
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

        let mut v = Values::default();
        let row = vec![
            Value::Text("Città di Milano".into()),
            Value::Null,
            Value::Integer(-42),
            Value::Real(45.464_203_1),
            Value::Boolean(true),
            Value::Date("2024-05-01".into()),
        ];
        let r = v.push(&row);
        let mut out = vec![Value::Integer(1)];
        v.decode(r, &mut out);
        assert_eq!(out, row);
        let empty = v.push(&[]);
        v.decode(empty, &mut out);
        assert!(out.is_empty());
    }
}
