//! The benchmark layer, shared by the benches: the 7,095 ISTAT 2021 census sections of Milan
//! (bench/data, CC BY 4.0 ISTAT) laid `nx × ny` times over a grid across the metropolitan
//! area, 0.25° × 0.16° apart (6 × 5 = 30 copies: the 212,850 polygons of bench/common.sh).

use std::io::Read;

use atlante::model::{Field, FieldType, GeomType, Layer, Value};
use atlante::store::StoredFeature;

pub fn census(nx: usize, ny: usize) -> (Layer, Vec<StoredFeature>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/data/istat_sezioni_censimento_2021_milano.geojson.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut stored = Vec::new();
    for i in 0..nx {
        for j in 0..ny {
            let dx = (i as f64 - (nx as f64 - 1.0) / 2.0) * 0.25;
            let dy = (j as f64 - (ny as f64 - 1.0) / 2.0) * 0.16;
            for f in doc["features"].as_array().unwrap() {
                let mut g = atlante::features::edit::geometry(&f["geometry"]).unwrap();
                use geo::MapCoordsInPlace;
                g.map_coords_in_place(|c| geo::Coord {
                    x: c.x + dx,
                    y: c.y + dy,
                });
                let p = &f["properties"];
                stored.push(StoredFeature {
                    fid: stored.len() as i64 + 1,
                    wkb: atlante::geom::to_wkb(&g),
                    values: vec![
                        Value::Integer(p["SEZ21"].as_i64().unwrap_or(0)),
                        Value::Integer(p["POP21"].as_i64().unwrap_or(0)),
                    ],
                });
            }
        }
    }
    let field = |n: &str| Field {
        name: n.into(),
        label: n.into(),
        kind: FieldType::Integer,
    };
    let layer = Layer::sketch(
        "bench_sezioni",
        GeomType::MultiPolygon,
        vec![field("sez21"), field("pop21")],
    );
    (layer, stored)
}
