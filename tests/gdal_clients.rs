//! GDAL's OAPIF driver as a client of the real server: it lists every public collection with
//! the catalog's feature counts, and `ogr2ogr -spat` copies what the server's bbox returns.

mod common;

use std::process::Command;

#[test]
fn ogr_oapif_reads_atlante() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::serve(&common::demo_store(dir.path()));
    let port = server.port;
    let url = format!("OAPIF:http://127.0.0.1:{port}");
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

    // -spat goes to the server as bbox; the copy holds what the server matched.
    let copy = dir.path().join("spat.geojson");
    let st = Command::new("ogr2ogr")
        .args(["-f", "GeoJSON"])
        .arg(&copy)
        .args([
            &url,
            "015146_metro_fermate",
            "-spat",
            "9.18",
            "45.46",
            "9.20",
            "45.47",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&copy).unwrap()).unwrap();
    let copied = doc["features"].as_array().unwrap().len();
    assert_eq!(copied, 6);
}
