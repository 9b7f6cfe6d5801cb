//! Every polygon of every tile is valid: real Milan polygons (the 7,095 ISTAT 2021 census
//! sections and the 88 NIL districts) rendered over the whole city at z8–z15, decoded by a
//! small MVT reader written here (not the engine's encoder), then checked with geo's OGC
//! validity rules (closed simple rings, holes inside, no overlapping parts) and the MVT 2.1
//! winding rule (exterior rings clockwise on screen).

use std::io::Read;

use atlante::model::{GeomType, Layer, Value};
use atlante::store::StoredFeature;
use atlante::tiles::batch::tiles_covering;
use atlante::tiles::index::LayerIndex;
use geo::{Coord, LineString, MultiPolygon, Polygon, Validation};

/// Features of a GeoJSON file as the store would hand them to the tile engine.
fn stored(doc: &serde_json::Value) -> Vec<StoredFeature> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, f)| StoredFeature {
            fid: i as i64 + 1,
            wkb: atlante::geom::to_wkb(&atlante::features::edit::geometry(&f["geometry"]).unwrap()),
            values: vec![Value::Integer(i as i64)],
        })
        .collect()
}

fn index(name: &str, doc: &serde_json::Value) -> LayerIndex {
    let field = atlante::model::Field {
        name: "n".into(),
        label: "n".into(),
        kind: atlante::model::FieldType::Integer,
    };
    LayerIndex::build(
        Layer::sketch(name, GeomType::MultiPolygon, vec![field]),
        stored(doc),
    )
}

// --- A minimal MVT reader: layers → features → (type, geometry commands). ---

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// The fields of one protobuf message: (field number, varint value or bytes).
fn fields(b: &[u8]) -> Vec<(u64, Result<u64, &[u8]>)> {
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() {
        let key = varint(b, &mut i);
        match key & 7 {
            0 => out.push((key >> 3, Ok(varint(b, &mut i)))),
            2 => {
                let n = varint(b, &mut i) as usize;
                out.push((key >> 3, Err(&b[i..i + n])));
                i += n;
            }
            5 => i += 4,
            1 => i += 8,
            w => panic!("wire type {w}"),
        }
    }
    out
}

/// Rings of each polygon feature of the tile's only layer, in tile units (y down).
fn polygon_rings(tile: &[u8]) -> Vec<Vec<Vec<[i64; 2]>>> {
    let mut out = Vec::new();
    for (n, layer) in fields(tile) {
        let (3, Err(layer)) = (n, layer) else {
            continue;
        };
        for (n, feature) in fields(layer) {
            let (2, Err(feature)) = (n, feature) else {
                continue;
            };
            let f = fields(feature);
            let kind = f.iter().find(|(n, _)| *n == 3).and_then(|(_, v)| v.ok());
            assert_eq!(kind, Some(3), "only polygons in these layers");
            let Some((_, Err(geom))) = f.iter().find(|(n, _)| *n == 4) else {
                panic!("feature without geometry")
            };
            let (mut i, mut ints) = (0, Vec::new());
            while i < geom.len() {
                ints.push(varint(geom, &mut i) as u32);
            }
            let zz = |v: u32| ((v >> 1) as i64) ^ -((v & 1) as i64);
            let (mut rings, mut ring, mut cur, mut k) = (Vec::new(), Vec::new(), [0i64; 2], 0);
            while k < ints.len() {
                let (id, count) = (ints[k] & 7, ints[k] >> 3);
                k += 1;
                match id {
                    1 | 2 => {
                        assert!(id == 2 || ring.is_empty(), "MoveTo inside a ring");
                        for _ in 0..count {
                            cur = [cur[0] + zz(ints[k]), cur[1] + zz(ints[k + 1])];
                            k += 2;
                            ring.push(cur);
                        }
                    }
                    7 => rings.push(std::mem::take(&mut ring)),
                    c => panic!("command {c}"),
                }
            }
            assert!(ring.is_empty(), "a ring without ClosePath");
            out.push(rings);
        }
    }
    out
}

/// Twice the area by the surveyor's formula: positive is clockwise on screen (y down).
fn area2(r: &[[i64; 2]]) -> i64 {
    (0..r.len())
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % r.len()]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

/// Checks one tile; returns (features, problems described).
fn check(tile: &[u8]) -> (usize, Vec<String>) {
    let features = polygon_rings(tile);
    let mut problems = Vec::new();
    for rings in &features {
        let mut polys: Vec<Polygon> = Vec::new();
        for r in rings {
            let a = area2(r);
            let ls = LineString::from(
                r.iter()
                    .chain(std::iter::once(&r[0]))
                    .map(|p| Coord {
                        x: p[0] as f64,
                        y: p[1] as f64,
                    })
                    .collect::<Vec<_>>(),
            );
            if a > 0 {
                polys.push(Polygon::new(ls, vec![]));
            } else if a < 0 {
                match polys.last_mut() {
                    Some(p) => p.interiors_push(ls),
                    None => problems.push("a hole before any exterior".into()),
                }
            } else {
                problems.push(format!("a ring of zero area: {r:?}"));
            }
        }
        if let Err(e) = MultiPolygon(polys).check_validation() {
            problems.push(e.to_string());
        }
    }
    (features.len(), problems)
}

fn sweep(name: &str, doc: &serde_json::Value, zooms: std::ops::RangeInclusive<u8>) {
    let index = index(name, doc);
    let bounds = [9.04, 45.38, 9.28, 45.54];
    let (mut tiles, mut features, mut bad) = (0, 0, Vec::new());
    for z in zooms {
        for t in tiles_covering(bounds, z) {
            let mut bytes = Vec::new();
            index.render(t, name).finish_into(&mut bytes);
            let (n, problems) = check(&bytes);
            tiles += 1;
            features += n;
            bad.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{z}/{}/{}: {p}", t.x, t.y)),
            );
        }
    }
    println!("{name}: {tiles} tiles, {features} polygon features");
    assert!(features > tiles, "the sweep drew almost nothing");
    assert!(
        bad.is_empty(),
        "{} invalid: {:#?}",
        bad.len(),
        &bad[..bad.len().min(20)]
    );
}

#[test]
fn census_sections_are_valid_in_every_tile() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/data/istat_sezioni_censimento_2021_milano.geojson.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    sweep("sezioni", &serde_json::from_str(&text).unwrap(), 8..=15);
}

#[test]
fn nil_districts_are_valid_in_every_tile() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/milano/nil_2020.geojson");
    let doc = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    sweep("nil", &doc, 8..=16);
}
