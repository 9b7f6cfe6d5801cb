//! GIS clients of the real server:
//! * GDAL's OAPIF driver on PostGIS lists every public collection with the catalog's
//!   feature counts, and `ogr2ogr` copies collections with `-where` (sent as a CQL2 filter)
//!   and `-spat` (sent as bbox) answered by the server: the copies hold as many features as
//!   the same filter run in PostGIS directly;
//! * QGIS 3.22's OAPIF provider (Debian's python3-qgis, headless) on both stores adds a
//!   collection and reads every feature, accents intact.

mod common;

use std::process::Command;

/// Runs `ogr2ogr` with `args` into a GeoJSON file; the features copied and GDAL's debug log.
fn ogr2ogr(dir: &std::path::Path, name: &str, args: &[&str]) -> (i64, String) {
    let copy = dir.join(format!("{name}.geojson"));
    let st = Command::new("ogr2ogr")
        .args(["--debug", "on", "-f", "GeoJSON"])
        .arg(&copy)
        .args(args)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    assert!(st.status.success(), "{log}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&copy).unwrap()).unwrap();
    (doc["features"].as_array().unwrap().len() as i64, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogr_oapif_reads_atlante() {
    use sqlx::Connection;
    let t = common::postgis().await;
    common::load_demo(&t.location);
    let server = common::serve(&t.location);
    let url = format!("OAPIF:http://127.0.0.1:{}", server.port);
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Layer name: ") {
            name = n.to_string();
        }
        if let Some(c) = line.strip_prefix("Feature Count: ") {
            counts.push((name.clone(), c.trim().parse::<u64>().unwrap()));
        }
    }
    let expected = [
        ("015146_aree_pedonali_ztl", 180),
        ("015146_metro_fermate", 110),
        ("015146_metro_percorsi", 38),
        ("015146_nil", 88),
        ("cmm_comuni", 133),
        ("cmm_zone_omogenee", 8),
        // The record collection (OGC API - Records): GDAL reads its records as features,
        // the public datasets' footprints.
        ("catalog", 6),
    ];
    assert_eq!(counts, expected.map(|(n, c)| (n.to_string(), c)).to_vec());

    let mut pg = sqlx::PgConnection::connect(&t.location).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    // -where goes to the server as a CQL2 filter.
    let filter = "com_istat_code_num > 15150 AND name LIKE 'S%'";
    let (copied, log) = ogr2ogr(dir.path(), "where", &[&url, "cmm_comuni", "-where", filter]);
    assert!(
        log.contains("&filter=") && !log.contains("client side"),
        "{log}"
    );
    let direct: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM cmm_comuni WHERE {filter}"))
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert!(direct > 0);
    assert_eq!(copied, direct);

    // -spat goes to the server as bbox.
    let (copied, log) = ogr2ogr(
        dir.path(),
        "spat",
        &[
            &url,
            "015146_metro_fermate",
            "-spat",
            "9.18",
            "45.46",
            "9.20",
            "45.47",
        ],
    );
    assert!(log.contains("bbox="), "{log}");
    let direct: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM \"015146_metro_fermate\" \
         WHERE ST_Intersects(geom, ST_MakeEnvelope(9.18, 45.46, 9.20, 45.47, 4326))",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!((copied, direct), (6, 6));

    // Both at once, on lines: a filter and a box.
    let filter = "linea = 2";
    let (copied, _) = ogr2ogr(
        dir.path(),
        "both",
        &[
            &url,
            "015146_metro_percorsi",
            "-where",
            filter,
            "-spat",
            "9.1",
            "45.45",
            "9.2",
            "45.5",
        ],
    );
    let direct: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"015146_metro_percorsi\" WHERE {filter} \
         AND ST_Intersects(geom, ST_MakeEnvelope(9.1, 45.45, 9.2, 45.5, 4326))"
    ))
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert!(direct > 0);
    assert_eq!(copied, direct);
}

/// QGIS (3.22, what most municipal GIS offices run) adds an Atlante collection through its
/// OAPIF provider and reads every feature: it follows only absolute links, and takes the
/// landing page's first `data` link as the collections.
async fn qgis_reads_every_feature(t: common::TestStore) {
    common::load_demo(&t.location);
    let server = common::serve(&t.location);
    let out = Command::new("/usr/bin/python3")
        .arg(common::repo().join("tests/qgis/oapif.py"))
        .args([&server.url(), "015146_aree_pedonali_ztl"])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("/usr/bin/python3 with python3-qgis (run scripts/setup.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|_| panic!("{text} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["count"], 180, "every feature read: {v}");
    assert_eq!(v["feature_count"], 180);
    let texts: Vec<&str> = v["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for accented in ["Ampère", "Via Teuliè"] {
        assert!(texts.contains(&accented), "{accented} intact: {texts:?}");
    }
    assert!(v["fields"].as_array().unwrap().iter().any(|f| f == "nome"));
}

both_stores!(qgis_reads_every_feature);
