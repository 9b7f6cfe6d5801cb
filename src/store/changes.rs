//! The durable change log. Every write that changes a layer (publish, rollback, metadata,
//! feature edits, delete) adds one row to `atlante_changes` in the same transaction, with a
//! sequence number; the layer row keeps the sequence of its last change (`change_seq`) and
//! of its last *data* change (`data_seq`, which keys tile indexes and caches, so a metadata
//! edit never rebuilds an index).
//!
//! Announcing: after the commit the writing process tells its own subscribers at once
//! ([`ChangeFeed::announce`], with the layer as it now stands), and on PostGIS sends
//! `NOTIFY atlante_changes` with only the sequence number (payloads are limited and are
//! lost while a listener reconnects). Other processes read the rows above their cursor
//! ([`super::ChangeStore::changes_since`]) — on a notification, and on a short poll that
//! also covers several processes on one GeoPackage — so a replica that missed
//! notifications catches up from the table.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::sql::{Dialect, Exec, RowExt, Stmt};
use super::{from_json, Result};
use crate::model::Layer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Published,
    RolledBack,
    /// Metadata only (title, visibility…): the data is unchanged.
    Meta,
    /// Features edited in place (OGC API - Features Part 4).
    Edited,
    Deleted,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Published => "published",
            ChangeKind::RolledBack => "rolledback",
            ChangeKind::Meta => "meta",
            ChangeKind::Edited => "edited",
            ChangeKind::Deleted => "deleted",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<ChangeKind> {
        [
            ChangeKind::Published,
            ChangeKind::RolledBack,
            ChangeKind::Meta,
            ChangeKind::Edited,
            ChangeKind::Deleted,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
    /// Does this change alter the features a tile shows?
    pub fn is_data(self) -> bool {
        !matches!(self, ChangeKind::Meta)
    }
}

/// One edited feature: its id and its extent before and after (None: it did not exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureChange {
    pub fid: i64,
    pub before: Option<[f64; 4]>,
    pub after: Option<[f64; 4]>,
}

/// A layer's feature count and extent after edits, from those before and the features'
/// boxes: no scan of the layer. None when a feature taken out or moved reached the edge of
/// the extent (it may shrink): then the caller recomputes it.
pub(crate) fn after_edits(
    count: i64,
    extent: Option<[f64; 4]>,
    touched: &[FeatureChange],
) -> Option<(i64, Option<[f64; 4]>)> {
    let mut count = count;
    let mut out = extent;
    for t in touched {
        if let Some(b) = t.before {
            let e = extent?;
            if b[0] <= e[0] || b[1] <= e[1] || b[2] >= e[2] || b[3] >= e[3] {
                return None;
            }
        }
        count += i64::from(t.after.is_some()) - i64::from(t.before.is_some());
        if let Some(a) = t.after {
            crate::geom::extend_bbox(&mut out, &a);
        }
    }
    Some((count, if count == 0 { None } else { out }))
}

/// A logged change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub layer_id: String,
    pub kind: ChangeKind,
    /// The layer's published version after the change (0 when deleted).
    pub version: i64,
    /// For edits: the features touched.
    pub features: Vec<FeatureChange>,
}

/// A change as subscribers receive it, with the layer as the catalog now lists it (None
/// when it is gone).
#[derive(Debug, Clone)]
pub struct Announced {
    pub change: Change,
    pub layer: Option<Layer>,
}

type Subscriber = Arc<dyn Fn(&Announced) + Send + Sync>;

/// This process's subscribers to changes. Called synchronously after each commit, so a
/// write is visible to every reader of the catalog when the write returns.
#[derive(Default)]
pub struct ChangeFeed {
    subscribers: RwLock<Vec<Subscriber>>,
}

impl ChangeFeed {
    pub fn subscribe(&self, f: impl Fn(&Announced) + Send + Sync + 'static) {
        if let Ok(mut s) = self.subscribers.write() {
            s.push(Arc::new(f));
        }
    }

    pub fn announce(&self, a: &Announced) {
        let subs: Vec<Subscriber> = self
            .subscribers
            .read()
            .map(|s| s.clone())
            .unwrap_or_default();
        for s in subs {
            s(a);
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Detail {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    features: Vec<FeatureChange>,
}

/// The statements that log a change inside the writer's transaction: serialise change
/// writers (PostgreSQL: an advisory lock held to commit, so sequence numbers commit in
/// order and a reader's cursor never skips one), insert the row, stamp the layer with it
/// (its last change, and its last data change unless `kind` is metadata only) and, on
/// PostgreSQL, NOTIFY the new sequence number. On PostgreSQL the last three are one
/// statement: every change writer of every layer waits for that lock, so what it holds it
/// for is two round trips and the commit. (The lock stays a statement of its own: a
/// statement reads as of its start, and the row must copy the layer as it is once the
/// lock is held.)
pub(crate) fn log(
    d: Dialect,
    layer_id: &str,
    kind: ChangeKind,
    version: i64,
    features: &[FeatureChange],
) -> Vec<Stmt> {
    let detail = serde_json::to_string(&Detail {
        features: features.to_vec(),
    })
    .unwrap_or_else(|_| "{}".into());
    // The layer as it stands after the change (the publication log: see
    // `super::publications`); its description but for feature edits, which leave it alone.
    let described = if kind == ChangeKind::Edited {
        "NULL, NULL, NULL, NULL"
    } else {
        "l.description, l.licence, l.attribution, l.metadata"
    };
    let insert = format!(
        "INSERT INTO atlante_changes (at, layer_id, kind, version, detail, org_id, \
         visibility, title, feature_count, description, licence, attribution, metadata) \
         SELECT {}, $1, $2, $3, {}, l.org_id, l.visibility, l.title, v.feature_count, \
         {described} FROM (SELECT 1 AS one) o \
         LEFT JOIN atlante_layers l ON l.id = $1 \
         LEFT JOIN atlante_layer_versions v \
         ON v.layer_id = l.id AND v.version = l.current_version",
        d.now(),
        d.json_arg(4)
    );
    // The row's number: the greatest, as change writers take turns.
    let seq = match d {
        Dialect::Postgres => "(SELECT seq FROM logged)",
        Dialect::Sqlite => "(SELECT max(seq) FROM atlante_changes)",
    };
    let data_set = match kind {
        ChangeKind::Meta => String::new(),
        ChangeKind::Edited => format!(", data_seq = {seq}"),
        _ => format!(", data_seq = {seq}, base_seq = {seq}"),
    };
    let data_time = if kind == ChangeKind::Meta {
        String::new()
    } else {
        format!(", data_updated_at = {}", d.now())
    };
    let stamp = format!(
        "UPDATE atlante_layers SET change_seq = {seq}{data_set}{data_time}, updated_at = {} \
         WHERE id = $1",
        d.now()
    );
    let args = |s: Stmt| {
        s.arg(layer_id)
            .arg(kind.name())
            .arg(version)
            .arg(detail.clone())
    };
    match d {
        Dialect::Postgres => vec![
            Stmt::new("SELECT pg_advisory_xact_lock(726002)"),
            args(Stmt::new(format!(
                "WITH logged AS ({insert} RETURNING seq), stamped AS ({stamp}) \
                 SELECT pg_notify('atlante_changes', {seq}::text)"
            ))),
        ],
        Dialect::Sqlite => vec![
            args(Stmt::new(d.sql(&insert))),
            Stmt::new(d.sql(&stamp)).arg(layer_id),
        ],
    }
}

/// The sequence number of a layer's latest logged change.
pub(crate) fn last_of(d: Dialect, layer_id: &str) -> Stmt {
    Stmt::new(d.sql("SELECT coalesce(max(seq), 0) AS seq FROM atlante_changes WHERE layer_id = $1"))
        .arg(layer_id)
}

pub(crate) fn since(d: Dialect, seq: i64, limit: i64) -> Stmt {
    Stmt::new(d.sql(&format!(
        "SELECT seq, layer_id, kind, version, {} AS detail FROM atlante_changes \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        d.json_col("detail")
    )))
    .arg(seq)
    .arg(limit)
}

/// One layer's logged changes above `seq`.
pub(crate) fn of_layer_since(d: Dialect, layer_id: &str, seq: i64, limit: i64) -> Stmt {
    Stmt::new(d.sql(&format!(
        "SELECT seq, layer_id, kind, version, {} AS detail FROM atlante_changes \
         WHERE layer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        d.json_col("detail")
    )))
    .arg(layer_id)
    .arg(seq)
    .arg(limit)
}

pub(crate) fn latest(d: Dialect) -> Stmt {
    Stmt::new(d.sql("SELECT coalesce(max(seq), 0) AS seq FROM atlante_changes"))
}

/// Logged changes above `seq` (at most `limit`), for either backend's `ChangeStore`.
pub(crate) async fn read_since(e: &impl Exec, seq: i64, limit: i64) -> Result<Vec<Change>> {
    e.fetch_all(since(e.dialect(), seq, limit))
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// One layer's logged changes above `seq`, for either backend's `ChangeStore`.
pub(crate) async fn read_layer_since(
    e: &impl Exec,
    layer_id: &str,
    seq: i64,
    limit: i64,
) -> Result<Vec<Change>> {
    e.fetch_all(of_layer_since(e.dialect(), layer_id, seq, limit))
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The log's identity, for either backend's `ChangeStore`.
pub(crate) async fn read_log_id(e: &impl Exec) -> Result<String> {
    match e
        .fetch_optional(Stmt::new("SELECT id FROM atlante_log_id"))
        .await?
    {
        Some(r) => r.text("id"),
        None => Ok(String::new()),
    }
}

/// A new identity for the log, for either backend's `ChangeStore`.
pub(crate) async fn renew_log_id(e: &impl Exec) -> Result<()> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    e.exec(Stmt::new(e.dialect().sql("UPDATE atlante_log_id SET id = $1")).arg(id))
        .await?;
    Ok(())
}

/// The highest sequence number logged (0 when none), for either backend's `ChangeStore`.
pub(crate) async fn read_latest(e: &impl Exec) -> Result<i64> {
    match e.fetch_optional(latest(e.dialect())).await? {
        Some(r) => r.int("seq"),
        None => Ok(0),
    }
}

pub(crate) fn from_row(r: &impl RowExt) -> Result<Change> {
    let kind = r.text("kind")?;
    let detail: Detail = from_json("change detail", &r.text("detail")?)?;
    Ok(Change {
        seq: r.int("seq")?,
        layer_id: r.text("layer_id")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| super::StoreError::Corrupt(format!("change kind {kind}")))?,
        version: r.opt_int("version")?.unwrap_or(0),
        features: detail.features,
    })
}

/// Tells this process's subscribers about a change just committed, with the layer as it
/// now stands. If reading it back fails, the change is still in the log: the catalog's
/// poll picks it up.
pub(crate) async fn announce<S>(
    store: &S,
    layer_id: &str,
    kind: ChangeKind,
    version: i64,
    features: Vec<FeatureChange>,
) where
    S: super::sql::Exec + super::ChangeStore + super::LayerStore + ?Sized,
{
    let read = async {
        let seq = match store
            .fetch_optional(last_of(store.dialect(), layer_id))
            .await?
        {
            Some(r) => r.int("seq")?,
            None => 0,
        };
        Ok::<_, super::StoreError>((seq, store.layer(layer_id).await?))
    };
    match read.await {
        Ok((seq, layer)) => store.feed().announce(&Announced {
            change: Change {
                seq,
                layer_id: layer_id.to_string(),
                kind,
                version,
                features,
            },
            layer,
        }),
        Err(e) => {
            tracing::warn!(layer = %layer_id, error = %e, "change committed but not announced; the poll will pick it up")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_count_and_extent_without_a_scan() {
        let e = Some([9.0, 45.0, 9.4, 45.6]);
        let moved = |b, a| FeatureChange {
            fid: 1,
            before: b,
            after: a,
        };
        let inner = Some([9.1, 45.1, 9.2, 45.2]);
        let out = Some([9.5, 45.1, 9.6, 45.2]);
        assert_eq!(after_edits(10, e, &[moved(inner, inner)]), Some((10, e)));
        assert_eq!(
            after_edits(10, e, &[moved(None, out)]),
            Some((11, Some([9.0, 45.0, 9.6, 45.6])))
        );
        assert_eq!(after_edits(10, e, &[moved(inner, None)]), Some((9, e)));
        // Taking out a feature on the edge: recompute.
        assert_eq!(
            after_edits(10, e, &[moved(Some([9.0, 45.1, 9.1, 45.2]), None)]),
            None
        );
        assert_eq!(after_edits(1, e, &[moved(inner, None)]), Some((0, None)));
        assert_eq!(
            after_edits(0, None, &[moved(None, inner)]),
            Some((1, inner))
        );
    }
}
