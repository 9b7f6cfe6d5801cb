//! The publication log and the download counts, written once for both backends.
//!
//! The log is the change log itself (`changes::log` records, with every change, the layer
//! as it stood after it: owner, visibility, title, feature count and, but for feature
//! edits, its description). Nothing prunes it, so a layer's history — versions published,
//! rolled back, made public or private, descriptions edited, deleted — and the yearly
//! publishing figures outlive the two kept versions and the layer itself.

use async_trait::async_trait;

use super::changes::ChangeKind;
use super::sql::{Exec, RowExt, Stmt};
use super::{from_json, LogEntry, PublicationStore, Result, StoreError};
use crate::model::OpenMeta;

fn select(e: &impl Exec) -> String {
    let d = e.dialect();
    format!(
        "SELECT seq, {} AS at, layer_id, kind, version, org_id, visibility, title, \
         feature_count, description, licence, attribution, {} AS metadata, {} AS detail \
         FROM atlante_changes",
        d.ts("at"),
        d.json_col("metadata"),
        d.json_col("detail")
    )
}

/// The description a row recorded (None for feature edits and rows logged before the
/// publication log), as one JSON object so two can be compared field by field.
fn described(r: &impl RowExt) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    let Some(metadata) = r.opt_text("metadata")? else {
        return Ok(None);
    };
    // Through the type, so that a description stored before any field was set (`{}`)
    // compares equal to one with every field empty.
    let meta: OpenMeta = from_json("metadata", &metadata)?;
    let serde_json::Value::Object(mut m) = serde_json::to_value(meta).unwrap_or_default() else {
        return Ok(None);
    };
    for col in [
        "title",
        "visibility",
        "description",
        "licence",
        "attribution",
    ] {
        m.insert(col.into(), r.opt_text(col)?.unwrap_or_default().into());
    }
    Ok(Some(m))
}

fn from_row(r: &impl RowExt) -> Result<LogEntry> {
    let kind = r.text("kind")?;
    let detail: serde_json::Value = from_json("change detail", &r.text("detail")?)?;
    Ok(LogEntry {
        seq: r.int("seq")?,
        at: r.text("at")?,
        layer_id: r.text("layer_id")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("change kind {kind}")))?,
        version: r.opt_int("version")?.unwrap_or(0),
        org: r.opt_text("org_id")?,
        visibility: r.opt_text("visibility")?,
        title: r.opt_text("title")?,
        feature_count: r.opt_int("feature_count")?,
        features: detail["features"].as_array().map_or(0, Vec::len),
        changed: Vec::new(),
    })
}

/// Entries of one layer, oldest first, each naming what its change altered in the
/// description recorded by the entry before.
fn with_changes(rows: &[impl RowExt]) -> Result<Vec<LogEntry>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut before: Option<serde_json::Map<String, serde_json::Value>> = None;
    for r in rows {
        let mut e = from_row(r)?;
        if let Some(now) = described(r)? {
            if let Some(old) = &before {
                let mut keys: Vec<&String> = now.keys().chain(old.keys()).collect();
                keys.sort();
                keys.dedup();
                e.changed = keys
                    .into_iter()
                    .filter(|k| now.get(*k) != old.get(*k))
                    .cloned()
                    .collect();
            }
            before = Some(now);
        }
        out.push(e);
    }
    Ok(out)
}

#[async_trait]
impl<T: Exec> PublicationStore for T {
    async fn history(&self, layer_id: &str, limit: i64) -> Result<Vec<LogEntry>> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "SELECT * FROM ({} WHERE layer_id = $1 ORDER BY seq DESC LIMIT $2) x ORDER BY seq",
            select(self)
        )))
        .arg(layer_id)
        .arg(limit);
        with_changes(&self.fetch_all(s).await?)
    }

    async fn publication_log(&self) -> Result<Vec<LogEntry>> {
        let s = Stmt::new(format!(
            "{} WHERE kind <> 'edited' ORDER BY seq",
            select(self)
        ));
        self.fetch_all(s).await?.iter().map(from_row).collect()
    }

    async fn count_download(&self, layer_id: &str, format: &str) -> Result<()> {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let s = Stmt::new(self.dialect().sql(
            "INSERT INTO atlante_downloads (layer_id, day, format, n) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (layer_id, day, format) DO UPDATE SET n = atlante_downloads.n + 1",
        ))
        .arg(layer_id)
        .arg(day)
        .arg(format);
        self.exec(s).await?;
        Ok(())
    }

    async fn download_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let s = Stmt::new(
            "SELECT layer_id, format, CAST(sum(n) AS BIGINT) AS n FROM atlante_downloads \
             GROUP BY layer_id, format ORDER BY layer_id, format",
        );
        self.fetch_all(s)
            .await?
            .iter()
            .map(|r| Ok((r.text("layer_id")?, r.text("format")?, r.int("n")?)))
            .collect()
    }
}
