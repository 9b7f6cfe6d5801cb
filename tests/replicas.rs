//! Several servers, one store: three `atlante serve` processes on one PostGIS behind a
//! round-robin proxy (a TCP proxy in this test stands for nginx or HAProxy: each new
//! connection goes to the next server, no sticky sessions). An upload, a visibility change,
//! a feature edit and a token revocation made through the proxy land on whichever server
//! it picks, and every server honours them within a second; the same tile has the same
//! bytes and `ETag` on every server, so a cache in front validates across them.

mod common;

use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

/// A round-robin TCP proxy to `backends`; its port.
async fn round_robin(backends: Vec<u16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut client, _)) = listener.accept().await {
            let backend = backends[next % backends.len()];
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(("127.0.0.1", backend)).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    port
}

/// `curl` on one port: status, headers and body.
async fn curl(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[&str],
) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (headers, body) = (dir.path().join("h"), dir.path().join("b"));
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-X", method, "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .await
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
    (
        status,
        std::fs::read_to_string(&headers).unwrap_or_default(),
        std::fs::read(&body).unwrap_or_default(),
    )
}

/// Makes the proxied test layer public or private, through `port`.
async fn set_visibility(port: u16, token: &str, visibility: &str) {
    let body = serde_json::json!({ "visibility": visibility }).to_string();
    let (status, _, _) = curl(
        port,
        "PATCH",
        "/api/layers/015146_proxied",
        Some(token),
        &["-H", "Content-Type: application/json", "-d", &body],
    )
    .await;
    assert_eq!(status, 200);
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Waits until `check` holds on every server (each asked directly); how long it took.
async fn on_every_server<F, Fut>(ports: &[u16], what: &str, check: F) -> Duration
where
    F: Fn(u16) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    for &p in ports {
        while !check(p).await {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{what}: not on the server at :{p}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_behind_a_proxy_agree_within_a_second() {
    let t = common::postgis().await;
    common::load_demo(&t.location);
    let admin = common::cli_ok(
        &t.location,
        &["token", "create", "--org", "015146", "--role", "admin"],
    )
    .trim()
    .to_string();
    let servers = [
        common::serve(&t.location),
        common::serve(&t.location),
        common::serve(&t.location),
    ];
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let proxy = round_robin(ports.clone()).await;
    let mut took = Vec::new();

    // An upload through the proxy, then published through it (another server, likely).
    let file = common::demo("milano/atm_fermate_metro.geojson");
    let (status, _, body) = curl(
        proxy,
        "POST",
        "/api/orgs/015146/layers/proxied",
        Some(&admin),
        &["-F", &format!("file=@{}", file.display())],
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    set_visibility(proxy, &admin, "public").await;
    took.push((
        "upload and publish",
        on_every_server(&ports, "upload", |p| async move {
            curl(p, "GET", "/collections/015146_proxied", None, &[])
                .await
                .0
                == 200
        })
        .await,
    ));

    // A feature edit through the proxy: every server's tile shows it, with the same bytes.
    let (_, _, item) = curl(proxy, "GET", "/collections/015146_nil/items/1", None, &[]).await;
    let item: serde_json::Value = serde_json::from_slice(&item).unwrap();
    let key = item["properties"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.eq_ignore_ascii_case("nil"))
        .unwrap()
        .clone();
    let mut c = &item["geometry"]["coordinates"];
    while c[0].is_array() {
        c = &c[0];
    }
    let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
    let z = 14;
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n) as u32;
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n) as u32;
    let tile = format!("/tiles/015146_nil/{z}/{x}/{y}.mvt");
    for &p in &ports {
        assert_eq!(curl(p, "GET", &tile, None, &[]).await.0, 200);
    }
    let value = "MODIFICATO ATTRAVERSO IL PROXY";
    let (status, _, body) = curl(
        proxy,
        "PATCH",
        "/collections/015146_nil/items/1",
        Some(&admin),
        &[
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            &serde_json::json!({"properties": {key.as_str(): value}}).to_string(),
        ],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let tile_ref = &tile;
    took.push((
        "feature edit in the tile",
        on_every_server(&ports, "edit", |p| async move {
            let (_, _, b) = curl(
                p,
                "GET",
                tile_ref,
                None,
                &["-H", "Accept-Encoding: identity"],
            )
            .await;
            b.windows(value.len()).any(|w| w == value.as_bytes())
        })
        .await,
    ));
    let mut tags = Vec::new();
    for &p in &ports {
        let (_, h, b) = curl(p, "GET", &tile, None, &["-H", "Accept-Encoding: identity"]).await;
        tags.push((header(&h, "etag").unwrap().to_string(), b));
    }
    assert!(
        tags.windows(2).all(|w| w[0] == w[1]),
        "the same tile differs between servers"
    );
    // A tag from one server validates on another.
    let etag = tags[0].0.clone();
    for &p in &ports[1..] {
        let (status, _, _) = curl(
            p,
            "GET",
            &tile,
            None,
            &["-H", &format!("If-None-Match: {etag}")],
        )
        .await;
        assert_eq!(status, 304);
    }

    // Visibility: made private through the proxy, hidden everywhere.
    set_visibility(proxy, &admin, "private").await;
    took.push((
        "made private",
        on_every_server(&ports, "visibility", |p| async move {
            curl(p, "GET", "/collections/015146_proxied", None, &[])
                .await
                .0
                == 404
        })
        .await,
    ));

    // A token revoked through the proxy is refused everywhere.
    let victim = common::cli_ok(&t.location, &["token", "create", "--org", "015146"])
        .trim()
        .to_string();
    for &p in &ports {
        assert_eq!(curl(p, "GET", "/api/me", Some(&victim), &[]).await.0, 200);
    }
    let id = atlante::auth::token_id(&atlante::auth::hash(&victim));
    let (status, _, _) = curl(
        proxy,
        "DELETE",
        &format!("/api/orgs/015146/tokens/{id}"),
        Some(&admin),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    let victim_ref = &victim;
    took.push((
        "token revoked",
        on_every_server(&ports, "revocation", |p| async move {
            curl(p, "GET", "/api/me", Some(victim_ref), &[]).await.0 == 401
        })
        .await,
    ));
    eprintln!("three servers behind a proxy, honoured everywhere in: {took:?}");
    for (what, d) in took {
        assert!(d < Duration::from_secs(1), "{what} took {d:?}");
    }
}
