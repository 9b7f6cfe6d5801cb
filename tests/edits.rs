//! Feature edits reach tiles in place, on both stores: an OGC API Part 4 edit changes the
//! tile index without rebuilding it, forgets exactly the cached tiles the edited features
//! touch (before and after, at every zoom), and the tiles then equal a full rebuild's,
//! decoded and compared feature by feature. On PostGIS, two servers on one store agree
//! after edits made on either. Under a memory budget, indexes are dropped least recently
//! used first and tiles stay the same; a restart reads persisted indexes back and serves
//! the same bytes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use atlante::tiles::math::{lonlat_to_mercator, tile_for_lonlat, tiles_touching, TileCoord};
use atlante::tiles::TileEngine;
use axum::body::Body;
use common::TestStore;
use serde_json::{json, Value};

/// One decoded feature: geometry type, command stream, and (key, raw value) tags.
type Decoded = (u64, Vec<u32>, Vec<(String, Vec<u8>)>);

/// Decodes an MVT tile (the protobuf by hand) into (layer, feature id) → feature.
fn decode(tile: &[u8]) -> BTreeMap<(String, u64), Decoded> {
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    /// (field number, payload) of each field of a message; varints as their bytes.
    fn fields(b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key = varint(b, &mut i);
            let payload = match key & 7 {
                0 => {
                    let start = i;
                    varint(b, &mut i);
                    b[start..i].to_vec()
                }
                1 => {
                    i += 8;
                    b[i - 8..i].to_vec()
                }
                2 => {
                    let n = varint(b, &mut i) as usize;
                    i += n;
                    b[i - n..i].to_vec()
                }
                5 => {
                    i += 4;
                    b[i - 4..i].to_vec()
                }
                w => panic!("wire type {w}"),
            };
            out.push((key >> 3, payload));
        }
        out
    }
    fn packed(b: &[u8]) -> Vec<u32> {
        let mut i = 0;
        let mut out = Vec::new();
        while i < b.len() {
            out.push(varint(b, &mut i) as u32);
        }
        out
    }
    let mut out = BTreeMap::new();
    for (n, layer) in fields(tile) {
        assert_eq!(n, 3, "a tile holds layers only");
        let f = fields(&layer);
        let name = f.iter().find(|(n, _)| *n == 1).unwrap().1.clone();
        let name = String::from_utf8(name).unwrap();
        let keys: Vec<String> = f
            .iter()
            .filter(|(n, _)| *n == 3)
            .map(|(_, k)| String::from_utf8(k.clone()).unwrap())
            .collect();
        let values: Vec<Vec<u8>> = f
            .iter()
            .filter(|(n, _)| *n == 4)
            .map(|(_, v)| v.clone())
            .collect();
        for (_, feature) in f.iter().filter(|(n, _)| *n == 2) {
            let (mut id, mut kind, mut geom, mut tags) = (0, 0, Vec::new(), Vec::new());
            for (n, v) in fields(feature) {
                match n {
                    1 => id = varint(&v, &mut 0),
                    2 => tags = packed(&v),
                    3 => kind = varint(&v, &mut 0),
                    4 => geom = packed(&v),
                    _ => {}
                }
            }
            let tags = tags
                .chunks(2)
                .map(|kv| (keys[kv[0] as usize].clone(), values[kv[1] as usize].clone()))
                .collect();
            let held = out.insert((name.clone(), id), (kind, geom, tags));
            assert!(held.is_none(), "feature {id} twice in {name}");
        }
    }
    out
}

/// The tiles looked at: every tile of the layers' area at z10–z14, and 5×5 around each
/// edited place at z15 and z16.
fn grid(extent: [f64; 4], places: &[(f64, f64)]) -> Vec<TileCoord> {
    let mut out = Vec::new();
    for z in 10..=14 {
        let a = tile_for_lonlat(extent[0], extent[3], z);
        let b = tile_for_lonlat(extent[2], extent[1], z);
        for x in a.x..=b.x {
            for y in a.y..=b.y {
                out.push(TileCoord { z, x, y });
            }
        }
    }
    for &(lon, lat) in places {
        for z in 15..=16 {
            let c = tile_for_lonlat(lon, lat, z);
            for x in c.x - 2..=c.x + 2 {
                for y in c.y - 2..=c.y + 2 {
                    out.push(TileCoord { z, x, y });
                }
            }
        }
    }
    out.sort_by_key(|t| (t.z, t.x, t.y));
    out.dedup();
    out
}

struct Server {
    state: atlante::http::AppState,
    app: axum::Router,
}

impl Server {
    async fn new(store: &atlante::store::DynStore) -> Server {
        Server::with(store, atlante::config::Config::default()).await
    }

    async fn with(store: &atlante::store::DynStore, config: atlante::config::Config) -> Server {
        let state = common::state(store, config).await;
        let app = atlante::http::router(state.clone());
        Server { state, app }
    }

    async fn tiles(&self, layer: &str, grid: &[TileCoord]) -> HashMap<TileCoord, Vec<u8>> {
        let mut out = HashMap::new();
        for t in grid {
            let r = common::get(
                &self.app,
                &format!("/tiles/{layer}/{}/{}/{}.mvt", t.z, t.x, t.y),
            )
            .await;
            assert!(r.status.is_success(), "{layer} {t:?}: {}", r.status);
            out.insert(*t, r.body.to_vec());
        }
        out
    }

    async fn send(&self, method: &str, uri: &str, token: &str, body: Option<Value>) -> Value {
        let body = body.map_or(Body::empty(), |v| Body::from(v.to_string()));
        let r = common::request(
            &self.app,
            method,
            uri,
            Some(token),
            body,
            &[("content-type", "application/geo+json")],
        )
        .await;
        assert!(
            r.status.is_success(),
            "{method} {uri}: {} {}",
            r.status,
            r.text()
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    async fn feature(&self, layer: &str, fid: i64) -> Value {
        common::get(&self.app, &format!("/collections/{layer}/items/{fid}"))
            .await
            .json()
    }

    fn cached(&self, layer: &str, t: TileCoord) -> bool {
        let l = self.state.catalog.get(layer).unwrap();
        let key = TileEngine::key(std::slice::from_ref(&*l), t);
        self.state.tiles.cache.get(&key).is_some()
    }
}

/// A geometry's box in Web Mercator.
fn merc_box(g: &Value) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    fn walk(v: &Value, b: &mut [f64; 4]) {
        match v.as_array() {
            Some(a) if a.len() >= 2 && a[0].is_number() => {
                let [x, y] = lonlat_to_mercator(a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
                *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
            Some(a) => a.iter().for_each(|v| walk(v, b)),
            None => {}
        }
    }
    walk(&g["coordinates"], &mut b);
    b
}

/// The geometry moved by (dx, dy) degrees.
fn moved(g: &Value, dx: f64, dy: f64) -> Value {
    fn walk(v: &Value, dx: f64, dy: f64) -> Value {
        match v.as_array() {
            Some(a) if a.len() >= 2 && a[0].is_number() => {
                json!([a[0].as_f64().unwrap() + dx, a[1].as_f64().unwrap() + dy])
            }
            Some(a) => Value::Array(a.iter().map(|v| walk(v, dx, dy)).collect()),
            None => v.clone(),
        }
    }
    json!({"type": g["type"], "coordinates": walk(&g["coordinates"], dx, dy)})
}

/// Edits over HTTP: an attribute patch, a move, a delete and an insert on the NIL
/// polygons, a move, a delete and an insert on the metro stops. Returns the boxes (Web
/// Mercator) of what changed, before and after, by layer, and the places edited.
async fn edit(s: &Server, token: &str) -> (HashMap<&'static str, Vec<[f64; 4]>>, Vec<(f64, f64)>) {
    let mut boxes: HashMap<&'static str, Vec<[f64; 4]>> = HashMap::new();
    for layer in ["015146_nil", "015146_fermate"] {
        let page = common::get(&s.app, &format!("/collections/{layer}/items?limit=4"))
            .await
            .json();
        let fids: Vec<i64> = page["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect();
        let uri = |fid: i64| format!("/collections/{layer}/items/{fid}");
        let b = boxes.entry(layer).or_default();
        // An attribute only: the geometry's box is touched all the same.
        let f0 = s.feature(layer, fids[0]).await;
        let field = if layer == "015146_nil" { "nil" } else { "nome" };
        s.send(
            "PATCH",
            &uri(fids[0]),
            token,
            Some(json!({"properties": {field: "MODIFICATO"}})),
        )
        .await;
        b.push(merc_box(&f0["geometry"]));
        // Moved 300 m east and north.
        let f1 = s.feature(layer, fids[1]).await;
        let g1 = moved(&f1["geometry"], 0.004, 0.003);
        let mut put = f1.clone();
        put["geometry"] = g1.clone();
        s.send("PUT", &uri(fids[1]), token, Some(put)).await;
        b.push(merc_box(&f1["geometry"]));
        b.push(merc_box(&g1));
        // Deleted.
        let f2 = s.feature(layer, fids[2]).await;
        s.send("DELETE", &uri(fids[2]), token, None).await;
        b.push(merc_box(&f2["geometry"]));
        // A new one, a copy of the fourth moved 500 m south.
        let f3 = s.feature(layer, fids[3]).await;
        let g3 = moved(&f3["geometry"], 0.0, -0.0045);
        let mut post = f3.clone();
        post.as_object_mut().unwrap().remove("id");
        post["geometry"] = g3.clone();
        s.send(
            "POST",
            &format!("/collections/{layer}/items"),
            token,
            Some(post),
        )
        .await;
        b.push(merc_box(&g3));
    }
    // Places as lon/lat of each box's centre.
    let places = boxes
        .values()
        .flatten()
        .map(|b| {
            let x = (b[0] + b[2]) / 2.0;
            let y = (b[1] + b[3]) / 2.0;
            let lon = x * 180.0 / atlante::tiles::math::HALF;
            let lat = (2.0
                * (y * std::f64::consts::PI / atlante::tiles::math::HALF)
                    .exp()
                    .atan()
                - std::f64::consts::FRAC_PI_2)
                .to_degrees();
            (lon, lat)
        })
        .collect();
    (boxes, places)
}

/// Whether an edited feature's box shows in a tile: it touches the tile's area, at a zoom
/// that draws it (lines and polygons from a size on, points always).
fn touches(layer: &str, boxes: &[[f64; 4]], t: TileCoord) -> bool {
    let points = layer == "015146_fermate";
    boxes.iter().any(|b| {
        let r = tiles_touching(b, t.z);
        atlante::tiles::index::first_zoom(b, points) <= t.z
            && r[0] <= t.x
            && t.x <= r[2]
            && r[1] <= t.y
            && t.y <= r[3]
    })
}

async fn setup(t: &TestStore) -> [f64; 4] {
    common::nil_and_stops(&t.store).await.0.extent.unwrap()
}

fn same_tiles(a: &HashMap<TileCoord, Vec<u8>>, b: &HashMap<TileCoord, Vec<u8>>, what: &str) {
    for (t, bytes) in a {
        let (x, y) = (decode(bytes), decode(&b[t]));
        let differ: Vec<_> = x
            .keys()
            .chain(y.keys())
            .filter(|k| x.get(*k) != y.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{what}: tile {t:?} differs in {differ:?}"
        );
    }
}

async fn an_edit_changes_only_the_tiles_it_touches(t: TestStore) {
    let extent = setup(&t).await;
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let s = Server::new(&t.store).await;
    let layers = ["015146_nil", "015146_fermate"];
    let mut idx_before = Vec::new();
    for l in layers {
        let layer = s.state.catalog.get(l).unwrap();
        idx_before.push(s.state.tiles.index(&layer).await.unwrap());
    }
    // Warm every tile of the area at z10–z14.
    let probe_grid = grid(extent, &[]);
    let mut before = HashMap::new();
    for l in layers {
        before.insert(l, s.tiles(l, &probe_grid).await);
    }
    let (boxes, places) = edit(&s, &token).await;
    let near = grid(extent, &places);
    for l in layers {
        for t in &probe_grid {
            let touched = touches(l, &boxes[l], *t);
            assert_eq!(
                s.cached(l, *t),
                !touched,
                "{l} {t:?}: a tile the edits {} touch must {} cached",
                if touched { "" } else { "do not" },
                if touched { "not be" } else { "stay" }
            );
        }
    }
    let mut after = HashMap::new();
    for l in layers {
        after.insert(l, s.tiles(l, &near).await);
    }
    // Untouched tiles kept their bytes; the index was changed in place, not rebuilt.
    for (i, l) in layers.iter().enumerate() {
        let layer = s.state.catalog.get(l).unwrap();
        let now = s.state.tiles.index(&layer).await.unwrap();
        assert!(
            Arc::ptr_eq(&idx_before[i], &now),
            "{l}: the index was rebuilt"
        );
        assert_eq!(now.seq(), layer.data_seq);
        for (t, bytes) in &before[l] {
            let touched = touches(l, &boxes[l], *t);
            if !touched {
                assert_eq!(bytes, &after[l][t], "{l} {t:?}");
            }
        }
    }
    let changed: usize = layers
        .iter()
        .map(|l| {
            before[l]
                .iter()
                .filter(|(t, b)| after[l][*t] != **b)
                .count()
        })
        .sum();
    assert!(changed > 0, "the edits changed no tile");
    // A server started now builds its indexes from the store: the same tiles.
    let fresh = Server::new(&t.store).await;
    for l in layers {
        let rebuilt = fresh.tiles(l, &near).await;
        same_tiles(
            &after[l],
            &rebuilt,
            &format!("{l}, edited in place vs rebuilt"),
        );
    }
    println!(
        "{}: {} tiles compared per layer, {changed} changed by the edits",
        t.store.kind(),
        near.len()
    );
}

/// Two servers on one PostGIS, each with its own store connection and catalog: edits on
/// either reach the other's tiles (through the change log) within a second, and both equal
/// a rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_agree_after_edits_on_either() {
    let t = common::postgis().await;
    let extent = setup(&t).await;
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let other_store = atlante::store::open(&t.location).await.unwrap();
    let a = Server::new(&t.store).await;
    let b = Server::new(&other_store).await;
    a.state.catalog.watch();
    b.state.catalog.watch();
    let layers = ["015146_nil", "015146_fermate"];
    let probe = grid(extent, &[]);
    for l in layers {
        a.tiles(l, &probe).await;
        b.tiles(l, &probe).await;
    }
    for (editor, name) in [(&a, "a"), (&b, "b")] {
        let (_, places) = edit(editor, &token).await;
        let near = grid(extent, &places);
        let started = std::time::Instant::now();
        for l in layers {
            let want = editor.tiles(l, &near).await;
            loop {
                let got = if std::ptr::eq(editor, &a) {
                    b.tiles(l, &near).await
                } else {
                    a.tiles(l, &near).await
                };
                let same = want
                    .iter()
                    .all(|(t, bytes)| decode(bytes) == decode(&got[t]));
                if same {
                    break;
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(2),
                    "{l}: edits on {name} not seen by the other server after 2 s"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let fresh = Server::new(&t.store).await;
            same_tiles(
                &want,
                &fresh.tiles(l, &near).await,
                &format!("{l} after edits on {name}"),
            );
        }
        println!(
            "edits on {name}: the other server agreed after {:?}",
            started.elapsed()
        );
    }
}

/// Under an index budget smaller than one layer, each layer's index drops the other's:
/// tiles (uncached) are the same as a server's without a budget, layer after layer.
async fn a_tiny_index_budget_evicts_and_still_serves_the_same_tiles(t: TestStore) {
    let extent = setup(&t).await;
    let tight = atlante::config::Config {
        tile_index_bytes: 1,
        tile_cache_bytes: 0,
        ..Default::default()
    };
    let small = Server::with(&t.store, tight).await;
    let roomy = Server::new(&t.store).await;
    let g = grid(extent, &[]);
    for _round in 0..2 {
        for l in ["015146_nil", "015146_fermate"] {
            same_tiles(&small.tiles(l, &g).await, &roomy.tiles(l, &g).await, l);
            assert_eq!(small.state.tiles.indexes_held(), 1, "one index at a time");
        }
    }
    assert_eq!(roomy.state.tiles.indexes_held(), 2);
}

/// An index persisted on disk, then edits: a server started afterwards reads the index
/// back instead of scanning the store, applies the edits from the change log, and serves
/// the same bytes as the server that saw the edits happen. A damaged file is rebuilt.
async fn a_restart_reads_the_persisted_index_and_serves_the_same_bytes(t: TestStore) {
    let extent = setup(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let config = || atlante::config::Config {
        tile_index_dir: Some(dir.path().to_path_buf()),
        tile_cache_bytes: 0,
        ..Default::default()
    };
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let layers = ["015146_nil", "015146_fermate"];
    let first = Server::with(&t.store, config()).await;
    let g = grid(extent, &[]);
    for l in layers {
        first.tiles(l, &g).await;
    }
    let files = || -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(dir.path()).unwrap().flatten() {
            for f in std::fs::read_dir(d.path()).unwrap().flatten() {
                out.push(f.path());
            }
        }
        out.sort();
        out
    };
    for _ in 0..100 {
        if files()
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "idx"))
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(files().len(), 2, "{:?}", files());
    let (_, places) = edit(&first, &token).await;
    let near = grid(extent, &places);
    let second = Server::with(&t.store, config()).await;
    for l in layers {
        let want = first.tiles(l, &near).await;
        let got = second.tiles(l, &near).await;
        for (tc, bytes) in &want {
            assert_eq!(
                bytes, &got[tc],
                "{l} {tc:?}: not the same bytes after a restart"
            );
        }
    }
    assert_eq!(
        second.state.tiles.indexes_loaded(),
        2,
        "both indexes read back from disk"
    );
    // A damaged file is not read: the index is built from the store, the same tiles.
    for f in files() {
        let mut bytes = std::fs::read(&f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&f, bytes).unwrap();
    }
    let third = Server::with(&t.store, config()).await;
    for l in layers {
        let want = first.tiles(l, &near).await;
        let got = third.tiles(l, &near).await;
        same_tiles(&want, &got, l);
    }
    assert_eq!(third.state.tiles.indexes_loaded(), 0);
}

/// Items of a plain bbox answered through a held index are the store's own answer: the
/// same numberMatched and the same features, bytes and values, for boxes of every size —
/// a point's own coordinates, a polygon's exact box, edges through features, the whole
/// layer, pages past the first and past the end — before and after edits; and the store's
/// one-scan answer (ids with `count(*) OVER ()`) is its two-scan one. Requests the index cannot answer
/// (a filter, a sort, a box beyond Web Mercator) go to the store.
async fn items_from_the_index_are_the_stores(t: TestStore) {
    use atlante::cql2::{Bind, Cond, SpatialOp, Val};
    use atlante::store::ItemQuery;
    let extent = setup(&t).await;
    let s = Server::new(&t.store).await;
    let token = common::token(t.store.as_ref(), "015146", "editor").await;
    let layers = ["015146_nil", "015146_fermate"];
    let mut rng = 17u64;
    let mut next = move || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let (w, h) = (extent[2] - extent[0], extent[3] - extent[1]);
    let mut boxes: Vec<([f64; 4], i64, i64)> =
        vec![(extent, 10, 0), (extent, 100, 37), (extent, 10, 100_000)];
    for i in 0..60 {
        let size = [0.0005, 0.003, 0.01, 0.04][i % 4];
        let (x, y) = (extent[0] + next() * w, extent[1] + next() * h);
        boxes.push((
            [x, y, x + size * (0.5 + next()), y + size * (0.5 + next())],
            10,
            i as i64 % 3,
        ));
    }
    // Boxes made of the features' own coordinates: a point's (a box of no size), and a
    // polygon's exact bounds, whose edges touch it.
    for layer in layers {
        let page = common::get(&s.app, &format!("/collections/{layer}/items?limit=6"))
            .await
            .json();
        for f in page["features"].as_array().unwrap() {
            let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            let mut walk = vec![&f["geometry"]["coordinates"]];
            while let Some(c) = walk.pop() {
                match c.as_array().unwrap().as_slice() {
                    [x, y] if x.is_f64() => {
                        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
                    }
                    more => walk.extend(more),
                }
            }
            boxes.push((b, 10, 0));
            boxes.push(([b[2], b[3], b[2] + 0.001, b[3] + 0.001], 10, 0));
        }
    }
    let ids =
        |v: &[atlante::store::StoredFeature]| -> Vec<i64> { v.iter().map(|f| f.fid).collect() };
    let box_cond = |b: &[f64; 4]| {
        let rect = geo_types::Rect::new((b[0], b[1]), (b[2], b[3])).to_polygon();
        let wkb = atlante::geom::to_wkb(&geo_types::Geometry::Polygon(rect));
        Cond::Spatial(
            SpatialOp::Intersects,
            Val::Geometry,
            Val::Bind(Bind::Geometry(wkb)),
        )
    };
    let check = |round: &'static str| {
        let (s, boxes, ids, box_cond) = (&s, &boxes, &ids, &box_cond);
        let t = &t;
        async move {
            for layer in layers {
                let l = s.state.catalog.get(layer).unwrap();
                // The index held (its tiles asked for), then the same requests both ways.
                s.tiles(layer, &[tile_for_lonlat(extent[0], extent[1], 10)])
                    .await;
                let before = s.state.tiles.items_from_index();
                for (b, limit, offset) in boxes {
                    let q = ItemQuery {
                        limit: *limit,
                        offset: *offset,
                        ..ItemQuery::bbox(*b)
                    };
                    let (want, n) = t.store.items(&l, &q).await.unwrap();
                    let (got, m) = s.state.tiles.items(&l, &q).await.unwrap();
                    // The store's count and page as two scans (a condition with no place
                    // of its own: the box, or nothing), the same.
                    let wide = ItemQuery {
                        filter: Some(Cond::Or(vec![box_cond(b), Cond::Const(false)])),
                        ..ItemQuery {
                            bbox: None,
                            ..q.clone()
                        }
                    };
                    let (two, k) = t.store.items(&l, &wide).await.unwrap();
                    assert_eq!(
                        (n, ids(&two)),
                        (k, ids(&want)),
                        "{round} {layer} {b:?}: one scan"
                    );
                    assert_eq!(n, m, "{round} {layer} {b:?}: numberMatched");
                    assert_eq!(ids(&want), ids(&got), "{round} {layer} {b:?}");
                    for (x, y) in want.iter().zip(&got) {
                        assert_eq!((&x.wkb, &x.values), (&y.wkb, &y.values));
                    }
                }
                assert_eq!(
                    s.state.tiles.items_from_index() - before,
                    boxes.len() as u64,
                    "{round} {layer}: every plain bbox answered through the index"
                );
                // Not for the index: a filter, a sort, a box beyond Web Mercator.
                let before = s.state.tiles.items_from_index();
                let field = if layer == "015146_nil" { "nil" } else { "nome" };
                for uri in [
                    format!("/collections/{layer}/items?bbox=9.1,45.4,9.3,45.5&filter={field}%20IS%20NOT%20NULL"),
                    format!("/collections/{layer}/items?bbox=9.1,45.4,9.3,45.5&sortby=-fid"),
                    format!("/collections/{layer}/items?bbox=9,84,10,89"),
                ] {
                    let r = common::get(&s.app, &uri).await;
                    assert!(r.status.is_success(), "{uri}: {}", r.status);
                }
                assert_eq!(s.state.tiles.items_from_index(), before, "{round} {layer}");
                // And through HTTP, the handler goes through the index.
                let r = common::get(
                    &s.app,
                    &format!(
                        "/collections/{layer}/items?bbox={},{},{},{}",
                        extent[0], extent[1], extent[2], extent[3]
                    ),
                )
                .await;
                assert!(r.status.is_success());
                assert_eq!(s.state.tiles.items_from_index(), before + 1);
            }
        }
    };
    check("as loaded").await;
    edit(&s, &token).await;
    check("after edits").await;
}

both_stores!(
    items_from_the_index_are_the_stores,
    an_edit_changes_only_the_tiles_it_touches,
    a_tiny_index_budget_evicts_and_still_serves_the_same_tiles,
    a_restart_reads_the_persisted_index_and_serves_the_same_bytes
);
