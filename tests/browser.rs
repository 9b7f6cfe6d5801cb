//! Browser tests in headless Debian chromium (playwright-core): the real binary serves the
//! demo data; MapLibre draws Atlante's tiles, identify and comune search work.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A server with the demo data on a fresh embedded store; returns it and its base URL.
fn demo_server(dir: &std::path::Path) -> (Server, String) {
    let store = dir.join("atlante.gpkg");
    let bin = env!("CARGO_BIN_EXE_atlante");
    let st = Command::new(bin)
        .current_dir(repo())
        .args(["--store", store.to_str().unwrap(), "demo", "--no-serve"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .current_dir(repo())
        .args([
            "--store",
            store.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not start");
}

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
    let (_server, base) = demo_server(dir.path());
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
    let (_server, base) = demo_server(dir.path());
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
