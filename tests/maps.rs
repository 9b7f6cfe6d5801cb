//! Maps people can read, the server's side: glyph ranges for labels cut from the installed
//! fonts, and the base map of the comuni and zone omogenee that a fresh store already has.
//! (The browser's side — labels drawn, the viewer on a fresh store — is in tests/browser.rs.)

mod common;

use std::collections::BTreeMap;

use common::TestStore;
use gdal::vector::LayerAccess;
use pbf_font_tools::prost::Message;
use serde_json::json;

/// The features of each layer of an MVT tile as GDAL reads them: layer → list of
/// (field → value as text).
fn read_tile(bytes: &[u8]) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tile.mvt");
    std::fs::write(&path, bytes).unwrap();
    let ds = gdal::Dataset::open(&path).unwrap();
    let mut out = BTreeMap::new();
    for mut layer in ds.layers() {
        let name = layer.name();
        let rows = layer
            .features()
            .map(|f| {
                f.fields()
                    .filter_map(|(k, v)| Some((k, v?.into_string()?)))
                    .collect()
            })
            .collect();
        out.insert(name, rows);
    }
    out
}

fn names(rows: &[BTreeMap<String, String>]) -> Vec<&str> {
    rows.iter()
        .filter_map(|r| r.get("nome").map(String::as_str))
        .collect()
}

/// A store with no layer at all has the base map: the comuni, tinted by zona, with names.
async fn base_map_on_a_fresh_store(t: TestStore) {
    let app = common::app(&t.store).await;
    // Milan and the comuni around it at z11: the tile holding the city centre.
    let (x, y) = tile_of(9.19, 45.464, 11);
    let r = common::get(&app, &format!("/basemap/11/{x}/{y}.mvt")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type(), "application/vnd.mapbox-vector-tile");
    assert!(!r.header("etag").is_empty());
    let tile = read_tile(&r.body);
    let comuni = &tile["comuni"];
    let milano = comuni
        .iter()
        .find(|c| c["nome"] == "Milano")
        .expect("Milano in its tile");
    assert_eq!(milano["istat"], "015146");
    assert!(
        comuni.iter().any(|c| c.contains_key("zona")),
        "comuni carry their zona omogenea: {comuni:?}"
    );
    let labels = names(&tile["nomi_comuni"]);
    assert!(labels.contains(&"Milano"), "{labels:?}");
    assert!(
        labels.len() >= 5,
        "the comuni around Milan are named: {labels:?}"
    );
    // The zone omogenee are named at low zoom: all seven in the metropolitan tile.
    let (x, y) = tile_of(9.19, 45.464, 8);
    let r = common::get(&app, &format!("/basemap/8/{x}/{y}.mvt")).await;
    let tile = read_tile(&r.body);
    let mut zone = names(&tile["nomi_zone"]);
    zone.sort();
    assert_eq!(zone.len(), 7, "{zone:?}");
    assert!(
        zone.contains(&"Alto Milanese") && zone.contains(&"Adda Martesana"),
        "{zone:?}"
    );
    // Same bytes, same tag; a conditional request gets a 304.
    let again = common::get(&app, &format!("/basemap/8/{x}/{y}.mvt")).await;
    assert_eq!(again.header("etag"), r.header("etag"));
    let etag = r.header("etag");
    let not_modified = common::get_with(
        &app,
        &format!("/basemap/8/{x}/{y}.mvt"),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(not_modified.status, 304);
    // Its TileJSON points at it and names its three layers.
    let doc = common::get(&app, "/basemap.json").await.json();
    assert!(
        doc["tiles"][0]
            .as_str()
            .unwrap()
            .ends_with("/basemap/{z}/{x}/{y}.mvt"),
        "{doc}"
    );
    let ids: Vec<&str> = doc["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["comuni", "nomi_comuni", "nomi_zone"]);
    // Bad coordinates are refused as for any tile.
    for bad in [
        "/basemap/31/0/0.mvt",
        "/basemap/3/8/0.mvt",
        "/basemap/a/0/0.mvt",
    ] {
        assert_eq!(common::get(&app, bad).await.status, 400, "{bad}");
    }
    // The viewer is told to draw it (with names) even with no layer in the store.
    let cfg = common::get(&app, "/api/viewer-config").await.json();
    let layers = cfg["basemap"]["layers"].as_array().expect("base layers");
    assert!(
        layers.iter().any(|l| l["type"] == "symbol"
            && l["source-layer"] == "nomi_comuni"
            && l["layout"]["text-field"].to_string().contains("nome")),
        "{cfg}"
    );
}

fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let t = atlante::tiles::math::tile_for_lonlat(lon, lat, z);
    (t.x, t.y)
}

both_stores!(base_map_on_a_fresh_store);

/// Glyph ranges: the font list, a range decoded, fallback stacks, and bad requests.
#[tokio::test]
async fn glyph_ranges() {
    let t = common::gpkg().await;
    let app = common::app(&t.store).await;
    let fonts = common::get(&app, "/fonts").await.json();
    let list: Vec<&str> = fonts["fonts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(list.contains(&atlante::fonts::LABEL_FONT), "{list:?}");
    assert!(list.contains(&atlante::fonts::LABEL_FONT_BOLD), "{list:?}");

    let r = common::get(&app, "/fonts/Open%20Sans%20Regular/0-255.pbf").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type(), "application/x-protobuf");
    let glyphs = pbf_font_tools::Glyphs::decode(&r.body[..]).unwrap();
    let stack = &glyphs.stacks[0];
    assert_eq!(stack.name, "Open Sans Regular");
    let ids: Vec<u32> = stack.glyphs.iter().map(|g| g.id).collect();
    for c in "Milano Città 0123".chars() {
        assert!(ids.contains(&(c as u32)), "glyph {c:?} in 0-255");
    }
    let a = stack.glyphs.iter().find(|g| g.id == 'a' as u32).unwrap();
    assert!(a.width > 0 && a.height > 0 && a.advance > 0);
    assert_eq!(
        a.bitmap.as_ref().unwrap().len() as u32,
        (a.width + 6) * (a.height + 6),
        "an SDF bitmap with a 3-pixel border"
    );

    // A stack: unknown fonts are skipped, the first font having a glyph gives it.
    let r = common::get(
        &app,
        "/fonts/Nessuno%20Regular,Open%20Sans%20Bold/0-255.pbf",
    )
    .await;
    assert_eq!(r.status, 200);
    let glyphs = pbf_font_tools::Glyphs::decode(&r.body[..]).unwrap();
    assert_eq!(glyphs.stacks[0].name, "Open Sans Bold");
    // A range the font has nothing in is an empty answer, not an error.
    let r = common::get(&app, "/fonts/Open%20Sans%20Regular/59904-60159.pbf").await;
    assert_eq!(r.status, 200);
    let glyphs = pbf_font_tools::Glyphs::decode(&r.body[..]).unwrap();
    assert!(glyphs.stacks[0].glyphs.is_empty());

    for (uri, status) in [
        ("/fonts/Nessuno%20Regular/0-255.pbf", 404),
        ("/fonts/Open%20Sans%20Regular/0-256.pbf", 400),
        ("/fonts/Open%20Sans%20Regular/1-256.pbf", 400),
        ("/fonts/Open%20Sans%20Regular/65536-65791.pbf", 400),
        ("/fonts/Open%20Sans%20Regular/0-255", 404),
        (
            "/fonts/Open%20Sans%20Regular/..%2F..%2Fetc%2Fpasswd.pbf",
            400,
        ),
        ("/fonts/%2E%2E%2Fpasswd/0-255.pbf", 404),
        ("/fonts/a,b,c,d,e/0-255.pbf", 400),
    ] {
        let r = common::get(&app, uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.text());
    }
}

/// The CQL2 subset static apps evaluate in the browser (web/common/cql2.js, run by Node)
/// keeps exactly the rows `/items?filter=` returns for the same text, on both stores —
/// including SQL's three-valued logic on missing values — and refuses what it does not
/// evaluate instead of guessing.
async fn browser_cql2_matches_items(t: TestStore) {
    // The metro stops, and a small layer with missing values and mixed text.
    let (_, stops) = common::nil_and_stops(&t.store).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("punti.geojson");
    let mut features = Vec::new();
    for i in 0..40 {
        let mut p = serde_json::Map::new();
        p.insert("n".into(), json!(i));
        p.insert(
            "x".into(),
            if i % 3 == 0 {
                json!(null)
            } else {
                json!(i % 7)
            },
        );
        p.insert(
            "nome".into(),
            match i % 5 {
                0 => json!(null),
                1 => json!(format!("Sant'Ambrogio {i}")),
                2 => json!(format!("città_{i}%")),
                3 => json!(format!("Via Dante {i}")),
                _ => json!(format!("via dante {i}")),
            },
        );
        p.insert("ok".into(), json!(i % 2 == 0));
        features.push(json!({"type": "Feature", "properties": p,
            "geometry": {"type": "Point", "coordinates": [9.1 + i as f64 * 0.001, 45.46]}}));
    }
    std::fs::write(
        &file,
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    let (punti, _) = common::add_layer(&t.store, "015146", "punti", &file).await;
    let app = common::app(&t.store).await;

    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            &stops.id,
            vec![
                "linee = '1'",
                "linee <> '1'",
                "id_amat > 950",
                "id_amat BETWEEN 900 AND 920",
                "id_amat NOT BETWEEN 900 AND 920",
                "nome LIKE 'S%'",
                "nome LIKE '%ANO%'",
                "nome LIKE 'S_N%'",
                "nome NOT LIKE '%A%'",
                "linee IN ('1', '2')",
                "linee NOT IN ('1', '2')",
                "NOT (linee = '1' OR id_amat < 930)",
                "\"nome\" >= 'M' AND nome < 'P'",
                "nome = 'DUOMO M1' OR (linee = '3' AND NOT id_amat = 959)",
            ],
        ),
        (
            &punti.id,
            vec![
                "x = 3",
                "x <> 3",
                "NOT x = 3",
                "NOT (x = 3 AND n > 10)",
                "x = 3 OR n < 5",
                "NOT (x = 3 OR n < 5)",
                "x IS NULL",
                "x IS NOT NULL AND NOT x IN (1, 2)",
                "nome LIKE 'Sant''Ambrogio%'",
                "nome LIKE 'città\\_%'",
                "nome LIKE '%\\%'",
                "nome > 'Via'",
                "nome LIKE 'via%'",
                "ok = 1 AND n >= 20",
                "ok = 0 OR nome IS NULL",
                "x >= 2 AND x < 5",
            ],
        ),
    ];
    for (layer, filters) in cases {
        let all = common::get(&app, &format!("/collections/{layer}/items?limit=10000"))
            .await
            .json();
        let input = json!({"features": all["features"], "filters": filters});
        let mut node = std::process::Command::new("node")
            .arg(common::repo().join("web/tests/cql2_rows.mjs"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node");
        use std::io::Write;
        node.stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = node.wait_with_output().unwrap();
        let browser: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        for (text, got) in filters.iter().zip(&browser) {
            let q = common::url_encode(text);
            let items = common::get(
                &app,
                &format!("/collections/{layer}/items?limit=10000&filter={q}"),
            )
            .await;
            assert_eq!(items.status, 200, "{text}: {}", items.text());
            let mut want: Vec<i64> = items.json()["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_i64().unwrap())
                .collect();
            want.sort();
            let mut ids: Vec<i64> = got["ids"]
                .as_array()
                .unwrap_or_else(|| panic!("{text}: {got}"))
                .iter()
                .map(|i| i.as_i64().unwrap())
                .collect();
            ids.sort();
            assert_eq!(ids, want, "{layer}: {text}");
        }
    }
    // Beyond the subset: refused with a message, never evaluated differently.
    let refused = [
        "S_INTERSECTS(geom, POINT(9 45))",
        "CASEI(nome) = 'x'",
        "n + 1 > 2",
        "T_AFTER(d, DATE('2020-01-01'))",
    ];
    let input = json!({"features": [], "filters": refused});
    let mut node = std::process::Command::new("node")
        .arg(common::repo().join("web/tests/cql2_rows.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    node.stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out: Vec<serde_json::Value> =
        serde_json::from_slice(&node.wait_with_output().unwrap().stdout).unwrap();
    for (text, r) in refused.iter().zip(out) {
        assert!(r["error"].is_string(), "{text}: {r}");
    }
}

both_stores!(browser_cql2_matches_items);

/// The operator's backgrounds: a PMTiles archive made by `atlante tiles export` from the
/// OpenStreetMap layers and a raster source, listed for the viewer with their styles; the
/// archive served by range; the pages' CSP opened for the raster host only; apps offering
/// them, online (both need the network) and static (the archive carried, the raster not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backgrounds_an_operator_adds() {
    let t = common::gpkg().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = common::osm_archive(dir.path());
    let cache = tempfile::tempdir().unwrap();
    let backgrounds: Vec<atlante::backgrounds::Background> = serde_json::from_value(json!([
        {"id": "osm", "title": "OpenStreetMap", "kind": "pmtiles", "path": archive,
         "attribution": "© OpenStreetMap contributors"},
        {"id": "orto", "title": "Ortofoto", "kind": "raster",
         "url": "https://tiles.example.it/orto/{z}/{x}/{y}.jpg", "attribution": "Regione Lombardia"}
    ]))
    .unwrap();
    atlante::backgrounds::check(&backgrounds).unwrap();
    let config = atlante::config::Config {
        backgrounds,
        cache_dir: cache.path().to_path_buf(),
        ..Default::default()
    };
    common::nil_and_stops(&t.store).await;
    let app = common::app_with(&t.store, config).await;

    let cfg = common::get(&app, "/api/viewer-config").await.json();
    let bgs = cfg["backgrounds"].as_array().unwrap();
    assert_eq!(bgs.len(), 2);
    let osm = &bgs[0];
    assert_eq!(osm["network"], false);
    assert!(osm["source"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/backgrounds/osm.pmtiles"));
    let source_layers: std::collections::BTreeSet<&str> = osm["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["source-layer"].as_str().unwrap())
        .collect();
    assert_eq!(
        source_layers,
        ["servizi", "strade"].into_iter().collect(),
        "Atlante's own style over the archive's layers: {osm}"
    );
    assert_eq!(bgs[1]["network"], true);
    assert_eq!(bgs[1]["source"]["type"], "raster");

    // The archive, by range.
    let r = common::get_with(
        &app,
        "/backgrounds/osm.pmtiles",
        &[("range", "bytes=0-126")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 127);
    assert_eq!(&r.body[..7], b"PMTiles");
    for bad in [
        "/backgrounds/orto.pmtiles",
        "/backgrounds/nope.pmtiles",
        "/backgrounds/osm",
        "/backgrounds/..%2F..%2Fetc%2Fpasswd.pmtiles",
    ] {
        assert_eq!(common::get(&app, bad).await.status, 404, "{bad}");
    }
    // The viewer's CSP names the raster host, and no other.
    let page = common::get_with(&app, "/", &[("accept", "text/html")]).await;
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("img-src 'self' data: blob: https://tiles.example.it;"),
        "{csp}"
    );
    assert!(!csp.contains("*"), "{csp}");

    // An app offering both.
    let tok = common::token(t.store.as_ref(), "015146", "editor").await;
    let body = json!({"title": "Sfondi", "layers": [{"id": "015146_fermate"}], "backgrounds": ["osm", "orto"]});
    let path = "/api/orgs/015146/apps/sfondi";
    let put = |b: serde_json::Value| {
        common::request(
            &app,
            "PUT",
            path,
            Some(&tok),
            axum::body::Body::from(b.to_string()),
            &[("content-type", "application/json")],
        )
    };
    assert_eq!(put(body.clone()).await.status, 200);
    let mut unknown = body.clone();
    unknown["backgrounds"] = json!(["nope"]);
    let r = put(unknown).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no background 'nope'"), "{}", r.text());
    let publish = common::request(
        &app,
        "POST",
        &format!("{path}/publish"),
        Some(&tok),
        axum::body::Body::empty(),
        &[],
    )
    .await;
    assert_eq!(publish.status, 200, "{}", publish.text());
    let online = common::get(&app, "/apps/015146/sfondi/config.json")
        .await
        .json();
    // (id, needs the network) of each background an app's config.json lists.
    let network = |cfg: &serde_json::Value| -> Vec<(String, bool)> {
        cfg["backgrounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["id"].as_str().unwrap().into(),
                    b["network"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        network(&online),
        [("osm".into(), true), ("orto".into(), true)]
    );
    let page = common::get(&app, "/apps/015146/sfondi/").await;
    assert!(page
        .header("content-security-policy")
        .contains("https://tiles.example.it"));
    let zip = common::get(&app, "/apps/015146/sfondi/bundle.zip?mode=static").await;
    assert_eq!(zip.status, 200, "{}", zip.text());
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip.body.to_vec())).unwrap();
    let names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().to_string())
        .collect();
    assert!(
        names.contains(&"015146-sfondi/backgrounds/osm.pmtiles".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"015146-sfondi/data/0.geojson".to_string()),
        "{names:?}"
    );
    let cfg: serde_json::Value = {
        use std::io::Read;
        let mut s = String::new();
        z.by_name("015146-sfondi/config.json")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        serde_json::from_str(&s).unwrap()
    };
    assert_eq!(
        network(&cfg),
        [("osm".into(), false), ("orto".into(), true)],
        "the static bundle says which need the network"
    );
    assert_eq!(
        cfg["backgrounds"][0]["source"]["url"],
        "pmtiles://backgrounds/osm.pmtiles"
    );
}
