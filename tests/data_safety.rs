//! Data safety, on both stores: a deleted layer goes to the trash (restorable, purged after
//! the retention period or on demand, never silently overwritten by a new upload); a
//! rollback over feature edits is refused unless asked for; the command line asks before
//! deleting; `atlante backup` / `atlante restore` round-trip the whole store.

mod common;

use atlante::store::checksum;
use axum::body::Body;
use common::{cli_ok, demo, ingest_file, request, TestStore};
use serde_json::json;

async fn deleted_layers_go_to_the_trash(t: TestStore) {
    let (nil, _) =
        common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let before = checksum(t.store.as_ref(), &nil.id).await.unwrap();
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let app = common::app(&t.store).await;
    let r = request(
        &app,
        "DELETE",
        "/api/layers/015146_nil",
        Some(&token),
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(
        request(
            &app,
            "GET",
            "/collections/015146_nil",
            None,
            Body::empty(),
            &[]
        )
        .await
        .status
        .as_u16(),
        404
    );
    let trash = t.store.deleted_layers().await.unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].0.id, "015146_nil");
    // A new upload of the same layer is refused, naming the way out.
    let err = ingest_file(
        &t.store,
        &demo("milano/nil_2020.geojson"),
        "015146",
        "nil",
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("restore") && err.contains("--purge"), "{err}");
    // Restored as it was.
    let back = t.store.restore_layer("015146_nil").await.unwrap();
    assert_eq!(back.version, nil.version);
    assert_eq!(
        checksum(t.store.as_ref(), "015146_nil").await.unwrap(),
        before
    );
    assert_eq!(
        request(
            &app,
            "GET",
            "/collections/015146_nil",
            None,
            Body::empty(),
            &[]
        )
        .await
        .status
        .as_u16(),
        200
    );
    // Purged: by age (here: anything deleted before now), and then it is gone for good.
    t.store.delete_layer("015146_nil").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        atlante::store::purge_expired(t.store.as_ref(), 1)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        atlante::store::purge_expired(t.store.as_ref(), 0)
            .await
            .unwrap(),
        ["015146_nil"]
    );
    assert!(t.store.deleted_layers().await.unwrap().is_empty());
    assert!(!common::table_names(&t)
        .await
        .iter()
        .any(|n| n.starts_with("015146_nil")));
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
}

async fn rollback_over_edits_asks_first(t: TestStore) {
    let nil = demo("milano/nil_2020.geojson");
    for _ in 0..2 {
        common::add_layer(&t.store, "015146", "nil", &nil).await;
    }
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let app = common::app(&t.store).await;
    for fid in [1, 2, 3] {
        let body = json!({"properties": {"nil": format!("modificato {fid}")}}).to_string();
        let r = request(
            &app,
            "PATCH",
            &format!("/collections/015146_nil/items/{fid}"),
            Some(&token),
            Body::from(body),
            &[],
        )
        .await;
        assert_eq!(r.status.as_u16(), 200);
    }
    let r = request(
        &app,
        "POST",
        "/api/layers/015146_nil/rollback",
        Some(&token),
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 409, "{}", r.text());
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("discard 3 feature edits"),
        "{}",
        r.text()
    );
    assert_eq!(
        t.store.layer("015146_nil").await.unwrap().unwrap().version,
        2,
        "nothing changed"
    );
    let r = request(
        &app,
        "POST",
        "/api/layers/015146_nil/rollback?discard_edits=true",
        Some(&token),
        Body::empty(),
        &[],
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(r.json()["version"], 1);
}

async fn the_command_line_asks_before_deleting(t: TestStore) {
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atlante"))
        .args(["--store", &t.location, "layer", "delete", "015146_nil"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(
        t.store.layer("015146_nil").await.unwrap().is_some(),
        "nothing deleted"
    );
    cli_ok(&t.location, &["layer", "delete", "015146_nil", "--yes"]);
    assert!(cli_ok(&t.location, &["layer", "trash"]).contains("015146_nil"));
    cli_ok(&t.location, &["layer", "restore", "015146_nil"]);
    assert!(t.store.layer("015146_nil").await.unwrap().is_some());
}

async fn backup_and_restore_round_trip(t: TestStore) {
    let (nil, _) =
        common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let before = checksum(t.store.as_ref(), &nil.id).await.unwrap();
    let token = common::token(t.store.as_ref(), "015146", "admin").await;
    let app = common::app(&t.store).await;
    let cfg = json!({"title": "NIL", "layers": [{"id": "015146_nil"}]}).to_string();
    let r = request(
        &app,
        "PUT",
        "/api/orgs/015146/apps/nil",
        Some(&token),
        Body::from(cfg),
        &[],
    )
    .await;
    assert!(r.status.is_success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("atlante.backup");
    cli_ok(&t.location, &["backup", "--out", file.to_str().unwrap()]);
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    // Damage: the layer purged, the token revoked, the app deleted.
    cli_ok(
        &t.location,
        &["layer", "delete", "015146_nil", "--yes", "--purge"],
    );
    t.store
        .revoke_token(&atlante::auth::token_id(&atlante::auth::hash(&token)))
        .await
        .unwrap();
    t.store.delete_document("app", "015146/nil").await.unwrap();
    drop(app);
    cli_ok(&t.location, &["restore", file.to_str().unwrap(), "--yes"]);
    let reopened = atlante::store::open(&t.location).await.unwrap();
    assert_eq!(
        checksum(reopened.as_ref(), "015146_nil").await.unwrap(),
        before
    );
    assert!(reopened
        .document("app", "015146/nil")
        .await
        .unwrap()
        .is_some());
    let t2 = reopened
        .token(&atlante::auth::hash(&token))
        .await
        .unwrap()
        .unwrap();
    assert!(t2.revoked_at.is_none(), "the token as it was at the backup");
}

both_stores!(
    deleted_layers_go_to_the_trash,
    rollback_over_edits_asks_first,
    the_command_line_asks_before_deleting,
    backup_and_restore_round_trip,
);
