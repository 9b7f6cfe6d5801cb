//! Test harness: real stores. PostGIS is a throwaway cluster started from the system's
//! PostgreSQL binaries on a private port and socket, removed when the test process exits,
//! unless `DATABASE_URL` names a server to use (it needs CREATEDB rights).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use atlante::ingest::{ingest, IngestOptions};
use atlante::model::{IngestSummary, Layer};
use atlante::store::{self, DynStore};

pub const TEMPLATE_DB: &str = "atlante_template";

/// A store for one test, with whatever keeps it alive.
pub struct TestStore {
    pub store: DynStore,
    pub location: String,
    _dir: Option<tempfile::TempDir>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

pub fn demo(name: &str) -> PathBuf {
    repo().join("demo").join(name)
}

pub async fn gpkg() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("atlante.gpkg").display().to_string();
    let store = store::open(&location).await.unwrap();
    store
        .upsert_orgs(&atlante::seed::organisations().unwrap())
        .await
        .unwrap();
    TestStore {
        store,
        location,
        _dir: Some(dir),
    }
}

pub async fn postgis() -> TestStore {
    let admin = admin_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let location = with_database(admin, &name);
    let store = store::open(&location).await.unwrap();
    store
        .upsert_orgs(&atlante::seed::organisations().unwrap())
        .await
        .unwrap();
    TestStore {
        store,
        location,
        _dir: None,
    }
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// The admin URL of the test server, starting the throwaway cluster on first use.
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = match std::env::var("DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => start_cluster(),
        };
        make_template(&url);
        url
    })
}

fn make_template(url: &str) {
    let url = url.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                        .bind(TEMPLATE_DB)
                        .fetch_optional(&mut c)
                        .await
                        .unwrap();
                if exists.is_none() {
                    sqlx::query(&format!("CREATE DATABASE {TEMPLATE_DB}"))
                        .execute(&mut c)
                        .await
                        .unwrap();
                    let mut t = sqlx::PgConnection::connect(&with_database(&url, TEMPLATE_DB))
                        .await
                        .unwrap();
                    sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
                        .execute(&mut t)
                        .await
                        .unwrap();
                }
            })
    })
    .join()
    .unwrap();
}

static CLUSTER_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn stop_cluster() {
    if let Some(dir) = CLUSTER_DIR.get() {
        let data = dir.join("data");
        let _ = as_postgres(pg_bin("pg_ctl"))
            .args(["-D", &data.display().to_string(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .last()
        .map(|b| b.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// PostgreSQL refuses to run as root: run its tools as the `postgres` user then.
fn as_postgres(bin: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_cluster() -> String {
    let dir = tempfile::Builder::new()
        .prefix("atlante-pg-")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    if is_root() {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
    }
    let out = as_postgres(pg_bin("initdb"))
        .args([
            "-D",
            &data.display().to_string(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ])
        .output()
        .expect("initdb (install postgresql and postgis)");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    let out = as_postgres(pg_bin("pg_ctl"))
        .args(["-D", &data.display().to_string(), "-o", &opts, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    CLUSTER_DIR.set(dir).ok();
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_cluster) };
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// Ingests through the shared code path, published (public) unless `tweak` says otherwise
/// (`o.visibility = None` leaves a new layer a draft, as uploads are by default).
pub async fn ingest_file(
    store: &DynStore,
    path: &Path,
    org: &str,
    slug: &str,
    tweak: impl FnOnce(&mut IngestOptions),
) -> Result<(Layer, IngestSummary), atlante::ingest::IngestError> {
    let mut opts = IngestOptions {
        org: org.into(),
        slug: slug.into(),
        max_bytes: 256 << 20,
        visibility: Some("public".into()),
        ..Default::default()
    };
    tweak(&mut opts);
    let display = path.file_name().unwrap().to_string_lossy().into_owned();
    ingest(
        store.as_ref(),
        path,
        &display,
        &opts,
        atlante::ingest::no_progress(),
    )
    .await
}

/// Publishes `file` as layer `org`/`slug` (public) and returns what the ingest reports;
/// panics on any error (for setup, where an ingest is not what is tested).
pub async fn add_layer(
    store: &DynStore,
    org: &str,
    slug: &str,
    file: &Path,
) -> (Layer, IngestSummary) {
    ingest_file(store, file, org, slug, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Publishes the 88 NIL districts of Milan as `015146_nil` and the 110 metro stops as
/// `015146_fermate` (both public): the usual polygons and points of the tests.
pub async fn nil_and_stops(store: &DynStore) -> (Layer, Layer) {
    let (nil, _) = add_layer(store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let (stops, _) = add_layer(
        store,
        "015146",
        "fermate",
        &demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    (nil, stops)
}

/// The real router over `store` with the default configuration.
pub async fn app(store: &DynStore) -> axum::Router {
    app_with(store, atlante::config::Config::default()).await
}

/// The real router over `store` with its caches (downloads, bundles) in a folder of its
/// own, removed with the returned guard.
pub async fn app_with_cache(store: &DynStore) -> (axum::Router, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let config = atlante::config::Config {
        cache_dir: cache.path().to_path_buf(),
        ..Default::default()
    };
    (app_with(store, config).await, cache)
}

/// The real router over `store` with `config`.
pub async fn app_with(store: &DynStore, config: atlante::config::Config) -> axum::Router {
    atlante::http::router(state(store, config).await)
}

/// The application state over `store` with `config` (for tests that look inside it).
pub async fn state(store: &DynStore, config: atlante::config::Config) -> atlante::http::AppState {
    atlante::http::AppState::new(store.clone(), config)
        .await
        .unwrap()
}

/// A GET without a token through the in-process router.
pub async fn get(app: &axum::Router, uri: &str) -> Reply {
    get_with(app, uri, &[]).await
}

/// A GET without a token, with extra headers, through the in-process router.
pub async fn get_with(app: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Reply {
    request(app, "GET", uri, None, axum::body::Body::empty(), headers).await
}

/// Feature count of a source file as `ogrinfo` reports it.
pub fn ogrinfo_count(path: &Path) -> u64 {
    let src = if path.extension().is_some_and(|e| e == "zip") {
        format!("/vsizip/{}", path.display())
    } else {
        path.display().to_string()
    };
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al", &src])
        .output()
        .expect("ogrinfo");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no feature count from ogrinfo for {src}: {text}"))
}

/// Runs one async test body against both stores.
#[macro_export]
#[allow(clippy::crate_in_macro_def)] // `crate` is the test binary that includes `common`
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn gpkg() {
                super::$name(crate::common::gpkg().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgis() {
                super::$name(crate::common::postgis().await).await
            }
        }
    )*};
}

/// Every table in the store's database, to check that a failed ingest left nothing behind.
pub async fn table_names(t: &TestStore) -> Vec<String> {
    use sqlx::Connection;
    let mut names: Vec<String> = if t.location.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&t.location).await.unwrap();
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", t.location))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut c)
            .await
            .unwrap()
    };
    names.sort();
    names
}

/// Unzips a fixture into `dir`, returning the paths written.
pub fn unzip(zip: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut a = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..a.len() {
        let mut e = a.by_index(i).unwrap();
        let p = dir.join(e.name());
        let mut f = std::fs::File::create(&p).unwrap();
        std::io::copy(&mut e, &mut f).unwrap();
        out.push(p);
    }
    out
}

/// Zips `entries` (name, bytes) into `path`.
pub fn make_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
}

/// A running `atlante serve` of the real binary, killed on drop.
pub struct Server {
    child: std::process::Child,
    pub port: u16,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until a started server answers `/health` on `port` (it binds its port before
    /// it has loaded the catalog: a connection alone does not say it is serving).
    pub fn wait(child: std::process::Child, port: u16) -> Server {
        use std::io::{Read, Write};
        let server = Server { child, port };
        for _ in 0..800 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut out = [0u8; 12];
                if s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .is_ok()
                    && s.read_exact(&mut out).is_ok()
                    && &out == b"HTTP/1.1 200"
                {
                    return server;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the server did not start");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port over `location` and waits until it accepts connections.
pub fn serve(location: &str) -> Server {
    serve_with(location, &[])
}

/// [`serve`] with more arguments before `serve` (e.g. `--config FILE`).
pub fn serve_with(location: &str, args: &[&str]) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_atlante"))
        .current_dir(repo())
        .args(args)
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
    Server::wait(child, port)
}

/// A fresh embedded store in `dir` loaded by `atlante demo --no-serve`; returns its path.
pub fn demo_store(dir: &Path) -> String {
    let store = dir.join("atlante.gpkg").display().to_string();
    load_demo(&store);
    store
}

/// Runs `atlante demo --no-serve` on a store location (GeoPackage path or postgres URL).
pub fn load_demo(location: &str) {
    cli_ok(location, &["demo", "--no-serve"]);
}

/// Runs the real binary on `location` with `args`; its standard output. Fails the test
/// (with the binary's standard error) if it does not succeed.
pub fn cli_ok(location: &str, args: &[&str]) -> String {
    let st = Command::new(env!("CARGO_BIN_EXE_atlante"))
        .current_dir(repo())
        .args(["--store", location])
        .args(args)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "atlante {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&st.stderr)
    );
    String::from_utf8_lossy(&st.stdout).into_owned()
}

/// A minimal HTTP/1.1 GET (the test needs no client crate).
pub async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut body = buf[(end + 4).min(buf.len())..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..p]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[p + 2..p + 2 + n]);
        b = &b[p + 4 + n..];
    }
    out
}

/// One request through the in-process router: the status and the body as JSON (Null when
/// it is not JSON).
pub async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (axum::http::StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut b = axum::http::Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = body.map_or(axum::body::Body::empty(), |v| {
        axum::body::Body::from(v.to_string())
    });
    let res = app.clone().oneshot(b.body(body).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A new token of `org` with `role`; the secret.
pub async fn token(store: &(impl atlante::store::Store + ?Sized), org: &str, role: &str) -> String {
    atlante::auth::create_token(store, org, role, "test", None)
        .await
        .unwrap()
        .0
}

/// An answer of the in-process router: status, headers and body bytes.
pub struct Reply {
    pub status: axum::http::StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn content_type(&self) -> String {
        self.header("content-type")
    }
    /// A header's value, empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

/// One request through the in-process router with any body and headers.
pub async fn request(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: axum::body::Body,
    headers: &[(&str, &str)],
) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut b = axum::http::Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let res = app.clone().oneshot(b.body(body).unwrap()).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

/// A multipart body with one file part and text fields; (content type, bytes).
pub fn multipart(name: &str, bytes: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "atlante-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Every text in a zip, with each gzip member inside its files (PMTiles tiles and
/// directories) inflated: what a leak search must look through.
pub fn zip_text(zip: &[u8]) -> String {
    use std::io::Read;
    let Ok(mut a) = zip::ZipArchive::new(std::io::Cursor::new(zip)) else {
        return String::new();
    };
    let mut out = String::new();
    for i in 0..a.len() {
        let mut f = a.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.push_str(&String::from_utf8_lossy(&b));
        for (p, _) in b
            .windows(3)
            .enumerate()
            .filter(|(_, w)| *w == [0x1f, 0x8b, 0x08])
        {
            let mut d = flate2::read::GzDecoder::new(&b[p..]);
            let mut x = Vec::new();
            if d.read_to_end(&mut x).is_ok() {
                out.push_str(&String::from_utf8_lossy(&x));
            }
        }
    }
    out
}

/// A fresh PostgreSQL database with PostGIS and nothing of Atlante's yet; its URL.
pub async fn postgis_empty() -> String {
    let admin = admin_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"))
        .execute(&mut conn)
        .await
        .unwrap();
    with_database(admin, &name)
}

/// A gzipped fixture's bytes.
pub fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A PMTiles archive of OpenStreetMap streets and amenities of Milan (tests/fixtures/osm),
/// made as an operator would: ingested into a store of its own, then
/// `atlante tiles export` (z10–14). Returns its path, in `dir`.
pub fn osm_archive(dir: &Path) -> PathBuf {
    use std::io::Read;
    let store = dir.join("osm.gpkg").display().to_string();
    for (name, slug) in [
        ("osm_streets_milano_2016", "strade"),
        ("osm_amenities_milano_2016", "servizi"),
    ] {
        let gz = std::fs::read(fixture(&format!("osm/{name}.geojson.gz"))).unwrap();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut text)
            .unwrap();
        let file = dir.join(format!("{name}.geojson"));
        std::fs::write(&file, text).unwrap();
        cli_ok(
            &store,
            &[
                "ingest",
                "--org",
                "cmm",
                "--layer",
                slug,
                "--visibility",
                "public",
                file.to_str().unwrap(),
            ],
        );
    }
    let out = dir.join("osm.pmtiles");
    cli_ok(
        &store,
        &[
            "tiles",
            "export",
            "--layers",
            "cmm_strade,cmm_servizi",
            "--zooms",
            "10-14",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    out
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
