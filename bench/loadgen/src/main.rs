//! The mixed load of `bench/load.sh`, as a Rust client: the same mix, flags and JSON report
//! as `bench/load.py`, at a small part of its CPU (one thread, hyper's pooled keep-alive
//! connections). On a machine whose cores the load client shares with the server and
//! PostgreSQL, what a client measures includes its own wait for a core; the cheaper the
//! client, the less of that wait.
//!
//!     loadgen --base http://127.0.0.1:8080 --seconds 600 --clients 200 \
//!         --edit ORG:TOKEN:LAYER:FEATURES[,...] --upload ORG:TOKEN:SLUG:FILE[,...] \
//!         [--edit-stream TOKEN:LAYER:FEATURES:FIELD:SECONDS]
//!
//! N clients, each in a closed loop, pick by weight: a vector tile over Milan at z10–z16
//! (60 %), items with a CQL2 attribute + spatial filter (20 %), a catalog read (15 %), a
//! Part 4 PATCH by one of the comuni (4.5 %), an upload of a small file as a new version
//! (0.5 %). `--edit-stream` adds one editor outside the clients, PATCHing a random feature
//! every SECONDS ("stream"). Prints one JSON report at the end, a progress line every 10 s.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

const MILAN: (f64, f64, f64, f64) = (9.04, 45.38, 9.28, 45.54);
const TIMEOUT: Duration = Duration::from_secs(60);

type Http = Client<HttpConnector, Full<Bytes>>;

struct Args {
    base: String,
    seconds: f64,
    clients: usize,
    tile_layers: Vec<String>,
    items_layer: String,
    edit: Vec<(String, String, u64)>,
    edit_field: String,
    upload: Vec<(String, String, String, Bytes)>,
    edit_stream: Option<(String, String, u64, String, f64)>,
}

fn usage(why: &str) -> ! {
    eprintln!("loadgen: {why}\nsee the head of bench/loadgen/src/main.rs for the flags");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut flags = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(name) = k.strip_prefix("--") else {
            usage(&format!("unexpected {k}"))
        };
        let v = it
            .next()
            .unwrap_or_else(|| usage(&format!("{k} needs a value")));
        flags.insert(name.to_string(), v);
    }
    let get = |k: &str, d: &str| flags.get(k).cloned().unwrap_or_else(|| d.to_string());
    let num = |k: &str, d: &str| {
        get(k, d)
            .parse::<f64>()
            .unwrap_or_else(|_| usage(&format!("--{k} is a number")))
    };
    let list = |k: &str| {
        get(k, "")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for k in flags.keys() {
        let known = [
            "base",
            "seconds",
            "clients",
            "tile-layers",
            "items-layer",
            "edit",
            "edit-field",
            "upload",
            "edit-stream",
        ];
        if !known.contains(&k.as_str()) {
            usage(&format!("unknown flag --{k}"));
        }
    }
    let edit = list("edit")
        .iter()
        .map(|e| match e.split(':').collect::<Vec<_>>()[..] {
            [_org, token, layer, n] => (
                token.to_string(),
                layer.to_string(),
                n.parse().unwrap_or_else(|_| usage("--edit FEATURES")),
            ),
            _ => usage("--edit is ORG:TOKEN:LAYER:FEATURES,..."),
        })
        .collect();
    let upload = list("upload")
        .iter()
        .map(|u| match u.splitn(4, ':').collect::<Vec<_>>()[..] {
            [org, token, slug, path] => {
                let file = std::fs::read(path).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
                let name = path.rsplit('/').next().unwrap_or(path);
                (
                    format!("/api/orgs/{org}/layers/{slug}"),
                    token.to_string(),
                    name.to_string(),
                    Bytes::from(file),
                )
            }
            _ => usage("--upload is ORG:TOKEN:SLUG:FILE,..."),
        })
        .collect();
    let edit_stream =
        flags
            .get("edit-stream")
            .map(|s| match s.split(':').collect::<Vec<_>>()[..] {
                [token, layer, n, field, every] => (
                    token.to_string(),
                    layer.to_string(),
                    n.parse()
                        .unwrap_or_else(|_| usage("--edit-stream FEATURES")),
                    field.to_string(),
                    every
                        .parse()
                        .unwrap_or_else(|_| usage("--edit-stream SECONDS")),
                ),
                _ => usage("--edit-stream is TOKEN:LAYER:FEATURES:FIELD:SECONDS"),
            });
    Args {
        base: flags
            .get("base")
            .cloned()
            .unwrap_or_else(|| usage("--base is required")),
        seconds: num("seconds", "600"),
        clients: num("clients", "200") as usize,
        tile_layers: get("tile-layers", "cmm_bench_sezioni")
            .split(',')
            .map(str::to_string)
            .collect(),
        items_layer: get("items-layer", "cmm_bench_sezioni"),
        edit,
        edit_field: get("edit-field", "nil"),
        upload,
        edit_stream,
    }
}

/// One route class's answers: statuses, and latencies (ms) by minute of the run.
#[derive(Default)]
struct Class {
    status: BTreeMap<u16, u64>,
    minute: BTreeMap<u64, Vec<f64>>,
}

#[derive(Default)]
struct Stats {
    by_class: BTreeMap<&'static str, Class>,
    bad: Vec<(String, String)>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        for (cls, c) in other.by_class {
            let mine = self.by_class.entry(cls).or_default();
            for (m, lat) in c.minute {
                mine.minute.entry(m).or_default().extend(lat);
            }
            for (k, v) in c.status {
                *mine.status.entry(k).or_default() += v;
            }
        }
        let room = 50usize.saturating_sub(self.bad.len());
        self.bad.extend(other.bad.into_iter().take(room));
    }

    fn report(self, seconds: f64) -> Value {
        let q = |lat: &mut Vec<f64>, p: f64| -> Value {
            if lat.is_empty() {
                return Value::Null;
            }
            lat.sort_by(f64::total_cmp);
            let v = lat[((p * lat.len() as f64) as usize).min(lat.len() - 1)];
            json!((v * 10.0).round() / 10.0)
        };
        let (mut total, mut errors, mut busy) = (0u64, 0u64, 0u64);
        let mut out = serde_json::Map::new();
        for (cls, mut c) in self.by_class {
            let mut lat: Vec<f64> = c.minute.values().flatten().copied().collect();
            let n = lat.len() as u64;
            let by_minute: Vec<Value> = c.minute.values_mut().map(|m| q(m, 0.99)).collect();
            for (&k, &v) in &c.status {
                if k >= 500 && k != 503 {
                    errors += v;
                }
                if k == 503 {
                    busy += v;
                }
            }
            total += n;
            let status: serde_json::Map<String, Value> = c
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            out.insert(
                cls.to_string(),
                json!({"requests": n, "per_s": (n as f64 / seconds * 10.0).round() / 10.0,
                       "p50_ms": q(&mut lat, 0.5), "p99_ms": q(&mut lat, 0.99),
                       "p99_ms_by_minute": by_minute, "status": status}),
            );
        }
        json!({"seconds": (seconds * 10.0).round() / 10.0, "requests": total,
               "per_s": (total as f64 / seconds * 10.0).round() / 10.0,
               "server_errors_not_503": errors, "busy_503": busy,
               "busy_share": if total > 0 { (busy as f64 / total as f64 * 1e5).round() / 1e5 } else { 0.0 },
               "bad_examples": self.bad, "by_class": out})
    }
}

/// What every task shares: the client, the clock, the count of answers for the progress line.
struct Run {
    http: Http,
    start: Instant,
    deadline: Instant,
    done: AtomicU64,
}

impl Run {
    async fn one(&self, stats: &mut Stats, cls: &'static str, req: Request<Full<Bytes>>) {
        let t = Instant::now();
        let minute = t.duration_since(self.start).as_secs() / 60;
        let answer = tokio::time::timeout(TIMEOUT, async {
            let r = self.http.request(req).await?;
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            r.into_body().collect().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, retry_after))
        })
        .await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let status = match answer {
            Ok(Ok((status, retry_after))) => {
                if status >= 500 && !(status == 503 && retry_after) && stats.bad.len() < 50 {
                    stats.bad.push((cls.to_string(), status.to_string()));
                }
                status
            }
            // A refused or reset connection, or no answer within the timeout, counts as 0.
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timeout".to_string(),
                };
                if stats.bad.len() < 50 {
                    stats
                        .bad
                        .push((cls.to_string(), why.chars().take(80).collect()));
                }
                0
            }
        };
        let c = stats.by_class.entry(cls).or_default();
        c.minute.entry(minute).or_default().push(ms);
        *c.status.entry(status).or_default() += 1;
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn tile_for(lon: f64, lat: f64, z: u32) -> (u64, u64) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n) as u64;
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n) as u64;
    (x, y)
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get(url: String, gzip: bool) -> Request<Full<Bytes>> {
    let mut b = Request::get(url);
    if gzip {
        b = b.header("accept-encoding", "gzip");
    }
    b.body(Full::default()).expect("request")
}

fn patch(url: String, token: &str, body: Value) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::PATCH)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

fn upload(url: String, token: &str, name: &str, file: &Bytes) -> Request<Full<Bytes>> {
    let boundary = "atlante-loadgen-7f3a9c";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Request::post(url)
        .header("authorization", format!("Bearer {token}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

async fn client(run: Arc<Run>, args: Arc<Args>, seed: u64) -> Stats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Stats::default();
    let base = &args.base;
    while Instant::now() < run.deadline {
        let r: f64 = rng.gen();
        let (lon, lat) = (
            rng.gen_range(MILAN.0..MILAN.2),
            rng.gen_range(MILAN.1..MILAN.3),
        );
        if r < 0.60 {
            let z = rng.gen_range(10..=16);
            let (x, y) = tile_for(lon, lat, z);
            let layer = &args.tile_layers[rng.gen_range(0..args.tile_layers.len())];
            run.one(
                &mut stats,
                "tiles",
                get(format!("{base}/tiles/{layer}/{z}/{x}/{y}.mvt"), true),
            )
            .await;
        } else if r < 0.80 {
            let d: f64 = rng.gen_range(0.003..0.02);
            let f = format!(
                "pop21 > {} AND S_INTERSECTS(geometry, POLYGON(({lon} {lat}, {} {lat}, {} {}, {lon} {}, {lon} {lat})))",
                rng.gen_range(0..=300),
                lon + d,
                lon + d,
                lat + d,
                lat + d
            );
            let url = format!(
                "{base}/collections/{}/items?filter={}&limit=100",
                args.items_layer,
                enc(&f)
            );
            run.one(&mut stats, "features", get(url, false)).await;
        } else if r < 0.95 {
            let l = &args.items_layer;
            let paths = [
                "/api/layers".to_string(),
                "/collections".into(),
                format!("/collections/{l}"),
                format!("/tiles/{l}.json"),
                "/api/orgs".into(),
            ];
            let path = &paths[rng.gen_range(0..paths.len())];
            run.one(&mut stats, "catalog", get(format!("{base}{path}"), false))
                .await;
        } else if r < 0.995 && !args.edit.is_empty() {
            let (token, layer, n) = &args.edit[rng.gen_range(0..args.edit.len())];
            let fid = rng.gen_range(1..=*n);
            let body = json!({"properties": {args.edit_field.as_str(): format!("edit {}", rng.gen_range(0..1_000_000_000))}});
            run.one(
                &mut stats,
                "write",
                patch(
                    format!("{base}/collections/{layer}/items/{fid}"),
                    token,
                    body,
                ),
            )
            .await;
        } else if !args.upload.is_empty() {
            let (path, token, name, file) = &args.upload[rng.gen_range(0..args.upload.len())];
            run.one(
                &mut stats,
                "upload",
                upload(format!("{base}{path}"), token, name, file),
            )
            .await;
        }
    }
    stats
}

/// One editor outside the clients: a PATCH of a random feature every `every` seconds.
async fn editor(run: Arc<Run>, args: Arc<Args>) -> Stats {
    let (token, layer, n, field, every) = args.edit_stream.clone().expect("an edit stream");
    let mut rng = StdRng::seed_from_u64(99);
    let mut stats = Stats::default();
    while Instant::now() < run.deadline {
        let t0 = Instant::now();
        let fid = rng.gen_range(1..=n);
        let body = json!({"properties": {field.as_str(): rng.gen_range(0..1_000_000)}});
        run.one(
            &mut stats,
            "stream",
            patch(
                format!("{}/collections/{layer}/items/{fid}", args.base),
                &token,
                body,
            ),
        )
        .await;
        tokio::time::sleep(Duration::from_secs_f64(every).saturating_sub(t0.elapsed())).await;
    }
    stats
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given, which is zeroed and ours.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Arc::new(parse_args());
    let start = Instant::now();
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let run = Arc::new(Run {
        http,
        start,
        deadline: start + Duration::from_secs_f64(args.seconds),
        done: AtomicU64::new(0),
    });
    let mut tasks: Vec<_> = (0..args.clients)
        .map(|i| tokio::spawn(client(run.clone(), args.clone(), i as u64)))
        .collect();
    if args.edit_stream.is_some() {
        tasks.push(tokio::spawn(editor(run.clone(), args.clone())));
    }
    let progress = {
        let run = run.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                eprintln!(
                    "{:6.0} s  {} requests",
                    run.start.elapsed().as_secs_f64(),
                    run.done.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut stats = Stats::default();
    for t in tasks {
        stats.merge(t.await.expect("a client task"));
    }
    progress.abort();
    let mut report = stats.report(start.elapsed().as_secs_f64());
    report["client_cpu_s"] = json!((cpu_seconds() * 10.0).round() / 10.0);
    report["client"] = json!("loadgen (Rust, one thread)");
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
