//! Web Mercator tile math: coordinates, bounds, projection. No I/O.

use std::f64::consts::PI;

/// Half the width of the Web Mercator square, in metres.
pub const HALF: f64 = 20_037_508.342_789_244;
/// The highest zoom Atlante serves.
pub const MAX_ZOOM: u8 = 22;
/// MVT extent: tile coordinates run 0..EXTENT.
pub const EXTENT: u32 = 4096;
/// Buffer around a tile, in tile units, so strokes and labels do not break at edges.
pub const BUFFER: f64 = 64.0;

/// A validated tile address in the WebMercatorQuad matrix set (XYZ, y down from the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileCoord {
    /// Checks zoom and the x/y range for that zoom.
    pub fn new(z: i64, x: i64, y: i64) -> Option<TileCoord> {
        if !(0..=MAX_ZOOM as i64).contains(&z) {
            return None;
        }
        let n = 1i64 << z;
        if !(0..n).contains(&x) || !(0..n).contains(&y) {
            return None;
        }
        Some(TileCoord {
            z: z as u8,
            x: x as u32,
            y: y as u32,
        })
    }

    /// Parses the three path segments of a tile URL (y may end in `.mvt` / `.pbf`).
    pub fn parse(z: &str, x: &str, y: &str) -> Option<TileCoord> {
        let y = y
            .strip_suffix(".mvt")
            .or_else(|| y.strip_suffix(".pbf"))
            .unwrap_or(y);
        let parse = |s: &str| -> Option<i64> {
            if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        TileCoord::new(parse(z)?, parse(x)?, parse(y)?)
    }

    /// Width of the tile in Web Mercator metres.
    pub fn size(&self) -> f64 {
        2.0 * HALF / (1u64 << self.z) as f64
    }

    /// [minx, miny, maxx, maxy] in EPSG:3857.
    pub fn bounds(&self) -> [f64; 4] {
        let s = self.size();
        let minx = -HALF + self.x as f64 * s;
        let maxy = HALF - self.y as f64 * s;
        [minx, maxy - s, minx + s, maxy]
    }
}

/// Longitude/latitude (degrees) to Web Mercator metres, latitude clamped to the square.
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-85.051_128_779_806_59, 85.051_128_779_806_59);
    let x = lon * HALF / 180.0;
    let y = ((90.0 + lat) * PI / 360.0).tan().ln() * HALF / PI;
    [x, y]
}

/// The tile containing a lon/lat at zoom z.
pub fn tile_for_lonlat(lon: f64, lat: f64, z: u8) -> TileCoord {
    let [mx, my] = lonlat_to_mercator(lon, lat);
    let n = (1u64 << z) as f64;
    let x = (((mx + HALF) / (2.0 * HALF)) * n)
        .floor()
        .clamp(0.0, n - 1.0) as u32;
    let y = (((HALF - my) / (2.0 * HALF)) * n)
        .floor()
        .clamp(0.0, n - 1.0) as u32;
    TileCoord { z, x, y }
}

/// The tiles of zoom `z` whose drawn area (the tile and its [`BUFFER`]) a box in Web
/// Mercator touches, as inclusive [x0, y0, x1, y1].
pub fn tiles_touching(b: &[f64; 4], z: u8) -> [u32; 4] {
    let n = (1u64 << z) as f64;
    // The buffer, and a metre for the rounding of boxes computed in another CRS.
    let pad = 2.0 * HALF / n * BUFFER / EXTENT as f64 + 1.0;
    let col = |x: f64| {
        (((x + HALF) / (2.0 * HALF)) * n)
            .floor()
            .clamp(0.0, n - 1.0) as u32
    };
    let row = |y: f64| {
        (((HALF - y) / (2.0 * HALF)) * n)
            .floor()
            .clamp(0.0, n - 1.0) as u32
    };
    [
        col(b[0] - pad),
        row(b[3] + pad),
        col(b[2] + pad),
        row(b[1] - pad),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_checked() {
        assert!(TileCoord::new(0, 0, 0).is_some());
        assert!(TileCoord::new(1, 2, 0).is_none());
        assert!(TileCoord::new(-1, 0, 0).is_none());
        assert!(TileCoord::new(23, 0, 0).is_none());
        assert!(TileCoord::parse("14", "8700", "5900.mvt").is_some());
        assert!(TileCoord::parse("14", "-1", "5900").is_none());
        assert!(TileCoord::parse("14", "1e3", "5900").is_none());
        assert!(TileCoord::parse("99999999999999", "0", "0").is_none());
        assert!(TileCoord::parse("3", "1.5", "0").is_none());
    }

    #[test]
    fn a_point_touches_its_tile_and_the_buffered_neighbours() {
        let [mx, my] = lonlat_to_mercator(9.1919, 45.4642);
        let r = tiles_touching(&[mx, my, mx, my], 14);
        assert!(r[0] <= 8610 && 8610 <= r[2] && r[1] <= 5863 && 5863 <= r[3]);
        assert!(r[2] - r[0] <= 1 && r[3] - r[1] <= 1);
        assert_eq!(tiles_touching(&[-HALF, -HALF, HALF, HALF], 1), [0, 0, 1, 1]);
    }

    #[test]
    fn duomo_tile() {
        let t = tile_for_lonlat(9.1919, 45.4642, 14);
        assert_eq!((t.x, t.y), (8610, 5863));
        let b = t.bounds();
        let [mx, my] = lonlat_to_mercator(9.1919, 45.4642);
        assert!(b[0] <= mx && mx < b[2] && b[1] <= my && my < b[3]);
    }
}
