//! OGC API - Features Part 4 on both stores: create, replace, merge-patch, delete with the
//! owner's token, ETag/If-Match, all-or-nothing batches, and tiles that follow every edit.

mod common;

use axum::body::Body;
use axum::http::{header, StatusCode};
use common::{demo, TestStore};
use serde_json::{json, Value};

struct Api {
    app: axum::Router,
    token: String,
}

impl Api {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut headers = vec![("content-type", "application/geo+json")];
        headers.extend_from_slice(extra);
        let body = body.map_or(Body::empty(), |v| Body::from(v.to_string()));
        let r = common::request(&self.app, method, uri, token, body, &headers).await;
        let json = r.json();
        (r.status, r.headers, json)
    }
    async fn count(&self) -> i64 {
        self.send(
            "GET",
            "/collections/015146_fermate/items?limit=1",
            None,
            None,
            &[],
        )
        .await
        .2["numberMatched"]
            .as_i64()
            .unwrap()
    }
}

fn stop(name: &str, lon: f64, lat: f64) -> Value {
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
           "properties": {"nome": name, "linee": "5", "id_amat": 9999}})
}

async fn setup(t: &TestStore) -> Api {
    common::add_layer(
        &t.store,
        "015146",
        "fermate",
        &demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    Api {
        app: common::app(&t.store).await,
        token,
    }
}

async fn create_replace_patch_delete(t: TestStore) {
    let api = setup(&t).await;
    let tok = Some(api.token.as_str());
    assert_eq!(api.count().await, 110);
    // Tiles before: the z15 tile around a spot with no stop.
    let (lon, lat) = (9.1200, 45.4300);
    let c = atlante::tiles::math::tile_for_lonlat(lon, lat, 15);
    let tile_uri = format!("/tiles/015146_fermate/15/{}/{}.mvt", c.x, c.y);
    let empty = common::get(&api.app, &tile_uri).await.body;

    let (s, h, f) = api
        .send(
            "POST",
            "/collections/015146_fermate/items",
            tok,
            Some(stop("Nuova <b>fermata</b>", lon, lat)),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    let fid = f["id"].as_i64().unwrap();
    assert!(h[header::LOCATION]
        .to_str()
        .unwrap()
        .ends_with(&format!("/collections/015146_fermate/items/{fid}")));
    let etag = h[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(api.count().await, 111);
    // The tile follows the edit at once.
    let after = common::get(&api.app, &tile_uri).await.body;
    assert_ne!(empty, after);
    assert!(after.windows(b"Nuova".len()).any(|w| w == b"Nuova"));

    // PATCH merges; a stale ETag is refused.
    let uri = format!("/collections/015146_fermate/items/{fid}");
    let (s, h2, f2) = api
        .send(
            "PATCH",
            &uri,
            tok,
            Some(json!({"properties": {"linee": "5,6"}})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f2}");
    assert_eq!(f2["properties"]["linee"], "5,6");
    assert_eq!(f2["properties"]["nome"], "Nuova <b>fermata</b>");
    let (s, _, _) = api
        .send(
            "PATCH",
            &uri,
            tok,
            Some(json!({"properties": {"linee": "7"}})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let etag2 = h2[header::ETAG].to_str().unwrap().to_string();
    // PUT replaces everything: absent properties become null.
    let (s, _, f3) = api.send("PUT", &uri, tok, Some(json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.13, 45.44]}, "properties": {"nome": "Spostata"}})), &[("if-match", &etag2)]).await;
    assert_eq!(s, StatusCode::OK, "{f3}");
    assert_eq!(f3["properties"]["linee"], Value::Null);
    assert_eq!(f3["geometry"]["coordinates"], json!([9.13, 45.44]));
    // DELETE, then it is gone.
    let (s, _, _) = api.send("DELETE", &uri, tok, None, &[]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = api.send("GET", &uri, None, None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = api.send("DELETE", &uri, tok, None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(api.count().await, 110);
}

async fn batches_are_all_or_nothing_and_owners_only(t: TestStore) {
    let api = setup(&t).await;
    let tok = Some(api.token.as_str());
    let batch = json!({"type": "FeatureCollection", "features": [stop("a", 9.1, 45.4), stop("b", 9.2, 45.5)]});
    let (s, _, r) = api
        .send(
            "POST",
            "/collections/015146_fermate/items",
            tok,
            Some(batch),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["ids"].as_array().unwrap().len(), 2);
    assert_eq!(api.count().await, 112);
    // One bad feature spoils the batch: nothing is written.
    let bad_features = [
        json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[9.1, 45.4], [9.2, 45.5]]}, "properties": {}}),
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1515032.0, 5034558.0]}, "properties": {}}),
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.1, 45.4]}, "properties": {"nope": 1}}),
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.1, 45.4]}, "properties": {"id_amat": "text"}}),
        json!({"type": "Feature", "geometry": null, "properties": {}}),
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": ["NaN", 45.4]}, "properties": {}}),
    ];
    for bad in bad_features {
        let batch =
            json!({"type": "FeatureCollection", "features": [stop("ok", 9.1, 45.4), bad.clone()]});
        let (s, h, _) = api
            .send(
                "POST",
                "/collections/015146_fermate/items",
                tok,
                Some(batch),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    }
    assert_eq!(api.count().await, 112);
    // Not JSON, too deep, and other tokens.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let res = common::request(
        &api.app,
        "POST",
        "/collections/015146_fermate/items",
        Some(&api.token),
        Body::from(deep),
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let rho = common::token(t.store.as_ref(), "015182", "editor").await;
    let (s, _, _) = api
        .send(
            "POST",
            "/collections/015146_fermate/items",
            Some(&rho),
            Some(stop("x", 9.1, 45.4)),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = api
        .send(
            "POST",
            "/collections/015146_fermate/items",
            None,
            Some(stop("x", 9.1, 45.4)),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = api
        .send(
            "DELETE",
            "/collections/015146_fermate/items/1",
            Some(&rho),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(api.count().await, 112);
    // The catalog follows: count and extent.
    let l = t.store.layer("015146_fermate").await.unwrap().unwrap();
    assert_eq!(l.feature_count, 112);
    assert!(l.extent.unwrap()[0] <= 9.1);
}

both_stores!(
    create_replace_patch_delete,
    batches_are_all_or_nothing_and_owners_only
);
