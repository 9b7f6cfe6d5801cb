//! The HTTP API in-process (the shared harness's client on the real router) against both
//! stores: catalog JSON, negotiation, uploads with tokens, and every refusal as problem+json.

mod common;

use atlante::config::Config;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{demo, fixture, TestStore};
use serde_json::Value;

struct Api {
    app: axum::Router,
}

impl Api {
    async fn new(t: &TestStore, max_upload: u64) -> Api {
        let config = Config {
            max_upload_bytes: max_upload,
            ..Config::default()
        };
        Api {
            app: common::app_with(&t.store, config).await,
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, String, Value) {
        let (parts, body) = req.into_parts();
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let uri = parts.uri.to_string();
        let r = common::request(&self.app, parts.method.as_str(), &uri, None, body, &headers).await;
        let json = serde_json::from_slice(&r.body).unwrap_or(Value::String(r.text()));
        (r.status, r.content_type(), json)
    }

    async fn get(&self, uri: &str, token: Option<&str>) -> (StatusCode, String, Value) {
        let mut b = Request::get(uri);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn upload(
        &self,
        org: &str,
        slug: &str,
        token: Option<&str>,
        name: &str,
        bytes: &[u8],
        fields: &[(&str, &str)],
    ) -> (StatusCode, String, Value) {
        let (ctype, body) = common::multipart(name, bytes, fields);
        let mut b = Request::post(format!("/api/orgs/{org}/layers/{slug}"))
            .header(header::CONTENT_TYPE, ctype);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }
}

async fn catalog_and_negotiation(t: TestStore) {
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let api = Api::new(&t, 10 << 20).await;
    let (s, _, j) = api.get("/health", None).await;
    assert_eq!((s, j["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, _, j) = api.get("/ready", None).await;
    assert_eq!(s, StatusCode::OK, "{j}");
    let (s, ctype, j) = api.get("/", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        ctype.starts_with("application/json"),
        "no Accept means JSON: {ctype}"
    );
    assert!(j["links"].as_array().unwrap().len() >= 3);
    let html = api
        .send(
            Request::get("/")
                .header(header::ACCEPT, "text/html,*/*")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(html.1.starts_with("text/html"));
    let (_, ctype, _) = api.get("/?f=json", None).await;
    assert!(ctype.starts_with("application/json"));
    let (s, ctype, j) = api.get("/?f=xml", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(j["status"], 400);
    let (_, _, j) = api.get("/api/orgs", None).await;
    assert_eq!(j["orgs"].as_array().unwrap().len(), 134);
    let (_, _, j) = api.get("/api/layers", None).await;
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let l = &layers[0];
    assert_eq!(l["id"], "015146_nil");
    assert_eq!(l["org"], "015146");
    assert_eq!(l["feature_count"], 88);
    assert_eq!(l["geom_type"], "MultiPolygon");
    assert_eq!(l["version"], 1);
    assert_eq!(l["extent"].as_array().unwrap().len(), 4);
    assert!(l["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["label"] == "NIL"));
    let (s, _, _) = api.get("/api/layers/015146_nil", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, ctype, _) = api.get("/api/layers/nope", None).await;
    assert_eq!(
        (s, ctype.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    let (s, _, _) = api.get("/no/such/route", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn uploads_need_the_owners_token(t: TestStore) {
    let milano = common::token(t.store.as_ref(), "015146", "editor").await;
    let rho = common::token(t.store.as_ref(), "015182", "editor").await;
    let metro = common::token(t.store.as_ref(), "cmm", "admin").await;
    let api = Api::new(&t, 2 << 20).await;
    let zip = std::fs::read(fixture("aree_pedonali_ztl_epsg6707_cp1252.zip")).unwrap();

    let (s, _, j) = api
        .upload(
            "015146",
            "ztl",
            Some(&milano),
            "ztl.zip",
            &zip,
            &[("title", "ZTL <script>")],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    assert_eq!(j["layer"]["version"], 1);
    assert_eq!(j["layer"]["title"], "ZTL <script>");
    assert_eq!(j["summary"]["read"], 180);
    let before = atlante::store::checksum(t.store.as_ref(), "015146_ztl")
        .await
        .unwrap();

    // Another comune's token, no token, a made-up token: refused, nothing changes.
    let (s, ctype, j) = api
        .upload("015146", "ztl", Some(&rho), "ztl.zip", &zip, &[])
        .await;
    assert_eq!(
        (s, ctype.as_str()),
        (StatusCode::FORBIDDEN, "application/problem+json"),
        "{j}"
    );
    let (s, _, _) = api
        .upload("015146", "ztl", None, "ztl.zip", &zip, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = api
        .upload("015146", "ztl", Some("atl_0000"), "ztl.zip", &zip, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Bad inputs: each status, each problem+json, nothing changes.
    let (s, ctype, j) = api
        .upload("015146", "ztl", Some(&milano), "virus.exe", b"MZ", &[])
        .await;
    assert_eq!(
        (s, ctype.as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/problem+json"
        ),
        "{j}"
    );
    let (s, _, j) = api
        .upload(
            "015146",
            "ztl",
            Some(&milano),
            "broken.geojson",
            b"{\"type\":",
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
    assert!(j["detail"].as_str().unwrap().contains("broken.geojson"));
    let big = vec![b' '; 3 << 20];
    let (s, _, j) = api
        .upload("015146", "ztl", Some(&milano), "big.geojson", &big, &[])
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{j}");
    let (s, _, j) = api
        .upload("015146", "Bad%20Slug", Some(&milano), "ztl.zip", &zip, &[])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{j}");
    let (s, _, _) = api
        .upload(
            "015146",
            "ztl",
            Some(&milano),
            "ztl.zip",
            &zip,
            &[("crs", "EPSG:0")],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = api
        .upload(
            "015146",
            "ztl",
            Some(&milano),
            "ztl.zip",
            &zip,
            &[("sneaky", "x")],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = api
        .upload("999999", "ztl", Some(&metro), "ztl.zip", &zip, &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        atlante::store::checksum(t.store.as_ref(), "015146_ztl")
            .await
            .unwrap(),
        before
    );
    assert_eq!(t.store.versions("015146_ztl").await.unwrap(), vec![1]);

    // A metropolitan admin may publish for any comune.
    let (s, _, j) = api
        .upload("015146", "ztl", Some(&metro), "ztl.zip", &zip, &[])
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    assert_eq!(j["layer"]["version"], 2);
}

async fn private_layers_are_invisible_to_others(t: TestStore) {
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let milano = common::token(t.store.as_ref(), "015146", "editor").await;
    let rho = common::token(t.store.as_ref(), "015182", "editor").await;
    let api = Api::new(&t, 1 << 20).await;
    let patch = |token: &str, body: &str| {
        Request::patch("/api/layers/015146_nil")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (s, _, _) = api.send(patch(&rho, r#"{"visibility":"private"}"#)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, j) = api
        .send(patch(&milano, r#"{"visibility":"private"}"#))
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    let (s, _, _) = api.send(patch(&milano, r#"{"owner":"x"}"#)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, _, j) = api.get("/api/layers", None).await;
    assert_eq!(j["layers"].as_array().unwrap().len(), 0);
    let (_, _, j) = api.get("/api/layers", Some(&rho)).await;
    assert_eq!(j["layers"].as_array().unwrap().len(), 0);
    let (_, _, j) = api.get("/api/layers", Some(&milano)).await;
    assert_eq!(j["layers"].as_array().unwrap().len(), 1);
    let (s1, _, j1) = api.get("/api/layers/015146_nil", Some(&rho)).await;
    let (s2, _, j2) = api.get("/api/layers/015146_xyz", Some(&rho)).await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(j1, j2, "private and unknown answer the same");
    let rollback = Request::post("/api/layers/015146_nil/rollback")
        .header(header::AUTHORIZATION, format!("Bearer {milano}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, _) = api.send(rollback).await;
    assert_eq!(s, StatusCode::CONFLICT, "no older version to roll back to");
}

/// Every `href` in a JSON document, recursively.
fn hrefs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("href", Value::String(h)) => out.push(h.clone()),
                    _ => hrefs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| hrefs(x, out)),
        _ => {}
    }
}

/// QGIS resolves no relative link: every link of every JSON document is absolute, built
/// from `public_url`, else from the proxy's `Forwarded` headers when trusted, else `Host`.
async fn every_link_is_absolute(t: TestStore) {
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let docs = [
        "/",
        "/collections",
        "/collections/015146_nil",
        "/collections/015146_nil/items?limit=2",
        "/collections/015146_nil/items/1",
        "/collections/015146_nil/queryables",
        "/collections/015146_nil/tiles",
        "/collections/015146_nil/tiles/WebMercatorQuad",
        "/tileMatrixSets",
        "/api/layers",
        "/api/layers/015146_nil",
    ];
    let crawl = |app: axum::Router,
                 headers: Vec<(&'static str, &'static str)>,
                 base: &'static str| async move {
        let mut n = 0;
        for uri in docs {
            let r = common::get_with(&app, uri, &headers).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}");
            let doc = r.json();
            let mut found = Vec::new();
            hrefs(&doc, &mut found);
            for h in &found {
                // Licence links name the national vocabulary's terms, elsewhere by design.
                let licence = h.starts_with(atlante::opendata::vocab::LICENCE_SCHEME);
                assert!(
                    h.starts_with(base) || licence,
                    "{uri}: {h} is not under {base}"
                );
            }
            n += found.len();
        }
        n
    };
    // From Host.
    let plain = common::app(&t.store).await;
    let n = crawl(
        plain.clone(),
        vec![("host", "gis.example.org:8080")],
        "http://gis.example.org:8080/",
    )
    .await;
    assert!(n > 40, "{n} links");
    // Forwarded headers are ignored unless trusted…
    crawl(
        plain,
        vec![
            ("host", "10.0.0.5"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ],
        "http://10.0.0.5/",
    )
    .await;
    // …and followed behind a trusted proxy.
    let proxied = Config {
        trust_proxy_headers: true,
        ..Config::default()
    };
    let app = common::app_with(&t.store, proxied).await;
    crawl(
        app.clone(),
        vec![
            ("host", "10.0.0.5"),
            ("forwarded", "for=1.2.3.4;proto=https;host=sit.example.it"),
        ],
        "https://sit.example.it/",
    )
    .await;
    crawl(
        app,
        vec![
            ("host", "10.0.0.5"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "sit.example.it"),
        ],
        "https://sit.example.it/",
    )
    .await;
    // public_url wins.
    let fixed = Config {
        public_url: Some("https://sit.cittametropolitana.mi.it/".into()),
        ..Config::default()
    };
    let app = common::app_with(&t.store, fixed).await;
    crawl(
        app,
        vec![("host", "other")],
        "https://sit.cittametropolitana.mi.it/",
    )
    .await;
}

both_stores!(
    every_link_is_absolute,
    catalog_and_negotiation,
    uploads_need_the_owners_token,
    private_layers_are_invisible_to_others
);
