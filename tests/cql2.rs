//! OGC API - Features Part 3 (CQL2) on both stores, through the real router:
//! * the test set of tests/cql2/cases.json — 76 filters across the claimed classes (with
//!   GEOMETRYCOLLECTION literals, `filter-crs`, and coordinates written with all 17
//!   significant digits), 19 of them also in CQL2 JSON, whose expected answers
//!   tests/cql2/expected.py computed from the source files with shapely and hand-written
//!   predicates, not through Atlante;
//! * hostile filters: each a 400 with a clear message, or a correct (empty) answer;
//! * a fuzz of parse → check → SQL over 1,000,000 generated and mutated filters: no panic,
//!   and no SQL text ever carries a value (no quote, no semicolon).

mod common;

use atlante::cql2;
use atlante::model::{Field, FieldType, GeomType, Layer};
use atlante::store::filter as sql;
use axum::http::StatusCode;
use common::{demo, TestStore};
use serde_json::Value;

async fn setup(t: &TestStore) -> axum::Router {
    for (file, org, slug) in [
        ("cmm/comuni_cmm_openpolis.geojson", "cmm", "comuni"),
        (
            "milano/atm_fermate_metro.geojson",
            "015146",
            "metro_fermate",
        ),
        (
            "milano/atm_percorsi_metro.geojson",
            "015146",
            "metro_percorsi",
        ),
        (
            "milano/aree_pedonali_ztl.geojson",
            "015146",
            "aree_pedonali_ztl",
        ),
    ] {
        common::add_layer(&t.store, org, slug, &demo(file)).await;
    }
    common::app(&t.store).await
}

/// GET items of `collection` with `params`; the status and the parsed body.
async fn items(
    app: &axum::Router,
    collection: &str,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", common::url_encode(v)))
        .collect();
    let limit = if params.iter().any(|(k, _)| *k == "limit") {
        ""
    } else {
        "limit=10000&"
    };
    let uri = format!("/collections/{collection}/items?{limit}{}", query.join("&"));
    let r = common::get(app, &uri).await;
    (r.status, r.json())
}

fn keys(doc: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| match &f["properties"][key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    out.sort();
    out
}

async fn case_set(t: TestStore) {
    let app = setup(&t).await;
    let doc: Value = serde_json::from_str(include_str!("cql2/cases.json")).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 60);
    let mut runs = 0;
    for c in cases {
        let coll = c["collection"].as_str().unwrap();
        let key = doc["keys"][coll].as_str().unwrap();
        let expected: Vec<String> = c["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let text = c["filter"].as_str().unwrap();
        let mut params = vec![("filter", text)];
        if let Some(crs) = c["filter_crs"].as_str() {
            params.push(("filter-crs", crs));
        }
        let (status, body) = items(&app, coll, &params).await;
        assert_eq!(status, StatusCode::OK, "{text}: {body}");
        assert_eq!(keys(&body, key), expected, "{}: {text}", t.store.kind());
        assert_eq!(body["numberMatched"], expected.len(), "{text}");
        runs += 1;
        if let Some(j) = c.get("json") {
            let j = j.to_string();
            let mut params = vec![("filter", j.as_str()), ("filter-lang", "cql2-json")];
            if let Some(crs) = c["filter_crs"].as_str() {
                params.push(("filter-crs", crs));
            }
            let (status, body) = items(&app, coll, &params).await;
            assert_eq!(status, StatusCode::OK, "{j}: {body}");
            assert_eq!(keys(&body, key), expected, "{}: {j}", t.store.kind());
            runs += 1;
        }
    }
    // A filter with bbox, sortby and paging: the pages of a filtered request join up.
    let (_, all) = items(
        &app,
        "cmm_comuni",
        &[("filter", "name LIKE 'S%'"), ("sortby", "-name")],
    )
    .await;
    let mut paged = Vec::new();
    for offset in ["0", "3", "6", "9", "12"] {
        let (_, page) = items(
            &app,
            "cmm_comuni",
            &[
                ("filter", "name LIKE 'S%'"),
                ("sortby", "-name"),
                ("limit", "3"),
                ("offset", offset),
            ],
        )
        .await;
        paged.extend(
            page["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].clone()),
        );
    }
    let whole: Vec<Value> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(paged, whole);
    eprintln!("{}: {runs} filters answered as expected", t.store.kind());
}

async fn hostile(t: TestStore) {
    let app = setup(&t).await;
    let huge = format!("name = '{}'", "a".repeat(20_000));
    let deep_text = format!("{}name = 'x'{}", "(".repeat(10_000), ")".repeat(10_000));
    let deep_json = {
        let mut s = String::from(r#"{"op":"=","args":[{"property":"name"},"x"]}"#);
        for _ in 0..300 {
            s = format!(r#"{{"op":"not","args":[{s}]}}"#);
        }
        s
    };
    let many_in = format!("com_istat_code_num IN ({})", vec!["1"; 5000].join(","));
    // Deep but short enough to reach the parser.
    let deep_short = format!("{}name = 'x'{}", "(".repeat(5_000), ")".repeat(5_000));
    // (filter, filter-lang, the message a 400 must carry); "" as message: a 200 with no feature.
    let cases: Vec<(&str, &str, &str)> = vec![
        ("name = 'x'' OR ''1''=''1'", "cql2-text", ""),
        ("name = 'Milano'' --'", "cql2-text", ""),
        (
            "name = 'x'; DROP TABLE cmm_comuni; --",
            "cql2-text",
            "unexpected character ';'",
        ),
        (
            "name = 'x' OR pg_sleep(5) = 1",
            "cql2-text",
            "function 'pg_sleep' is not supported",
        ),
        ("pg_sleep(5)", "cql2-text", "not supported"),
        ("sqlite_version() = '3'", "cql2-text", "not supported"),
        ("load_extension('x') = 1", "cql2-text", "not supported"),
        (
            "exec(name) = 1",
            "cql2-text",
            "function 'exec' is not supported",
        ),
        ("\"exec(…)\" = 1", "cql2-text", "unknown property 'exec(…)'"),
        ("\"name\"\" = 1", "cql2-text", "unterminated"),
        (
            "\"name; DROP TABLE x\" = 'a'",
            "cql2-text",
            "unknown property",
        ),
        (
            "name = 'a' UNION SELECT 1",
            "cql2-text",
            "unexpected 'UNION'",
        ),
        (
            "name LIKE '%' ESCAPE 'x'",
            "cql2-text",
            "unexpected 'ESCAPE'",
        ),
        ("name = 'nul\u{0}byte'", "cql2-text", "NUL"),
        (
            "name = 'x' /* comment */",
            "cql2-text",
            "unexpected character '/'",
        ),
        ("name = 1", "cql2-text", "cannot compare"),
        ("geometry = 1", "cql2-text", "cannot compare"),
        (
            "S_INTERSECTS(geometry, POINT(9 1e400))",
            "cql2-text",
            "not a number",
        ),
        (
            "S_INTERSECTS(geometry, POINT(9 160))",
            "cql2-text",
            "latitude",
        ),
        (
            "S_INTERSECTS(geometry, POLYGON((9 45, 9.1 45.1, 9.1 45, 9 45.1, 9 45)))",
            "cql2-text",
            "not valid",
        ),
        (
            "T_AFTER(val_inizio, TIMESTAMP('yesterday'))",
            "cql2-text",
            "unknown property 'val_inizio'",
        ),
        ("name IN ()", "cql2-text", "expected a value"),
        (
            "S_WITHIN(geometry, GEOMETRYCOLLECTION(POINT(9.19 45.46), LINESTRING(9 45, 9.1 45.1)))",
            "cql2-text",
            "S_WITHIN with a GEOMETRYCOLLECTION is not supported",
        ),
        (
            r#"{"op":"s_within","args":[{"property":"geometry"},{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[9.19,45.46]}]}]}"#,
            "cql2-json",
            "S_WITHIN with a GEOMETRYCOLLECTION is not supported",
        ),
        (
            r#"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[{"type":"GeometryCollection","geometries":[]}]}]}]}]}]}"#,
            "cql2-json",
            "nested too deeply",
        ),
        (
            r#"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"GeometryCollection","geometries":[]}]}"#,
            "cql2-json",
            "",
        ),
        ("", "cql2-text", "empty"),
        ("name = 'x'", "sql", "filter-lang 'sql' is not supported"),
        (&huge, "cql2-text", "the limit is"),
        (&deep_text, "cql2-text", "nested deeper|the limit is"),
        (&deep_json, "cql2-json", "nested deeper"),
        (&deep_short, "cql2-text", "nested deeper"),
        (&many_in, "cql2-text", "more than 2000 literals"),
        (
            r#"{"op":"=","args":[{"property":"name; DROP TABLE x"},"a"]}"#,
            "cql2-json",
            "unknown property",
        ),
        (
            r#"{"op":"pg_sleep","args":[5]}"#,
            "cql2-json",
            "not supported",
        ),
        (
            r#"{"op":"=","args":[{"op":"pg_sleep","args":[5]},1]}"#,
            "cql2-json",
            "function 'pg_sleep' is not supported",
        ),
        (
            r#"{"op":"=","args":[{"property":"name"},"x' OR '1'='1"]}"#,
            "cql2-json",
            "",
        ),
        (
            r#"{"op":"=","args":[{"property":"name"}]}"#,
            "cql2-json",
            "takes 2 arguments",
        ),
        ("[1,2", "cql2-json", "not JSON"),
    ];
    for (filter, lang, msg) in &cases {
        let (status, body) = items(
            &app,
            "cmm_comuni",
            &[("filter", filter), ("filter-lang", lang)],
        )
        .await;
        let shown: String = filter.chars().take(60).collect();
        if msg.is_empty() {
            assert_eq!(status, StatusCode::OK, "{shown}: {body}");
            assert_eq!(body["numberMatched"], 0, "{shown}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{shown}: {body}");
            let detail = body["detail"].as_str().unwrap_or_default();
            // "a|b": either message (a 10,000-deep filter is also longer than the limit).
            assert!(
                msg.split('|').any(|m| detail.contains(m)),
                "{shown}: {detail}"
            );
        }
    }
    // Bad companions: filter-crs unknown, filter-lang without a filter, datetime without dates.
    for (params, msg) in [
        (
            vec![("filter", "name = 'x'"), ("filter-crs", "EPSG:999999")],
            "crs",
        ),
        (vec![("filter-lang", "cql2-text")], "need a filter"),
        (vec![("datetime", "2020-01-01")], "no temporal property"),
    ] {
        let (status, body) = items(&app, "cmm_comuni", &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}");
        assert!(body["detail"].as_str().unwrap().contains(msg), "{body}");
    }
    // A 1 MB literal over real HTTP: the HTTP layer refuses the URL (414/431) and the server
    // goes on answering.
    let server = common::serve(&t.location);
    let path = format!(
        "/collections/cmm_comuni/items?filter={}",
        common::url_encode(&format!("name = '{}'", "a".repeat(1 << 20)))
    );
    let (status, _) = common::http_get(server.port, &path).await.unwrap();
    assert!(status == 414 || status == 431, "{status}");
    let (status, _) = common::http_get(
        server.port,
        "/collections/cmm_comuni/items?filter=name%3D%27Rho%27",
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    // The catalog is intact after all of it.
    let (status, body) = items(&app, "cmm_comuni", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["numberMatched"], 133);
}

async fn datetime(t: TestStore) {
    let app = setup(&t).await;
    // `datetime` is T_INTERSECTS on the first temporal property (val_inizio).
    for (dt, filter) in [
        (
            "2016-01-01T00:00:00Z/..",
            "val_inizio >= TIMESTAMP('2016-01-01T00:00:00Z')",
        ),
        (
            "../1999-12-31T23:00:00Z",
            "val_inizio <= TIMESTAMP('1999-12-31T23:00:00Z')",
        ),
        (
            "2012-05-29T22:00:00Z",
            "val_inizio = TIMESTAMP('2012-05-29T22:00:00Z')",
        ),
    ] {
        let (s1, a) = items(&app, "015146_aree_pedonali_ztl", &[("datetime", dt)]).await;
        let (s2, b) = items(&app, "015146_aree_pedonali_ztl", &[("filter", filter)]).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{a} {b}");
        assert!(b["numberMatched"].as_i64().unwrap() > 0, "{filter}");
        assert_eq!(keys(&a, "id_amat"), keys(&b, "id_amat"), "{dt}");
    }
}

both_stores!(case_set, hostile, datetime);

/// A layer with one field of each type, for the fuzz.
fn fuzz_layer() -> Layer {
    let field = |name: &str, kind| Field {
        name: name.into(),
        label: name.into(),
        kind,
    };
    Layer::sketch(
        "t",
        GeomType::MultiPolygon,
        vec![
            field("name", FieldType::Text),
            field("pop", FieldType::Integer),
            field("area", FieldType::Real),
            field("open", FieldType::Boolean),
            field("since", FieldType::Date),
            field("at", FieldType::Datetime),
        ],
    )
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const PROPS: &[&str] = &[
    "name",
    "pop",
    "area",
    "open",
    "since",
    "at",
    "geometry",
    "nope",
    "\"na me\"",
];
const VALUES: &[&str] = &[
    "'Milano'",
    "'x'' OR ''1''=''1'",
    "'%a_'",
    "3",
    "-2.5e3",
    "TRUE",
    "FALSE",
    "DATE('2020-01-01')",
    "TIMESTAMP('2020-01-01T10:00:00+02:00')",
    "CASEI('ÀB')",
    "CASEI(name)",
    "'2020-02-30'",
    "1e999",
    "'\\'",
    "''",
];
const GEOMS: &[&str] = &[
    "POINT(9.19 45.46)",
    "BBOX(9,45,10,46)",
    "LINESTRING(9 45, 10 46)",
    "POLYGON((9 45, 10 45, 10 46, 9 45))",
    "MULTIPOINT((9 45), (10 46))",
    "MULTIPOLYGON(((9 45, 10 45, 10 46, 9 45)))",
    "GEOMETRYCOLLECTION(POINT(9 45), LINESTRING(9 45, 10 46))",
    "POINT(200 100)",
    "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))",
    "geometry",
];
const TEMPORAL: &[&str] = &[
    "since",
    "at",
    "DATE('2020-01-01')",
    "TIMESTAMP('2021-01-01T00:00:00Z')",
    "INTERVAL('..', '2020-01-01')",
    "INTERVAL(since, at)",
    "INTERVAL(at, '..')",
    "'2020-05-05'",
    "pop",
];

fn gen(r: &mut Rng, depth: usize) -> String {
    let leaf = depth > 4 || r.below(3) == 0;
    if !leaf {
        return match r.below(4) {
            0 => format!("({} AND {})", gen(r, depth + 1), gen(r, depth + 1)),
            1 => format!("({} OR {})", gen(r, depth + 1), gen(r, depth + 1)),
            2 => format!("NOT {}", gen(r, depth + 1)),
            _ => format!("({})", gen(r, depth + 1)),
        };
    }
    let ops = ["=", "<>", "<", "<=", ">", ">="];
    match r.below(9) {
        0 | 1 => format!("{} {} {}", r.pick(PROPS), r.pick(&ops), r.pick(VALUES)),
        2 => format!(
            "{} {}LIKE {}",
            r.pick(PROPS),
            ["", "NOT "][r.below(2)],
            r.pick(VALUES)
        ),
        3 => format!(
            "{} BETWEEN {} AND {}",
            r.pick(PROPS),
            r.pick(VALUES),
            r.pick(VALUES)
        ),
        4 => format!(
            "{} IN ({}, {})",
            r.pick(PROPS),
            r.pick(VALUES),
            r.pick(VALUES)
        ),
        5 => format!("{} IS {}NULL", r.pick(PROPS), ["", "NOT "][r.below(2)]),
        6 => {
            let f = cql2::SpatialOp::ALL[r.below(8)].name();
            format!("{f}({}, {})", r.pick(GEOMS), r.pick(GEOMS))
        }
        7 => {
            let f = [
                "T_AFTER",
                "T_BEFORE",
                "T_DURING",
                "T_INTERSECTS",
                "T_EQUALS",
                "T_OVERLAPS",
                "T_METBY",
                "T_DISJOINT",
            ][r.below(8)];
            format!("{f}({}, {})", r.pick(TEMPORAL), r.pick(TEMPORAL))
        }
        _ => ["TRUE", "FALSE", "pg_sleep(1) = 1", "a ; b"][r.below(4)].to_string(),
    }
}

/// Random byte edits of a valid filter: deletions, duplications, insertions of tokens.
fn mutate(r: &mut Rng, s: &str) -> String {
    let mut b: Vec<u8> = s.as_bytes().to_vec();
    let junk: &[&[u8]] = &[
        b"(", b")", b"'", b"\"", b",", b" AND ", b" NOT ", b"--", b";", b"\0", b"\xC3", b"9e9",
        b"..", b"%",
    ];
    for _ in 0..1 + r.below(4) {
        let at = if b.is_empty() {
            0
        } else {
            r.below(b.len() + 1)
        };
        match r.below(3) {
            0 if !b.is_empty() && at < b.len() => {
                b.remove(at);
            }
            1 => {
                let j = junk[r.below(junk.len())];
                b.splice(at..at, j.iter().copied());
            }
            _ => {
                let end = (at + r.below(8)).min(b.len());
                let piece: Vec<u8> = b[at.min(end)..end].to_vec();
                b.splice(at..at, piece);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Values never reach SQL text: the only quote allowed is LIKE's ESCAPE '\'.
fn assert_safe(pieces: &[sql::Piece], filter: &str) {
    for p in pieces {
        if let sql::Piece::Sql(s) = p {
            let t = s.replace("ESCAPE '\\'", "");
            assert!(!t.contains('\'') && !t.contains(';'), "{filter} → {t}");
        }
    }
}

#[test]
fn fuzz_one_million_filters() {
    let layer = fuzz_layer();
    let seeds: Vec<String> = {
        let doc: Value = serde_json::from_str(include_str!("cql2/cases.json")).unwrap();
        doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["filter"].as_str().unwrap().to_string())
            .collect()
    };
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut parsed, mut checked) = (0u32, 0u32);
    for i in 0..1_000_000u32 {
        let filter = match i % 4 {
            0 | 1 => gen(&mut r, 0),
            2 => {
                let s = gen(&mut r, 0);
                mutate(&mut r, &s)
            }
            _ => {
                let k = r.below(seeds.len());
                mutate(&mut r, &seeds[k])
            }
        };
        let Ok(e) = cql2::parse(&filter, None) else {
            continue;
        };
        parsed += 1;
        let Ok(c) = cql2::check::check(&e, &layer, None) else {
            continue;
        };
        checked += 1;
        for d in [sql::Dialect::Postgres, sql::Dialect::Sqlite] {
            assert_safe(&sql::compile(&c, &layer, d), &filter);
        }
    }
    eprintln!("1,000,000 filters: {parsed} parsed, {checked} checked and compiled, no panic");
    assert!(parsed > 300_000 && checked > 50_000, "{parsed} {checked}");
}
