//! Tokens and the audit log, through the real router on both stores, and across two
//! server processes on one PostGIS:
//! * an organisation's admins list, create (with an expiry) and revoke its tokens; nobody
//!   else can; secrets are shown once and never listed; `last_used` is written;
//! * every write is in the audit log with who, what and the outcome, failures included,
//!   readable by the organisation's admins (all of it by a metropolitan admin) and by
//!   `atlante audit`;
//! * a revocation (and a visibility change) made on one server is honoured by another
//!   within a second.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{demo, send, TestStore};
use serde_json::json;

async fn setup(t: &TestStore) -> axum::Router {
    common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    common::app(&t.store).await
}

async fn tokens_over_http(t: TestStore) {
    let app = setup(&t).await;
    let metro = common::token(t.store.as_ref(), "cmm", "admin").await;
    let admin = common::token(t.store.as_ref(), "015146", "admin").await;
    let editor = common::token(t.store.as_ref(), "015146", "editor").await;
    let rho = common::token(t.store.as_ref(), "015182", "admin").await;
    let list = "/api/orgs/015146/tokens";
    assert_eq!(
        send(&app, "GET", list, None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "GET", list, Some(&editor), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, "GET", list, Some(&rho), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, l) = send(&app, "GET", list, Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(l["tokens"].as_array().unwrap().len(), 2);
    let text = l.to_string();
    for secret in [&admin, &editor] {
        assert!(!text.contains(secret.as_str()), "a secret is listed");
        assert!(
            !text.contains(&atlante::auth::hash(secret)),
            "a hash is listed"
        );
    }
    assert_eq!(
        send(&app, "GET", list, Some(&metro), None).await.0,
        StatusCode::OK
    );

    // Create, with a lifetime; bad requests are 400.
    for bad in [
        json!({"role": "root"}),
        json!({"expires_in": "5y"}),
        json!({"expires_in": "0d"}),
        json!({"label": "x", "owner": "y"}),
    ] {
        let (s, j) = send(&app, "POST", list, Some(&admin), Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {j}");
    }
    assert_eq!(
        send(&app, "POST", list, Some(&editor), Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, created) = send(
        &app,
        "POST",
        list,
        Some(&admin),
        Some(json!({"role": "editor", "label": "QGIS ufficio tecnico", "expires_in": "90d"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let new = created["token"].as_str().unwrap().to_string();
    let id = created["record"]["id"].as_str().unwrap().to_string();
    assert!(created["record"]["expires_at"].as_str().unwrap() > "2027");
    let (s, me) = send(&app, "GET", "/api/me", Some(&new), None).await;
    assert_eq!(
        (s, me["token"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    // last_used is written in the background, at most once a minute.
    let mut used = false;
    for _ in 0..40 {
        let (_, l) = send(&app, "GET", list, Some(&admin), None).await;
        used = l["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str() && t["last_used_at"].is_string());
        if used {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(used, "last_used_at written");

    // Revoke: only the organisation's admins, only its own tokens.
    let revoke = format!("{list}/{id}");
    assert_eq!(
        send(&app, "DELETE", &revoke, Some(&rho), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &app,
            "DELETE",
            &format!("/api/orgs/015182/tokens/{id}"),
            Some(&rho),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND,
        "another organisation's token is not found through one's own"
    );
    assert_eq!(
        send(&app, "DELETE", &revoke, Some(&admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "DELETE", &revoke, Some(&admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (s, j) = send(&app, "GET", "/api/me", Some(&new), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(j["detail"].as_str().unwrap().contains("revoked"), "{j}");
    // A revoked token is refused everywhere, even where no token is needed.
    assert_eq!(
        send(&app, "GET", "/collections", Some(&new), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn audit_log_records_every_write(t: TestStore) {
    let app = setup(&t).await;
    let metro = common::token(t.store.as_ref(), "cmm", "admin").await;
    let admin = common::token(t.store.as_ref(), "015146", "admin").await;
    let editor = common::token(t.store.as_ref(), "015146", "editor").await;
    let rho = common::token(t.store.as_ref(), "015182", "admin").await;
    let layer = "/api/layers/015146_nil";
    // Writes: ok, denied, refused.
    let ok = send(
        &app,
        "PATCH",
        layer,
        Some(&editor),
        Some(json!({"visibility": "private"})),
    )
    .await;
    assert_eq!(ok.0, StatusCode::OK);
    let denied = send(
        &app,
        "PATCH",
        layer,
        Some(&rho),
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(denied.0, StatusCode::NOT_FOUND, "private: not even found");
    send(
        &app,
        "PATCH",
        layer,
        Some(&editor),
        Some(json!({"visibility": "public"})),
    )
    .await;
    let denied = send(
        &app,
        "PATCH",
        layer,
        Some(&rho),
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(denied.0, StatusCode::FORBIDDEN);
    let refused = send(
        &app,
        "POST",
        &format!("{layer}/rollback"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(refused.0, StatusCode::CONFLICT);
    let style = json!({"symbology": {"kind": "single", "color": "#ff0000"}});
    send(
        &app,
        "PUT",
        &format!("{layer}/style"),
        Some(&editor),
        Some(style),
    )
    .await;
    let (s, _) = send(
        &app,
        "PATCH",
        "/collections/015146_nil/items/3",
        Some(&editor),
        Some(json!({"properties": {"nil": "BRERA (modificato)"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let app_cfg = json!({"title": "NIL", "layers": [{"id": "015146_nil"}]});
    send(
        &app,
        "PUT",
        "/api/orgs/015146/apps/nil",
        Some(&editor),
        Some(app_cfg),
    )
    .await;
    send(
        &app,
        "POST",
        "/api/orgs/015146/apps/nil/publish",
        Some(&editor),
        None,
    )
    .await;
    let (_, created) = send(
        &app,
        "POST",
        "/api/orgs/015146/tokens",
        Some(&admin),
        Some(json!({})),
    )
    .await;
    let new_id = created["record"]["id"].as_str().unwrap().to_string();
    send(
        &app,
        "DELETE",
        &format!("/api/orgs/015146/tokens/{new_id}"),
        Some(&admin),
        None,
    )
    .await;
    let anonymous = send(&app, "DELETE", layer, None, None).await;
    assert_eq!(anonymous.0, StatusCode::UNAUTHORIZED);

    // What the organisation's admin reads.
    assert_eq!(
        send(&app, "GET", "/api/audit", Some(&editor), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, log) = send(&app, "GET", "/api/audit", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let entries = log["entries"].as_array().unwrap();
    let find = |action: &str, outcome: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action} {outcome} in {log}"))
    };
    let editor_id = atlante::auth::token_id(&atlante::auth::hash(&editor));
    let e = entries
        .iter()
        .find(|e| e["action"] == "layer.update" && e["detail"]["visibility"] == "private")
        .unwrap();
    assert_eq!(e["outcome"], "ok");
    assert_eq!(
        (e["actor"].as_str(), e["actor_org"].as_str()),
        (Some(editor_id.as_str()), Some("015146"))
    );
    assert_eq!(e["target"], "015146_nil");
    let e = find("layer.update", "denied");
    assert_eq!(e["actor_org"], "015182");
    assert_eq!(e["status"], 403);
    let e = find("layer.rollback", "refused");
    assert_eq!(e["status"], 409);
    find("style.save", "ok");
    let e = find("feature.update", "ok");
    assert_eq!(e["detail"]["fids"], json!([3]));
    find("app.save", "ok");
    find("app.publish", "ok");
    assert_eq!(find("token.create", "ok")["target"], new_id.as_str());
    find("token.revoke", "ok");
    assert!(entries
        .iter()
        .all(|e| e["at"].as_str().unwrap().ends_with('Z')));
    // Another organisation's admin sees only what concerns it: its own denied attempt.
    let (_, theirs) = send(&app, "GET", "/api/audit", Some(&rho), None).await;
    let theirs = theirs["entries"].as_array().unwrap();
    assert!(!theirs.is_empty());
    assert!(theirs
        .iter()
        .all(|e| e["actor_org"] == "015182" || e["org"] == "015182"));
    assert_eq!(
        send(&app, "GET", "/api/audit?org=015146", Some(&rho), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // The metropolitan admin sees everything, the anonymous attempt included.
    let (_, all) = send(&app, "GET", "/api/audit?limit=1000", Some(&metro), None).await;
    let all = all["entries"].as_array().unwrap();
    assert!(all.len() >= entries.len());
    assert!(all.iter().any(|e| e["actor"] == "anonymous"
        && e["action"] == "layer.delete"
        && e["outcome"] == "denied"));
    // And the command line, with writes it made itself.
    common::cli_ok(
        &t.location,
        &["layer", "set", "015146_nil", "--title", "NIL (CLI)"],
    );
    let text = common::cli_ok(&t.location, &["audit", "--org", "015146", "--json"]);
    assert!(
        text.lines()
            .any(|l| l.contains("\"actor\":\"cli\"") && l.contains("layer.update")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains("app.publish")), "{text}");
}

both_stores!(tokens_over_http, audit_log_records_every_write);

/// Two servers on one PostGIS: a token revoked through one is refused by the other, and a
/// layer made private through one is hidden by the other, each within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_and_visibility_reach_every_replica() {
    let t = common::postgis().await;
    common::load_demo(&t.location);
    let admin = common::cli_ok(
        &t.location,
        &["token", "create", "--org", "015146", "--role", "admin"],
    );
    let admin = admin.trim().to_string();
    let a = common::serve(&t.location);
    let b = common::serve(&t.location);
    let client = |port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "-d", b]);
        }
        let out = cmd
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .parse::<u16>()
            .unwrap_or(0)
    };
    // A second token to revoke, used on both servers.
    let victim = common::cli_ok(&t.location, &["token", "create", "--org", "015146"]);
    let victim = victim.trim().to_string();
    let id = atlante::auth::token_id(&atlante::auth::hash(&victim));
    assert_eq!(client(a.port, "GET", "/api/me", Some(&victim), None), 200);
    assert_eq!(client(b.port, "GET", "/api/me", Some(&victim), None), 200);
    let path = format!("/api/orgs/015146/tokens/{id}");
    assert_eq!(client(a.port, "DELETE", &path, Some(&admin), None), 204);
    let start = Instant::now();
    while client(b.port, "GET", "/api/me", Some(&victim), None) != 401 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "not revoked on the other server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let revoked_in = start.elapsed();
    // Visibility: public → private through A; B hides it.
    assert_eq!(
        client(b.port, "GET", "/collections/015146_nil", None, None),
        200
    );
    assert_eq!(
        client(
            a.port,
            "PATCH",
            "/api/layers/015146_nil",
            Some(&admin),
            Some(r#"{"visibility":"private"}"#)
        ),
        200
    );
    let start = Instant::now();
    while client(b.port, "GET", "/collections/015146_nil", None, None) != 404 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "still public on the other server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hidden_in = start.elapsed();
    eprintln!(
        "revocation honoured by the other server in {revoked_in:?}; visibility in {hidden_in:?}"
    );
    assert!(revoked_in < Duration::from_secs(1) && hidden_in < Duration::from_secs(1));
}
