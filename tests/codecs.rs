//! The own geometry codecs against the maintained crates the design card names (they are
//! kept because they measured faster: see "Codecs" in docs/architecture.md). Every geometry
//! of the demo data goes through both: WKB writing and reading against geozero, GeoJSON
//! writing against geozero, and MVT encoding against the `mvt` crate, both tiles decoded by
//! GDAL and compared feature by feature.

mod common;

use atlante::geom;
use atlante::model::Value;
use atlante::tiles::mvt::{Commands, GeomKind, LayerBuilder};
use gdal::vector::LayerAccess;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToJson, ToWkb};

/// Every geometry of the demo GeoJSON files and of the 7,095 census sections of the
/// benchmark data, parsed by the own reader.
fn demo_geometries() -> Vec<(String, geo_types::Geometry<f64>)> {
    let mut out = Vec::new();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(common::repo().join("demo/milano"))
        .unwrap()
        .chain(std::fs::read_dir(common::repo().join("demo/cmm")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "geojson"))
        .collect();
    files.push(common::repo().join("bench/data/istat_sezioni_censimento_2021_milano.geojson.gz"));
    for path in files {
        let bytes = if path.extension().is_some_and(|e| e == "gz") {
            common::gunzip(&path)
        } else {
            std::fs::read(&path).unwrap()
        };
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for (i, f) in doc["features"].as_array().unwrap().iter().enumerate() {
            if f["geometry"].is_null() {
                continue;
            }
            let g = geom::from_geojson(&f["geometry"]).unwrap();
            out.push((format!("{}#{i}", path.display()), g));
        }
    }
    assert!(out.len() > 5_000, "{} geometries", out.len());
    out
}

#[test]
fn wkb_and_geojson_match_geozero() {
    for (name, g) in demo_geometries() {
        let own = geom::to_wkb(&g);
        let theirs = g.to_wkb(CoordDimensions::xy()).unwrap();
        assert_eq!(own, theirs, "{name}: WKB differs");
        assert_eq!(
            geom::from_wkb(&own),
            Some(Wkb(&own).to_geo().unwrap()),
            "{name}: decoded WKB differs"
        );
        let own_json = geom::wkb_to_geojson(&own).unwrap();
        let their_json: serde_json::Value =
            serde_json::from_str(&Wkb(&own).to_json().unwrap()).unwrap();
        assert_eq!(own_json, their_json, "{name}: GeoJSON differs");
    }
}

/// Tile-integer rings of the polygons of one demo layer, scaled into a 4096 extent.
fn rings(file: &str) -> Vec<(Vec<Vec<[i32; 2]>>, i64)> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::demo(file)).unwrap()).unwrap();
    let geoms: Vec<geo_types::Geometry<f64>> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| geom::from_geojson(&f["geometry"]).unwrap())
        .collect();
    let mut b: Option<[f64; 4]> = None;
    for g in &geoms {
        geom::extend_bbox(&mut b, &geom::bbox(g).unwrap());
    }
    let b = b.unwrap();
    let to_tile = |c: &geo_types::Coord<f64>| {
        [
            ((c.x - b[0]) / (b[2] - b[0]) * 4096.0).round() as i32,
            ((b[3] - c.y) / (b[3] - b[1]) * 4096.0).round() as i32,
        ]
    };
    geoms
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let polygons = match g {
                geo_types::Geometry::MultiPolygon(mp) => mp.0.clone(),
                geo_types::Geometry::Polygon(p) => vec![p.clone()],
                other => panic!("not a polygon: {other:?}"),
            };
            let mut rs = Vec::new();
            for p in &polygons {
                for r in std::iter::once(p.exterior()).chain(p.interiors()) {
                    let mut pts: Vec<[i32; 2]> = r.coords().map(to_tile).collect();
                    pts.pop();
                    pts.dedup();
                    if pts.len() >= 3 {
                        rs.push(pts);
                    }
                }
            }
            (rs, i as i64 * 7 - 100)
        })
        .filter(|(rs, _)| !rs.is_empty())
        .collect()
}

/// The features of a one-layer MVT file as GDAL reads them: (id, geometry, attribute).
fn decode(bytes: &[u8]) -> Vec<(u64, gdal::vector::Geometry, Option<i64>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tile.mvt");
    std::fs::write(&path, bytes).unwrap();
    let ds = gdal::Dataset::open(&path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut out: Vec<_> = layer
        .features()
        .map(|f| {
            let n = f.field_index("n").unwrap();
            (
                f.fid().unwrap(),
                f.geometry().unwrap().clone(),
                f.field_as_integer64(n).unwrap(),
            )
        })
        .collect();
    out.sort_by_key(|f| f.0);
    out
}

#[test]
fn mvt_matches_the_mvt_crate() {
    let features = rings("milano/nil_2020.geojson");
    let mut own = LayerBuilder::new("nil", 4096);
    own.set_keys(vec!["n".into()]);
    let mut c = Commands::default();
    for (i, (rs, n)) in features.iter().enumerate() {
        c.clear();
        rs.iter().for_each(|r| c.ring(r));
        own.add(i as u64 + 1, GeomKind::Polygon, &c, &[Value::Integer(*n)]);
    }
    let mut own_bytes = Vec::new();
    own.finish_into(&mut own_bytes);

    let mut tile = mvt::Tile::new(4096);
    let mut layer = tile.create_layer("nil");
    for (i, (rs, n)) in features.iter().enumerate() {
        let mut e = mvt::GeomEncoder::new(mvt::GeomType::Polygon);
        for r in rs {
            for p in r {
                e.add_point(p[0] as f64, p[1] as f64).unwrap();
            }
            e.complete_geom().unwrap();
        }
        let mut f = layer.into_feature(e.encode().unwrap());
        f.set_id(i as u64 + 1);
        f.add_tag_sint("n", *n);
        layer = f.into_layer();
    }
    tile.add_layer(layer).unwrap();
    let their_bytes = tile.to_bytes().unwrap();

    let (ours, theirs) = (decode(&own_bytes), decode(&their_bytes));
    assert_eq!(ours.len(), features.len());
    assert_eq!(ours.len(), theirs.len());
    for ((id, a, na), (id2, b, nb)) in ours.iter().zip(&theirs) {
        assert_eq!((id, na), (id2, nb));
        // The crate drops points in the middle of straight horizontal or vertical runs: the
        // same shape, so compared as areas of the symmetric difference.
        let diff =
            a.difference(b).map_or(0.0, |d| d.area()) + b.difference(a).map_or(0.0, |d| d.area());
        assert!(
            diff <= 1e-9 * a.area().max(1.0),
            "feature {id}: shapes differ by {diff}"
        );
    }
}
