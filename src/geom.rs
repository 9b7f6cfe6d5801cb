//! Geometry encodings: 2D little-endian WKB from `geo_types`, PostGIS EWKB, GeoPackage
//! binary blobs, and GeoJSON geometries (read: [`from_geojson`]; written: `wkb_to_geojson`).
//! Kept small and dependency-free so the stores, the features API and CQL2 share it.

use geo_types::{Coord, Geometry, LineString, Polygon};

use crate::model::GeomType;

const WKB_POINT: u32 = 1;
const WKB_LINESTRING: u32 = 2;
const WKB_POLYGON: u32 = 3;
const WKB_MULTIPOINT: u32 = 4;
const WKB_MULTILINESTRING: u32 = 5;
const WKB_MULTIPOLYGON: u32 = 6;
const WKB_COLLECTION: u32 = 7;

/// Encodes a geometry as 2D ISO/OGC WKB, little endian.
pub fn to_wkb(g: &Geometry<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_geom(&mut out, g);
    out
}

fn header(out: &mut Vec<u8>, kind: u32) {
    out.push(1);
    out.extend_from_slice(&kind.to_le_bytes());
}

fn coord(out: &mut Vec<u8>, c: &Coord<f64>) {
    out.extend_from_slice(&c.x.to_le_bytes());
    out.extend_from_slice(&c.y.to_le_bytes());
}

fn count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn ring(out: &mut Vec<u8>, ls: &LineString<f64>) {
    count(out, ls.0.len());
    ls.0.iter().for_each(|c| coord(out, c));
}

fn polygon_body(out: &mut Vec<u8>, p: &Polygon<f64>) {
    count(out, 1 + p.interiors().len());
    ring(out, p.exterior());
    p.interiors().iter().for_each(|r| ring(out, r));
}

fn write_geom(out: &mut Vec<u8>, g: &Geometry<f64>) {
    match g {
        Geometry::Point(p) => {
            header(out, WKB_POINT);
            coord(out, &p.0);
        }
        Geometry::LineString(l) => {
            header(out, WKB_LINESTRING);
            ring(out, l);
        }
        Geometry::Polygon(p) => {
            header(out, WKB_POLYGON);
            polygon_body(out, p);
        }
        Geometry::MultiPoint(mp) => {
            header(out, WKB_MULTIPOINT);
            count(out, mp.0.len());
            for p in &mp.0 {
                header(out, WKB_POINT);
                coord(out, &p.0);
            }
        }
        Geometry::MultiLineString(ml) => {
            header(out, WKB_MULTILINESTRING);
            count(out, ml.0.len());
            for l in &ml.0 {
                header(out, WKB_LINESTRING);
                ring(out, l);
            }
        }
        Geometry::MultiPolygon(mp) => {
            header(out, WKB_MULTIPOLYGON);
            count(out, mp.0.len());
            for p in &mp.0 {
                header(out, WKB_POLYGON);
                polygon_body(out, p);
            }
        }
        Geometry::GeometryCollection(gc) => {
            header(out, WKB_COLLECTION);
            count(out, gc.0.len());
            gc.0.iter().for_each(|g| write_geom(out, g));
        }
        // Ingest normalises everything to the four stored families before encoding.
        Geometry::Line(l) => write_geom(out, &Geometry::LineString(LineString::from(*l))),
        Geometry::Rect(r) => write_geom(out, &Geometry::Polygon(r.to_polygon())),
        Geometry::Triangle(t) => write_geom(out, &Geometry::Polygon(t.to_polygon())),
    }
}

/// PostGIS extended WKB with an SRID, from little-endian 2D WKB.
pub fn wkb_to_ewkb(wkb: &[u8], srid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(wkb.len() + 4);
    out.push(1);
    let kind = u32::from_le_bytes([wkb[1], wkb[2], wkb[3], wkb[4]]) | 0x2000_0000;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&srid.to_le_bytes());
    out.extend_from_slice(&wkb[5..]);
    out
}

/// A GeoPackage geometry blob (spec §2.1.3): header with SRS id and XY envelope, then WKB.
pub fn gpkg_blob(wkb: &[u8], srs_id: i32, bbox: &[f64; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wkb.len() + 40);
    out.extend_from_slice(b"GP");
    out.push(0); // version 1
    out.push(0b0000_0011); // little endian, envelope [minx, maxx, miny, maxy]
    out.extend_from_slice(&srs_id.to_le_bytes());
    for v in [bbox[0], bbox[2], bbox[1], bbox[3]] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(wkb);
    out
}

/// The WKB inside a GeoPackage blob.
pub fn gpkg_blob_wkb(blob: &[u8]) -> Option<&[u8]> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return None;
    }
    let env = match (blob[3] >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return None,
    };
    blob.get(8 + env..)
}

/// Bounding box [minx, miny, maxx, maxy] of a geometry, None if it has no coordinates.
pub fn bbox(g: &Geometry<f64>) -> Option<[f64; 4]> {
    let mut acc = None;
    visit_coords(g, &mut |c| extend_bbox(&mut acc, &[c.x, c.y, c.x, c.y]));
    acc
}

/// Calls `f` on every coordinate of `g`.
pub fn visit_coords(g: &Geometry<f64>, f: &mut impl FnMut(&Coord<f64>)) {
    match g {
        Geometry::Point(p) => f(&p.0),
        Geometry::Line(l) => {
            f(&l.start);
            f(&l.end);
        }
        Geometry::LineString(l) => l.0.iter().for_each(f),
        Geometry::Polygon(p) => {
            p.exterior().0.iter().for_each(&mut *f);
            p.interiors()
                .iter()
                .for_each(|r| r.0.iter().for_each(&mut *f));
        }
        Geometry::MultiPoint(mp) => mp.0.iter().for_each(|p| f(&p.0)),
        Geometry::MultiLineString(ml) => ml.0.iter().for_each(|l| l.0.iter().for_each(&mut *f)),
        Geometry::MultiPolygon(mp) => {
            mp.0.iter()
                .for_each(|p| visit_coords(&Geometry::Polygon(p.clone()), f))
        }
        Geometry::GeometryCollection(gc) => gc.0.iter().for_each(|g| visit_coords(g, f)),
        Geometry::Rect(r) => visit_coords(&Geometry::Polygon(r.to_polygon()), f),
        Geometry::Triangle(t) => visit_coords(&Geometry::Polygon(t.to_polygon()), f),
    }
}

/// Grows `acc` to cover `b`.
pub fn extend_bbox(acc: &mut Option<[f64; 4]>, b: &[f64; 4]) {
    match acc {
        None => *acc = Some(*b),
        Some(a) => {
            a[0] = a[0].min(b[0]);
            a[1] = a[1].min(b[1]);
            a[2] = a[2].max(b[2]);
            a[3] = a[3].max(b[3]);
        }
    }
}

/// What kind of geometry this is, in words for error messages.
pub fn geo_kind(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "point",
        Geometry::MultiPoint(_) => "multipoint",
        Geometry::Line(_) | Geometry::LineString(_) | Geometry::MultiLineString(_) => "line",
        Geometry::Polygon(_)
        | Geometry::MultiPolygon(_)
        | Geometry::Rect(_)
        | Geometry::Triangle(_) => "polygon",
        Geometry::GeometryCollection(_) => "geometry collection",
    }
}

/// Brings a geometry to a layer's stored family (Polygon → MultiPolygon, the polygons of a
/// collection, …), or None if it does not belong.
pub fn coerce(g: Geometry<f64>, family: GeomType) -> Option<Geometry<f64>> {
    match family {
        GeomType::Point => match g {
            Geometry::Point(p) => Some(Geometry::Point(p)),
            Geometry::MultiPoint(mp) if mp.0.len() == 1 => Some(Geometry::Point(mp.0[0])),
            _ => None,
        },
        GeomType::MultiPoint => match g {
            Geometry::Point(p) => Some(Geometry::MultiPoint(vec![p].into())),
            Geometry::MultiPoint(mp) if !mp.0.is_empty() => Some(Geometry::MultiPoint(mp)),
            _ => None,
        },
        GeomType::MultiLineString => {
            let mut parts = Vec::new();
            collect_lines(g, &mut parts);
            (!parts.is_empty())
                .then_some(Geometry::MultiLineString(geo_types::MultiLineString(parts)))
        }
        GeomType::MultiPolygon => {
            let mut parts = Vec::new();
            collect_polygons(g, &mut parts);
            (!parts.is_empty()).then_some(Geometry::MultiPolygon(geo_types::MultiPolygon(parts)))
        }
    }
}

fn collect_lines(g: Geometry<f64>, out: &mut Vec<geo_types::LineString<f64>>) {
    match g {
        Geometry::LineString(l) if l.0.len() >= 2 => out.push(l),
        Geometry::Line(l) => out.push(l.into()),
        Geometry::MultiLineString(ml) => out.extend(ml.0.into_iter().filter(|l| l.0.len() >= 2)),
        Geometry::GeometryCollection(gc) => gc.0.into_iter().for_each(|g| collect_lines(g, out)),
        _ => {}
    }
}

fn collect_polygons(g: Geometry<f64>, out: &mut Vec<geo_types::Polygon<f64>>) {
    match g {
        Geometry::Polygon(p) if p.exterior().0.len() >= 4 => out.push(p),
        Geometry::MultiPolygon(mp) => {
            out.extend(mp.0.into_iter().filter(|p| p.exterior().0.len() >= 4))
        }
        Geometry::Rect(r) => out.push(r.to_polygon()),
        Geometry::Triangle(t) => out.push(t.to_polygon()),
        Geometry::GeometryCollection(gc) => gc.0.into_iter().for_each(|g| collect_polygons(g, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::point;

    #[test]
    fn point_wkb_and_ewkb() {
        let wkb = to_wkb(&Geometry::Point(point!(x: 9.19, y: 45.46)));
        assert_eq!(wkb.len(), 21);
        assert_eq!(&wkb[0..5], &[1, 1, 0, 0, 0]);
        let ewkb = wkb_to_ewkb(&wkb, 4326);
        assert_eq!(ewkb.len(), 25);
        assert_eq!(&ewkb[1..5], &(1u32 | 0x2000_0000).to_le_bytes());
        assert_eq!(&ewkb[5..9], &4326u32.to_le_bytes());
    }

    #[test]
    fn gpkg_blob_roundtrip() {
        let wkb = to_wkb(&Geometry::Point(point!(x: 1.0, y: 2.0)));
        let blob = gpkg_blob(&wkb, 4326, &[1.0, 2.0, 1.0, 2.0]);
        assert_eq!(gpkg_blob_wkb(&blob), Some(&wkb[..]));
    }
}

/// GeoJSON geometry from little-endian 2D WKB (as the stores return it).
pub fn wkb_to_geojson(wkb: &[u8]) -> Option<serde_json::Value> {
    wkb_to_geojson_with(wkb, &mut |x, y| Some((x, y)))
}

/// GeoJSON geometry from WKB with every coordinate mapped by `f` (a CRS transformation);
/// None if the WKB is bad or a coordinate cannot be mapped.
pub fn wkb_to_geojson_with(
    wkb: &[u8],
    f: &mut dyn FnMut(f64, f64) -> Option<(f64, f64)>,
) -> Option<serde_json::Value> {
    use serde_json::{json, Value};
    type Map<'a> = &'a mut dyn FnMut(f64, f64) -> Option<(f64, f64)>;
    fn pt(c: &Coord<f64>, f: Map) -> Option<Value> {
        f(c.x, c.y).map(|(a, b)| json!([a, b]))
    }
    fn pts(l: &LineString<f64>, f: Map) -> Option<Value> {
        l.0.iter()
            .map(|c| pt(c, f))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array)
    }
    fn rings(p: &Polygon<f64>, f: Map) -> Option<Value> {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(|r| pts(r, f))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array)
    }
    let many = |v: Vec<Option<Value>>| v.into_iter().collect::<Option<Vec<_>>>().map(Value::Array);
    let (kind, coordinates) = match from_wkb(wkb)? {
        Geometry::Point(p) => ("Point", pt(&p.0, f)?),
        Geometry::LineString(l) => ("LineString", pts(&l, f)?),
        Geometry::Polygon(p) => ("Polygon", rings(&p, f)?),
        Geometry::MultiPoint(m) => (
            "MultiPoint",
            many(m.0.iter().map(|p| pt(&p.0, f)).collect())?,
        ),
        Geometry::MultiLineString(m) => (
            "MultiLineString",
            many(m.0.iter().map(|l| pts(l, f)).collect())?,
        ),
        Geometry::MultiPolygon(m) => (
            "MultiPolygon",
            many(m.0.iter().map(|p| rings(p, f)).collect())?,
        ),
        _ => return None,
    };
    Some(json!({"type": kind, "coordinates": coordinates}))
}

#[cfg(test)]
mod geojson_tests {
    use super::*;
    use geo_types::{polygon, MultiPolygon};

    #[test]
    fn wkb_to_geojson_roundtrip() {
        let p = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let g = Geometry::MultiPolygon(MultiPolygon(vec![p]));
        let j = wkb_to_geojson(&to_wkb(&g)).unwrap();
        assert_eq!(j["type"], "MultiPolygon");
        assert_eq!(j["coordinates"][0][0][2], serde_json::json!([1.0, 1.0]));
        assert!(wkb_to_geojson(&[1, 6, 0, 0, 0, 255, 255, 255, 255]).is_none());
    }
}

/// geo-types geometry from little-endian 2D WKB.
pub fn from_wkb(wkb: &[u8]) -> Option<Geometry<f64>> {
    use geo_types::{MultiLineString, MultiPoint, MultiPolygon, Point};
    struct R<'a>(&'a [u8], usize);
    impl R<'_> {
        fn u32(&mut self) -> Option<u32> {
            let v = u32::from_le_bytes(self.0.get(self.1..self.1 + 4)?.try_into().ok()?);
            self.1 += 4;
            Some(v)
        }
        fn n(&mut self) -> Option<usize> {
            let n = self.u32()? as usize;
            (n <= self.0.len() / 4 + 1).then_some(n)
        }
        fn c(&mut self) -> Option<Coord<f64>> {
            let x = f64::from_le_bytes(self.0.get(self.1..self.1 + 8)?.try_into().ok()?);
            let y = f64::from_le_bytes(self.0.get(self.1 + 8..self.1 + 16)?.try_into().ok()?);
            self.1 += 16;
            Some(Coord { x, y })
        }
        fn ls(&mut self) -> Option<LineString<f64>> {
            let n = self.n()?;
            (0..n)
                .map(|_| self.c())
                .collect::<Option<Vec<_>>>()
                .map(LineString)
        }
        fn poly(&mut self) -> Option<Polygon<f64>> {
            let n = self.n()?;
            let mut rings = (0..n).map(|_| self.ls()).collect::<Option<Vec<_>>>()?;
            if rings.is_empty() {
                return Some(Polygon::new(LineString(vec![]), vec![]));
            }
            let ext = rings.remove(0);
            Some(Polygon::new(ext, rings))
        }
        fn head(&mut self) -> Option<u32> {
            (*self.0.get(self.1)? == 1).then_some(())?;
            self.1 += 1;
            Some(self.u32()? & 0xff)
        }
    }
    let mut r = R(wkb, 0);
    Some(match r.head()? {
        1 => Geometry::Point(Point(r.c()?)),
        2 => Geometry::LineString(r.ls()?),
        3 => Geometry::Polygon(r.poly()?),
        4 => {
            let n = r.n()?;
            Geometry::MultiPoint(MultiPoint(
                (0..n)
                    .map(|_| r.head().and_then(|_| r.c()).map(Point))
                    .collect::<Option<_>>()?,
            ))
        }
        5 => {
            let n = r.n()?;
            Geometry::MultiLineString(MultiLineString(
                (0..n)
                    .map(|_| r.head().and_then(|_| r.ls()))
                    .collect::<Option<_>>()?,
            ))
        }
        6 => {
            let n = r.n()?;
            Geometry::MultiPolygon(MultiPolygon(
                (0..n)
                    .map(|_| r.head().and_then(|_| r.poly()))
                    .collect::<Option<_>>()?,
            ))
        }
        _ => return None,
    })
}

/// How deep GeometryCollections may nest in GeoJSON.
const MAX_COLLECTION_DEPTH: usize = 4;

/// A GeoJSON geometry object as geo-types: coordinates as given (finite, the first two of
/// each position), in whatever CRS the caller says; GeometryCollections nest at most 4 deep.
pub fn from_geojson(v: &serde_json::Value) -> Result<Geometry<f64>, String> {
    geojson_at(v, 0)
}

fn geojson_at(v: &serde_json::Value, depth: usize) -> Result<Geometry<f64>, String> {
    use geo_types::{GeometryCollection, MultiLineString, MultiPoint, MultiPolygon, Point};
    use serde_json::Value as Json;
    fn coord(v: &Json) -> Result<Coord<f64>, String> {
        let a = v
            .as_array()
            .filter(|a| a.len() >= 2)
            .ok_or("a position needs two numbers")?;
        match (a[0].as_f64(), a[1].as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok(Coord { x, y }),
            _ => Err("positions must be finite numbers".into()),
        }
    }
    fn many<T>(c: &Json, f: impl Fn(&Json) -> Result<T, String>) -> Result<Vec<T>, String> {
        c.as_array()
            .ok_or("coordinates must be an array")?
            .iter()
            .map(f)
            .collect()
    }
    fn line(v: &Json) -> Result<LineString<f64>, String> {
        many(v, coord).map(LineString)
    }
    fn polygon(v: &Json) -> Result<Polygon<f64>, String> {
        let mut rings = many(v, line)?;
        if rings.is_empty() {
            return Err("a polygon needs rings".into());
        }
        let exterior = rings.remove(0);
        Ok(Polygon::new(exterior, rings))
    }
    let c = &v["coordinates"];
    Ok(match v["type"].as_str() {
        Some("Point") => Geometry::Point(Point(coord(c)?)),
        Some("LineString") => Geometry::LineString(line(c)?),
        Some("Polygon") => Geometry::Polygon(polygon(c)?),
        Some("MultiPoint") => Geometry::MultiPoint(MultiPoint(many(c, |p| coord(p).map(Point))?)),
        Some("MultiLineString") => Geometry::MultiLineString(MultiLineString(many(c, line)?)),
        Some("MultiPolygon") => Geometry::MultiPolygon(MultiPolygon(many(c, polygon)?)),
        Some("GeometryCollection") => {
            if depth >= MAX_COLLECTION_DEPTH {
                return Err("geometry collections are nested too deeply".into());
            }
            let parts = v["geometries"]
                .as_array()
                .ok_or("a GeometryCollection needs a 'geometries' array")?
                .iter()
                .map(|g| geojson_at(g, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Geometry::GeometryCollection(GeometryCollection(parts))
        }
        Some(other) => {
            return Err(format!(
                "geometry type '{}' is not supported",
                other.chars().take(40).collect::<String>()
            ))
        }
        None => return Err("the geometry has no type".into()),
    })
}

/// The Z-order (Morton) code of a box's centre on a 2¹⁶ × 2¹⁶ grid over `world`
/// ([minx, miny, maxx, maxy]): sorting by it puts neighbours together.
pub fn zorder(b: &[f64; 4], world: &[f64; 4]) -> u32 {
    let cell = |v: f64, lo: f64, hi: f64| {
        let u = (v - lo) / (hi - lo);
        (u.clamp(0.0, 1.0) * 65535.0) as u32
    };
    // Spreads the 16 bits of v to the even bits of the result.
    let spread = |mut v: u32| {
        v = (v | (v << 8)) & 0x00ff_00ff;
        v = (v | (v << 4)) & 0x0f0f_0f0f;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    };
    spread(cell((b[0] + b[2]) / 2.0, world[0], world[2]))
        | (spread(cell((b[1] + b[3]) / 2.0, world[1], world[3])) << 1)
}
