//! Features as the tile engine keeps them: geometry already in Web Mercator, flat vectors of
//! points, plus the attribute values. Built from the store's WKB.

use super::math::lonlat_to_mercator;
use crate::model::Value;

pub type Pt = [f64; 2];

/// Geometry in EPSG:3857, grouped as MVT needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum MercGeom {
    Points(Vec<Pt>),
    Lines(Vec<Vec<Pt>>),
    /// Polygons, each a list of rings, exterior first.
    Polygons(Vec<Vec<Vec<Pt>>>),
}

#[derive(Debug, Clone)]
pub struct IndexedFeature {
    pub fid: i64,
    pub bbox: [f64; 4],
    pub geom: MercGeom,
    pub values: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("bad WKB: {0}")]
pub struct WkbError(&'static str);

struct Reader<'a> {
    b: &'a [u8],
    o: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, WkbError> {
        let v = *self.b.get(self.o).ok_or(WkbError("truncated"))?;
        self.o += 1;
        Ok(v)
    }
    fn u32(&mut self, le: bool) -> Result<u32, WkbError> {
        let s: [u8; 4] = self
            .b
            .get(self.o..self.o + 4)
            .ok_or(WkbError("truncated"))?
            .try_into()
            .map_err(|_| WkbError("truncated"))?;
        self.o += 4;
        Ok(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }
    fn f64(&mut self, le: bool) -> Result<f64, WkbError> {
        let s: [u8; 8] = self
            .b
            .get(self.o..self.o + 8)
            .ok_or(WkbError("truncated"))?
            .try_into()
            .map_err(|_| WkbError("truncated"))?;
        self.o += 8;
        Ok(if le {
            f64::from_le_bytes(s)
        } else {
            f64::from_be_bytes(s)
        })
    }
    fn count(&mut self, le: bool) -> Result<usize, WkbError> {
        let n = self.u32(le)? as usize;
        // Each element takes at least 16 bytes: a count beyond the buffer is corrupt.
        if n > self.b.len().saturating_sub(self.o) / 4 + 1 {
            return Err(WkbError("count larger than the data"));
        }
        Ok(n)
    }
    fn point(&mut self, le: bool) -> Result<Pt, WkbError> {
        let x = self.f64(le)?;
        let y = self.f64(le)?;
        Ok(lonlat_to_mercator(x, y))
    }
    fn ring(&mut self, le: bool) -> Result<Vec<Pt>, WkbError> {
        let n = self.count(le)?;
        (0..n).map(|_| self.point(le)).collect()
    }
    fn polygon(&mut self, le: bool) -> Result<Vec<Vec<Pt>>, WkbError> {
        let n = self.count(le)?;
        (0..n).map(|_| self.ring(le)).collect()
    }
    fn header(&mut self) -> Result<(bool, u32), WkbError> {
        let le = self.u8()? == 1;
        let t = self.u32(le)?;
        Ok((le, t & 0xff))
    }
}

/// Reads 2D WKB (lon/lat) into Web Mercator, grouped by kind.
pub fn from_wkb(wkb: &[u8]) -> Result<MercGeom, WkbError> {
    let mut r = Reader { b: wkb, o: 0 };
    let (le, t) = r.header()?;
    Ok(match t {
        1 => MercGeom::Points(vec![r.point(le)?]),
        2 => MercGeom::Lines(vec![r.ring(le)?]),
        3 => MercGeom::Polygons(vec![r.polygon(le)?]),
        4 => {
            let n = r.count(le)?;
            let mut pts = Vec::with_capacity(n);
            for _ in 0..n {
                let (le, _) = r.header()?;
                pts.push(r.point(le)?);
            }
            MercGeom::Points(pts)
        }
        5 => {
            let n = r.count(le)?;
            let mut lines = Vec::with_capacity(n);
            for _ in 0..n {
                let (le, _) = r.header()?;
                lines.push(r.ring(le)?);
            }
            MercGeom::Lines(lines)
        }
        6 => {
            let n = r.count(le)?;
            let mut polys = Vec::with_capacity(n);
            for _ in 0..n {
                let (le, _) = r.header()?;
                polys.push(r.polygon(le)?);
            }
            MercGeom::Polygons(polys)
        }
        _ => return Err(WkbError("unsupported geometry type")),
    })
}

/// Bounding box of a Mercator geometry.
pub fn merc_bbox(g: &MercGeom) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    let mut add = |p: &Pt| {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    };
    match g {
        MercGeom::Points(p) => p.iter().for_each(&mut add),
        MercGeom::Lines(l) => l.iter().flatten().for_each(&mut add),
        MercGeom::Polygons(p) => p.iter().flatten().flatten().for_each(&mut add),
    }
    b
}
