//! The registry of staging tables. An ingest writes its rows into a table of its own
//! (`{layer}__st{random}`), committed in steps so it never holds a store's writer for long,
//! and the swap that publishes it is one short transaction. A staging table is registered
//! with its host, process and a heartbeat; when a store opens, staging tables whose process
//! is gone (on this host) or whose heartbeat is older than five minutes (any host) are
//! dropped: what a crash leaves behind does not outlive the next start.

use super::sql::{Dialect, RowExt, Stmt};
use super::Result;

/// A heartbeat older than this marks a staging table of another host as abandoned.
pub const STALE_SECS: i64 = 300;

/// A fresh staging table name for a layer.
pub fn name(layer_id: &str) -> String {
    format!("{layer_id}__st{:08x}", rand::random::<u32>())
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

pub(crate) fn register(d: Dialect, table: &str, layer_id: &str) -> Stmt {
    Stmt::new(d.sql(&format!(
        "INSERT INTO atlante_staging (table_name, layer_id, host, pid, started_at, heartbeat_at) \
         VALUES ($1, $2, $3, $4, {now}, {now})",
        now = d.now()
    )))
    .arg(table)
    .arg(layer_id)
    .arg(host())
    .arg(i64::from(std::process::id()))
}

pub(crate) fn heartbeat(d: Dialect, table: &str) -> Stmt {
    Stmt::new(d.sql(&format!(
        "UPDATE atlante_staging SET heartbeat_at = {} WHERE table_name = $1",
        d.now()
    )))
    .arg(table)
}

pub(crate) fn unregister(d: Dialect, table: &str) -> Stmt {
    Stmt::new(d.sql("DELETE FROM atlante_staging WHERE table_name = $1")).arg(table)
}

/// The statement listing staging tables with their host, process and heartbeat age.
pub(crate) fn list(d: Dialect) -> Stmt {
    let age = match d {
        Dialect::Postgres => "extract(epoch FROM clock_timestamp() - heartbeat_at)::bigint",
        Dialect::Sqlite => "CAST((julianday('now') - julianday(heartbeat_at)) * 86400 AS INTEGER)",
    };
    Stmt::new(format!(
        "SELECT table_name, host, pid, {age} AS age FROM atlante_staging"
    ))
}

/// The staging tables among `rows` (of [`list`]) that nobody is writing any more.
pub(crate) fn abandoned(rows: &[impl RowExt]) -> Result<Vec<String>> {
    let me = host();
    let mut out = Vec::new();
    for r in rows {
        let (table, host, pid, age) = (
            r.text("table_name")?,
            r.text("host")?,
            r.int("pid")?,
            r.int("age")?,
        );
        let dead = host == me && !std::path::Path::new(&format!("/proc/{pid}")).exists();
        if dead || age > STALE_SECS {
            out.push(table);
        }
    }
    Ok(out)
}
