//! Bounded work, on both stores: the limits of the README's table, one test each.
//! * a static bundle of a layer spanning the world at z16 is refused before any work (its
//!   tile count, 64-bit, named in a 413), and the server keeps answering;
//! * a bundle is built once per app version and kept; busy builders answer 503 with
//!   Retry-After;
//! * the disk tile cache stays within its bytes and drops a layer's old version;
//! * the in-memory tile cache counts what its entries really hold;
//! * feature queries wait their turn at the store (`store_reads`), then answer 503 with
//!   Retry-After, while the catalog and tiles answer meanwhile.

mod common;

use std::path::Path;

use atlante::config::Config;
use axum::body::Body;
use common::{request, TestStore};
use serde_json::json;

async fn app_with(t: &TestStore, config: Config) -> (axum::Router, String) {
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    (common::app_with(&t.store, config).await, token)
}

async fn publish_app(app: &axum::Router, token: &str, slug: &str, layer: &str) {
    let cfg = json!({"title": "Mappa", "basemap": "none", "layers": [{"id": layer}]});
    for (method, uri, body) in [
        (
            "PUT",
            format!("/api/orgs/015146/apps/{slug}"),
            cfg.to_string(),
        ),
        (
            "POST",
            format!("/api/orgs/015146/apps/{slug}/publish"),
            String::new(),
        ),
    ] {
        let r = request(app, method, &uri, Some(token), Body::from(body), &[]).await;
        assert!(r.status.is_success(), "{uri}: {}", r.text());
    }
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

async fn a_world_spanning_bundle_is_refused_before_any_work(t: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("mondo.geojson");
    std::fs::write(
        &world,
        r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"n":1},"geometry":{"type":"Point","coordinates":[-179,-84]}},
        {"type":"Feature","properties":{"n":2},"geometry":{"type":"Point","coordinates":[179,84]}},
        {"type":"Feature","properties":{"n":3},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#,
    )
    .unwrap();
    common::add_layer(&t.store, "015146", "mondo", &world).await;
    let config = Config {
        cache_dir: dir.path().join("cache"),
        ..Config::default()
    };
    let (app, token) = app_with(&t, config).await;
    publish_app(&app, &token, "mondo", "015146_mondo").await;
    let r = request(
        &app,
        "GET",
        "/apps/015146/mondo/bundle.zip?mode=static&maxzoom=16",
        None,
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 413, "{}", r.text());
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("tiles at zooms 0-16") && detail.contains("200000"),
        "{detail}"
    );
    let count: u64 = detail.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(count > u32::MAX as u64, "counted in 64 bits: {detail}");
    let r = request(
        &app,
        "GET",
        "/apps/015146/mondo/bundle.zip?mode=static&maxzoom=17",
        None,
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 400);
    // A small zoom fits, and the server is fine.
    let r = request(
        &app,
        "GET",
        "/apps/015146/mondo/bundle.zip?mode=static&maxzoom=4",
        None,
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(
        request(&app, "GET", "/health", None, Body::empty(), &[])
            .await
            .status
            .as_u16(),
        200
    );
}

async fn bundles_are_built_once_per_version(t: TestStore) {
    common::add_layer(
        &t.store,
        "015146",
        "fermate",
        &common::demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let config = Config {
        cache_dir: cache.clone(),
        ..Config::default()
    };
    let (app, token) = app_with(&t, config).await;
    publish_app(&app, &token, "metro", "015146_fermate").await;
    let uri = "/apps/015146/metro/bundle.zip?mode=static&maxzoom=12";
    let first = request(&app, "GET", uri, None, Body::empty(), &[]).await;
    assert_eq!(first.status.as_u16(), 200);
    let kept = files_in(&cache.join("bundles"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    let built_at = std::fs::metadata(&kept[0]).unwrap().modified().unwrap();
    let again = request(&app, "GET", uri, None, Body::empty(), &[]).await;
    assert_eq!(again.body, first.body, "the same bytes");
    assert_eq!(
        std::fs::metadata(&kept[0]).unwrap().modified().unwrap(),
        built_at,
        "not rebuilt"
    );
    // A new version of the layer makes a new bundle, and the old one goes.
    let r = request(
        &app,
        "PATCH",
        "/collections/015146_fermate/items/1",
        Some(&token),
        Body::from(json!({"properties": {"nome": "DUOMO (nuovo)"}}).to_string()),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 200);
    let third = request(&app, "GET", uri, None, Body::empty(), &[]).await;
    assert_eq!(third.status.as_u16(), 200);
    assert!(common::zip_text(&third.body).contains("DUOMO (nuovo)"));
    let now = files_in(&cache.join("bundles"));
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, kept);
}

async fn busy_builders_answer_503_with_retry_after(t: TestStore) {
    common::add_layer(
        &t.store,
        "015146",
        "fermate",
        &common::demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        cache_dir: dir.path().join("cache"),
        max_heavy_jobs: 0,
        ..Config::default()
    };
    let (app, token) = app_with(&t, config).await;
    publish_app(&app, &token, "metro", "015146_fermate").await;
    let r = request(
        &app,
        "GET",
        "/apps/015146/metro/bundle.zip?mode=static",
        None,
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text());
    assert_eq!(r.headers["retry-after"], "30");
    assert!(r.json()["detail"].as_str().unwrap().contains("try again"));
}

async fn feature_queries_wait_their_turn_then_answer_503(t: TestStore) {
    let (nil, _) = common::nil_and_stops(&t.store).await;
    let config = Config {
        store_reads: 1,
        ..Config::default()
    };
    let state = common::state(&t.store, config).await;
    let app = atlante::http::router(state.clone());
    let items = format!("/collections/{}/items?limit=2", nil.id);
    assert_eq!(common::get(&app, &items).await.status.as_u16(), 200);
    let held = state.reads.take().await.unwrap();
    // Only queries wait for a turn: the catalog and the tiles answer meanwhile.
    assert_eq!(common::get(&app, "/collections").await.status.as_u16(), 200);
    let tile = format!("/tiles/{}/12/2152/1465.mvt", nil.id);
    assert_eq!(common::get(&app, &tile).await.status.as_u16(), 200);
    let waited = std::time::Instant::now();
    let r = common::get(&app, &items).await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text());
    assert_eq!(r.headers["retry-after"], "1");
    assert!(
        waited.elapsed() >= std::time::Duration::from_secs(2),
        "it waited its turn"
    );
    // A query queued behind the held turn gets it once the turn is given back.
    let queued = tokio::spawn({
        let (app, items) = (app.clone(), items.clone());
        async move { common::get(&app, &items).await.status.as_u16() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(held);
    assert_eq!(queued.await.unwrap(), 200);
}

async fn the_disk_tile_cache_keeps_its_budget_and_drops_old_versions(t: TestStore) {
    let (nil, _) = common::add_layer(
        &t.store,
        "015146",
        "nil",
        &common::demo("milano/nil_2020.geojson"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tiles = dir.path().join("tiles");
    let config = Config {
        tile_disk_cache: Some(tiles.clone()),
        tile_disk_cache_bytes: 200_000,
        ..Config::default()
    };
    let (app, token) = app_with(&t, config).await;
    let mut n = 0;
    for z in 12..=15u8 {
        let c = atlante::tiles::math::tile_for_lonlat(9.18, 45.47, z);
        let (x0, y0) = (c.x, c.y);
        for dx in 0..4 {
            for dy in 0..4 {
                let uri = format!("/tiles/015146_nil/{z}/{}/{}.mvt", x0 + dx, y0 + dy);
                let r = request(&app, "GET", &uri, None, Body::empty(), &[]).await;
                assert_eq!(r.status.as_u16(), 200, "{uri}");
                n += 1;
            }
        }
    }
    // Writes are in the background: wait for them to land.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let on_disk: u64 = files_in(&tiles)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk <= 200_000, "{on_disk} bytes on disk for {n} tiles");
    assert!(on_disk > 0);
    let old = tiles.join(atlante::tiles::versioned(&nil));
    assert!(old.exists());
    // An edit forgets the tiles of the feature's place only, and records what the folder
    // now shows.
    let before = files_in(&old).len();
    let r = request(
        &app,
        "PATCH",
        "/collections/015146_nil/items/1",
        Some(&token),
        Body::from(json!({"properties": {"nil": "DUOMO"}}).to_string()),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = files_in(&old);
    assert!(
        after.len() < before,
        "{} tiles before the edit, {} after",
        before,
        after.len()
    );
    assert!(after.len() > 1, "the tiles the edit does not touch stay");
    let now = t.store.layer("015146_nil").await.unwrap().unwrap();
    let marker = std::fs::read_to_string(old.join("seq")).unwrap();
    assert_eq!(marker, now.data_seq.to_string());
    // A new version: the old version's folder goes.
    common::add_layer(
        &t.store,
        "015146",
        "nil",
        &common::demo("milano/nil_2020.geojson"),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!old.exists(), "the old version's tiles are removed");
}

both_stores!(
    a_world_spanning_bundle_is_refused_before_any_work,
    bundles_are_built_once_per_version,
    busy_builders_answer_503_with_retry_after,
    feature_queries_wait_their_turn_then_answer_503,
    the_disk_tile_cache_keeps_its_budget_and_drops_old_versions,
);
