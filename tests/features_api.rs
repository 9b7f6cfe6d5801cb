//! OGC API - Features Part 1 on both stores, through the real router: collections, items,
//! paging, bbox (checked against an independent computation), properties, sortby, one item,
//! HTML, OpenAPI, private layers and every bad parameter as a 400.

mod common;

use axum::http::StatusCode;
use common::{demo, TestStore};
use serde_json::Value;

async fn get(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let r = common::get_with(app, uri, headers).await;
    (r.status, r.content_type(), r.text())
}

async fn get_json(app: &axum::Router, uri: &str) -> Value {
    let (s, _, body) = get(app, uri, &[]).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn setup(t: &TestStore) -> axum::Router {
    common::nil_and_stops(&t.store).await;
    common::app(&t.store).await
}

/// Metro stops inside a box, computed from the source GeoJSON, not through Atlante.
fn stops_in(b: [f64; 4]) -> usize {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(demo("milano/atm_fermate_metro.geojson")).unwrap())
            .unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let c = &f["geometry"]["coordinates"];
            let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
            x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3]
        })
        .count()
}

/// NIL polygons intersecting a box, with geo over the source GeoJSON.
fn nil_in(b: [f64; 4]) -> usize {
    use geo::Intersects;
    let doc: Value =
        serde_json::from_slice(&std::fs::read(demo("milano/nil_2020.geojson")).unwrap()).unwrap();
    let rect = geo::Rect::new((b[0], b[1]), (b[2], b[3]));
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let rings = f["geometry"]["coordinates"].as_array().unwrap();
            let ls = |r: &Value| {
                geo::LineString::from(
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
                        .collect::<Vec<_>>(),
                )
            };
            let poly = geo::Polygon::new(ls(&rings[0]), rings[1..].iter().map(ls).collect());
            poly.intersects(&rect)
        })
        .count()
}

async fn collections_items_and_paging(t: TestStore) {
    let app = setup(&t).await;
    let c = get_json(&app, "/collections").await;
    let ids: Vec<&str> = c["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    // The layers, then the record collection of the public ones (OGC API - Records).
    assert_eq!(ids, ["015146_fermate", "015146_nil", "catalog"]);
    assert_eq!(c["collections"][2]["itemType"], "record");
    let conf = get_json(&app, "/conformance").await;
    for k in ["core", "geojson", "html", "oas30"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{k}");
        assert!(conf["conformsTo"]
            .as_array()
            .unwrap()
            .contains(&Value::String(uri)));
    }
    let col = get_json(&app, "/collections/015146_nil").await;
    assert!(col["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "items"));

    let (s, ctype, body) = get(&app, "/collections/015146_nil/items", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype, "application/geo+json");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["numberMatched"], 88);
    assert_eq!(page["numberReturned"], 10);
    // Follow `next` to the end: every feature once.
    let mut seen = std::collections::BTreeSet::new();
    let mut uri = "/collections/015146_nil/items?limit=25".to_string();
    loop {
        let p = get_json(&app, &uri).await;
        for f in p["features"].as_array().unwrap() {
            assert!(
                seen.insert(f["id"].as_i64().unwrap()),
                "duplicate feature across pages"
            );
        }
        match p["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(l) => {
                uri = l["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://localhost")
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 88);
    let last = get_json(&app, "/collections/015146_nil/items?limit=25&offset=75").await;
    assert!(last["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "prev"));

    // bbox against independent computations, for points and polygons.
    for b in [
        [9.18, 45.46, 9.20, 45.47],
        [9.0, 45.3, 9.4, 45.6],
        [9.1, 45.5, 9.12, 45.52],
        [8.0, 44.0, 8.1, 44.1],
    ] {
        let q = format!("bbox={},{},{},{}&limit=1000", b[0], b[1], b[2], b[3]);
        let stops = get_json(&app, &format!("/collections/015146_fermate/items?{q}")).await;
        assert_eq!(
            stops["numberMatched"].as_u64().unwrap() as usize,
            stops_in(b),
            "stops in {b:?}"
        );
        assert_eq!(stops["features"].as_array().unwrap().len(), stops_in(b));
        let nil = get_json(&app, &format!("/collections/015146_nil/items?{q}")).await;
        assert_eq!(
            nil["numberMatched"].as_u64().unwrap() as usize,
            nil_in(b),
            "NIL in {b:?}"
        );
    }

    // properties and sortby.
    let p = get_json(
        &app,
        "/collections/015146_nil/items?properties=nil&sortby=-nil&limit=3",
    )
    .await;
    let names: Vec<&str> = p["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["nil"].as_str().unwrap())
        .collect();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(demo("milano/nil_2020.geojson")).unwrap()).unwrap();
    let mut expected: Vec<String> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["NIL"].as_str().unwrap().to_string())
        .collect();
    expected.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    assert_eq!(names, expected[..3]);
    assert_eq!(p["features"][0]["properties"].as_object().unwrap().len(), 1);
    let p = get_json(&app, "/collections/015146_nil/items?sortby=+id_nil&limit=2").await;
    assert_eq!(p["features"][0]["properties"]["id_nil"], 1);

    // One feature.
    let first = page["features"][0]["id"].as_i64().unwrap();
    let f = get_json(&app, &format!("/collections/015146_nil/items/{first}")).await;
    assert_eq!(f["id"], first);
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    for missing in [
        "/collections/015146_nil/items/999999",
        "/collections/015146_nil/items/abc",
        "/collections/nope/items",
        "/collections/nope",
    ] {
        let (s, ctype, _) = get(&app, missing, &[]).await;
        assert_eq!(
            (s, ctype.as_str()),
            (StatusCode::NOT_FOUND, "application/problem+json"),
            "{missing}"
        );
    }
}

async fn bad_parameters_are_400(t: TestStore) {
    let app = setup(&t).await;
    for q in [
        "bbox=9,45,9.3",
        "bbox=9,45,9.3,45.6,1",
        "bbox=NaN,45,9.3,45.6",
        "bbox=9,160,9.3,45.6",
        "bbox=a,b,c,d",
        "limit=-1",
        "limit=0",
        "limit=99999999999999999999",
        "limit=ten",
        "offset=-5",
        "properties=nope",
        "sortby=-nope",
        "sortby=exec(1)",
        "unknown=1",
        "filter=nil%3D%3D'DUOMO'",
        "filter=nope%3D1",
        "crs=EPSG:9999",
        "f=xml",
        "limit=1&limit=2",
        "bbox-crs=nonsense",
    ] {
        let (s, ctype, body) = get(&app, &format!("/collections/015146_nil/items?{q}"), &[]).await;
        assert_eq!(
            (s, ctype.as_str()),
            (StatusCode::BAD_REQUEST, "application/problem+json"),
            "{q}: {body}"
        );
    }
}

/// A limit above the maximum is served at the maximum with a next link (as OGC API -
/// Features means it), not refused.
async fn limit_above_the_maximum_is_served_at_it(t: TestStore) {
    let app = setup(&t).await;
    let (s, _, body) = get(
        &app,
        "/collections/015146_nil/items?limit=50000&offset=80",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["numberReturned"], 8, "88 NIL, from 80");
    let (s, _, body) = get(
        &app,
        "/collections/015146_nil/items?limit=1000000000000",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["numberReturned"], 88);
    let selfl = doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap();
    assert!(
        selfl["href"].as_str().unwrap().contains("limit=10000"),
        "{selfl}"
    );
}

async fn html_is_escaped_and_private_layers_hidden(t: TestStore) {
    let _ = setup(&t).await;
    let evil = "<script>alert(1)</script>";
    t.store
        .update_layer_meta(
            "015146_nil",
            &atlante::store::LayerMetaUpdate {
                title: Some(evil.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.store
        .update_layer_meta(
            "015146_fermate",
            &atlante::store::LayerMetaUpdate {
                visibility: Some("private".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let app = common::app(&t.store).await;
    for uri in [
        "/collections?f=html",
        "/collections/015146_nil?f=html",
        "/collections/015146_nil/items?f=html",
    ] {
        let (s, ctype, body) = get(&app, uri, &[("accept", "text/html")]).await;
        assert_eq!(s, StatusCode::OK);
        assert!(ctype.starts_with("text/html"));
        assert!(!body.contains(evil), "{uri} echoes markup");
        assert!(body.contains("&lt;script&gt;"), "{uri}");
    }
    let c = get_json(&app, "/collections").await;
    let features = c["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["itemType"] == "feature")
        .count();
    assert_eq!(features, 1);
    let (s, _, _) = get(&app, "/collections/015146_fermate/items", &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let api = get_json(&app, "/api").await;
    assert_eq!(api["openapi"], "3.0.3");
    let ids = &api["paths"]["/collections/{id}"]["get"]["parameters"][0]["schema"]["enum"];
    assert_eq!(ids, &serde_json::json!(["015146_nil"]));
    assert!(api["components"]["schemas"]
        .get("properties_015146_fermate")
        .is_none());
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let (s, _, _) = get(
        &app,
        "/collections/015146_fermate/items",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

both_stores!(
    collections_items_and_paging,
    bad_parameters_are_400,
    limit_above_the_maximum_is_served_at_it,
    html_is_escaped_and_private_layers_hidden
);

/// `gdaltransform` of one lon/lat point to an EPSG code, in GDAL's traditional order.
fn gdal_point(lon: f64, lat: f64, epsg: u32) -> (f64, f64) {
    use std::io::Write;
    let mut child = std::process::Command::new("gdaltransform")
        .args(["-s_srs", "EPSG:4326", "-t_srs", &format!("EPSG:{epsg}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{lon} {lat}").unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let v: Vec<f64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    (v[0], v[1])
}

async fn output_crs_and_bbox_crs(t: TestStore) {
    let app = setup(&t).await;
    let col = get_json(&app, "/collections/015146_fermate").await;
    let crs: Vec<&str> = col["crs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in [4326, 3857, 3003, 32632, 6707, 7791] {
        assert!(crs.contains(&format!("http://www.opengis.net/def/crs/EPSG/0/{code}").as_str()));
    }
    let conf = get_json(&app, "/conformance").await;
    assert!(conf["conformsTo"]
        .as_array()
        .unwrap()
        .contains(&Value::String(
            "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs".into()
        )));
    // Find Duomo M1 and read it in each CRS.
    let all = get_json(&app, "/collections/015146_fermate/items?limit=200").await;
    let duomo = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["nome"] == "DUOMO M1")
        .unwrap();
    let (id, lon, lat) = (
        duomo["id"].as_i64().unwrap(),
        duomo["geometry"]["coordinates"][0].as_f64().unwrap(),
        duomo["geometry"]["coordinates"][1].as_f64().unwrap(),
    );
    for (code, swapped) in [
        (3003, false),
        (32632, false),
        (3857, false),
        (7791, false),
        (6707, true),
        (4326, true),
    ] {
        let uri = format!("/collections/015146_fermate/items/{id}?crs=http://www.opengis.net/def/crs/EPSG/0/{code}");
        let (s, _, body) = get(&app, &uri, &[]).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let f: Value = serde_json::from_str(&body).unwrap();
        let c = &f["geometry"]["coordinates"];
        let (a, b) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        let (e, n) = if swapped { (b, a) } else { (a, b) };
        let (ge, gn) = if code == 4326 {
            (lon, lat)
        } else {
            gdal_point(lon, lat, code)
        };
        let tol = if code == 4326 { 1e-9 } else { 1.0 };
        assert!(
            (e - ge).abs() < tol && (n - gn).abs() < tol,
            "EPSG:{code}: ({e}, {n}) vs GDAL ({ge}, {gn})"
        );
        assert_eq!(
            common::get(&app, &uri).await.header("content-crs"),
            format!("<http://www.opengis.net/def/crs/EPSG/0/{code}>")
        );
    }
    // A bbox in Gauss-Boaga around the Duomo, as a comune's GIS would send it.
    let (e, n) = gdal_point(lon, lat, 3003);
    let q = format!(
        "bbox-crs=EPSG:3003&bbox={},{},{},{}&limit=100",
        e - 300.0,
        n - 300.0,
        e + 300.0,
        n + 300.0
    );
    let near = get_json(&app, &format!("/collections/015146_fermate/items?{q}")).await;
    let names: Vec<&str> = near["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["nome"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"DUOMO M1") && names.len() < 10, "{names:?}");
    // In EPSG:4326 a bbox is lat/lon.
    let q = format!(
        "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326&bbox={},{},{},{}",
        lat - 0.001,
        lon - 0.001,
        lat + 0.001,
        lon + 0.001
    );
    let near = get_json(&app, &format!("/collections/015146_fermate/items?{q}")).await;
    assert!(near["numberMatched"].as_i64().unwrap() >= 1);
    for q in [
        "crs=EPSG:2000",
        "crs=nonsense",
        "bbox-crs=EPSG:1234&bbox=1,2,3,4",
        "bbox-crs=EPSG:3003&bbox=5,5,1,1",
    ] {
        let (s, _, body) = get(&app, &format!("/collections/015146_fermate/items?{q}"), &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
    }
}

/// Coordinates go out at a fixed precision: 7 decimals in degrees, 3 in metres — here for
/// the comuni reprojected from Gauss-Boaga, whose doubles carry 15 and more digits.
async fn coordinates_are_written_at_a_documented_precision(t: TestStore) {
    common::add_layer(
        &t.store,
        "cmm",
        "comuni",
        &common::fixture("comuni_cmm_epsg3003_utf8.zip"),
    )
    .await;
    let app = common::app(&t.store).await;
    for (query, decimals) in [
        ("", 7),
        ("&crs=http://www.opengis.net/def/crs/EPSG/0/4326", 7),
        ("&crs=http://www.opengis.net/def/crs/EPSG/0/3003", 3),
    ] {
        let body = get_json(
            &app,
            &format!("/collections/cmm_comuni/items?limit=5{query}"),
        )
        .await;
        let text = body["features"].to_string();
        let mut longest = 0;
        let mut seen = 0;
        for f in body["features"].as_array().unwrap() {
            let coords = f["geometry"]["coordinates"].to_string();
            for n in
                coords.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            {
                if let Some((_, frac)) = n.split_once('.') {
                    longest = longest.max(frac.len());
                    seen += 1;
                }
            }
        }
        assert!(
            seen > 100,
            "{query}: {seen} coordinates in {}",
            &text[..200.min(text.len())]
        );
        assert!(
            longest <= decimals,
            "{query}: a coordinate with {longest} decimals"
        );
    }
}

both_stores!(
    output_crs_and_bbox_crs,
    coordinates_are_written_at_a_documented_precision
);
