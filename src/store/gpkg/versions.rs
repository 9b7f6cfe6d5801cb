//! Versions in the GeoPackage store: publish (write a version table with its R-tree, then
//! swap it in), rollback and delete, each in one transaction; only the published version
//! is registered in `gpkg_contents`.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::features::{bind_value, create_table_sql, insert_sql};
use super::{run, GpkgStore, Tx};
use crate::geom::{extend_bbox, gpkg_blob};
use crate::model::{Field, GeomType, IngestSummary, Layer, PublishRequest};
use crate::store::changes::{self, ChangeKind};
use crate::store::sql::Dialect;
use crate::store::staging;
use crate::store::{
    fields_json, from_json, quote_ident, version_table, Batch, LayerStore, Result, StoreError,
    VersionStore, KEPT_VERSIONS,
};

async fn register(
    tx: &mut Tx<'_>,
    table: &str,
    title: &str,
    geom: GeomType,
    extent: Option<[f64; 4]>,
    fields: &[Field],
) -> Result<()> {
    let e = extent.unwrap_or([0.0; 4]);
    sqlx::query(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, \
         min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, ?, 4326)",
    )
    .bind(table)
    .bind(table)
    .bind(title)
    .bind(e[0])
    .bind(e[1])
    .bind(e[2])
    .bind(e[3])
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, 4326, 0, 0)")
        .bind(table)
        .bind(geom.sql_name())
        .execute(&mut **tx)
        .await?;
    if has_table(&mut **tx, &rtree(table)).await? {
        sqlx::query(
            "INSERT OR IGNORE INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', \
             'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        )
        .bind(table)
        .execute(&mut **tx)
        .await?;
    }
    for f in fields.iter().filter(|f| f.label != f.name) {
        // A duplicate label (a DBF can repeat a name) keeps no alias rather than failing.
        sqlx::query(
            "INSERT OR IGNORE INTO gpkg_data_columns (table_name, column_name, name, title) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(table)
        .bind(&f.name)
        .bind(&f.label)
        .bind(&f.label)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn unregister(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    for sql in [
        "DELETE FROM gpkg_data_columns WHERE table_name = ?",
        "DELETE FROM gpkg_extensions WHERE table_name = ?",
        "DELETE FROM gpkg_geometry_columns WHERE table_name = ?",
        "DELETE FROM gpkg_contents WHERE table_name = ?",
    ] {
        sqlx::query(sql).bind(table).execute(&mut **tx).await?;
    }
    Ok(())
}

/// The GeoPackage R-tree spatial index of a feature table (`gpkg_rtree_index` extension).
pub(super) fn rtree(table: &str) -> String {
    format!("rtree_{table}_geom")
}

pub(super) async fn has_table(ex: impl sqlx::SqliteExecutor<'_>, name: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = ?")
        .bind(name)
        .fetch_one(ex)
        .await?;
    Ok(n > 0)
}

/// Renames a version table and its R-tree.
async fn rename(tx: &mut Tx<'_>, from: &str, to: &str) -> Result<()> {
    let mut pairs = vec![(from.to_string(), to.to_string())];
    if has_table(&mut **tx, &rtree(from)).await? {
        pairs.push((rtree(from), rtree(to)));
    }
    for (a, b) in pairs {
        let sql = format!(
            "ALTER TABLE {} RENAME TO {}",
            quote_ident(&a),
            quote_ident(&b)
        );
        sqlx::query(&sql).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Drops a version table and its R-tree.
async fn drop_table(tx: &mut Tx<'_>, table: &str) -> Result<()> {
    for t in [rtree(table), table.to_string()] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", quote_ident(&t)))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Drops kept versions beyond [`KEPT_VERSIONS`], oldest first.
async fn prune(tx: &mut Tx<'_>, layer_id: &str, current: i64) -> Result<()> {
    let old: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM atlante_layer_versions WHERE layer_id = ? AND version <> ? \
         ORDER BY version DESC LIMIT -1 OFFSET ?",
    )
    .bind(layer_id)
    .bind(current)
    .bind(KEPT_VERSIONS)
    .fetch_all(&mut **tx)
    .await?;
    for v in old {
        drop_table(tx, &version_table(layer_id, v)).await?;
        sqlx::query("DELETE FROM atlante_layer_versions WHERE layer_id = ? AND version = ?")
            .bind(layer_id)
            .bind(v)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
impl GpkgStore {
    /// Writes the rows into the staging table, one transaction per batch.
    async fn stage(
        &self,
        staging: &str,
        req: &PublishRequest,
        rows: &mut mpsc::Receiver<Batch>,
    ) -> Result<(i64, Option<[f64; 4]>, IngestSummary)> {
        let insert = insert_sql(staging, &req.fields);
        let insert_index = format!(
            "INSERT INTO {} VALUES (?, ?, ?, ?, ?)",
            quote_ident(&rtree(staging))
        );
        let mut extent = None;
        let mut count: i64 = 0;
        loop {
            match rows.recv().await {
                Some(Batch::Rows(batch)) => {
                    let _writer = self.write_lock.lock().await;
                    let mut tx = self.pool.begin().await?;
                    for row in &batch {
                        let blob = gpkg_blob(&row.wkb, 4326, &row.bbox);
                        let mut q = sqlx::query(&insert).bind(blob);
                        for v in &row.values {
                            q = bind_value(q, v);
                        }
                        let fid = q.execute(&mut *tx).await?.last_insert_rowid();
                        sqlx::query(&insert_index)
                            .bind(fid)
                            .bind(row.bbox[0])
                            .bind(row.bbox[2])
                            .bind(row.bbox[1])
                            .bind(row.bbox[3])
                            .execute(&mut *tx)
                            .await?;
                        extend_bbox(&mut extent, &row.bbox);
                    }
                    run(&mut tx, staging::heartbeat(Dialect::Sqlite, staging)).await?;
                    tx.commit().await?;
                    count += batch.len() as i64;
                }
                Some(Batch::Done(summary)) => return Ok((count, extent, summary)),
                Some(Batch::Failed(msg)) => return Err(StoreError::Aborted(msg)),
                None => {
                    return Err(StoreError::Aborted(
                        "the ingest stopped before the end".into(),
                    ))
                }
            }
        }
    }

    /// The swap that publishes a staged table: one transaction.
    async fn swap(
        &self,
        id: &str,
        staging: &str,
        req: &PublishRequest,
        count: i64,
        extent: Option<[f64; 4]>,
        summary: &IngestSummary,
    ) -> Result<i64> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let (current, latest, deleted): (Option<i64>, Option<i64>, bool) = sqlx::query_as(
            "SELECT (SELECT current_version FROM atlante_layers WHERE id = ?1), \
             (SELECT max(version) FROM atlante_layer_versions WHERE layer_id = ?1), \
             EXISTS (SELECT 1 FROM atlante_layers WHERE id = ?1 AND deleted_at IS NOT NULL)",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if deleted {
            return Err(crate::store::in_trash(id));
        }
        let version = latest.unwrap_or(0) + 1;
        if let Some(cur) = current {
            unregister(&mut tx, id).await?;
            rename(&mut tx, id, &version_table(id, cur)).await?;
            sqlx::query(
                "UPDATE atlante_layers SET current_version = ?, title = ?, \
                 visibility = coalesce(?, visibility) WHERE id = ?",
            )
            .bind(version)
            .bind(&req.title)
            .bind(&req.visibility)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO atlante_layers (id, org_id, slug, title, current_version, visibility) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&req.org)
            .bind(&req.slug)
            .bind(&req.title)
            .bind(version)
            .bind(req.visibility.as_deref().unwrap_or("private"))
            .execute(&mut *tx)
            .await?;
        }
        rename(&mut tx, staging, id).await?;
        run(&mut tx, staging::unregister(Dialect::Sqlite, staging)).await?;
        register(&mut tx, id, &req.title, req.geom_type, extent, &req.fields).await?;
        sqlx::query(
            "INSERT INTO atlante_layer_versions (layer_id, version, geom_type, feature_count, \
             extent, fields, source, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(version)
        .bind(req.geom_type.sql_name())
        .bind(count)
        .bind(extent.map(|e| serde_json::to_string(&e).unwrap_or_default()))
        .bind(fields_json(&req.fields))
        .bind(serde_json::to_string(&req.source).unwrap_or_default())
        .bind(serde_json::to_string(&summary).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        prune(&mut tx, id, version).await?;
        for s in changes::log(Dialect::Sqlite, id, ChangeKind::Published, version, &[]) {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// Drops a staging table, its R-tree and its registry entry.
    pub(super) async fn drop_staging(&self, staging: &str) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        drop_table(&mut tx, staging).await?;
        run(&mut tx, staging::unregister(Dialect::Sqlite, staging)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops the staging tables that crashed ingests left (see `store::staging`).
    pub(super) async fn clean_staging(&self) -> Result<()> {
        let rows = crate::store::sql::Exec::fetch_all(self, staging::list(Dialect::Sqlite)).await?;
        for table in staging::abandoned(&rows)? {
            tracing::info!(table = %table, "dropping the staging table of an interrupted ingest");
            self.drop_staging(&table).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl VersionStore for GpkgStore {
    /// Stages the rows in a table of their own, committed batch by batch (the store's
    /// writer is held for one batch at a time, so other writes go on meanwhile), then
    /// swaps it in with one short transaction. A failure drops the staging table; a crash
    /// leaves it to the next open (see `store::staging`).
    async fn publish(&self, req: PublishRequest, mut rows: mpsc::Receiver<Batch>) -> Result<Layer> {
        let id = crate::model::layer_table(&req.org, &req.slug);
        let staging = staging::name(&id);
        {
            let _writer = self.write_lock.lock().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query(&create_table_sql(&staging, req.geom_type, &req.fields))
                .execute(&mut *tx)
                .await?;
            let index = format!(
                "CREATE VIRTUAL TABLE {} USING rtree(id, minx, maxx, miny, maxy)",
                quote_ident(&rtree(&staging))
            );
            sqlx::query(&index).execute(&mut *tx).await?;
            run(&mut tx, staging::register(Dialect::Sqlite, &staging, &id)).await?;
            tx.commit().await?;
        }
        let staged = self.stage(&staging, &req, &mut rows).await;
        let (count, extent, summary) = match staged {
            Ok(v) => v,
            Err(e) => {
                if let Err(drop_err) = self.drop_staging(&staging).await {
                    tracing::warn!(table = %staging, error = %drop_err, "staging table not dropped: the next open removes it");
                }
                return Err(e);
            }
        };
        let version = match self
            .swap(&id, &staging, &req, count, extent, &summary)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let _ = self.drop_staging(&staging).await;
                return Err(e);
            }
        };
        changes::announce(self, &id, ChangeKind::Published, version, Vec::new()).await;
        self.layer(&id).await?.ok_or(StoreError::NotFound(id))
    }

    async fn rollback(&self, id: &str) -> Result<Layer> {
        let _writer = self.write_lock.lock().await;
        let layer = self
            .layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.into()))?;
        let mut tx = self.pool.begin().await?;
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT max(version) FROM atlante_layer_versions WHERE layer_id = ? AND version < ?",
        )
        .bind(id)
        .bind(layer.version)
        .fetch_one(&mut *tx)
        .await?;
        let previous = previous.ok_or_else(|| {
            StoreError::Conflict(format!("{id} has no version older than {}", layer.version))
        })?;
        let (geom, extent, fields): (String, Option<String>, String) = sqlx::query_as(
            "SELECT geom_type, extent, fields FROM atlante_layer_versions \
             WHERE layer_id = ? AND version = ?",
        )
        .bind(id)
        .bind(previous)
        .fetch_one(&mut *tx)
        .await?;
        let geom = GeomType::parse(&geom).ok_or(StoreError::Corrupt(geom))?;
        let extent: Option<[f64; 4]> = extent.map(|e| from_json("extent", &e)).transpose()?;
        let fields: Vec<Field> = from_json("fields", &fields)?;
        unregister(&mut tx, id).await?;
        rename(&mut tx, id, &version_table(id, layer.version)).await?;
        rename(&mut tx, &version_table(id, previous), id).await?;
        register(&mut tx, id, &layer.title, geom, extent, &fields).await?;
        sqlx::query("UPDATE atlante_layers SET current_version = ? WHERE id = ?")
            .bind(previous)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for s in changes::log(Dialect::Sqlite, id, ChangeKind::RolledBack, previous, &[]) {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        drop(_writer);
        changes::announce(self, id, ChangeKind::RolledBack, previous, Vec::new()).await;
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.into()))
    }

    async fn delete_layer(&self, id: &str) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE atlante_layers SET deleted_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') \
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id.into()));
        }
        // Out of GDAL's and QGIS's layer list too, until restored.
        unregister(&mut tx, id).await?;
        for s in changes::log(Dialect::Sqlite, id, ChangeKind::Deleted, 0, &[]) {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        drop(_writer);
        changes::announce(self, id, ChangeKind::Deleted, 0, Vec::new()).await;
        Ok(())
    }

    async fn restore_layer(&self, id: &str) -> Result<Layer> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT current_version, title FROM atlante_layers WHERE id = ? AND deleted_at IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let (version, title) =
            row.ok_or_else(|| StoreError::NotFound(format!("deleted layer {id}")))?;
        let (geom, extent, fields): (String, Option<String>, String) = sqlx::query_as(
            "SELECT geom_type, extent, fields FROM atlante_layer_versions \
             WHERE layer_id = ? AND version = ?",
        )
        .bind(id)
        .bind(version)
        .fetch_one(&mut *tx)
        .await?;
        let geom = GeomType::parse(&geom).ok_or(StoreError::Corrupt(geom))?;
        let extent: Option<[f64; 4]> = extent.map(|e| from_json("extent", &e)).transpose()?;
        let fields: Vec<Field> = from_json("fields", &fields)?;
        register(&mut tx, id, &title, geom, extent, &fields).await?;
        sqlx::query("UPDATE atlante_layers SET deleted_at = NULL WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for s in changes::log(Dialect::Sqlite, id, ChangeKind::Published, version, &[]) {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        drop(_writer);
        changes::announce(self, id, ChangeKind::Published, version, Vec::new()).await;
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.into()))
    }

    async fn purge_layer(&self, id: &str) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT current_version FROM atlante_layers WHERE id = ? AND deleted_at IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let current = current.ok_or_else(|| StoreError::NotFound(format!("deleted layer {id}")))?;
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM atlante_layer_versions WHERE layer_id = ?")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        let mut tx = self.pool.begin().await?;
        unregister(&mut tx, id).await?;
        for v in versions {
            let t = if v == current {
                id.to_string()
            } else {
                version_table(id, v)
            };
            drop_table(&mut tx, &t).await?;
        }
        sqlx::query("DELETE FROM atlante_layer_versions WHERE layer_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM atlante_layers WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Its saved style goes with it.
        sqlx::query("DELETE FROM atlante_documents WHERE kind = 'style' AND key = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
