//! The tenancy matrix, on both stores: every route of the route table (`atlante::http::
//! routes::ROUTES`, the table the router is built from) × six callers × its targets (a
//! public layer, a private layer, a missing one; a published app, a published app whose
//! layer turned private, a draft app…), each request with its expected status written
//! down. A route without rows fails the test.
//!
//! The private layer carries canaries — a unique title, field name, attribute value and
//! extent — and every body and header answered to a caller who may not see it
//! (anonymous, another comune, a revoked or an expired token) is searched for them. For
//! those callers a private layer and a missing one answer the same 404.

mod common;

use std::collections::BTreeSet;

use atlante::http::routes::ROUTES;
use axum::body::Body;
use common::{ingest_file, request, Reply, TestStore};
use serde_json::{json, Value};

/// The callers, in the order of every expectation.
const CALLERS: [&str; 6] = [
    "anonymous",
    "other comune",
    "owner",
    "metro admin",
    "revoked",
    "expired",
];
/// Callers who may not see the private layer: their answers are searched for canaries.
const OUTSIDERS: [usize; 4] = [0, 1, 4, 5];

const CANARIES: [&str; 4] = [
    "CANARY-TITLE-7Q",
    "canary_field_7q",
    "CANARY-VALUE-7Q",
    "9.0123456",
];

fn canary_geojson() -> String {
    json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"canary_field_7q": "CANARY-VALUE-7Q", "n": 1},
         "geometry": {"type": "Point", "coordinates": [9.012345678, 45.712345678]}},
        {"type": "Feature", "properties": {"canary_field_7q": "CANARY-VALUE-7Q", "n": 2},
         "geometry": {"type": "Point", "coordinates": [9.013, 45.713]}}
    ]})
    .to_string()
}

fn public_geojson() -> String {
    json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nome": "Duomo", "n": 1},
         "geometry": {"type": "Point", "coordinates": [9.1919, 45.4641]}},
        {"type": "Feature", "properties": {"nome": "Castello", "n": 2},
         "geometry": {"type": "Point", "coordinates": [9.1796, 45.4705]}}
    ]})
    .to_string()
}

/// What a row sends.
#[derive(Clone)]
enum Send {
    None,
    Json(Value),
    Upload(&'static str),
    Xml(&'static str),
}

/// Work done before each request of a row, so destructive writes meet their target every
/// time: it returns the value of `{X}` in the row's URI.
#[derive(Clone, Copy)]
enum Prepare {
    None,
    /// (Re)create the layer `doomed_{pub|priv}` of 015146.
    DoomedLayer(bool),
    /// A new feature in the layer; its id.
    Feature(&'static str),
    /// A new token of 015146; its id.
    Token,
    /// A saved app `doomed` of 015146.
    DoomedApp,
    /// The app `toggle` of 015146, published.
    PublishedApp,
}

struct Row {
    method: &'static str,
    /// The route's path in the table.
    route: &'static str,
    uri: String,
    send: Send,
    prepare: Prepare,
    /// Expected statuses, one per caller of [`CALLERS`].
    expect: [u16; 6],
    /// For private targets: the URI of the same request on a missing layer, whose answer
    /// outsiders must get identically.
    missing_twin: Option<String>,
}

fn e(s: &str) -> [u16; 6] {
    let v: Vec<u16> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    v.try_into().unwrap()
}

const PUB: &str = "015146_pub";
const PRIV: &str = "015146_canary";
/// A CSW GetRecords of every record in ISO 19139, text-searched for the canary too.
const CSW_GET_RECORDS: &str = r#"<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc" service="CSW" version="2.0.2" resultType="results" maxRecords="100" outputSchema="http://www.isotc211.org/2005/gmd"><csw:Query typeNames="gmd:MD_Metadata"><csw:ElementSetName>full</csw:ElementSetName><csw:Constraint version="1.1.0"><ogc:Filter><ogc:Or><ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\"><ogc:PropertyName>AnyText</ogc:PropertyName><ogc:Literal>%canary%</ogc:Literal></ogc:PropertyIsLike><ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\"><ogc:PropertyName>AnyText</ogc:PropertyName><ogc:Literal>%</ogc:Literal></ogc:PropertyIsLike></ogc:Or></ogc:Filter></csw:Constraint></csw:Query></csw:GetRecords>"#;
const MISSING: &str = "015146_nope";

/// The matrix. `{L}` is the target layer, `{X}` the prepared value.
fn add(
    rows: &mut Vec<Row>,
    method: &'static str,
    route: &'static str,
    uri: &str,
    send: Send,
    prepare: Prepare,
    expect: &str,
) {
    rows.push(Row {
        method,
        route,
        uri: uri.to_string(),
        send,
        prepare,
        expect: e(expect),
        missing_twin: None,
    })
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    // Readable by everyone (a bad token is refused on every route).
    let all = "200 200 200 200 401 401";
    for (route, uri) in [
        ("/", "/"),
        ("/health", "/health"),
        ("/ready", "/ready"),
        ("/conformance", "/conformance"),
        ("/api", "/api"),
        ("/api/orgs", "/api/orgs"),
        ("/api/orgs/{org}", "/api/orgs/015146"),
        ("/api/layers", "/api/layers"),
        ("/api/viewer-config", "/api/viewer-config"),
        ("/collections", "/collections"),
        ("/tileMatrixSets", "/tileMatrixSets"),
        ("/tileMatrixSets/{id}", "/tileMatrixSets/WebMercatorQuad"),
        ("/api/orgs/{org}/apps", "/api/orgs/015146/apps"),
        ("/console", "/console"),
        ("/catalog", "/catalog"),
        ("/api/vocabularies", "/api/vocabularies"),
        ("/catalog/{file}", "/catalog/dcat.ttl"),
        ("/stats", "/stats"),
        ("/stats", "/stats?f=json"),
        (
            "/csw",
            "/csw?service=CSW&version=2.0.2&request=GetRecords&elementSetName=full&maxRecords=100",
        ),
        (
            "/csw",
            "/csw?service=CSW&version=2.0.2&request=GetRecords&maxRecords=100&outputSchema=http://www.isotc211.org/2005/gmd",
        ),
        (
            "/csw",
            "/csw?service=CSW&version=2.0.2&request=GetRecordById&id=015146_canary,015146_pub&outputSchema=http://www.isotc211.org/2005/gmd",
        ),
        ("/collections/catalog", "/collections/catalog"),
        (
            "/collections/catalog/items",
            "/collections/catalog/items?limit=100&q=canary,pub",
        ),
        ("/collections", "/collections?q=canary,pub&sortby=-updated"),
        ("/static/{*file}", "/static/viewer/viewer.js"),
        ("/basemap/{z}/{x}/{y}", "/basemap/11/1100/745.mvt"),
        ("/basemap.json", "/basemap.json"),
        ("/fonts", "/fonts"),
        (
            "/fonts/{fontstack}/{range}",
            "/fonts/Open%20Sans%20Regular/0-255.pbf",
        ),
    ] {
        add(&mut rows, "GET", route, uri, Send::None, Prepare::None, all);
    }
    // No background is configured here: the same 404 for everyone.
    add(
        &mut rows,
        "GET",
        "/backgrounds/{file}",
        "/backgrounds/osm.pmtiles",
        Send::None,
        Prepare::None,
        "404 404 404 404 401 401",
    );
    add(
        &mut rows,
        "GET",
        "/favicon.ico",
        "/favicon.ico",
        Send::None,
        Prepare::None,
        "204 204 204 204 401 401",
    );
    add(
        &mut rows,
        "GET",
        "/api/me",
        "/api/me",
        Send::None,
        Prepare::None,
        "401 200 200 200 401 401",
    );
    // Administration: the organisation's admins and the metropolitan admin only.
    add(
        &mut rows,
        "GET",
        "/api/orgs/{org}/tokens",
        "/api/orgs/015146/tokens",
        Send::None,
        Prepare::None,
        "401 403 403 200 401 401",
    );
    add(
        &mut rows,
        "PATCH",
        "/api/orgs/{org}",
        "/api/orgs/015146",
        Send::Json(json!({"email": "sit@comune.milano.it"})),
        Prepare::None,
        "401 403 403 200 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/tokens",
        "/api/orgs/015146/tokens",
        Send::Json(json!({"label": "matrix"})),
        Prepare::None,
        "401 403 403 201 401 401",
    );
    add(
        &mut rows,
        "DELETE",
        "/api/orgs/{org}/tokens/{token}",
        "/api/orgs/015146/tokens/{X}",
        Send::None,
        Prepare::Token,
        "401 403 403 204 401 401",
    );
    add(
        &mut rows,
        "GET",
        "/metrics",
        "/metrics",
        Send::None,
        Prepare::None,
        "401 403 403 200 401 401",
    );
    add(
        &mut rows,
        "GET",
        "/api/audit",
        "/api/audit",
        Send::None,
        Prepare::None,
        "401 403 403 200 401 401",
    );
    // Uploads: the owner's and the metropolitan admin's, whatever the layer's visibility.
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/layers/{slug}",
        "/api/orgs/015146/layers/pub",
        Send::Upload("pub"),
        Prepare::None,
        "401 403 201 201 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/layers/{slug}",
        "/api/orgs/015146/layers/canary",
        Send::Upload("canary"),
        Prepare::None,
        "401 403 201 201 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/layers/{slug}",
        "/api/orgs/015182/layers/intruder",
        Send::Upload("pub"),
        Prepare::None,
        "401 201 403 201 401 401",
    );

    // Per layer: public, private (with its missing twin), missing.
    let reads: &[(&str, &str)] = &[
        ("/api/layers/{id}", "/api/layers/{L}"),
        ("/collections/{id}", "/collections/{L}"),
        ("/collections/{id}/items", "/collections/{L}/items?limit=5"),
        ("/collections/{id}/items", "/collections/{L}/items?f=csv"),
        ("/collections/{id}/items", "/collections/{L}/items?f=gpkg"),
        ("/collections/{id}/items/{fid}", "/collections/{L}/items/1"),
        (
            "/collections/{id}/queryables",
            "/collections/{L}/queryables",
        ),
        ("/collections/{id}/tiles", "/collections/{L}/tiles"),
        (
            "/collections/{id}/tiles/{tms}",
            "/collections/{L}/tiles/WebMercatorQuad",
        ),
        (
            "/collections/{id}/tiles/{tms}/{z}/{row}/{col}",
            "/collections/{L}/tiles/WebMercatorQuad/10/364/545",
        ),
        ("/tiles/{spec}", "/tiles/{L}.json"),
        ("/tiles/{layers}/{z}/{x}/{y}", "/tiles/{L}/10/545/364.mvt"),
        ("/styles/{spec}", "/styles/{L}.json"),
        ("/api/layers/{id}/style", "/api/layers/{L}/style"),
        ("/api/layers/{id}/history", "/api/layers/{L}/history"),
    ];
    for (route, uri) in reads {
        add(
            &mut rows,
            "GET",
            route,
            &uri.replace("{L}", PUB),
            Send::None,
            Prepare::None,
            all,
        );
        add(
            &mut rows,
            "GET",
            route,
            &uri.replace("{L}", PRIV),
            Send::None,
            Prepare::None,
            "404 404 200 200 401 401",
        );
        rows.last_mut().unwrap().missing_twin = Some(uri.replace("{L}", MISSING));
        add(
            &mut rows,
            "GET",
            route,
            &uri.replace("{L}", MISSING),
            Send::None,
            Prepare::None,
            "404 404 404 404 401 401",
        );
    }
    add(
        &mut rows,
        "POST",
        "/csw",
        "/csw",
        Send::Xml(CSW_GET_RECORDS),
        Prepare::None,
        all,
    );
    // Records and dataset pages: public layers only, whoever asks.
    add(
        &mut rows,
        "GET",
        "/collections/catalog/items/{rid}",
        &format!("/collections/catalog/items/{PUB}"),
        Send::None,
        Prepare::None,
        all,
    );
    add(
        &mut rows,
        "GET",
        "/collections/catalog/items/{rid}",
        &format!("/collections/catalog/items/{PRIV}"),
        Send::None,
        Prepare::None,
        "404 404 404 404 401 401",
    );
    rows.last_mut().unwrap().missing_twin = Some(format!("/collections/catalog/items/{MISSING}"));
    add(
        &mut rows,
        "GET",
        "/datasets/{id}",
        &format!("/datasets/{PUB}"),
        Send::None,
        Prepare::None,
        all,
    );
    add(
        &mut rows,
        "GET",
        "/datasets/{id}",
        &format!("/datasets/{PRIV}"),
        Send::None,
        Prepare::None,
        "404 404 404 404 401 401",
    );
    rows.last_mut().unwrap().missing_twin = Some(format!("/datasets/{MISSING}"));
    add(
        &mut rows,
        "GET",
        "/sitemap.xml",
        "/sitemap.xml",
        Send::None,
        Prepare::None,
        all,
    );
    let feature = json!({"type": "Feature", "properties": {"n": 7}, "geometry": {"type": "Point", "coordinates": [9.19, 45.46]}});
    let style = json!({"symbology": {"kind": "single", "color": "#3366cc"}});
    let writes: Vec<(&str, &str, &str, Send, Prepare, &str)> = vec![
        (
            "PATCH",
            "/api/layers/{id}",
            "/api/layers/{L}",
            Send::Json(json!({"description": "matrice"})),
            Prepare::None,
            "200",
        ),
        (
            "POST",
            "/api/layers/{id}/rollback",
            "/api/layers/{L}/rollback",
            Send::None,
            Prepare::None,
            "200",
        ),
        (
            "POST",
            "/collections/{id}/items",
            "/collections/{L}/items",
            Send::Json(feature.clone()),
            Prepare::None,
            "201",
        ),
        (
            "PUT",
            "/collections/{id}/items/{fid}",
            "/collections/{L}/items/2",
            Send::Json(feature.clone()),
            Prepare::None,
            "200",
        ),
        (
            "PATCH",
            "/collections/{id}/items/{fid}",
            "/collections/{L}/items/2",
            Send::Json(json!({"properties": {"n": 8}})),
            Prepare::None,
            "200",
        ),
        (
            "DELETE",
            "/collections/{id}/items/{fid}",
            "/collections/{L}/items/{X}",
            Send::None,
            Prepare::Feature("L"),
            "204",
        ),
        (
            "PUT",
            "/api/layers/{id}/style",
            "/api/layers/{L}/style",
            Send::Json(style),
            Prepare::None,
            "200",
        ),
        (
            "DELETE",
            "/api/layers/{id}/style",
            "/api/layers/{L}/style",
            Send::None,
            Prepare::None,
            "204",
        ),
        (
            "GET",
            "/api/layers/{id}/style/proposal",
            "/api/layers/{L}/style/proposal?kind=single",
            Send::None,
            Prepare::None,
            "200",
        ),
    ];
    for (method, route, uri, send, prepare, ok) in writes {
        let prep = |l: &'static str| match prepare {
            Prepare::Feature(_) => Prepare::Feature(l),
            p => p,
        };
        add(
            &mut rows,
            method,
            route,
            &uri.replace("{L}", PUB),
            send.clone(),
            prep(PUB),
            &format!("401 403 {ok} {ok} 401 401"),
        );
        add(
            &mut rows,
            method,
            route,
            &uri.replace("{L}", PRIV),
            send.clone(),
            prep(PRIV),
            &format!("404 404 {ok} {ok} 401 401"),
        );
        add(
            &mut rows,
            method,
            route,
            &uri.replace("{L}", MISSING),
            send.clone(),
            Prepare::None,
            "404 404 404 404 401 401",
        );
    }
    add(
        &mut rows,
        "DELETE",
        "/api/layers/{id}",
        "/api/layers/015146_doomed_pub",
        Send::None,
        Prepare::DoomedLayer(true),
        "401 403 204 204 401 401",
    );
    add(
        &mut rows,
        "DELETE",
        "/api/layers/{id}",
        "/api/layers/015146_doomed_priv",
        Send::None,
        Prepare::DoomedLayer(false),
        "404 404 204 204 401 401",
    );
    add(
        &mut rows,
        "DELETE",
        "/api/layers/{id}",
        &format!("/api/layers/{MISSING}"),
        Send::None,
        Prepare::None,
        "404 404 404 404 401 401",
    );

    // Apps: published with a public layer (pubapp), published whose layer turned private
    // (canaryapp), a draft holding the private layer (draftapp).
    let app_pub = json!({"title": "Mappa pubblica", "layers": [{"id": PUB}]});
    let app_priv = json!({"title": "Bozza", "layers": [{"id": PRIV}]});
    for (slug, seen) in [
        ("pubapp", all),
        ("canaryapp", all),
        ("draftapp", "404 404 200 200 401 401"),
    ] {
        add(
            &mut rows,
            "GET",
            "/api/orgs/{org}/apps/{slug}",
            &format!("/api/orgs/015146/apps/{slug}"),
            Send::None,
            Prepare::None,
            seen,
        );
    }
    add(
        &mut rows,
        "PUT",
        "/api/orgs/{org}/apps/{slug}",
        "/api/orgs/015146/apps/pubapp",
        Send::Json(app_pub.clone()),
        Prepare::None,
        "401 403 200 200 401 401",
    );
    add(
        &mut rows,
        "PUT",
        "/api/orgs/{org}/apps/{slug}",
        "/api/orgs/015146/apps/draftapp",
        Send::Json(app_priv.clone()),
        Prepare::None,
        "401 403 200 200 401 401",
    );
    add(
        &mut rows,
        "PUT",
        "/api/orgs/{org}/apps/{slug}",
        "/api/orgs/015146/apps/canaryapp",
        Send::Json(app_priv.clone()),
        Prepare::None,
        "401 403 409 409 401 401",
    );
    add(
        &mut rows,
        "PUT",
        "/api/orgs/{org}/apps/{slug}",
        "/api/orgs/015182/apps/peek",
        Send::Json(app_priv.clone()),
        Prepare::None,
        "401 400 403 200 401 401",
    );
    add(
        &mut rows,
        "DELETE",
        "/api/orgs/{org}/apps/{slug}",
        "/api/orgs/015146/apps/doomed",
        Send::None,
        Prepare::DoomedApp,
        "401 403 204 204 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/apps/{slug}/preview",
        "/api/orgs/015146/apps/x/preview",
        Send::Json(app_pub.clone()),
        Prepare::None,
        "401 403 200 200 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/apps/{slug}/preview",
        "/api/orgs/015182/apps/x/preview",
        Send::Json(app_priv.clone()),
        Prepare::None,
        "401 400 403 200 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/apps/{slug}/publish",
        "/api/orgs/015146/apps/pubapp/publish",
        Send::None,
        Prepare::None,
        "401 403 200 200 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/apps/{slug}/publish",
        "/api/orgs/015146/apps/draftapp/publish",
        Send::None,
        Prepare::None,
        "401 403 409 409 401 401",
    );
    add(
        &mut rows,
        "POST",
        "/api/orgs/{org}/apps/{slug}/unpublish",
        "/api/orgs/015146/apps/toggle/unpublish",
        Send::None,
        Prepare::PublishedApp,
        "401 403 200 200 401 401",
    );
    for (slug, status) in [
        ("pubapp", "308 308 308 308 401 401"),
        ("canaryapp", "308 308 308 308 401 401"),
        ("draftapp", "404 404 404 404 401 401"),
    ] {
        add(
            &mut rows,
            "GET",
            "/apps/{org}/{slug}",
            &format!("/apps/015146/{slug}"),
            Send::None,
            Prepare::None,
            status,
        );
    }
    for (slug, status) in [
        ("pubapp", all),
        ("canaryapp", all),
        ("draftapp", "404 404 404 404 401 401"),
    ] {
        add(
            &mut rows,
            "GET",
            "/apps/{org}/{slug}/",
            &format!("/apps/015146/{slug}/"),
            Send::None,
            Prepare::None,
            status,
        );
        for file in [
            "config.json",
            "style.json",
            "bundle.zip?mode=online",
            "bundle.zip?mode=static&maxzoom=10",
        ] {
            add(
                &mut rows,
                "GET",
                "/apps/{org}/{slug}/{*file}",
                &format!("/apps/015146/{slug}/{file}"),
                Send::None,
                Prepare::None,
                status,
            );
        }
    }
    rows
}

struct World {
    app: axum::Router,
    t: TestStore,
    tokens: [Option<String>; 6],
    dir: tempfile::TempDir,
}

async fn world(t: TestStore) -> World {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let pub_file = write("pub.geojson", public_geojson());
    let canary_file = write("canary.geojson", canary_geojson());
    // Three versions each, so the owner and the metropolitan admin can both roll back.
    for _ in 0..3 {
        common::add_layer(&t.store, "015146", "pub", &pub_file).await;
        ingest_file(&t.store, &canary_file, "015146", "canary", |o| {
            o.visibility = None;
            o.title = Some("CANARY-TITLE-7Q".into());
        })
        .await
        .unwrap();
    }
    let owner = common::token(t.store.as_ref(), "015146", "editor").await;
    let metro = common::token(t.store.as_ref(), "cmm", "admin").await;
    let other = common::token(t.store.as_ref(), "015182", "editor").await;
    let revoked = common::token(t.store.as_ref(), "015146", "admin").await;
    t.store
        .revoke_token(&atlante::auth::token_id(&atlante::auth::hash(&revoked)))
        .await
        .unwrap();
    let expired = atlante::auth::new_token();
    let h = atlante::auth::hash(&expired);
    t.store
        .insert_token(&atlante::store::NewToken {
            id: atlante::auth::token_id(&h),
            hash: h,
            org: "015146".into(),
            role: "admin".into(),
            label: String::new(),
            expires_at: Some("2025-01-01T00:00:00.000Z".into()),
        })
        .await
        .unwrap();
    let app = common::app(&t.store).await;
    // The apps: canaryapp is published while its layer is public, then the layer goes private.
    let go = |method: &'static str, uri: String, body: Option<Value>| {
        let (app, owner) = (app.clone(), owner.clone());
        async move {
            let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
            let r = request(
                &app,
                method,
                &uri,
                Some(&owner),
                body,
                &[("content-type", "application/json")],
            )
            .await;
            assert!(r.status.is_success(), "{method} {uri}: {}", r.text());
        }
    };
    go(
        "PUT",
        "/api/orgs/015146/apps/pubapp".into(),
        Some(json!({"title": "Mappa", "layers": [{"id": PUB}]})),
    )
    .await;
    go("POST", "/api/orgs/015146/apps/pubapp/publish".into(), None).await;
    go(
        "PATCH",
        format!("/api/layers/{PRIV}"),
        Some(json!({"visibility": "public"})),
    )
    .await;
    go(
        "PUT",
        "/api/orgs/015146/apps/canaryapp".into(),
        Some(json!({"title": "Canarino", "layers": [{"id": PRIV}, {"id": PUB}]})),
    )
    .await;
    go(
        "POST",
        "/api/orgs/015146/apps/canaryapp/publish".into(),
        None,
    )
    .await;
    go(
        "PATCH",
        format!("/api/layers/{PRIV}"),
        Some(json!({"visibility": "private"})),
    )
    .await;
    go(
        "PUT",
        "/api/orgs/015146/apps/draftapp".into(),
        Some(json!({"title": "Bozza", "layers": [{"id": PRIV}]})),
    )
    .await;
    go("PUT", format!("/api/layers/{PRIV}/style"), Some(json!({"symbology": {"kind": "categorized", "field": "canary_field_7q", "categories": [{"value": "CANARY-VALUE-7Q", "color": "#ff0000"}]}}))).await;
    World {
        app,
        t,
        tokens: [
            None,
            Some(other),
            Some(owner),
            Some(metro),
            Some(revoked),
            Some(expired),
        ],
        dir,
    }
}

impl World {
    /// Runs a row's preparation as the owner's organisation; the value for `{X}`.
    async fn prepare(&self, p: Prepare) -> String {
        let owner = self.tokens[2].as_deref();
        match p {
            Prepare::None => String::new(),
            Prepare::DoomedLayer(public) => {
                let slug = if public { "doomed_pub" } else { "doomed_priv" };
                let id = format!("015146_{slug}");
                if self.t.store.layer(&id).await.unwrap().is_none() {
                    // Deleted by the previous caller: out of the trash, and back.
                    let _ = self.t.store.purge_layer(&id).await;
                    let f = self.dir.path().join("pub.geojson");
                    ingest_file(&self.t.store, &f, "015146", slug, |o| {
                        o.visibility = public.then(|| "public".to_string());
                    })
                    .await
                    .unwrap();
                }
                String::new()
            }
            Prepare::Feature(layer) => {
                let f = json!({"type": "Feature", "properties": {"n": 9}, "geometry": {"type": "Point", "coordinates": [9.2, 45.47]}});
                let r = request(
                    &self.app,
                    "POST",
                    &format!("/collections/{layer}/items"),
                    owner,
                    Body::from(f.to_string()),
                    &[],
                )
                .await;
                assert_eq!(r.status.as_u16(), 201, "{}", r.text());
                r.json()["id"].to_string()
            }
            Prepare::Token => {
                let (_, rec) = atlante::auth::create_token(
                    self.t.store.as_ref(),
                    "015146",
                    "editor",
                    "doomed",
                    None,
                )
                .await
                .unwrap();
                rec.id
            }
            Prepare::DoomedApp | Prepare::PublishedApp => {
                let slug = if matches!(p, Prepare::DoomedApp) {
                    "doomed"
                } else {
                    "toggle"
                };
                let cfg = json!({"title": "X", "layers": [{"id": PUB}]});
                let r = request(
                    &self.app,
                    "PUT",
                    &format!("/api/orgs/015146/apps/{slug}"),
                    owner,
                    Body::from(cfg.to_string()),
                    &[],
                )
                .await;
                assert!(r.status.is_success(), "{}", r.text());
                if matches!(p, Prepare::PublishedApp) {
                    let r = request(
                        &self.app,
                        "POST",
                        &format!("/api/orgs/015146/apps/{slug}/publish"),
                        owner,
                        Body::empty(),
                        &[],
                    )
                    .await;
                    assert!(r.status.is_success());
                }
                String::new()
            }
        }
    }

    async fn send(&self, method: &str, uri: &str, send: &Send, caller: usize) -> Reply {
        let token = self.tokens[caller].as_deref();
        match send {
            Send::None => request(&self.app, method, uri, token, Body::empty(), &[]).await,
            Send::Json(v) => {
                request(
                    &self.app,
                    method,
                    uri,
                    token,
                    Body::from(v.to_string()),
                    &[("content-type", "application/json")],
                )
                .await
            }
            Send::Xml(text) => {
                request(
                    &self.app,
                    method,
                    uri,
                    token,
                    Body::from(*text),
                    &[("content-type", "application/xml")],
                )
                .await
            }
            Send::Upload(which) => {
                let text = if *which == "canary" {
                    canary_geojson()
                } else {
                    public_geojson()
                };
                let (ctype, body) = common::multipart(
                    &format!("{which}.geojson"),
                    text.as_bytes(),
                    &[(
                        "title",
                        if *which == "canary" {
                            "CANARY-TITLE-7Q"
                        } else {
                            "Pub"
                        },
                    )],
                );
                request(
                    &self.app,
                    method,
                    uri,
                    token,
                    Body::from(body),
                    &[("content-type", ctype.as_str())],
                )
                .await
            }
        }
    }
}

/// The canaries a reply carries, in its body (zips searched inside) and headers.
fn leaks(r: &Reply) -> Vec<&'static str> {
    let mut text = r.text();
    if r.headers
        .get("content-type")
        .is_some_and(|v| v == "application/zip")
    {
        text.push_str(&common::zip_text(&r.body));
    }
    for (k, v) in &r.headers {
        text.push_str(k.as_str());
        text.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    CANARIES
        .iter()
        .copied()
        .filter(|c| text.contains(c))
        .collect()
}

async fn tenancy_matrix(t: TestStore) {
    let kind = t.store.kind();
    let w = world(t).await;
    let rows = rows();
    // Every route of the table has rows, and every row names a route of the table.
    let covered: BTreeSet<(&str, &str)> = rows.iter().map(|r| (r.method, r.route)).collect();
    for route in ROUTES {
        assert!(
            covered.contains(&(route.method, route.path)),
            "no matrix rows for {} {}",
            route.method,
            route.path
        );
    }
    for (m, p) in &covered {
        assert!(
            ROUTES.iter().any(|r| r.method == *m && r.path == *p),
            "{m} {p} is not in the route table"
        );
    }
    let mut requests = 0;
    let mut failures = Vec::new();
    for row in &rows {
        for (caller, expected) in row.expect.iter().enumerate() {
            let x = w.prepare(row.prepare).await;
            let uri = row.uri.replace("{X}", x.trim_matches('"'));
            let r = w.send(row.method, &uri, &row.send, caller).await;
            requests += 1;
            if r.status.as_u16() != *expected {
                failures.push(format!(
                    "{} {uri} as {}: {} (expected {expected}) {}",
                    row.method,
                    CALLERS[caller],
                    r.status.as_u16(),
                    r.text().chars().take(200).collect::<String>()
                ));
            }
            if OUTSIDERS.contains(&caller) {
                let found = leaks(&r);
                if !found.is_empty() {
                    failures.push(format!(
                        "LEAK {} {uri} as {}: {found:?}",
                        row.method, CALLERS[caller]
                    ));
                }
                if let Some(twin) = &row.missing_twin {
                    let m = w.send(row.method, twin, &row.send, caller).await;
                    requests += 1;
                    let same = m.status == r.status
                        && m.text().replace(MISSING, "ID") == r.text().replace(PRIV, "ID");
                    if !same {
                        failures.push(format!(
                            "{uri} and {twin} answer {} differently: {} / {}",
                            CALLERS[caller],
                            r.text(),
                            m.text()
                        ));
                    }
                }
            }
        }
    }
    // The search finds canaries where they belong: the owner reads its private layer.
    let owner_view = w
        .send("GET", &format!("/api/layers/{PRIV}"), &Send::None, 2)
        .await;
    assert_eq!(
        leaks(&owner_view),
        ["CANARY-TITLE-7Q", "canary_field_7q", "9.0123456"]
    );
    eprintln!(
        "{kind}: {requests} requests over {} routes, {} rows",
        ROUTES.len(),
        rows.len()
    );
    assert!(requests >= 300, "{requests} requests");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

both_stores!(tenancy_matrix);
