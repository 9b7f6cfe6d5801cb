//! `kill -9` in the middle of a large ingest, with the real binary: the published version is
//! intact afterwards and no staging table is left, in both stores.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atlante::store::checksum;
use common::{demo, table_names, TestStore};

fn big_geojson(path: &std::path::Path, n: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(f, r#"{{"type":"FeatureCollection","features":["#).unwrap();
    for i in 0..n {
        let x = 9.0 + (i % 1000) as f64 * 0.0004;
        let y = 45.3 + (i / 1000) as f64 * 0.0004;
        if i > 0 {
            f.write_all(b",").unwrap();
        }
        write!(f, r#"{{"type":"Feature","properties":{{"n":{i},"nome":"punto {i} Città"}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#).unwrap();
    }
    f.write_all(b"]}").unwrap();
}

async fn kill_9_mid_ingest_leaves_published_version(t: TestStore) {
    let (layer, _) =
        common::add_layer(&t.store, "015146", "nil", &demo("milano/nil_2020.geojson")).await;
    let before = checksum(t.store.as_ref(), &layer.id).await.unwrap();
    let tables = table_names(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.geojson");
    big_geojson(&big, 400_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlante"))
        .args(["--store", &t.location, "ingest"])
        .arg(&big)
        .args(["--org", "015146", "--layer", "nil"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until rows are flowing into the store, then kill without warning.
    let started = Instant::now();
    let mut writing = false;
    while started.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        writing = if t.location.starts_with("postgres") {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&t.location).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state = 'active'",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            n > 0
        } else {
            let wal = format!("{}-wal", t.location);
            std::fs::metadata(wal)
                .map(|m| m.len() > 2 << 20)
                .unwrap_or(false)
        };
        if writing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(writing, "the ingest never reached the store");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A fresh process opens the store: nothing changed.
    let reopened = atlante::store::open(&t.location).await.unwrap();
    let again = reopened.layer(&layer.id).await.unwrap().unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(again.feature_count, 88);
    assert_eq!(
        checksum(reopened.as_ref(), &layer.id).await.unwrap(),
        before
    );
    assert_eq!(table_names(&t).await, tables, "staging leftovers");
    assert_eq!(reopened.versions(&layer.id).await.unwrap(), vec![1]);
}

both_stores!(kill_9_mid_ingest_leaves_published_version);
