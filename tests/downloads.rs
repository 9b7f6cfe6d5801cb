//! Downloads (issue 14), on both stores: every format read back by GDAL (`ogr2ogr` to
//! GeoJSON) holds the layer's features — the same count, the same attribute values,
//! accents intact, coordinates within 1 cm in EPSG:4326 and within 5 m in EPSG:3003 of an
//! independent reprojection; a filtered download is the filtered items, whole (not a
//! page); a whole-layer file is made once per layer state and its size then shown; a
//! private layer never downloads anonymously; KML in another CRS is a clear 400.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::TestStore;
use serde_json::Value;

const FORMATS: [&str; 6] = ["gpkg", "shp", "csv", "geojson", "kml", "fgb"];

/// A downloaded file read back by GDAL: id_amat → (properties, coordinates).
type Read = BTreeMap<i64, (BTreeMap<String, String>, Vec<[f64; 2]>)>;

fn read_back(path: &Path, format: &str) -> Read {
    let src = if format == "shp" {
        format!("/vsizip/{}", path.display())
    } else {
        path.display().to_string()
    };
    let out = std::process::Command::new("ogr2ogr")
        .args(["-f", "GeoJSON", "/vsistdout/", &src])
        .args(["-lco", "RFC7946=NO", "-lco", "COORDINATE_PRECISION=12"])
        .output()
        .expect("ogr2ogr");
    assert!(
        out.status.success(),
        "{format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut read = Read::new();
    for f in doc["features"].as_array().unwrap() {
        let p = f["properties"].as_object().unwrap();
        let id = p["id_amat"]
            .as_i64()
            .unwrap_or_else(|| p["id_amat"].as_str().unwrap().parse().unwrap());
        let props = p
            .iter()
            // KML's own fields, and what each format leaves out: nothing of the layer.
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "Name"
                        | "description"
                        | "Description"
                        | "altitudeMode"
                        | "tessellate"
                        | "extrude"
                        | "visibility"
                        | "drawOrder"
                        | "icon"
                        | "begin"
                        | "end"
                        | "timestamp"
                )
            })
            .map(|(k, v)| {
                let text = match v {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.as_f64().map_or(n.to_string(), |x| format!("{x}")),
                    other => other.to_string(),
                };
                (k.chars().take(10).collect::<String>(), text)
            })
            .collect();
        let mut flat = Vec::new();
        flatten(&f["geometry"]["coordinates"], &mut flat);
        // As a list of vertices sorted by x: a Shapefile writes rings the other way round.
        let mut coords: Vec<[f64; 2]> = flat.chunks(2).map(|c| [c[0], c[1]]).collect();
        coords.sort_by(|a, b| a.partial_cmp(b).unwrap());
        read.insert(id, (props, coords));
    }
    read
}

/// The largest distance in metres from a vertex of `a` to the nearest of `b` (both
/// sorted by longitude; only those within 1e-5° of longitude are looked at).
fn gap(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let mut worst: f64 = 0.0;
    for p in a {
        let from = b.partition_point(|q| q[0] < p[0] - 1e-5);
        let nearest = b[from..]
            .iter()
            .take_while(|q| q[0] <= p[0] + 1e-5)
            .map(|q| {
                let dx = (p[0] - q[0]) * 111_320.0 * q[1].to_radians().cos();
                let dy = (p[1] - q[1]) * 110_540.0;
                dx.hypot(dy)
            })
            .fold(f64::INFINITY, f64::min);
        worst = worst.max(nearest);
    }
    worst
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        _ => {}
    }
}

async fn fetch(
    app: &axum::Router,
    uri: &str,
    dir: &Path,
    name: &str,
) -> (common::Reply, std::path::PathBuf) {
    let r = common::get(app, uri).await;
    let path = dir.join(name);
    std::fs::write(&path, &r.body).unwrap();
    (r, path)
}

async fn every_format_reads_back(t: TestStore) {
    let store = &t.store;
    let (ztl, _) = common::add_layer(
        store,
        "015146",
        "ztl",
        &common::demo("milano/aree_pedonali_ztl.geojson"),
    )
    .await;
    let (secret, _) = common::ingest_file(
        store,
        &common::demo("milano/atm_fermate_metro.geojson"),
        "015146",
        "secret",
        |o| o.visibility = None,
    )
    .await
    .unwrap();
    let (app, _cache) = common::app_with_cache(store).await;
    let dir = tempfile::tempdir().unwrap();
    let id = &ztl.id;

    // The reference: the GeoPackage (doubles as stored).
    let (r, gpkg) = fetch(
        &app,
        &format!("/collections/{id}/items?f=gpkg"),
        dir.path(),
        "ref.gpkg",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let reference = read_back(&gpkg, "gpkg");
    assert_eq!(reference.len() as i64, ztl.feature_count);
    assert!(
        reference
            .values()
            .any(|(p, _)| p.values().any(|v| v.contains("proprietà"))),
        "accents in the reference"
    );
    let mut worst = BTreeMap::new();
    for format in FORMATS {
        // `limit` does not cut a download.
        let (r, path) = fetch(
            &app,
            &format!("/collections/{id}/items?f={format}&limit=5"),
            dir.path(),
            &format!("ztl.{}", if format == "shp" { "zip" } else { format }),
        )
        .await;
        assert_eq!(r.status, 200, "{format}: {}", r.text());
        assert!(
            r.header("content-disposition").contains(&format!("{id}.")),
            "{format}"
        );
        assert_eq!(r.header("content-length"), r.body.len().to_string());
        // The licence goes with every file: a Link header, and inside where there is room.
        assert!(
            r.header("link")
                .contains("licences/A21_CCBY40>; rel=\"license\""),
            "{format}: {}",
            r.header("link")
        );
        let inside = match format {
            "gpkg" => String::from_utf8_lossy(
                &std::process::Command::new("ogrinfo")
                    .args(["-so", "-al"])
                    .arg(&path)
                    .output()
                    .unwrap()
                    .stdout,
            )
            .into_owned(),
            "shp" => common::zip_text(&r.body),
            "geojson" => {
                let v: Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(
                    v["license"],
                    "https://w3id.org/italia/controlled-vocabulary/licences/A21_CCBY40"
                );
                v["description"].as_str().unwrap().to_string()
            }
            // No room in the file: the Link header says it.
            _ => String::new(),
        };
        assert!(
            inside.is_empty() || inside.contains("Licenza: Creative Commons Attribuzione 4.0"),
            "{format}: {inside}"
        );
        if ["gpkg", "shp", "geojson"].contains(&format) {
            assert!(!inside.is_empty(), "{format}");
        }
        let got = read_back(&path, format);
        assert_eq!(got.len(), reference.len(), "{format}: feature count");
        let mut max_m: f64 = 0.0;
        for (fid, (props, coords)) in &reference {
            let (p, c) = &got[fid];
            for (k, v) in props {
                // A Shapefile has no null text (empty), its DBF text is read back trimmed,
                // and its date-times are ISO text (with milliseconds).
                let got = p
                    .get(k)
                    .map(|s| s.replace(".000Z", "Z"))
                    .unwrap_or_default();
                if format == "kml" {
                    // XML 1.0 cannot hold control characters (the data has a U+001F).
                    let plain: String = v.chars().filter(|c| !c.is_control()).collect();
                    assert_eq!(got.trim(), plain.trim(), "{format}: {fid}.{k}");
                } else if format == "shp" || format == "csv" {
                    assert_eq!(got.trim(), v.trim(), "{format}: {fid}.{k}");
                } else {
                    assert_eq!(&got, v, "{format}: {fid}.{k}");
                }
            }
            assert_eq!(c.len(), coords.len(), "{format}: {fid} vertices");
            max_m = max_m.max(gap(c, coords));
        }
        assert!(max_m < 0.01, "{format}: coordinates {max_m} m off");
        worst.insert(format, format!("{:.4} m", max_m));
    }
    println!(
        "{}: worst coordinate error by format {worst:?}",
        t.location.split(':').next().unwrap()
    );

    // EPSG:3003: within 5 m of GDAL's own reprojection of the reference.
    let crs = "http://www.opengis.net/def/crs/EPSG/0/3003";
    let (r, gb) = fetch(
        &app,
        &format!("/collections/{id}/items?f=gpkg&crs={crs}"),
        dir.path(),
        "gb.gpkg",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-crs").contains("3003"));
    let independent = dir.path().join("independent.gpkg");
    let ok = std::process::Command::new("ogr2ogr")
        .args(["-t_srs", "EPSG:3003"])
        .arg(&independent)
        .arg(&gpkg)
        .status()
        .unwrap();
    assert!(ok.success());
    let (ours, theirs) = (read_back(&gb, "gpkg"), read_back(&independent, "gpkg"));
    let mut max_m: f64 = 0.0;
    for (fid, (_, c)) in &theirs {
        for (a, b) in ours[fid].1.iter().zip(c) {
            max_m = max_m.max((a[0] - b[0]).hypot(a[1] - b[1]));
        }
    }
    assert!(max_m < 5.0, "EPSG:3003 {max_m} m off");
    assert!(
        ours.values().next().unwrap().1[0][0] > 1_400_000.0,
        "Gauss-Boaga eastings"
    );
    let kml = common::get(&app, &format!("/collections/{id}/items?f=kml&crs={crs}")).await;
    assert_eq!(kml.status, 400);
    assert!(kml.text().contains("KML is always in EPSG:4326"));

    // A filtered download is the filtered items, all of them.
    let query = "bbox=9.15,45.45,9.21,45.48&filter=tipo%3D%27AP%27";
    let items = common::get(
        &app,
        &format!("/collections/{id}/items?{query}&limit=10000"),
    )
    .await;
    let want: Vec<i64> = items.json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["id_amat"].as_i64().unwrap())
        .collect();
    assert!(want.len() > 5, "a selection of some size: {}", want.len());
    let (r, csv) = fetch(
        &app,
        &format!("/collections/{id}/items?f=csv&limit=2&{query}"),
        dir.path(),
        "sel.csv",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"), "CSV with a UTF-8 BOM");
    let mut got: Vec<i64> = read_back(&csv, "csv").into_keys().collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    got.sort();
    assert_eq!(got, want_sorted);

    // Made once per layer state: the size shows in the collection and the catalogue.
    let coll = common::get(&app, &format!("/collections/{id}"))
        .await
        .json();
    let enclosure = |f: &str| {
        coll["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| {
                l["rel"] == "enclosure" && l["href"].as_str().unwrap().ends_with(&format!("f={f}"))
            })
            .cloned()
            .unwrap()
    };
    assert_eq!(enclosure("gpkg")["type"], "application/geopackage+sqlite3");
    assert!(enclosure("gpkg")["length"].as_u64().unwrap() > 0);
    assert!(coll["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "license" && l["href"].as_str().unwrap().ends_with("A21_CCBY40")));
    let ttl = common::get(&app, "/catalog/dcat.ttl").await.text();
    assert!(ttl.contains("dcat:byteSize"), "sizes in the catalogue");
    assert!(ttl.contains("items?f=shp>"));
    let again = common::get(&app, &format!("/collections/{id}/items?f=gpkg")).await;
    assert_eq!(again.body, std::fs::read(&gpkg).unwrap(), "the kept file");

    // Private: never anonymously; its owner may.
    let r = common::get(&app, &format!("/collections/{}/items?f=gpkg", secret.id)).await;
    assert_eq!(r.status, 404);
    let token = common::token(store.as_ref(), "015146", "editor").await;
    let r = common::request(
        &app,
        "GET",
        &format!("/collections/{}/items?f=csv", secret.id),
        Some(&token),
        axum::body::Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
}

both_stores!(every_format_reads_back);
