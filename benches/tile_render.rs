//! The tile kernel alone: render time per tile of the benchmark layer (the 7,095 ISTAT 2021
//! census sections of Milan laid 30 times over a 6×5 grid: 212,850 polygons), by zoom, on
//! one core, with no store, cache or HTTP; the best of three passes over the tiles. `cargo bench --bench tile_render`.
//! Prints figures; asserts nothing. The endpoint benchmark is bench/tiles.sh.

use std::io::Read;
use std::time::Instant;

use atlante::model::{Field, FieldType, GeomType, Layer, Value};
use atlante::store::StoredFeature;
use atlante::tiles::batch::tiles_covering;
use atlante::tiles::index::LayerIndex;

// The server's allocator (src/main.rs), so the figures are the server's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
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
    for i in 0..6 {
        for j in 0..5 {
            let (dx, dy) = ((i as f64 - 2.5) * 0.25, (j as f64 - 2.0) * 0.16);
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
    let n = stored.len();
    let t = Instant::now();
    let index = LayerIndex::build(layer, stored);
    println!(
        "index: {n} polygons in {:.2} s, {:.1} MiB",
        t.elapsed().as_secs_f64(),
        index.heap_bytes() as f64 / 1048576.0
    );
    let bounds = [8.4, 45.0, 9.95, 45.95];
    println!("zoom  tiles  ms/tile (mean)  ms (max)  KB/tile");
    // BENCH_ZOOMS=8-12 limits the zooms (for profiling one band).
    let zooms = std::env::var("BENCH_ZOOMS").unwrap_or_else(|_| "8-16".into());
    let (lo, hi) = zooms.split_once('-').unwrap_or((&zooms, &zooms));
    for z in lo.parse::<u8>().unwrap()..=hi.parse::<u8>().unwrap() {
        let mut tiles = tiles_covering(bounds, z);
        // Higher zooms: a deterministic sample of 400 tiles.
        if tiles.len() > 400 {
            let step = tiles.len() / 400;
            tiles = tiles.into_iter().step_by(step).take(400).collect();
        }
        // Each tile once per pass, as a server meets them (the tile before has pushed this
        // one's features out of the CPU caches); the best of three passes, since this is a
        // shared machine and the kernel, not the neighbours' load, is the subject.
        let (mut total, mut worst, mut bytes) = (f64::MAX, 0.0f64, 0usize);
        for _ in 0..3 {
            let (mut sum, mut max) = (0.0f64, 0.0f64);
            bytes = 0;
            for t in &tiles {
                let start = Instant::now();
                let mut out = Vec::new();
                index.render(*t, "bench_sezioni").finish_into(&mut out);
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                sum += ms;
                max = max.max(ms);
                bytes += out.len();
            }
            if sum < total {
                (total, worst) = (sum, max);
            }
        }
        println!(
            "z{z:<4} {:>5}  {:>14.2}  {:>8.2}  {:>7.1}",
            tiles.len(),
            total / tiles.len() as f64,
            worst,
            bytes as f64 / tiles.len() as f64 / 1024.0
        );
    }
}
