//! The version choreography, written once: publish (stage, then swap), rollback, delete to
//! the trash, restore, purge. Each backend supplies only what differs ([`VersionBackend`]):
//! how rows are staged (GeoPackage: prepared inserts and its R-tree, one short transaction
//! per batch; PostGIS: COPY, then GiST and ANALYZE), and a transaction with a handful of
//! primitives ([`VersionTx`]: rename and drop a version table, register a published table
//! with GIS clients — GeoPackage `gpkg_contents`, nothing on PostGIS).

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::changes::{self, ChangeKind};
use super::sql::{Dialect, Exec, RowExt, Stmt};
use super::{
    fields_json, from_json, in_trash, staging, version_table, Batch, ChangeStore, LayerStore,
    Result, StoreError, VersionStore, KEPT_VERSIONS,
};
use crate::model::{Field, GeomType, IngestSummary, Layer, PublishRequest};

/// A row of a shared statement, whatever the backend.
pub(crate) type AnyRow = Box<dyn RowExt + Send>;

/// One transaction of a version change, holding what serialises version changes of its
/// layer (GeoPackage: the writer lock; PostGIS: the layer's advisory lock).
#[async_trait]
pub(crate) trait VersionTx: Send {
    async fn run(&mut self, s: Stmt) -> Result<u64>;
    async fn rows(&mut self, s: Stmt) -> Result<Vec<AnyRow>>;
    /// Renames a version table (and what goes with it: the GeoPackage R-tree).
    async fn rename(&mut self, from: &str, to: &str) -> Result<()>;
    /// Drops a version table (and what goes with it).
    async fn drop_table(&mut self, table: &str) -> Result<()>;
    /// Lists a published table for GIS clients that read the store directly.
    async fn register(
        &mut self,
        table: &str,
        title: &str,
        geom: GeomType,
        extent: Option<[f64; 4]>,
        fields: &[Field],
    ) -> Result<()>;
    async fn unregister(&mut self, table: &str) -> Result<()>;
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// What a backend supplies to the choreography.
#[async_trait]
pub(crate) trait VersionBackend: Exec + ChangeStore + LayerStore {
    /// A transaction for version changes of layer `id`.
    async fn version_tx(&self, id: &str) -> Result<Box<dyn VersionTx + '_>>;
    /// Creates and registers an empty staging table (committed).
    async fn create_staging(&self, staging: &str, req: &PublishRequest) -> Result<()>;
    /// Writes the rows into the staging table, until `Done` (or a failure).
    async fn stage(
        &self,
        staging: &str,
        req: &PublishRequest,
        rows: &mut mpsc::Receiver<Batch>,
    ) -> Result<(i64, Option<[f64; 4]>, IngestSummary)>;
    /// Drops a staging table and its registry entry.
    async fn drop_staging(&self, staging: &str) -> Result<()>;
}

/// The layer's published version, whatever its trash state: (version, title, deleted).
async fn current(
    tx: &mut dyn VersionTx,
    d: Dialect,
    id: &str,
) -> Result<Option<(i64, String, bool)>> {
    let rows = tx
        .rows(
            Stmt::new(d.sql(
                "SELECT current_version AS v, title, \
                 CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END AS deleted \
                 FROM atlante_layers WHERE id = $1",
            ))
            .arg(id),
        )
        .await?;
    match rows.first() {
        Some(r) => Ok(Some((
            r.int("v")?,
            r.text("title")?,
            r.int("deleted")? == 1,
        ))),
        None => Ok(None),
    }
}

/// The kept versions of a layer, newest first.
async fn versions(tx: &mut dyn VersionTx, d: Dialect, id: &str) -> Result<Vec<i64>> {
    tx.rows(
        Stmt::new(d.sql(
            "SELECT version AS v FROM atlante_layer_versions WHERE layer_id = $1 ORDER BY version DESC",
        ))
        .arg(id),
    )
    .await?
    .iter()
    .map(|r| r.int("v"))
    .collect()
}

/// A version's geometry type, extent and fields.
async fn version_facts(
    tx: &mut dyn VersionTx,
    d: Dialect,
    id: &str,
    version: i64,
) -> Result<(GeomType, Option<[f64; 4]>, Vec<Field>)> {
    let rows = tx
        .rows(
            Stmt::new(d.sql(&format!(
                "SELECT geom_type, {} AS extent, {} AS fields FROM atlante_layer_versions \
                 WHERE layer_id = $1 AND version = $2",
                d.json_col("extent"),
                d.json_col("fields")
            )))
            .arg(id)
            .arg(version),
        )
        .await?;
    let r = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt(format!("{id} has no version {version}")))?;
    let geom = r.text("geom_type")?;
    Ok((
        GeomType::parse(&geom).ok_or(StoreError::Corrupt(geom))?,
        r.opt_text("extent")?
            .map(|e| from_json("extent", &e))
            .transpose()?,
        from_json("fields", &r.text("fields")?)?,
    ))
}

/// Logs a change inside the transaction (see `changes::log`).
async fn log(
    tx: &mut dyn VersionTx,
    d: Dialect,
    id: &str,
    kind: ChangeKind,
    version: i64,
) -> Result<()> {
    for s in changes::log(d, id, kind, version, &[]) {
        tx.run(s).await?;
    }
    Ok(())
}

/// Drops the versions beyond [`KEPT_VERSIONS`] besides the published one, oldest first.
async fn prune(tx: &mut dyn VersionTx, d: Dialect, id: &str, published: i64) -> Result<()> {
    let old: Vec<i64> = versions(tx, d, id)
        .await?
        .into_iter()
        .filter(|v| *v != published)
        .skip(KEPT_VERSIONS as usize)
        .collect();
    for v in old {
        tx.drop_table(&version_table(id, v)).await?;
        tx.run(
            Stmt::new(
                d.sql("DELETE FROM atlante_layer_versions WHERE layer_id = $1 AND version = $2"),
            )
            .arg(id)
            .arg(v),
        )
        .await?;
    }
    Ok(())
}

/// The swap that publishes a staged table, in one transaction; the new version.
async fn swap<B: VersionBackend + ?Sized>(
    b: &B,
    id: &str,
    staging_table: &str,
    req: &PublishRequest,
    count: i64,
    extent: Option<[f64; 4]>,
    summary: &IngestSummary,
) -> Result<i64> {
    let d = b.dialect();
    let mut tx = b.version_tx(id).await?;
    let cur = current(tx.as_mut(), d, id).await?;
    if cur.as_ref().is_some_and(|c| c.2) {
        return Err(in_trash(id));
    }
    let version = versions(tx.as_mut(), d, id)
        .await?
        .first()
        .copied()
        .unwrap_or(0)
        + 1;
    match &cur {
        Some((v, _, _)) => {
            tx.unregister(id).await?;
            tx.rename(id, &version_table(id, *v)).await?;
            tx.run(
                Stmt::new(d.sql(
                    "UPDATE atlante_layers SET current_version = $1, title = $2, \
                     visibility = coalesce($3, visibility) WHERE id = $4",
                ))
                .arg(version)
                .arg(&req.title)
                .arg(req.visibility.clone())
                .arg(id),
            )
            .await?;
        }
        None => {
            tx.run(
                Stmt::new(d.sql(
                    "INSERT INTO atlante_layers (id, org_id, slug, title, current_version, \
                     visibility, licence) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                ))
                .arg(id)
                .arg(&req.org)
                .arg(&req.slug)
                .arg(&req.title)
                .arg(version)
                .arg(req.visibility.as_deref().unwrap_or("private"))
                .arg(crate::opendata::vocab::DEFAULT_LICENCE),
            )
            .await?;
        }
    }
    tx.rename(staging_table, id).await?;
    tx.run(staging::unregister(d, staging_table)).await?;
    tx.register(id, &req.title, req.geom_type, extent, &req.fields)
        .await?;
    tx.run(
        Stmt::new(d.sql(&format!(
            "INSERT INTO atlante_layer_versions (layer_id, version, geom_type, feature_count, \
             extent, fields, source, summary) VALUES ($1, $2, $3, $4, {}, {}, {}, {})",
            d.json_arg(5),
            d.json_arg(6),
            d.json_arg(7),
            d.json_arg(8)
        )))
        .arg(id)
        .arg(version)
        .arg(req.geom_type.sql_name())
        .arg(count)
        .arg(extent.map(|e| serde_json::to_string(&e).unwrap_or_default()))
        .arg(fields_json(&req.fields))
        .arg(serde_json::to_string(&req.source).unwrap_or_default())
        .arg(serde_json::to_string(summary).unwrap_or_default()),
    )
    .await?;
    prune(tx.as_mut(), d, id, version).await?;
    log(tx.as_mut(), d, id, ChangeKind::Published, version).await?;
    tx.commit().await?;
    Ok(version)
}

async fn reread<B: LayerStore + ?Sized>(b: &B, id: &str) -> Result<Layer> {
    b.layer(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(id.into()))
}

#[async_trait]
impl<B: VersionBackend> VersionStore for B {
    /// Stages the rows in a table of their own (see the backend), then swaps it in with one
    /// short transaction. A failure drops the staging table; a crash leaves it to the next
    /// open (see `store::staging`).
    async fn publish(&self, req: PublishRequest, mut rows: mpsc::Receiver<Batch>) -> Result<Layer> {
        let id = crate::model::layer_table(&req.org, &req.slug);
        let staging_table = staging::name(&id);
        self.create_staging(&staging_table, &req).await?;
        let outcome = match self.stage(&staging_table, &req, &mut rows).await {
            Ok((count, extent, summary)) => {
                swap(self, &id, &staging_table, &req, count, extent, &summary).await
            }
            Err(e) => Err(e),
        };
        let version = match outcome {
            Ok(v) => v,
            Err(e) => {
                if let Err(drop_err) = self.drop_staging(&staging_table).await {
                    tracing::warn!(table = %staging_table, error = %drop_err, "staging table not dropped: the next open removes it");
                }
                return Err(e);
            }
        };
        changes::announce(self, &id, ChangeKind::Published, version, Vec::new()).await;
        reread(self, &id).await
    }

    async fn rollback(&self, id: &str) -> Result<Layer> {
        let d = self.dialect();
        let mut tx = self.version_tx(id).await?;
        let (cur, title, _) = current(tx.as_mut(), d, id)
            .await?
            .filter(|c| !c.2)
            .ok_or_else(|| StoreError::NotFound(id.into()))?;
        let previous = versions(tx.as_mut(), d, id)
            .await?
            .into_iter()
            .find(|v| *v < cur)
            .ok_or_else(|| StoreError::Conflict(format!("{id} has no version older than {cur}")))?;
        let (geom, extent, fields) = version_facts(tx.as_mut(), d, id, previous).await?;
        tx.unregister(id).await?;
        tx.rename(id, &version_table(id, cur)).await?;
        tx.rename(&version_table(id, previous), id).await?;
        tx.register(id, &title, geom, extent, &fields).await?;
        tx.run(
            Stmt::new(d.sql("UPDATE atlante_layers SET current_version = $1 WHERE id = $2"))
                .arg(previous)
                .arg(id),
        )
        .await?;
        log(tx.as_mut(), d, id, ChangeKind::RolledBack, previous).await?;
        tx.commit().await?;
        changes::announce(self, id, ChangeKind::RolledBack, previous, Vec::new()).await;
        reread(self, id).await
    }

    async fn delete_layer(&self, id: &str) -> Result<()> {
        let d = self.dialect();
        let mut tx = self.version_tx(id).await?;
        let done = tx
            .run(
                Stmt::new(d.sql(&format!(
                    "UPDATE atlante_layers SET deleted_at = {} WHERE id = $1 AND deleted_at IS NULL",
                    d.now()
                )))
                .arg(id),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound(id.into()));
        }
        // Out of GIS clients' layer lists too, until restored.
        tx.unregister(id).await?;
        log(tx.as_mut(), d, id, ChangeKind::Deleted, 0).await?;
        tx.commit().await?;
        changes::announce(self, id, ChangeKind::Deleted, 0, Vec::new()).await;
        Ok(())
    }

    async fn restore_layer(&self, id: &str) -> Result<Layer> {
        let d = self.dialect();
        let mut tx = self.version_tx(id).await?;
        let (version, title, _) = current(tx.as_mut(), d, id)
            .await?
            .filter(|c| c.2)
            .ok_or_else(|| StoreError::NotFound(format!("deleted layer {id}")))?;
        let (geom, extent, fields) = version_facts(tx.as_mut(), d, id, version).await?;
        tx.register(id, &title, geom, extent, &fields).await?;
        tx.run(
            Stmt::new(d.sql("UPDATE atlante_layers SET deleted_at = NULL WHERE id = $1")).arg(id),
        )
        .await?;
        log(tx.as_mut(), d, id, ChangeKind::Published, version).await?;
        tx.commit().await?;
        changes::announce(self, id, ChangeKind::Published, version, Vec::new()).await;
        reread(self, id).await
    }

    async fn purge_layer(&self, id: &str) -> Result<()> {
        let d = self.dialect();
        let mut tx = self.version_tx(id).await?;
        let (cur, _, _) = current(tx.as_mut(), d, id)
            .await?
            .filter(|c| c.2)
            .ok_or_else(|| StoreError::NotFound(format!("deleted layer {id}")))?;
        tx.unregister(id).await?;
        for v in versions(tx.as_mut(), d, id).await? {
            let t = if v == cur {
                id.to_string()
            } else {
                version_table(id, v)
            };
            tx.drop_table(&t).await?;
        }
        for sql in [
            "DELETE FROM atlante_layer_versions WHERE layer_id = $1",
            "DELETE FROM atlante_layers WHERE id = $1",
            // Its saved style goes with it.
            "DELETE FROM atlante_documents WHERE kind = 'style' AND key = $1",
        ] {
            tx.run(Stmt::new(d.sql(sql)).arg(id)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Drops the staging tables that crashed ingests left (see `store::staging`). Run when a
/// store opens; a failure (a full disk) is logged and the store opens all the same, since
/// the published versions do not depend on it: the next open tries again.
pub(crate) async fn clean_staging<B: VersionBackend + ?Sized>(b: &B) {
    let removed = async {
        let rows = b.fetch_all(staging::list(b.dialect())).await?;
        for table in staging::abandoned(&rows)? {
            tracing::info!(table = %table, "dropping the staging table of an interrupted ingest");
            b.drop_staging(&table).await?;
        }
        Ok::<_, StoreError>(())
    };
    if let Err(e) = removed.await {
        tracing::warn!(error = %e, "could not remove the staging tables of interrupted ingests; the next start tries again");
    }
}
