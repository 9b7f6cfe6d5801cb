//! Styles and app configurations through the real router, on both stores: saved styles are
//! validated and drive `/styles/{layer}.json`; app configs are validated, owned by their
//! organisation, published and unpublished; bundles are built in both modes; bad input and
//! other organisations' tokens get clear errors and change nothing.

mod common;

use axum::http::StatusCode;
use common::{demo, ingest_file, send, TestStore};
use serde_json::{json, Value};

async fn setup(t: &TestStore) -> (axum::Router, String, String) {
    for (file, org, slug) in [
        ("cmm/comuni_cmm_openpolis.geojson", "cmm", "comuni"),
        (
            "milano/atm_fermate_metro.geojson",
            "015146",
            "metro_fermate",
        ),
        (
            "milano/aree_pedonali_ztl.geojson",
            "015146",
            "aree_pedonali_ztl",
        ),
    ] {
        common::add_layer(&t.store, org, slug, &demo(file)).await;
    }
    let milano = common::token(t.store.as_ref(), "015146", "editor").await;
    let rho = common::token(t.store.as_ref(), "015182", "editor").await;
    let app = common::app(&t.store).await;
    (app, milano, rho)
}

async fn styles(t: TestStore) {
    let (app, milano, rho) = setup(&t).await;
    let ztl = "/api/layers/015146_aree_pedonali_ztl/style";
    // The default: a fill and an outline in the layer's palette colour.
    let (s, doc) = send(
        &app,
        "GET",
        "/styles/015146_aree_pedonali_ztl.json",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["version"], 8);
    assert_eq!(doc["layers"][1]["type"], "fill");
    assert_eq!(doc["layers"][1]["source-layer"], "aree_pedonali_ztl");
    assert!(doc["sources"]["015146_aree_pedonali_ztl"]["tiles"][0]
        .as_str()
        .unwrap()
        .ends_with("/tiles/015146_aree_pedonali_ztl/{z}/{x}/{y}.mvt"));

    let categorized = json!({"symbology": {"kind": "categorized", "field": "tipo", "categories": [
        {"value": "AP", "color": "#2ca02c", "label": "Area pedonale"}, {"value": "ZTL", "color": "#d62728"}]}});
    assert_eq!(
        send(&app, "PUT", ztl, None, Some(categorized.clone()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "PUT", ztl, Some(&rho), Some(categorized.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, saved) = send(&app, "PUT", ztl, Some(&milano), Some(categorized)).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    let (_, doc) = send(
        &app,
        "GET",
        "/styles/015146_aree_pedonali_ztl.json",
        None,
        None,
    )
    .await;
    assert_eq!(
        doc["layers"][1]["paint"]["fill-color"],
        json!([
            "match",
            ["get", "tipo"],
            "AP",
            "#2ca02c",
            "ZTL",
            "#d62728",
            "#9e9e9e"
        ])
    );
    assert_eq!(
        doc["metadata"]["atlante:legend"][0],
        json!(["Area pedonale", "#2ca02c"])
    );

    // Graduated on a number: a step expression.
    let graduated = json!({"symbology": {"kind": "graduated", "field": "id_amat", "breaks": [50, 100],
        "colors": ["#ffffcc", "#41b6c4", "#253494"], "opacity": 0.6}});
    assert_eq!(
        send(&app, "PUT", ztl, Some(&milano), Some(graduated))
            .await
            .0,
        StatusCode::OK
    );
    let (_, doc) = send(
        &app,
        "GET",
        "/styles/015146_aree_pedonali_ztl.json",
        None,
        None,
    )
    .await;
    assert_eq!(doc["layers"][1]["paint"]["fill-color"][0], "step");
    assert_eq!(doc["layers"][1]["paint"]["fill-opacity"], 0.6);

    // Raw MapLibre layers, checked against the spec.
    let raw = json!({"layers": [{"type": "line", "paint": {"line-color": "#333", "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1, 16, 4]}}]});
    assert_eq!(
        send(&app, "PUT", ztl, Some(&milano), Some(raw)).await.0,
        StatusCode::OK
    );

    // Bad styles: each a 400 with a clear message; the saved one is unchanged.
    let before = send(&app, "GET", ztl, None, None).await.1;
    for (body, msg) in [
        (json!({}), "either 'symbology' or 'layers'"),
        (
            json!({"symbology": {"kind": "single", "color": "red;background:url(x)"}}),
            "not a colour",
        ),
        (
            json!({"symbology": {"kind": "categorized", "field": "nope", "categories": [{"value": 1, "color": "#fff"}]}}),
            "unknown field 'nope'",
        ),
        (
            json!({"symbology": {"kind": "graduated", "field": "tipo", "breaks": [1], "colors": ["#fff", "#000"]}}),
            "numeric field",
        ),
        (
            json!({"symbology": {"kind": "graduated", "field": "id_amat", "breaks": [5, 1], "colors": ["#fff", "#000", "#111"]}}),
            "increasing",
        ),
        (
            json!({"symbology": {"kind": "graduated", "field": "id_amat", "breaks": [1], "colors": ["#fff"]}}),
            "give 2 colors",
        ),
        (
            json!({"symbology": {"kind": "single", "color": "#fff", "opacity": 3}}),
            "opacity",
        ),
        (json!({"symbology": {"kind": "sparkly"}}), "bad style"),
        (
            json!({"layers": [{"type": "symbol", "layout": {"text-field": "x"}}]}),
            "layer type",
        ),
        (
            json!({"layers": [{"type": "fill", "paint": {"circle-radius": 3}}]}),
            "not a paint property",
        ),
        (
            json!({"layers": [{"type": "fill", "paint": {"fill-color": ["eval", "alert(1)"]}}]}),
            "not a MapLibre expression operator",
        ),
        (
            json!({"layers": [{"type": "fill", "source": "elsewhere"}]}),
            "not allowed",
        ),
    ] {
        let (s, body) = send(&app, "PUT", ztl, Some(&milano), Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{msg}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(msg),
            "{msg}: {body}"
        );
    }
    assert_eq!(send(&app, "GET", ztl, None, None).await.1, before);
    assert_eq!(
        send(&app, "GET", "/styles/nope.json", None, None).await.0,
        StatusCode::NOT_FOUND
    );
    // Reset to the default.
    assert_eq!(
        send(&app, "DELETE", ztl, Some(&milano), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(send(&app, "GET", ztl, None, None).await.1, json!({}));
    // A deleted layer keeps its saved style in the trash; purged, the style goes with it.
    let single = json!({"symbology": {"kind": "single", "color": "#123456"}});
    assert_eq!(
        send(&app, "PUT", ztl, Some(&milano), Some(single)).await.0,
        StatusCode::OK
    );
    t.store
        .delete_layer("015146_aree_pedonali_ztl")
        .await
        .unwrap();
    assert!(t
        .store
        .document("style", "015146_aree_pedonali_ztl")
        .await
        .unwrap()
        .is_some());
    t.store
        .purge_layer("015146_aree_pedonali_ztl")
        .await
        .unwrap();
    let left = t
        .store
        .document("style", "015146_aree_pedonali_ztl")
        .await
        .unwrap();
    assert!(left.is_none());
}

fn config(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Metro e ZTL",
        "layers": [
            {"id": "015146_metro_fermate", "popup_fields": ["nome", "linee"], "label_field": "nome", "min_zoom": 10},
            {"id": "015146_aree_pedonali_ztl", "style": {"symbology": {"kind": "single", "color": "#ff7f0e"}}, "popup_template": "{nome}: {tipo}"}
        ],
        "view": {"center": [9.19, 45.46], "zoom": 12},
        "search_fields": [{"layer": "015146_metro_fermate", "field": "nome"}],
        "language": "en",
        "theme_color": "#0b5394"
    })
}

async fn apps(t: TestStore) {
    let (app, milano, rho) = setup(&t).await;
    let path = "/api/orgs/015146/apps/mobilita";
    assert_eq!(
        send(&app, "PUT", path, None, Some(config("Mobilità")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "PUT", path, Some(&rho), Some(config("Mobilità")))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, saved) = send(&app, "PUT", path, Some(&milano), Some(config("Mobilità"))).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    assert_eq!(saved["published"], false);
    // Unpublished: invisible to others, 404 at /apps.
    assert_eq!(
        send(&app, "GET", path, None, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "GET", "/apps/015146/mobilita/", None, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "GET", "/api/orgs/015146/apps", None, None)
            .await
            .1["apps"],
        json!([])
    );
    assert_eq!(
        send(&app, "POST", &format!("{path}/publish"), Some(&rho), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, p) = send(
        &app,
        "POST",
        &format!("{path}/publish"),
        Some(&milano),
        None,
    )
    .await;
    assert_eq!((s, &p["published"]), (StatusCode::OK, &json!(true)));
    assert_eq!(
        send(&app, "GET", "/api/orgs/015146/apps", None, None)
            .await
            .1["apps"][0]["slug"],
        "mobilita"
    );

    // The generated files.
    let (s, cfg) = send(&app, "GET", "/apps/015146/mobilita/config.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cfg["mode"], "online");
    assert_eq!(
        cfg["layers"][0]["fields"],
        json!([{"name": "nome", "label": "nome", "type": "text"}, {"name": "linee", "label": "linee", "type": "text"}])
    );
    // An English app shows a layer's English title where its owner gave one.
    t.store
        .update_layer_meta(
            "015146_metro_fermate",
            &atlante::store::LayerMetaUpdate {
                title_en: Some("Underground stops".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (_, english) = send(&app, "GET", "/apps/015146/mobilita/config.json", None, None).await;
    assert_eq!(english["layers"][0]["title"], "Underground stops");
    // Every tool is on unless the config says otherwise; the comuni for the search box.
    assert_eq!(
        cfg["tools"],
        json!({"layers": true, "table": true, "measure": true, "print": true, "share": true, "locate": true})
    );
    assert_eq!(cfg["comuni"].as_array().unwrap().len(), 133);
    let (_, style) = send(&app, "GET", "/apps/015146/mobilita/style.json", None, None).await;
    let ids: Vec<&str> = style["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    // Bottom to top: background, the base map (comuni, outlines, names of the zone and of
    // the comuni), the ZTL, the stops (first in the config) and their labels.
    assert_eq!(
        ids,
        [
            "background",
            "basemap:fill",
            "basemap:line",
            "basemap:zone",
            "basemap:comuni",
            "015146_aree_pedonali_ztl:0",
            "015146_aree_pedonali_ztl:1",
            "015146_metro_fermate:0",
            "015146_metro_fermate:1"
        ]
    );
    assert_eq!(style["layers"][7]["minzoom"], 10.0);
    assert_eq!(style["layers"][5]["paint"]["fill-color"], "#ff7f0e");
    // The stops have no style: the palette's first colour (first in the config).
    assert_eq!(style["layers"][7]["paint"]["circle-color"], "#0072B2");
    assert_eq!(cfg["layers"][0]["legend"][0][1], "#0072B2");
    // `label_field` draws labels: a symbol layer beside the points, with its glyphs served
    // by this server; the base map reads /basemap.
    let label = &style["layers"][8];
    assert_eq!(label["type"], "symbol");
    assert_eq!(label["minzoom"], 10.0);
    assert_eq!(
        label["layout"]["text-field"],
        json!(["to-string", ["get", "nome"]])
    );
    assert_eq!(
        label["layout"]["text-font"],
        json!([atlante::fonts::LABEL_FONT])
    );
    assert!(style["glyphs"]
        .as_str()
        .unwrap()
        .ends_with("/fonts/{fontstack}/{range}.pbf"));
    assert!(style["sources"]["basemap"]["tiles"][0]
        .as_str()
        .unwrap()
        .ends_with("/basemap/{z}/{x}/{y}.mvt"));
    for bad in [
        "/apps/015146/mobilita/../../etc/passwd",
        "/apps/015146/mobilita/Cargo.toml",
        "/apps/015146/nope/",
        "/apps/015146/..%2F/",
    ] {
        assert_eq!(
            send(&app, "GET", bad, None, None).await.0,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }

    // Bad configs: 400 with a clear message; the saved one is unchanged.
    let private = atlante::store::LayerMetaUpdate {
        visibility: Some("private".into()),
        ..Default::default()
    };
    t.store
        .update_layer_meta("cmm_comuni", &private)
        .await
        .unwrap();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut c = config("");
    cases.push((c.clone(), "title"));
    c = config("x");
    c["layers"] = json!([]);
    cases.push((c, "layers: 1 to 20"));
    c = config("x");
    c["layers"][0]["id"] = json!("nope");
    cases.push((c, "unknown layer 'nope'"));
    c = config("x");
    c["layers"][0]["id"] = json!("cmm_comuni");
    cases.push((c, "unknown layer 'cmm_comuni'"));
    c = config("x");
    c["layers"][0]["popup_fields"] = json!(["<script>"]);
    cases.push((c, "unknown field"));
    c = config("x");
    c["layers"][1]["style"] =
        json!({"symbology": {"kind": "single", "color": "javascript:alert(1)"}});
    cases.push((c, "not a colour"));
    c = config("x");
    c["theme_color"] = json!("url(x)");
    cases.push((c, "theme_color"));
    c = config("x");
    c["language"] = json!("fr");
    cases.push((c, "language"));
    c = config("x");
    c["logo"] = json!("https://evil.example/x.png");
    cases.push((c, "logo"));
    c = config("x");
    c["view"] = json!({"center": [9.19, 145.0], "zoom": 3});
    cases.push((c, "view"));
    c = config("x");
    c["layers"][0]["min_zoom"] = json!(30);
    cases.push((c, "zooms"));
    c = config("x");
    c["search_fields"] = json!([{"layer": "015146_metro_fermate", "field": "nope"}]);
    cases.push((c, "unknown field"));
    c = config("x");
    c["script"] = json!("x");
    cases.push((c, "unknown field `script`"));
    c = config("x");
    c["tools"] = json!({"macro": true});
    cases.push((c, "unknown field `macro`"));
    c = config("x");
    c["tools"] = json!({"table": "yes"});
    cases.push((c, "invalid type"));
    for (body, msg) in cases {
        let (s, b) = send(&app, "PUT", path, Some(&milano), Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{msg}: {b}");
        assert!(b["detail"].as_str().unwrap().contains(msg), "{msg}: {b}");
    }
    for slug in ["..", "A", "a%2Fb", "-x", "x%00"] {
        let (s, _) = send(
            &app,
            "PUT",
            &format!("/api/orgs/015146/apps/{slug}"),
            Some(&milano),
            Some(config("x")),
        )
        .await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{slug}: {s}"
        );
    }
    assert_eq!(
        send(&app, "GET", path, None, None).await.1["config"]["title"],
        "Mobilità"
    );

    // Unpublish, delete.
    send(
        &app,
        "POST",
        &format!("{path}/unpublish"),
        Some(&milano),
        None,
    )
    .await;
    assert_eq!(
        send(&app, "GET", "/apps/015146/mobilita/", None, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "DELETE", path, Some(&rho), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, "DELETE", path, Some(&milano), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "GET", path, Some(&milano), None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// GET raw bytes through the router.
async fn bytes(app: &axum::Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let r = common::get(app, uri).await;
    (r.status, r.body)
}

/// A private layer never leaves through an app: it may sit in a draft app of its own
/// comune, a published app refuses it, and a layer made private after publishing is
/// withheld from the app's files and bundles (and the owner is told).
async fn private_layers_never_leave_through_apps(t: TestStore) {
    let (app, milano, _) = setup(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary.geojson");
    std::fs::write(
        &canary,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"canary_field_q7":"CANARY-VALUE-Q7"},"geometry":{"type":"Point","coordinates":[9.19,45.465]}}]}"#,
    )
    .unwrap();
    ingest_file(&t.store, &canary, "015146", "canary", |o| {
        o.visibility = None;
        o.title = Some("CANARY-TITLE-Q7".into());
    })
    .await
    .unwrap();
    let path = "/api/orgs/015146/apps/leak";
    let cfg = json!({"title": "Mappa", "layers": [{"id": "015146_metro_fermate"}, {"id": "015146_canary"}]});
    let (s, a) = send(&app, "PUT", path, Some(&milano), Some(cfg)).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a draft app may hold its comune's draft: {a}"
    );
    assert_eq!(a["withheld"], json!(["015146_canary"]));
    let (s, p) = send(
        &app,
        "POST",
        &format!("{path}/publish"),
        Some(&milano),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("015146_canary"),
        "{p}"
    );
    let publish = |vis: &'static str| {
        let app = app.clone();
        let milano = milano.clone();
        async move {
            let (s, _) = send(
                &app,
                "PATCH",
                "/api/layers/015146_canary",
                Some(&milano),
                Some(json!({ "visibility": vis })),
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
    };
    publish("public").await;
    let (s, _) = send(
        &app,
        "POST",
        &format!("{path}/publish"),
        Some(&milano),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, public) = bytes(&app, "/apps/015146/leak/bundle.zip?mode=static&maxzoom=12").await;
    assert!(
        common::zip_text(&public).contains("CANARY-VALUE-Q7"),
        "public: in the bundle"
    );
    // Now the comune makes it private again: every anonymous surface of the app drops it.
    publish("private").await;
    for file in [
        "config.json",
        "style.json",
        "index.html",
        "bundle.zip?mode=online",
    ] {
        let (s, b) = bytes(&app, &format!("/apps/015146/leak/{file}")).await;
        assert_eq!(s, StatusCode::OK, "{file}");
        let text = if file.starts_with("bundle") {
            common::zip_text(&b)
        } else {
            String::from_utf8_lossy(&b).into_owned()
        };
        for c in ["CANARY", "canary_field_q7", "015146_canary"] {
            assert!(!text.contains(c), "{file} leaks {c}");
        }
    }
    let (s, b) = bytes(&app, "/apps/015146/leak/bundle.zip?mode=static&maxzoom=12").await;
    assert_eq!(s, StatusCode::OK);
    let text = common::zip_text(&b);
    for c in ["CANARY", "canary_field_q7"] {
        assert!(!text.contains(c), "the static bundle leaks {c}");
    }
    assert!(text.contains("DUOMO"), "the public layer is still there");
    assert_eq!(
        bytes(&app, "/tiles/015146_canary/14/8719/5843.mvt").await.0,
        StatusCode::NOT_FOUND
    );
    // The owner sees what the app leaves out.
    let (_, a) = send(&app, "GET", path, Some(&milano), None).await;
    assert_eq!(a["withheld"], json!(["015146_canary"]));
    let (_, a) = send(&app, "GET", path, None, None).await;
    assert_eq!(a["withheld"], json!([]), "and nobody else learns its name");
    assert!(!a.to_string().contains("CANARY-TITLE"));
}

/// Every text a comune sets reaches maps as text: an attribution with a link in it is
/// escaped everywhere a map client renders HTML; a link is Atlante's own, from a checked
/// `attribution_url`.
async fn attributions_are_text(t: TestStore) {
    let (app, milano, _) = setup(&t).await;
    let phishing = r#"ISTAT <a href="http://example.invalid/login">Accedi con SPID</a>"#;
    let id = "015146_metro_fermate";
    let patch = |body: serde_json::Value| {
        let (app, milano) = (app.clone(), milano.clone());
        async move {
            send(
                &app,
                "PATCH",
                "/api/layers/015146_metro_fermate",
                Some(&milano),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(
        patch(json!({ "attribution": phishing })).await.0,
        StatusCode::OK
    );
    let path = "/api/orgs/015146/apps/attr";
    send(
        &app,
        "PUT",
        path,
        Some(&milano),
        Some(json!({"title": "A", "layers": [{"id": id}]})),
    )
    .await;
    assert_eq!(
        send(
            &app,
            "POST",
            &format!("{path}/publish"),
            Some(&milano),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let surfaces = [
        format!("/tiles/{id}.json"),
        format!("/styles/{id}.json"),
        "/apps/015146/attr/style.json".to_string(),
    ];
    for uri in &surfaces {
        let (s, b) = bytes(&app, uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        let text = String::from_utf8_lossy(&b);
        assert!(
            !text.contains("<a href=\\\"http://example.invalid"),
            "{uri}: {text}"
        );
        // Only Atlante's own link, to the licence's page.
        assert_eq!(
            text.matches("<a href").count(),
            text.matches("<a href=\\\"https://creativecommons.org/")
                .count(),
            "{uri} carries markup: {text}"
        );
        assert!(text.contains("&lt;a href="), "{uri} escapes it");
        // The licence flows to every map: TileJSON, the layer's style, the app.
        assert!(
            text.contains("rel=\\\"license noopener noreferrer\\\">CC BY 4.0</a>"),
            "{uri} names the licence: {text}"
        );
    }
    for bad in [
        "javascript:alert(1)",
        "http://",
        "https://x.org/\"onmouseover=\"x",
        "ftp://x.org",
    ] {
        let (s, j) = patch(json!({ "attribution_url": bad })).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {j}");
    }
    let (s, _) = patch(json!({"attribution": "CC BY 4.0 — Comune di Milano",
        "attribution_url": "https://creativecommons.org/licenses/by/4.0/"}))
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, tj) = send(&app, "GET", &format!("/tiles/{id}.json"), None, None).await;
    assert_eq!(
        tj["attribution"],
        "<a href=\"https://creativecommons.org/licenses/by/4.0/\" target=\"_blank\" rel=\"noopener noreferrer\">CC BY 4.0 — Comune di Milano</a>"
    );
}

/// The server proposes categorized and graduated styles from the data (the console only
/// sends what the owner chose); the proposal validates, and bad drafts are 400s.
async fn style_proposals(t: TestStore) {
    let (app, milano, rho) = setup(&t).await;
    let base = "/api/layers/015146_aree_pedonali_ztl/style/proposal";
    let ztl: Value =
        serde_json::from_slice(&std::fs::read(demo("milano/aree_pedonali_ztl.geojson")).unwrap())
            .unwrap();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for f in ztl["features"].as_array().unwrap() {
        let v = f["properties"]["tipo"].as_str().unwrap().to_string();
        match counts.iter_mut().find(|(k, _)| *k == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    // A proposal asked with the owner's token.
    let propose = |query: &str| {
        let (app, uri, token) = (app.clone(), format!("{base}?{query}"), milano.clone());
        async move { send(&app, "GET", &uri, Some(&token), None).await }
    };
    let (s, doc) = propose("kind=categorized&field=tipo").await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let got: Vec<&str> = doc["symbology"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = counts.iter().take(12).map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, want, "most frequent first");
    let (s, doc) = propose("kind=graduated&field=id_amat&classes=4").await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let breaks = doc["symbology"]["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 3, "{doc}");
    assert_eq!(doc["symbology"]["colors"].as_array().unwrap().len(), 4);
    let (s, doc) = propose("kind=graduated&field=id_amat&breaks=10,%2020").await;
    assert_eq!(
        (s, doc["symbology"]["breaks"].clone()),
        (StatusCode::OK, json!([10.0, 20.0]))
    );
    let (s, doc) = propose("kind=single").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        doc["symbology"]["color"],
        json!(atlante::styles::default_color("015146_aree_pedonali_ztl"))
    );
    // The proposal is accepted as it is.
    let (_, cat) = propose("kind=categorized&field=tipo").await;
    let ztl_style = "/api/layers/015146_aree_pedonali_ztl/style";
    assert_eq!(
        send(&app, "PUT", ztl_style, Some(&milano), Some(cat))
            .await
            .0,
        StatusCode::OK
    );
    for bad in [
        "kind=graduated&field=tipo",
        "kind=categorized&field=nope",
        "kind=categorized",
        "kind=pie&field=tipo",
        "kind=graduated&field=id_amat&breaks=1,x",
        "kind=graduated&field=id_amat&breaks=5,1",
        "kind=single&color=url(x)",
    ] {
        let (s, doc) = propose("{bad}").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {doc}");
    }
    // Owners only: others are refused, and an unknown layer is not there.
    let (s, _) = send(&app, "GET", &format!("{base}?kind=single"), None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = send(
        &app,
        "GET",
        &format!("{base}?kind=single"),
        Some(&rho),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &app,
        "GET",
        "/api/layers/015146_nope/style/proposal?kind=single",
        Some(&milano),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

both_stores!(
    style_proposals,
    styles,
    apps,
    private_layers_never_leave_through_apps,
    attributions_are_text
);
