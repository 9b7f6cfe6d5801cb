//! GDAL's OAPIF driver as a client of the real server on PostGIS: it lists every public
//! collection with the catalog's feature counts, and `ogr2ogr` copies collections with
//! `-where` (sent as a CQL2 filter) and `-spat` (sent as bbox) answered by the server: the
//! copies hold as many features as the same filter run in PostGIS directly.

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
    let st = Command::new(env!("CARGO_BIN_EXE_atlante"))
        .current_dir(common::repo())
        .args(["--store", &t.location, "demo", "--no-serve"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
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
