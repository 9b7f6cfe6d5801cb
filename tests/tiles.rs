//! Tiles, decoded by an independent reader (GDAL's MVT driver) and snapshotted, on both
//! stores: points, lines, polygons, a polygon crossing tile edges and a multipolygon with a
//! hole. Validity of every decoded geometry is checked with SpatiaLite's ST_IsValid.

mod common;

use std::process::Command;

use atlante::tiles::math::{tile_for_lonlat, TileCoord};
use axum::body::Body;
use axum::http::{header, StatusCode};
use common::{demo, fixture, TestStore};
use serde_json::Value;

async fn get(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let r = common::get_with(app, uri, headers).await;
    (r.status, r.headers, r.body)
}

/// Decodes a tile with GDAL into GeoJSON (lon/lat, 6 decimals) per layer, and counts invalid
/// geometries with SpatiaLite.
fn gdal_decode(bytes: &[u8], t: TileCoord) -> (Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tile.mvt");
    std::fs::write(&path, bytes).unwrap();
    let oo = |k: &str, v: u32| format!("{k}={v}");
    let (x, y, z) = (oo("X", t.x), oo("Y", t.y), oo("Z", t.z as u32));
    let names = Command::new("ogrinfo")
        .args(["-ro", "-q", "-oo", &x, "-oo", &y, "-oo", &z])
        .arg(&path)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&names.stdout).to_string();
    let mut layers = serde_json::Map::new();
    let mut invalid = 0;
    for line in listing.lines() {
        let Some(name) = line
            .split(':')
            .nth(1)
            .map(|s| s.trim().split(' ').next().unwrap_or("").to_string())
        else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let out = dir.path().join(format!("{name}.geojson"));
        let st = Command::new("ogr2ogr")
            .args([
                "-f",
                "GeoJSON",
                "-lco",
                "COORDINATE_PRECISION=6",
                "-oo",
                &x,
                "-oo",
                &y,
                "-oo",
                &z,
            ])
            .arg(&out)
            .arg(&path)
            .arg(&name)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let mut gj: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        if let Some(o) = gj.as_object_mut() {
            o.remove("name");
        }
        layers.insert(name.clone(), gj);
        let sql = format!("SELECT count(*) AS bad FROM \"{name}\" WHERE NOT ST_IsValid(geometry)");
        let v = Command::new("ogrinfo")
            .args([
                "-ro", "-q", "-oo", &x, "-oo", &y, "-oo", &z, "-dialect", "SQLite", "-sql", &sql,
            ])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&v.stdout);
        invalid += text
            .lines()
            .find_map(|l| l.trim().strip_prefix("bad (Integer) = "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no validity count for {name}: {text} {}",
                    String::from_utf8_lossy(&v.stderr)
                )
            });
    }
    (Value::Object(layers), invalid)
}

async fn setup(t: &TestStore) -> axum::Router {
    for (file, slug) in [
        ("milano/nil_2020.geojson", "nil"),
        ("milano/atm_percorsi_metro.geojson", "metro_percorsi"),
        ("milano/atm_fermate_metro.geojson", "metro_fermate"),
        ("milano/aree_pedonali_ztl.geojson", "ztl"),
    ] {
        common::add_layer(&t.store, "015146", slug, &demo(file)).await;
    }
    common::add_layer(
        &t.store,
        "015146",
        "shapes",
        &fixture("tile_shapes.geojson"),
    )
    .await;
    common::app(&t.store).await
}

async fn decoded_tiles_snapshot(t: TestStore) {
    let app = setup(&t).await;
    // z16 around the Duomo: the crafted shapes cross this tile's edges.
    let duomo = tile_for_lonlat(9.1925, 45.4650, 16);
    let uri = format!(
        "/tiles/015146_shapes,015146_metro_fermate,015146_metro_percorsi/16/{}/{}.mvt",
        duomo.x, duomo.y
    );
    let (s, h, body) = get(&app, &uri, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h[header::CONTENT_TYPE],
        "application/vnd.mapbox-vector-tile"
    );
    let (decoded, invalid) = gdal_decode(&body, duomo);
    assert_eq!(invalid, 0);
    let shapes = &decoded["shapes"]["features"];
    assert_eq!(shapes.as_array().unwrap().len(), 2);
    insta::assert_json_snapshot!("duomo_z16", decoded);

    // A city-wide tile: polygons, lines and points, all valid.
    let city = tile_for_lonlat(9.19, 45.46, 12);
    let uri = format!(
        "/tiles/015146_nil,015146_ztl,015146_metro_percorsi,015146_metro_fermate/12/{}/{}.mvt",
        city.x, city.y
    );
    let (_, _, body) = get(&app, &uri, &[]).await;
    let (decoded, invalid) = gdal_decode(&body, city);
    assert_eq!(invalid, 0, "invalid geometries in the z12 tile");
    let summary: serde_json::Map<String, Value> = decoded
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::from(v["features"].as_array().unwrap().len()),
            )
        })
        .collect();
    insta::assert_json_snapshot!("milano_z12_counts", summary);
    let nil = decoded["nil"]["features"].as_array().unwrap();
    assert!(nil.iter().any(|f| f["properties"]["nil"] == "DUOMO"));
}

async fn tile_http_behaviour(t: TestStore) {
    let app = setup(&t).await;
    let d = tile_for_lonlat(9.19, 45.46, 13);
    let uri = format!("/tiles/015146_nil/13/{}/{}.mvt", d.x, d.y);
    let (s, h, raw) = get(&app, &uri, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CACHE_CONTROL], "public, max-age=60");
    let etag = h[header::ETAG].to_str().unwrap().to_string();
    let (s, h304, body) = get(&app, &uri, &[("if-none-match", &etag)]).await;
    assert_eq!((s, body.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(h304[header::ETAG].to_str().unwrap(), etag);
    let (s, hz, gz) = get(&app, &uri, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hz[header::CONTENT_ENCODING], "gzip");
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, raw);
    // gzip refused with q=0: the raw tile.
    for refusal in ["br, gzip;q=0", "gzip; q=0.000"] {
        let (_, h, body) = get(&app, &uri, &[("accept-encoding", refusal)]).await;
        assert!(h.get(header::CONTENT_ENCODING).is_none(), "{refusal}");
        assert_eq!(body, raw);
    }
    // The OGC API - Tiles path (row before column) serves the same tile.
    let (s, _, ogc) = get(
        &app,
        &format!(
            "/collections/015146_nil/tiles/WebMercatorQuad/13/{}/{}",
            d.y, d.x
        ),
        &[],
    )
    .await;
    assert_eq!((s, ogc), (StatusCode::OK, raw.clone()));

    // Absurd coordinates: 400, never a panic or 500.
    for bad in [
        "23/0/0",
        "-1/0/0",
        "3/8/0",
        "3/0/8",
        "3/1.5/0",
        "3/x/0",
        "99999999999999999999/0/0",
        "0/0/0.png",
    ] {
        let (s, h, _) = get(&app, &format!("/tiles/015146_nil/{bad}.mvt"), &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    }
    let (s, _, _) = get(
        &app,
        "/collections/015146_nil/tiles/WebMercatorQuad/3/8/0",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = get(
        &app,
        "/collections/015146_nil/tiles/WorldCRS84Quad/3/0/0",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let many = vec!["015146_nil"; 17]
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{s}{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let (s, _, _) = get(&app, &format!("/tiles/{many}/0/0/0.mvt"), &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Unknown and private layers: the same 404 body; the owner sees the private one.
    let (s1, _, unknown) = get(&app, "/tiles/015146_zzz/0/0/0.mvt", &[]).await;
    t.store
        .update_layer_meta(
            "015146_nil",
            &atlante::store::LayerMetaUpdate {
                visibility: Some("private".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let app = common::app(&t.store).await;
    let (s2, _, private) = get(&app, "/tiles/015146_nil/0/0/0.mvt", &[]).await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(unknown, private);
    let (s, _, _) = get(&app, "/tiles/015146_nil.json", &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let bearer = format!("Bearer {token}");
    let (s, h, _) = get(&app, &uri, &[("authorization", &bearer)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CACHE_CONTROL], "private, max-age=60");
}

async fn tilejson_and_tile_matrix_sets(t: TestStore) {
    let app = setup(&t).await;
    let (s, _, body) = get(
        &app,
        "/tiles/015146_nil,015146_metro_fermate.json",
        &[("host", "example.org")],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let tj: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0], "http://example.org/tiles/015146_metro_fermate,015146_nil/{z}/{x}/{y}.mvt",
        "a composite is named in one canonical order"
    );
    let ids: Vec<&str> = tj["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["metro_fermate", "nil"]);
    assert_eq!(tj["vector_layers"][1]["fields"]["nil"], "String");
    for k in [
        "bounds",
        "center",
        "minzoom",
        "maxzoom",
        "name",
        "description",
        "attribution",
    ] {
        assert!(tj.get(k).is_some(), "{k}");
    }
    let (_, _, body) = get(&app, "/conformance", &[]).await;
    let conf: Value = serde_json::from_slice(&body).unwrap();
    for c in [
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "mvt",
    ] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}");
        assert!(
            conf["conformsTo"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == &Value::String(uri.clone())),
            "{uri}"
        );
    }
    let (_, _, body) = get(&app, "/tileMatrixSets/WebMercatorQuad", &[]).await;
    let tms: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tms["tileMatrices"].as_array().unwrap().len(), 23);
    let (_, _, body) = get(&app, "/collections/015146_nil/tiles", &[]).await;
    let sets: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sets["tilesets"][0]["dataType"], "vector");
}

async fn new_version_is_served_at_once(t: TestStore) {
    let app = setup(&t).await;
    let c = tile_for_lonlat(9.19, 45.465, 10);
    let z10 = format!("/tiles/015146_metro_fermate/10/{}/{}.mvt", c.x, c.y);
    let z0 = z10.as_str();
    let (_, h1, _) = get(&app, z0, &[]).await;
    // Publish a new version of the layer through the HTTP API: the next tile differs.
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let geojson = std::fs::read(demo("milano/atm_percorsi_metro.geojson")).unwrap();
    let (ctype, body) = common::multipart("x.geojson", &geojson, &[]);
    let r = common::request(
        &app,
        "POST",
        "/api/orgs/015146/layers/metro_fermate",
        Some(&token),
        Body::from(body),
        &[("content-type", &ctype)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (_, h2, body2) = get(&app, z0, &[]).await;
    assert_ne!(h1[header::ETAG], h2[header::ETAG]);
    let (decoded, _) = gdal_decode(&body2, c);
    assert_eq!(
        decoded["metro_fermate"]["features"][0]["geometry"]["type"],
        "LineString"
    );
}

both_stores!(
    decoded_tiles_snapshot,
    tile_http_behaviour,
    tilejson_and_tile_matrix_sets,
    new_version_is_served_at_once
);
