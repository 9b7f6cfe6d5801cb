//! Faults and hostile clients, against the real binary or a real PostGIS:
//! * slow clients: connections that never finish their headers, or idle, are closed by the
//!   server after its header timeout, and the open-connection cap holds;
//! * the database going away: requests that need it get 503 with Retry-After within a
//!   second or two (never a 500 or a 30 s hang), what is in memory is still served, and
//!   everything recovers without a restart when it comes back;
//! * the binary serves its embedded web assets from any working directory;
//! * `/metrics` counts requests per route class, with no layer id in any label.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use axum::body::Body;
use common::{ingest_file, request};

/// Starts the binary on `location` with extra environment; waits until it listens.
fn serve_with(location: &str, env: &[(&str, &str)], cwd: &std::path::Path) -> common::Server {
    let port = common::free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_atlante"))
        .current_dir(cwd)
        .envs(env.iter().copied())
        .args([
            "--store",
            location,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::Server::wait(child, port)
}

/// True when the server closed the connection (EOF or reset) within `within`.
fn closed_within(s: &TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    let mut reader = s;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before closing is fine; keep reading until EOF.
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn health_ms(port: u16) -> u128 {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    t.elapsed().as_millis()
}

#[test]
fn slow_and_idle_clients_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("a.gpkg").display().to_string();
    let server = serve_with(
        &store,
        &[("ATLANTE_HEADER_TIMEOUT_SECS", "1")],
        &common::repo(),
    );
    // 200 clients that never finish their headers, and one idle kept-alive connection.
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            s.write_all(b"GET /api/layers HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 64];
    let _ = idle.read(&mut first).unwrap();
    // The server keeps answering meanwhile.
    assert!(health_ms(server.port) < 1000);
    let started = Instant::now();
    for s in &mut slow {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "a slow client is still open"
        );
    }
    assert!(
        closed_within(&idle, Duration::from_secs(5)),
        "an idle connection is still open"
    );
    eprintln!("200 slow clients closed within {:?}", started.elapsed());
    assert!(health_ms(server.port) < 1000);
}

#[test]
fn the_connection_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("a.gpkg").display().to_string();
    let server = serve_with(
        &store,
        &[
            ("ATLANTE_MAX_CONNECTIONS", "5"),
            ("ATLANTE_HEADER_TIMEOUT_SECS", "30"),
        ],
        &common::repo(),
    );
    // Seven clients that never finish their headers against a cap of five: two are closed
    // at once. Counted rather than picked, since a probe of the start-up wait may still hold
    // a slot for a moment on a loaded machine, which shifts which two.
    let held: Vec<TcpStream> = (0..7)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
            std::thread::sleep(Duration::from_millis(20));
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed = held
        .iter()
        .filter(|s| closed_within(s, Duration::from_millis(300)))
        .count();
    assert_eq!(closed, 2, "over the cap of 5: closed at once");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert!(health_ms(server.port) < 1000, "slots come back");
}

#[test]
fn the_binary_serves_its_own_web_assets_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    // An unrelated web/ in the working directory changes nothing.
    std::fs::create_dir_all(dir.path().join("web/viewer")).unwrap();
    std::fs::write(dir.path().join("web/viewer/index.html"), "not Atlante").unwrap();
    let store = dir.path().join("a.gpkg").display().to_string();
    let server = serve_with(&store, &[], dir.path());
    let get = |path: &str, accept: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    let page = get("/", "text/html");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("/static/vendor/maplibre-gl/maplibre-gl.js"));
    assert!(!page.contains("not Atlante"));
    let js = get("/static/vendor/maplibre-gl/maplibre-gl.js", "*/*");
    assert!(
        js.starts_with("HTTP/1.1 200") && js.len() > 500_000,
        "{}",
        &js[..200.min(js.len())]
    );
    assert!(get("/static/viewer/viewer.js", "*/*").starts_with("HTTP/1.1 200"));
    assert!(get("/static/../Cargo.toml", "*/*").starts_with("HTTP/1.1 404"));
}

/// A TCP relay to PostgreSQL that the test can cut and restore, as a network failure or
/// a stopped server would.
struct Relay {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (u, c) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !u.load(Ordering::SeqCst) {
                    drop(client); // refused, as a stopped server
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay { port, up, conns }
    }
    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_gives_503_not_hangs_and_recovers() {
    let t = common::postgis().await;
    common::add_layer(
        &t.store,
        "015146",
        "nil",
        &common::demo("milano/nil_2020.geojson"),
    )
    .await;
    let pg_port: u16 = t
        .location
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let relay = Relay::start(pg_port).await;
    let through = t
        .location
        .replace(&format!(":{pg_port}/"), &format!(":{}/", relay.port));
    let store = atlante::store::open(&through).await.unwrap();
    let app = common::app(&store).await;
    let get = |uri: &'static str| {
        let app = app.clone();
        async move {
            let t = Instant::now();
            let r = request(&app, "GET", uri, None, Body::empty(), &[]).await;
            (r, t.elapsed())
        }
    };
    let tile = "/tiles/015146_nil/12/2176/1461.mvt";
    assert_eq!(get(tile).await.0.status.as_u16(), 200);
    assert_eq!(
        get("/collections/015146_nil/items?limit=2")
            .await
            .0
            .status
            .as_u16(),
        200
    );

    relay.cut();
    for uri in [
        "/collections/015146_nil/items?limit=2",
        "/api/orgs",
        "/ready",
    ] {
        let (r, took) = get(uri).await;
        assert_eq!(r.status.as_u16(), 503, "{uri}: {}", r.text());
        assert!(r.headers.contains_key("retry-after"), "{uri}");
        assert!(took < Duration::from_secs(3), "{uri} took {took:?}");
        eprintln!("{uri} without the database: 503 in {took:?}");
    }
    // What is in memory is still served: the catalog and a cached tile.
    assert_eq!(get("/api/layers").await.0.status.as_u16(), 200);
    assert_eq!(get("/collections").await.0.status.as_u16(), 200);
    assert_eq!(get(tile).await.0.status.as_u16(), 200);

    relay.restore();
    let back = Instant::now();
    loop {
        let (r, _) = get("/collections/015146_nil/items?limit=2").await;
        if r.status.as_u16() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not recovered: {}",
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "recovered {:?} after the database came back",
        back.elapsed()
    );
    assert_eq!(get("/ready").await.0.status.as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_without_naming_layers() {
    let t = common::gpkg().await;
    ingest_file(
        &t.store,
        &common::demo("milano/nil_2020.geojson"),
        "015146",
        "nil",
        |o| o.visibility = None,
    )
    .await
    .unwrap();
    let metro = common::token(t.store.as_ref(), "cmm", "admin").await;
    let app = common::app(&t.store).await;
    for uri in [
        "/tiles/015146_nil/12/2176/1461.mvt",
        "/collections/015146_nil/items",
        "/health",
        "/nope",
    ] {
        request(&app, "GET", uri, None, Body::empty(), &[]).await;
    }
    let r = request(&app, "GET", "/metrics", Some(&metro), Body::empty(), &[]).await;
    assert_eq!(r.status.as_u16(), 200);
    let text = r.text();
    assert!(
        text.contains("atlante_requests_total{class=\"tiles\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("atlante_requests_total{class=\"health\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("atlante_request_seconds_bucket{class=\"features\",le=\"+Inf\"} 1"));
    assert!(text.contains("atlante_store_up 1"));
    assert!(!text.contains("015146"), "no layer id in the metrics");
}
