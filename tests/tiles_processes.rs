//! Tiles across processes, with the real binary: a second `atlante serve` on the same
//! PostGIS serves a new version within 2 s (LISTEN/NOTIFY), and `atlante tiles export` writes
//! a PMTiles archive whose tiles are the server's.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use atlante::tiles::math::{tile_for_lonlat, TileCoord};
use atlante::tiles::pmtiles::tile_id;
use common::{demo, http_get};

async fn tilejson_version(port: u16, id: &str) -> String {
    let (_, body) = http_get(port, &format!("/tiles/{id}.json")).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["version"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_server_on_postgis_serves_new_version_within_2s() {
    let t = common::postgis().await;
    let (l, _) = common::add_layer(
        &t.store,
        "015146",
        "fermate",
        &demo("milano/atm_fermate_metro.geojson"),
    )
    .await;
    let server = common::serve(&t.location);
    assert_eq!(
        tilejson_version(server.port, &l.id).await,
        "015146_fermate@1"
    );
    let (s, before) = http_get(server.port, "/tiles/015146_fermate/0/0/0.mvt")
        .await
        .unwrap();
    assert_eq!(s, 200);
    // This test process publishes; the server process learns of it.
    common::add_layer(
        &t.store,
        "015146",
        "fermate",
        &demo("milano/atm_percorsi_metro.geojson"),
    )
    .await;
    let started = Instant::now();
    while tilejson_version(server.port, &l.id).await != "015146_fermate@2" {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still the old version after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "new version served after {} ms",
        started.elapsed().as_millis()
    );
    let (_, after) = http_get(server.port, "/tiles/015146_fermate/0/0/0.mvt")
        .await
        .unwrap();
    assert_ne!(before, after);
}

/// Reads one tile from a PMTiles v3 archive, following the spec (root and leaf directories).
fn pmtiles_get(file: &[u8], t: TileCoord) -> Option<Vec<u8>> {
    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }
    fn varint(b: &[u8], o: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*o];
            *o += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    let u64_at = |o: usize| u64::from_le_bytes(file[o..o + 8].try_into().unwrap());
    assert_eq!(&file[0..7], b"PMTiles");
    assert_eq!(file[7], 3);
    let (root_off, root_len) = (u64_at(8) as usize, u64_at(16) as usize);
    let leaf_off = u64_at(40) as usize;
    let data_off = u64_at(56) as usize;
    let want = tile_id(t);
    let mut dir = gunzip(&file[root_off..root_off + root_len]);
    loop {
        let mut o = 0;
        let n = varint(&dir, &mut o) as usize;
        let mut ids = Vec::with_capacity(n);
        let mut last = 0;
        for _ in 0..n {
            last += varint(&dir, &mut o);
            ids.push(last);
        }
        let runs: Vec<u64> = (0..n).map(|_| varint(&dir, &mut o)).collect();
        let lens: Vec<u64> = (0..n).map(|_| varint(&dir, &mut o)).collect();
        let mut offs: Vec<u64> = Vec::with_capacity(n);
        for i in 0..n {
            let v = varint(&dir, &mut o);
            offs.push(if v == 0 && i > 0 {
                offs[i - 1] + lens[i - 1]
            } else {
                v - 1
            });
        }
        let i = match ids.binary_search(&want) {
            Ok(i) => i,
            Err(0) => return None,
            Err(i) => i - 1,
        };
        if runs[i] == 0 {
            let s = leaf_off + offs[i] as usize;
            dir = gunzip(&file[s..s + lens[i] as usize]);
            continue;
        }
        if want >= ids[i] + runs[i] {
            return None;
        }
        let s = data_off + offs[i] as usize;
        return Some(gunzip(&file[s..s + lens[i] as usize]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmtiles_export_holds_the_servers_tiles() {
    let t = common::gpkg().await;
    for (f, slug) in [
        ("milano/nil_2020.geojson", "nil"),
        ("milano/atm_fermate_metro.geojson", "fermate"),
    ] {
        common::add_layer(&t.store, "015146", slug, &demo(f)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("milano.pmtiles");
    let st = Command::new(env!("CARGO_BIN_EXE_atlante"))
        .args([
            "--store",
            &t.location,
            "tiles",
            "export",
            "--layers",
            "015146_nil,015146_fermate",
            "--zooms",
            "0-13",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let file = std::fs::read(&out).unwrap();
    let server = common::serve(&t.location);
    for z in [0u8, 5, 9, 11, 13] {
        let c = tile_for_lonlat(9.19, 45.465, z);
        let (s, served) = http_get(
            server.port,
            &format!(
                "/tiles/015146_nil,015146_fermate/{}/{}/{}.mvt",
                c.z, c.x, c.y
            ),
        )
        .await
        .unwrap();
        assert_eq!(s, 200);
        assert_eq!(
            pmtiles_get(&file, c).as_deref(),
            Some(&served[..]),
            "tile {c:?}"
        );
    }
    // Outside the layers' extent there is no tile.
    assert_eq!(pmtiles_get(&file, TileCoord::new(13, 0, 0).unwrap()), None);
}
