//! Versions in the GeoPackage store: what the shared choreography (`store::versions`)
//! needs from it — staging rows with prepared inserts and the R-tree, one short
//! transaction per batch (SQLite has one writer: it is held for a batch at a time), and a
//! transaction that renames, drops and (un)registers version tables in `gpkg_contents`.

use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, MutexGuard};

use super::features::{bind_value, create_table_sql};
use super::{run, GpkgStore, Tx};
use crate::geom::{extend_bbox, gpkg_blob};
use crate::model::{Field, GeomType, IngestSummary, PublishRequest};
use crate::store::sql::bind_args;
use crate::store::sql::{Dialect, Stmt};
use crate::store::staging;
use crate::store::versions::{AnyRow, VersionBackend, VersionTx};
use crate::store::{quote_ident, Batch, Result, StoreError};

/// `INSERT INTO table (fid, geom, fields…) VALUES (…), (…)` for `rows` rows.
fn insert_rows_sql(table: &str, fields: &[Field], rows: usize) -> String {
    let cols: String = fields
        .iter()
        .map(|f| format!(", {}", quote_ident(&f.name)))
        .collect();
    let one = format!("(?, ?{})", ", ?".repeat(fields.len()));
    let values = vec![one; rows].join(", ");
    format!(
        "INSERT INTO {} (fid, geom{cols}) VALUES {values}",
        quote_ident(table)
    )
}

impl GpkgStore {
    /// Writes pairs into a table of a staging table (`replace`: after emptying it), many
    /// per statement, in transactions of a few statements: SQLite's one writer is held a
    /// moment at a time.
    #[allow(clippy::too_many_arguments)]
    async fn insert_pairs<A, B>(
        &self,
        conn: &mut sqlx::SqliteConnection,
        staging: &str,
        table: &str,
        columns: &str,
        per_statement: usize,
        pairs: &[(A, B)],
        replace: bool,
    ) -> Result<()>
    where
        for<'q> &'q A: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
        for<'q> &'q B: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
        A: Sync,
        B: Sync,
    {
        use sqlx::Connection as _;
        let mut statements = pairs.chunks(per_statement).peekable();
        let mut first = true;
        while first || statements.peek().is_some() {
            let _writer = self.write_lock.lock().await;
            let mut tx = conn.begin().await?;
            if std::mem::take(&mut first) && replace {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            for part in statements.by_ref().take(10) {
                let values = vec!["(?, ?)"; part.len()].join(", ");
                let sql = format!("INSERT INTO {table} ({columns}) VALUES {values}");
                let mut q = sqlx::query(&sql);
                for (a, b) in part {
                    q = q.bind(a).bind(b);
                }
                q.execute(&mut *tx).await?;
            }
            run(&mut tx, staging::heartbeat(Dialect::Sqlite, staging)).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Fills a staging table's R-tree from the rows' boxes, sorted along a Z-order curve,
    /// packed in bulk ([`super::rtree`]) and written into its shadow tables, many rows
    /// per statement.
    async fn fill_rtree(
        &self,
        conn: &mut sqlx::SqliteConnection,
        staging: &str,
        mut boxes: Vec<(i64, [f64; 4])>,
    ) -> Result<()> {
        boxes.sort_by_cached_key(|(_, b)| crate::geom::zorder(b, &[-180.0, -90.0, 180.0, 90.0]));
        let shadow = |part: &str| quote_ident(&format!("{}_{part}", rtree(staging)));
        let node_size: i64 = sqlx::query_scalar(&format!(
            "SELECT length(data) FROM {} WHERE nodeno = 1",
            shadow("node")
        ))
        .fetch_one(&mut *conn)
        .await?;
        let tables = super::rtree::pack(&boxes, usize::try_from(node_size).unwrap_or(0));
        drop(boxes);
        if tables.nodes.is_empty() {
            return Ok(());
        }
        // The empty root the module made goes; the packed nodes come in its place.
        self.insert_pairs(
            conn,
            staging,
            &shadow("node"),
            "nodeno, data",
            200,
            &tables.nodes,
            true,
        )
        .await?;
        self.insert_pairs(
            conn,
            staging,
            &shadow("rowid"),
            "rowid, nodeno",
            10_000,
            &tables.rowids,
            false,
        )
        .await?;
        self.insert_pairs(
            conn,
            staging,
            &shadow("parent"),
            "nodeno, parentnode",
            10_000,
            &tables.parents,
            false,
        )
        .await?;
        Ok(())
    }
}

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
/// A version transaction: the writer lock held until it commits.
struct GpkgTx<'a> {
    _writer: MutexGuard<'a, ()>,
    tx: Transaction<'static, Sqlite>,
}

#[async_trait]
impl VersionTx for GpkgTx<'_> {
    async fn run(&mut self, s: Stmt) -> Result<u64> {
        Ok(bind_args(sqlx::query(&s.sql), s.args)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }
    async fn rows(&mut self, s: Stmt) -> Result<Vec<AnyRow>> {
        let rows = bind_args(sqlx::query(&s.sql), s.args)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.into_iter().map(|r| Box::new(r) as AnyRow).collect())
    }
    async fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        rename(&mut self.tx, from, to).await
    }
    async fn drop_table(&mut self, table: &str) -> Result<()> {
        drop_table(&mut self.tx, table).await
    }
    async fn register(
        &mut self,
        table: &str,
        title: &str,
        geom: GeomType,
        extent: Option<[f64; 4]>,
        fields: &[Field],
    ) -> Result<()> {
        register(&mut self.tx, table, title, geom, extent, fields).await
    }
    async fn unregister(&mut self, table: &str) -> Result<()> {
        unregister(&mut self.tx, table).await
    }
    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl VersionBackend for GpkgStore {
    async fn version_tx(&self, _id: &str) -> Result<Box<dyn VersionTx + '_>> {
        let writer = self.write_lock.lock().await;
        let tx = self.pool.begin().await?;
        Ok(Box::new(GpkgTx {
            _writer: writer,
            tx,
        }))
    }

    async fn create_staging(&self, staging: &str, req: &PublishRequest) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(&create_table_sql(staging, req.geom_type, &req.fields))
            .execute(&mut *tx)
            .await?;
        let index = format!(
            "CREATE VIRTUAL TABLE {} USING rtree(id, minx, maxx, miny, maxy)",
            quote_ident(&rtree(staging))
        );
        sqlx::query(&index).execute(&mut *tx).await?;
        let id = staging.rsplit_once("__st").map_or(staging, |(id, _)| id);
        run(&mut tx, staging::register(Dialect::Sqlite, staging, id)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes the rows into the staging table, one transaction per batch, many rows per
    /// statement (each statement is a round trip to SQLite's thread), on a connection of
    /// its own that does not wait for the disk on each commit (`synchronous = NORMAL`: a
    /// power cut may lose staged rows, which are dropped at the next open anyway; the
    /// publish itself commits on the pool's durable connections). The R-tree is filled
    /// at the end, in the rows' spatial order.
    async fn stage(
        &self,
        staging: &str,
        req: &PublishRequest,
        rows: &mut mpsc::Receiver<Batch>,
    ) -> Result<(i64, Option<[f64; 4]>, IngestSummary)> {
        use sqlx::ConnectOptions as _;
        use sqlx::Connection as _;
        let opts = (*self.pool.connect_options())
            .clone()
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let mut conn = opts.connect().await?;
        let started = std::time::Instant::now();
        let per_row = 2 + req.fields.len();
        // SQLite allows 32,766 parameters in a statement.
        let chunk = (32_000 / per_row).clamp(1, 500);
        let mut extent = None;
        let mut count: i64 = 0;
        let mut boxes: Vec<(i64, [f64; 4])> = Vec::new();
        let result = loop {
            match rows.recv().await {
                Some(Batch::Rows(batch)) => {
                    let _writer = self.write_lock.lock().await;
                    let mut tx = conn.begin().await?;
                    for part in batch.chunks(chunk) {
                        let sql = insert_rows_sql(staging, &req.fields, part.len());
                        let blobs: Vec<Vec<u8>> = part
                            .iter()
                            .map(|r| gpkg_blob(&r.wkb, 4326, &r.bbox))
                            .collect();
                        let mut q = sqlx::query(&sql);
                        for (row, blob) in part.iter().zip(&blobs) {
                            count += 1;
                            q = q.bind(count).bind(blob.as_slice());
                            for v in &row.values {
                                q = bind_value(q, v);
                            }
                            extend_bbox(&mut extent, &row.bbox);
                            boxes.push((count, row.bbox));
                        }
                        q.execute(&mut *tx).await?;
                    }
                    run(&mut tx, staging::heartbeat(Dialect::Sqlite, staging)).await?;
                    tx.commit().await?;
                }
                Some(Batch::Done(summary)) => break Ok((count, extent, summary)),
                Some(Batch::Failed(msg)) => break Err(StoreError::Aborted(msg)),
                None => {
                    break Err(StoreError::Aborted(
                        "the ingest stopped before the end".into(),
                    ))
                }
            }
        };
        if result.is_ok() {
            tracing::info!(
                table = staging,
                rows = count,
                ms = started.elapsed().as_millis() as u64,
                "rows staged"
            );
            let filled = std::time::Instant::now();
            self.fill_rtree(&mut conn, staging, boxes).await?;
            tracing::info!(
                table = staging,
                ms = filled.elapsed().as_millis() as u64,
                "R-tree filled"
            );
        }
        conn.close().await?;
        result
    }

    /// Drops a staging table, its R-tree and its registry entry.
    async fn drop_staging(&self, staging: &str) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        drop_table(&mut tx, staging).await?;
        run(&mut tx, staging::unregister(Dialect::Sqlite, staging)).await?;
        tx.commit().await?;
        Ok(())
    }
}
