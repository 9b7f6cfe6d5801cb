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
#[error("bad WKB")]
pub struct WkbError;

/// Reads 2D WKB (lon/lat) into Web Mercator, grouped by kind.
pub fn from_wkb(wkb: &[u8]) -> Result<MercGeom, WkbError> {
    use geo_types::{Geometry as G, LineString, Polygon};
    let line = |l: &LineString<f64>| -> Vec<Pt> {
        l.0.iter().map(|c| lonlat_to_mercator(c.x, c.y)).collect()
    };
    let poly = |p: &Polygon<f64>| -> Vec<Vec<Pt>> {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(line)
            .collect()
    };
    Ok(match crate::geom::from_wkb(wkb).ok_or(WkbError)? {
        G::Point(p) => MercGeom::Points(vec![lonlat_to_mercator(p.x(), p.y())]),
        G::MultiPoint(m) => MercGeom::Points(
            m.0.iter()
                .map(|p| lonlat_to_mercator(p.x(), p.y()))
                .collect(),
        ),
        G::LineString(l) => MercGeom::Lines(vec![line(&l)]),
        G::MultiLineString(m) => MercGeom::Lines(m.0.iter().map(line).collect()),
        G::Polygon(p) => MercGeom::Polygons(vec![poly(&p)]),
        G::MultiPolygon(m) => MercGeom::Polygons(m.0.iter().map(poly).collect()),
        _ => return Err(WkbError),
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
