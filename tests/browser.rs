//! Browser tests in headless Debian chromium (playwright-core): the real binary serves the
//! demo data; MapLibre draws Atlante's tiles, identify and comune search work; the console
//! uploads a layer, styles it and publishes an app; the generated app works online and, as
//! a static bundle served by `python3 -m http.server` with Atlante stopped, offline; 25 XSS
//! payloads in titles, attribute names and values and app titles run no script anywhere.

mod common;

use std::process::Command;

use common::{demo_store, repo, serve};

fn run(scenario: &str, base: &str, out: &std::path::Path) -> serde_json::Value {
    run_with(scenario, base, out, &[])
}

fn run_with(
    scenario: &str,
    base: &str,
    out: &std::path::Path,
    env: &[(&str, String)],
) -> serde_json::Value {
    let st = Command::new("node")
        .arg(repo().join("web/tests/browser.mjs"))
        .args([scenario, base, out.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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
    // The tools on the active layers: the table's filter on the map, the shared link.
    let line1 = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(line1_stops(server.port));
    assert_filter_and_share(&v, &line1);
    assert_eq!(v["axe"]["viewer"], serde_json::json!([]), "{v}");
    assert_eq!(v["axe"]["viewer-tools"], serde_json::json!([]), "{v}");
}

/// Open data in the browser: the console's description form fills a record and its
/// completeness note follows; the dataset page draws its small map (its own script under
/// its CSP); the dashboard draws its charts; the viewer links public layers to their pages.
/// With `ATLANTE_SCREENSHOTS=dir` the screenshots are copied there (docs/ holds them).
#[test]
fn open_data_in_the_console_page_and_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let tok = token(&store, "015146");
    let server = serve(&store);
    let v = run_with(
        "opendata",
        &server.url(),
        dir.path(),
        &[("ATLANTE_TOKEN", tok)],
    );
    let before = v["missingBefore"].as_str().unwrap();
    assert!(
        before.contains("eu_themes") && before.contains("lineage"),
        "{v}"
    );
    assert_eq!(v["missingAfter"], "Scheda completa", "{v}");
    assert!(v["datasetPainted"].as_u64().unwrap() > 20_000, "{v}");
    let page = v["datasetText"].as_str().unwrap();
    for needle in [
        "IODL 2.0",
        "quartieri, PGT, NIL",
        "c_f205:015146_nil",
        "Storia",
        "scheda modificata",
    ] {
        assert!(
            page.contains(needle),
            "{needle} not on the dataset page: {page}"
        );
    }
    assert!(v["statsBars"].as_u64().unwrap() >= 3, "{v}");
    assert!(
        v["statsText"]
            .as_str()
            .unwrap()
            .contains("dataset pubblici"),
        "{v}"
    );
    let links = v["viewerDatasetLinks"].as_array().unwrap();
    assert!(links.iter().any(|l| l == "/datasets/015146_nil"), "{v}");
    if let Ok(to) = std::env::var("ATLANTE_SCREENSHOTS") {
        for f in ["console-metadata.png", "dataset-page.png", "stats.png"] {
            std::fs::copy(dir.path().join(f), std::path::Path::new(&to).join(f)).unwrap();
        }
    }
}

/// A token for `org`, created with the CLI.
fn token(store: &str, org: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_atlante"))
        .current_dir(repo())
        .args(["--store", store, "token", "create", "--org", org])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with("atl_"))
        .unwrap_or_else(|| panic!("no token in {text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_publishes_an_app_that_runs_online_and_static() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let tok = token(&store, "015146");
    let server = serve(&store);
    let base = server.url();
    let shots = std::env::var("ATLANTE_SCREENSHOTS").ok();
    let fixture = repo().join("tests/fixtures/scuole_mi.geojson");
    let v = run_with(
        "console",
        &base,
        dir.path(),
        &[
            ("ATLANTE_TOKEN", tok.clone()),
            ("UPLOAD_FILE", fixture.display().to_string()),
        ],
    );
    // An upload is a draft: private until the comune publishes it from the console.
    assert!(
        v["uploadStatus"]
            .as_str()
            .unwrap()
            .contains("bozza (privato) 015146_scuole"),
        "{v}"
    );
    assert!(v["uploadedAs"].as_str().unwrap().contains("bozza"), "{v}");
    assert_eq!(v["anonymousBeforePublish"], 404, "{v}");
    assert!(
        v["uploadSummary"]
            .as_str()
            .unwrap()
            .contains("scritti 1416"),
        "{v}"
    );
    assert!(
        v["appStatus"]
            .as_str()
            .unwrap()
            .contains("/apps/015146/mobilita/"),
        "{v}"
    );
    assert!(v["apps"][0].as_str().unwrap().contains("pubblicata"), "{v}");
    // The categorized style the server proposed from the data was saved as it was.
    assert_eq!(v["categorized"]["kind"], "categorized", "{v}");
    assert!(v["categorized"]["categories"].as_u64().unwrap() >= 2, "{v}");

    // The online app, from Atlante.
    let online = run_with(
        "app",
        &base,
        dir.path(),
        &[
            ("APP_URL", format!("{base}/apps/015146/mobilita/")),
            ("APP_MODE", "online".into()),
        ],
    );
    assert!(online["painted"].as_u64().unwrap() > 5_000, "{online}");
    assert!(
        online["popup"].as_str().unwrap().contains("DUOMO M1"),
        "{online}"
    );
    assert!(
        online["legend"].as_str().unwrap().contains("Scuole"),
        "{online}"
    );
    assert_eq!(online["title"], "Mobilità e scuole");
    // Labels: the stops' names (label_field chosen in the console) at z15 by the Duomo, and
    // the comuni's names of the base map; glyphs from this server, nothing from elsewhere.
    assert_labels(&online);
    // The tools, against the server's own answer for the same filter.
    let line1 = line1_stops(server.port).await;
    assert_tools(&online, &line1);
    assert!(
        online["glyphRequests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "/fonts/Open Sans Regular/0-255.pbf"),
        "{online}"
    );
    assert_eq!(online["elsewhere"], serde_json::json!([]), "{online}");

    // The static bundle, unpacked and served by a plain file server with Atlante stopped.
    let (status, zip) =
        common::http_get(server.port, "/apps/015146/mobilita/bundle.zip?mode=static")
            .await
            .unwrap();
    assert_eq!(status, 200);
    drop(server);
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.clone())).unwrap();
    archive.extract(&site).unwrap();
    let unpacked: u64 = walk_size(&site.join("015146-mobilita"));
    let port = common::free_port();
    let mut http = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&site)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let offline = run_with(
        "app",
        &format!("http://127.0.0.1:{port}"),
        dir.path(),
        &[
            (
                "APP_URL",
                format!("http://127.0.0.1:{port}/015146-mobilita/"),
            ),
            ("APP_MODE", "static".into()),
        ],
    );
    let _ = http.kill();
    let _ = http.wait();
    assert!(offline["painted"].as_u64().unwrap() > 5_000, "{offline}");
    // The bundle's own glyphs: only the ranges its labels need, answered by the file
    // server; no request leaves it.
    assert_labels(&offline);
    assert_tools(&offline, &line1);
    let glyphs: Vec<&str> = offline["glyphRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        glyphs.contains(&"/015146-mobilita/fonts/Open Sans Regular/0-255.pbf"),
        "{offline}"
    );
    assert_eq!(offline["elsewhere"], serde_json::json!([]), "{offline}");
    assert_eq!(
        offline["failedRequests"],
        serde_json::json!([]),
        "{offline}"
    );
    let fonts_dir = site.join("015146-mobilita/fonts");
    let mut carried: Vec<String> = Vec::new();
    for font in std::fs::read_dir(&fonts_dir).unwrap() {
        let font = font.unwrap();
        for range in std::fs::read_dir(font.path()).unwrap() {
            carried.push(format!(
                "{}/{}",
                font.file_name().to_string_lossy(),
                range.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    carried.sort();
    // Stop names, comuni and zone names: Latin-1 only, and the typographic apostrophe of
    // "Cassano d’Adda"-like names where there is one.
    assert!(
        carried.contains(&"Open Sans Regular/0-255.pbf".to_string())
            && carried.contains(&"Open Sans Bold/0-255.pbf".to_string()),
        "{carried:?}"
    );
    assert!(
        carried.len() <= 4,
        "only the ranges the labels need: {carried:?}"
    );
    let glyph_bytes = walk_size(&fonts_dir);
    assert!(
        offline["popup"].as_str().unwrap().contains("DUOMO M1"),
        "{offline}"
    );
    if let Some(to) = shots {
        for f in ["console.png", "app-online-popup.png", "app-static.png"] {
            let _ = std::fs::copy(dir.path().join(f), std::path::Path::new(&to).join(f));
        }
        let _ = std::fs::copy(
            dir.path().join("app-static-table.png"),
            std::path::Path::new(&to).join("app-table.png"),
        );
        // The printed page, as a picture.
        let _ = Command::new("pdftoppm")
            .args(["-png", "-r", "70", "-singlefile"])
            .arg(dir.path().join("app-static.pdf"))
            .arg(std::path::Path::new(&to).join("app-print"))
            .status();
    }
    eprintln!(
        "static app: {} bytes zipped, {unpacked} bytes unpacked ({glyph_bytes} of them glyphs: {carried:?}); first map online {} ms, static {} ms",
        zip.len(),
        online["firstMapMs"],
        offline["firstMapMs"]
    );
}

/// An app's tools did their work: the table and the map against `/items` and the shared
/// link ([`assert_filter_and_share`]), the export has every filtered row, a row click zooms
/// to it; the measured length is the geodesic one; the PDF carries the title and the
/// legend; axe-core finds nothing serious or critical.
fn assert_tools(v: &serde_json::Value, line1: &[(u64, [f64; 2])]) {
    use geo::Distance;
    assert_filter_and_share(v, line1);
    assert_eq!(
        v["csvLines"].as_u64().unwrap() as usize,
        line1.len() + 1,
        "{v}"
    );
    assert!(v["afterRowClick"]["zoom"].as_f64().unwrap() >= 16.0, "{v}");
    // Measure: the clicked points are the intended ones, and the length is the geodesic
    // one (Karney's, from the geo crate) within 0.5 %.
    let pts = v["measured"]["points"].as_array().unwrap();
    assert_eq!(pts.len(), 2, "{v}");
    let p = |i: usize| geo::Point::new(pts[i][0].as_f64().unwrap(), pts[i][1].as_f64().unwrap());
    for (i, want) in [[9.19187, 45.46416], [9.17905, 45.47046]]
        .iter()
        .enumerate()
    {
        assert!(
            (p(i).x() - want[0]).abs() < 1e-4 && (p(i).y() - want[1]).abs() < 1e-4,
            "{v}"
        );
    }
    let truth = geo::Geodesic.distance(p(0), p(1));
    let shown = v["measured"]["length"].as_f64().unwrap();
    assert!(
        (shown - truth).abs() / truth < 0.005,
        "measured {shown} m, geodesic {truth} m"
    );
    // Print.
    let pdf = v["pdf"].as_str().unwrap();
    let text = std::process::Command::new("pdftotext")
        .args([pdf, "-"])
        .output()
        .expect("pdftotext (poppler-utils: scripts/setup.sh)");
    let text = String::from_utf8_lossy(&text.stdout);
    for want in [
        "Mobilità e scuole",
        "Legenda",
        "Metropolitana: fermate",
        "Scuole",
        "Statale",
        "N",
    ] {
        assert!(text.contains(want), "{want} in the PDF: {text}");
    }
    assert_eq!(v["axe"]["app"], serde_json::json!([]), "{v}");
    assert_eq!(v["axe"]["app-tools"], serde_json::json!([]), "{v}");
    // A phone's screen: the map as wide as the screen, the panel under it.
    let phone = &v["phone"];
    let f = |k: &str| phone[k].as_f64().unwrap();
    assert!(f("mapWidth") >= 389.0 && f("canvasWidth") >= 389.0, "{v}");
    assert!(
        f("sideTop") >= f("mapBottom") - 1.0 && f("sideWidth") >= 389.0,
        "{v}"
    );
}

/// The table's filter (built as `linee = '1'`) gives the rows `/items` gives for it
/// (`line1`: fid and position of the stops of line 1), the map draws exactly those in its
/// view, and the shared link brings view and filter back, drawn.
fn assert_filter_and_share(v: &serde_json::Value, line1: &[(u64, [f64; 2])]) {
    assert_eq!(v["cql"], "linee = '1'", "{v}");
    let ids = |key: &str| -> Vec<u64> {
        let mut out: Vec<u64> = v[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key}: {v}"))
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        out.sort();
        out
    };
    let mut expected: Vec<u64> = line1.iter().map(|(fid, _)| *fid).collect();
    expected.sort();
    assert_eq!(ids("tableFids"), expected, "table rows = /items rows: {v}");
    let b: Vec<f64> = v["viewBounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let mut in_view: Vec<u64> = line1
        .iter()
        .filter(|(_, p)| p[0] > b[0] && p[0] < b[2] && p[1] > b[1] && p[1] < b[3])
        .map(|(fid, _)| *fid)
        .collect();
    in_view.sort();
    assert!(in_view.len() >= 5, "{v}");
    assert_eq!(
        ids("renderedFids"),
        in_view,
        "the map draws the filtered stops in view: {v}"
    );
    assert_eq!(
        v["shared"]["filters"],
        serde_json::json!([["015146_metro_fermate", "linee = '1'"]]),
        "{v}"
    );
    assert!(
        (v["shared"]["zoom"].as_f64().unwrap() - 14.0).abs() < 0.01,
        "{v}"
    );
    let c = &v["shared"]["center"];
    assert!((c[0].as_f64().unwrap() - 9.18).abs() < 1e-4, "{v}");
    assert!((c[1].as_f64().unwrap() - 45.47).abs() < 1e-4, "{v}");
    assert!(
        v["shareEmbed"]
            .as_str()
            .unwrap()
            .starts_with("<iframe src=\""),
        "{v}"
    );
    let drawn = v["shared"]["drawnFilter"].as_array().unwrap();
    assert!(
        !drawn.is_empty() && drawn.iter().all(|f| f == true),
        "the filter drawn on the shared map: {v}"
    );
}

/// The stops of line 1 (fid, position) as `/items` gives them for `linee = '1'`.
async fn line1_stops(port: u16) -> Vec<(u64, [f64; 2])> {
    let (status, items) = common::http_get(
        port,
        "/collections/015146_metro_fermate/items?limit=1000&filter=linee%20%3D%20%271%27",
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let items: serde_json::Value = serde_json::from_slice(&items).unwrap();
    let line1: Vec<(u64, [f64; 2])> = items["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            (
                f["id"].as_u64().unwrap(),
                [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()],
            )
        })
        .collect();
    assert!(line1.len() > 10, "{items}");
    line1
}

/// The texts of the labels a symbol layer placed (each feature's values, joined).
fn labels<'a>(v: &'a serde_json::Value, at: &str, layer: &str) -> Vec<&'a str> {
    v[at][layer]
        .as_array()
        .unwrap_or_else(|| panic!("no {layer} in {at}: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// An app's labels are on screen: the base map's comuni at the start, the stops' names at
/// z15 by the Duomo.
fn assert_labels(v: &serde_json::Value) {
    assert!(
        labels(v, "labelsAtStart", "basemap:comuni").len() >= 5,
        "{v}"
    );
    let stops = labels(v, "labelsZ15", "015146_metro_fermate:1");
    assert!(stops.iter().any(|n| n.contains("DUOMO M1")), "{v}");
}

/// A store with one uploaded layer and nothing else: the viewer opens on the base map (the
/// comuni tinted by zona, the zone's names), Milan at z11 shows the comuni's names, and the
/// layer's labels once its style names a field.
#[test]
fn viewer_opens_on_the_base_map_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("atlante.gpkg").display().to_string();
    let fixture = repo().join("tests/fixtures/scuole_mi.geojson");
    common::cli_ok(
        &store,
        &[
            "ingest",
            "--org",
            "015146",
            "--layer",
            "scuole",
            "--visibility",
            "public",
            fixture.to_str().unwrap(),
        ],
    );
    let tok = token(&store, "015146");
    let server = serve(&store);
    let v = run_with(
        "fresh",
        &server.url(),
        dir.path(),
        &[("ATLANTE_TOKEN", tok)],
    );
    // Not a blank canvas: the comuni are drawn (tinted, outlined) over most of the map.
    assert!(v["paintedAtStart"].as_u64().unwrap() > 100_000, "{v}");
    let zone = labels(&v, "labelsAtStart", "basemap:zone");
    assert!(zone.len() >= 5, "the zone omogenee named: {v}");
    let comuni = labels(&v, "labelsZ11", "basemap:comuni");
    assert!(
        comuni.iter().any(|n| n.starts_with("Milano |")) && comuni.len() >= 5,
        "the comuni named at z11: {v}"
    );
    assert!(
        !labels(&v, "labelsZ15", "015146_scuole:1").is_empty(),
        "the schools' names: {v}"
    );
    assert!(
        v["glyphRequests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "/fonts/Open Sans Bold/0-255.pbf"),
        "{v}"
    );
    assert_eq!(v["elsewhere"], serde_json::json!([]), "{v}");
    // English, and the keyboard.
    assert_eq!(v["english"]["lang"], "en", "{v}");
    assert_eq!(
        v["english"]["headings"],
        serde_json::json!(["Layers on the map", "Tools", "Catalogue"]),
        "{v}"
    );
    assert_eq!(
        v["english"]["tabs"],
        serde_json::json!(["Table", "Measure", "Print", "Share"]),
        "{v}"
    );
    assert_eq!(
        v["english"]["active"],
        serde_json::json!(["Schools of Milan"]),
        "the layer's English title: {v}"
    );
    assert_eq!(v["keyboard"]["tableOpen"], true, "{v}");
    assert_eq!(v["keyboard"]["focused"], "atl-table-layer", "{v}");
    assert_eq!(v["keyboard"]["rowMoved"], true, "{v}");
    assert_eq!(v["axe"]["viewer-en"], serde_json::json!([]), "{v}");
    if let Ok(to) = std::env::var("ATLANTE_SCREENSHOTS") {
        for (f, name) in [
            ("viewer-fresh.png", "viewer-basemap.png"),
            ("viewer-labels.png", "viewer-labels.png"),
        ] {
            let _ = std::fs::copy(dir.path().join(f), std::path::Path::new(&to).join(name));
        }
    }
}

/// An operator's vector background (`[[backgrounds]]` in the configuration file: an archive
/// made by `atlante tiles export` from OpenStreetMap layers) drawn in the viewer under the
/// comuni when the link names it, read by range from this server and nothing else.
#[test]
fn the_viewer_draws_an_operator_background() {
    let dir = tempfile::tempdir().unwrap();
    let archive = common::osm_archive(dir.path());
    let config = dir.path().join("atlante.toml");
    std::fs::write(
        &config,
        format!(
            "[[backgrounds]]\nid = \"osm\"\ntitle = \"OpenStreetMap\"\nkind = \"pmtiles\"\npath = {:?}\nattribution = \"© OpenStreetMap contributors\"\n",
            archive.display().to_string()
        ),
    )
    .unwrap();
    let store = dir.path().join("atlante.gpkg").display().to_string();
    let server = common::serve_with(&store, &["--config", config.to_str().unwrap()]);
    let v = run("background", &server.url(), dir.path());
    assert!(v["backgroundFeatures"].as_u64().unwrap() > 50, "{v}");
    assert_eq!(v["picked"], "osm", "{v}");
    assert_eq!(v["comuniFill"], "none", "the comuni step aside: {v}");
    assert!(v["archiveRequests"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["elsewhere"], serde_json::json!([]), "{v}");
    assert_eq!(v["axe"]["viewer-background"], serde_json::json!([]), "{v}");
    if let Ok(to) = std::env::var("ATLANTE_SCREENSHOTS") {
        let _ = std::fs::copy(
            dir.path().join("viewer-background.png"),
            std::path::Path::new(&to).join("viewer-background.png"),
        );
    }
}

fn walk_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk_size(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn xss_payloads_run_no_script() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let tok = token(&store, "015146");
    let server = serve(&store);
    let v = run_with(
        "xss",
        &server.url(),
        dir.path(),
        &[
            ("ATLANTE_TOKEN", tok),
            (
                "PAYLOADS",
                repo()
                    .join("tests/fixtures/xss_payloads.json")
                    .display()
                    .to_string(),
            ),
        ],
    );
    assert!(v["payloads"].as_u64().unwrap() >= 20, "{v}");
    // `run` already checked: no dialog, no page error.
    for k in ["viewerXss", "consoleXss", "appXss"] {
        assert_eq!(v[k], 0, "{k}: {v}");
    }
    // The payloads are there, as text.
    assert!(v["appPopup"].as_str().unwrap().contains("<"), "{v}");
    // A comune's attribution with a link in it is shown as text, in the viewer and in apps:
    // no link to the phishing host anywhere in either page.
    assert_eq!(v["viewerPhishingLinks"], 0, "{v}");
    assert_eq!(v["appPhishingLinks"], 0, "{v}");
    for k in ["viewerAttribution", "appAttribution"] {
        assert!(
            v[k].as_str()
                .unwrap()
                .contains("<a href=\"http://example.invalid/login\">"),
            "{k}: the markup is visible as text: {v}"
        );
    }
}
