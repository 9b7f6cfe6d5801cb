//! A store made by the previous release opens with this one and keeps working, on both
//! backends. The fixtures (tests/fixtures/upgrade/, made by `make_fixture.sh` there with
//! the release binary of 637a794): a public layer with a saved style and a published app,
//! a layer made private, and an admin token. After the upgrade, layers keep their
//! visibility, the token does not expire, the app is still served, writes work and are
//! audited, and `atlante demo` publishes the demo layers.

mod common;

use axum::body::Body;
use common::{cli_ok, fixture, request};
use serde_json::json;

/// The admin tokens the fixtures were made with (test secrets).
const GPKG_TOKEN: &str = "atl_f6eb4f8347171025dfd5fb7e38b45e97918424f1597962c6c2e1fbc3f7d40cc4";
const PG_TOKEN: &str = "atl_fd28dbf6980457589167b213818572bc5ff8d97580c41c590a66f005ec890852";

async fn upgraded_store_keeps_working(location: String, token: &str) {
    let store = atlante::store::open(&location).await.unwrap();
    store
        .upsert_orgs(&atlante::seed::organisations().unwrap())
        .await
        .unwrap();
    let fermate = store.layer("015146_fermate").await.unwrap().unwrap();
    let bozza = store.layer("015146_ztl_bozza").await.unwrap().unwrap();
    assert_eq!(
        (fermate.visibility.as_str(), bozza.visibility.as_str()),
        ("public", "private")
    );
    assert_eq!((fermate.feature_count, bozza.feature_count), (110, 180));
    let tokens = store.tokens(Some("015146")).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].expires_at, None, "old tokens do not expire");
    assert_eq!(
        tokens[0].id,
        atlante::auth::token_id(&atlante::auth::hash(token))
    );
    let app = common::app(&store).await;
    let get = |uri: &'static str, token: Option<&'static str>| {
        let app = app.clone();
        async move { request(&app, "GET", uri, token, Body::empty(), &[]).await }
    };
    let token: &'static str = if token == GPKG_TOKEN {
        GPKG_TOKEN
    } else {
        PG_TOKEN
    };
    let me = get("/api/me", Some(token)).await;
    assert_eq!(
        (me.status.as_u16(), me.json()["role"].as_str()),
        (200, Some("admin"))
    );
    assert_eq!(
        get("/collections/015146_ztl_bozza", None)
            .await
            .status
            .as_u16(),
        404
    );
    assert_eq!(
        get("/collections/015146_ztl_bozza", Some(token))
            .await
            .status
            .as_u16(),
        200
    );
    let style = get("/api/layers/015146_fermate/style", None).await.json();
    assert_eq!(style["symbology"]["color"], "#d62728");
    let cfg = get("/apps/015146/metro/config.json", None).await;
    assert_eq!(cfg.status.as_u16(), 200);
    assert_eq!(cfg.json()["layers"][0]["id"], "015146_fermate");
    assert!(get("/tiles/015146_fermate/12/2180/1460.mvt", None)
        .await
        .status
        .is_success());
    // Writes: metadata, a feature edit, an upload; each logged and audited.
    let r = request(
        &app,
        "PATCH",
        "/api/layers/015146_fermate",
        Some(token),
        Body::from(json!({"title": "Fermate (aggiornato)"}).to_string()),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let r = request(
        &app,
        "PATCH",
        "/collections/015146_fermate/items/1",
        Some(token),
        Body::from(json!({"properties": {"nome": "DUOMO"}}).to_string()),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let audit = request(&app, "GET", "/api/audit", Some(token), Body::empty(), &[]).await;
    let actions: Vec<String> = audit.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["feature.update", "layer.update"]);
    assert!(store.latest_change().await.unwrap() >= 2);
    drop(app);
    // The demo on an upgraded store publishes its layers.
    cli_ok(&location, &["demo", "--no-serve"]);
    let nil = store.layer("015146_nil").await.unwrap().unwrap();
    assert_eq!(nil.visibility, "public");
    assert_eq!(
        store
            .layer("015146_ztl_bozza")
            .await
            .unwrap()
            .unwrap()
            .visibility,
        "private"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpkg_from_the_previous_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atlante.gpkg");
    std::fs::write(
        &path,
        common::gunzip(&fixture("upgrade/atlante-637a794.gpkg.gz")),
    )
    .unwrap();
    upgraded_store_keeps_working(path.display().to_string(), GPKG_TOKEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgis_from_the_previous_release() {
    use sqlx::Connection;
    let url = common::postgis_empty().await;
    let sql = String::from_utf8(common::gunzip(&fixture(
        "upgrade/atlante-637a794.postgis.sql.gz",
    )))
    .unwrap();
    // pg_dump's psql meta-commands (`\restrict`) are not SQL.
    let sql: String = sql
        .lines()
        .filter(|l| !l.starts_with('\\'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
    c.close().await.unwrap();
    upgraded_store_keeps_working(url, PG_TOKEN).await;
}
