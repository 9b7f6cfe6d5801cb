//! Browser tests in headless Debian chromium (playwright-core): the real binary serves the
//! demo data; MapLibre draws Atlante's tiles, identify and comune search work.

mod common;

use std::process::Command;

use common::{demo_store, repo, serve};

fn run(scenario: &str, base: &str, out: &std::path::Path) -> serde_json::Value {
    let st = Command::new("node")
        .arg(repo().join("web/tests/browser.mjs"))
        .args([scenario, base, out.to_str().unwrap()])
        .output()
        .expect("node (run scripts/setup.sh)");
    let text = String::from_utf8_lossy(&st.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|_| panic!("no result: {text} {}", String::from_utf8_lossy(&st.stderr)));
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(v["dialogs"], 0, "{v}");
    assert_eq!(v["pageErrors"].as_array().map(Vec::len), Some(0), "{v}");
    v
}

#[test]
fn maplibre_draws_atlante_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&demo_store(dir.path()));
    let base = server.url();
    let v = run("tiles", &base, dir.path());
    let painted = v["painted"].as_f64().unwrap();
    let total = v["total"].as_f64().unwrap();
    // The centre of Milan is covered by NIL polygons: most pixels are drawn.
    assert!(painted / total > 0.5, "{painted} of {total} pixels painted");
    assert!(dir.path().join("tiles.png").exists());
}

#[test]
fn viewer_identify_search_and_url_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&demo_store(dir.path()));
    let base = server.url();
    let v = run("viewer", &base, dir.path());
    assert!(v["painted"].as_u64().unwrap() > 50_000, "{v}");
    assert_eq!(
        v["activeLayers"],
        serde_json::json!([
            "015146_metro_fermate",
            "015146_metro_percorsi",
            "015146_nil"
        ])
    );
    let popup = v["popup"].as_str().unwrap();
    assert!(popup.contains("DUOMO M1"), "popup: {popup}");
    assert!(
        popup.contains("nome"),
        "labelled with the original field names: {popup}"
    );
    assert!(v["hash"]
        .as_str()
        .unwrap()
        .contains("layers=015146_metro_fermate"));
    let c = v["centerAfterSearch"].as_array().unwrap();
    let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
    assert!(
        (lon - 9.04).abs() < 0.05 && (lat - 45.53).abs() < 0.05,
        "map did not move to Rho: {lon} {lat}"
    );
    let zones: Vec<&str> = v["catalogZones"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|z| z.as_str())
        .collect();
    assert!(
        zones.contains(&"Città Metropolitana") && zones.contains(&"Milano"),
        "{zones:?}"
    );
}
