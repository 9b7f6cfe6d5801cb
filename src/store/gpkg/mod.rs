//! The embedded store: a GeoPackage file written through sqlx-sqlite. It stays a valid
//! GeoPackage (`ogrinfo` and QGIS list each published layer); Atlante's catalog sits in
//! `atlante_*` tables beside the GeoPackage system tables.

mod sqlite_fns;

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row as _, Sqlite, SqlitePool};
use tokio::sync::{mpsc, Mutex};

use super::{
    fields_json, from_json, item_condition, order_by, quote_ident, republished, validate_meta,
    version_table, Batch, Document, Edit, ItemQuery, LayerMetaUpdate, Result, Store, StoreError,
    StoredFeature, TokenRecord, KEPT_VERSIONS,
};
use crate::geom::{extend_bbox, gpkg_blob, gpkg_blob_wkb};
use crate::model::{Field, FieldType, GeomType, Layer, Org, PublishRequest, SourceInfo, Value};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_catalog.sql")),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_data_columns.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_documents.sql"),
    ),
];

pub struct GpkgStore {
    pool: SqlitePool,
    path: String,
    /// SQLite has one writer at a time; publishing layers in this process queue here.
    write_lock: Mutex<()>,
}

impl GpkgStore {
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Location(format!("{}: {e}", dir.display())))?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(false)
            .busy_timeout(std::time::Duration::from_secs(30))
            // CQL2 LIKE is case-sensitive, as in PostgreSQL.
            .pragma("case_sensitive_like", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    // SAFETY: the handle is locked for the call; the connection is open.
                    unsafe { sqlite_fns::register(handle.as_raw_handle().as_ptr()) }
                        .map_err(sqlx::Error::Protocol)
                })
            })
            .connect_with(opts)
            .await?;
        let store = GpkgStore {
            pool,
            path: path.display().to_string(),
            write_lock: Mutex::new(()),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS atlante_migrations (version INTEGER PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM atlante_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
            if done.is_none() {
                let mut tx = self.pool.begin().await?;
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO atlante_migrations (version) VALUES (?)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        // GDAL reads the GeoPackage application id from the file header itself: move the
        // header out of the WAL now, or readers see a zero id until SQLite checkpoints.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn load_layers(&self, id: Option<&str>) -> Result<Vec<Layer>> {
        let sql = format!(
            "{LAYER_SELECT} {} ORDER BY l.id",
            if id.is_some() { "WHERE l.id = ?" } else { "" }
        );
        let mut q = sqlx::query(&sql);
        if let Some(id) = id {
            q = q.bind(id);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(layer_from_row)
            .collect()
    }
}

const LAYER_SELECT: &str = "SELECT l.id, l.org_id, l.slug, l.title, l.description, l.theme, \
    l.licence, l.attribution, l.visibility, l.current_version, l.updated_at, v.geom_type, \
    v.feature_count, v.extent, v.fields, v.source \
    FROM atlante_layers l JOIN atlante_layer_versions v \
    ON v.layer_id = l.id AND v.version = l.current_version";

fn layer_from_row(r: &SqliteRow) -> Result<Layer> {
    let geom: String = r.try_get("geom_type")?;
    let extent: Option<String> = r.try_get("extent")?;
    Ok(Layer {
        id: r.try_get("id")?,
        org: r.try_get("org_id")?,
        slug: r.try_get("slug")?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        theme: r.try_get("theme")?,
        licence: r.try_get("licence")?,
        attribution: r.try_get("attribution")?,
        visibility: r.try_get("visibility")?,
        version: r.try_get("current_version")?,
        geom_type: GeomType::parse(&geom).ok_or_else(|| StoreError::Corrupt(geom.clone()))?,
        feature_count: r.try_get("feature_count")?,
        extent: extent.map(|e| from_json("extent", &e)).transpose()?,
        fields: from_json("fields", &r.try_get::<String, _>("fields")?)?,
        source: from_json::<SourceInfo>("source", &r.try_get::<String, _>("source")?)?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn org_from_row(r: &SqliteRow) -> Result<Org> {
    let bbox: Option<String> = r.try_get("bbox")?;
    let boundary: Option<String> = r.try_get("boundary")?;
    Ok(Org {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        istat_code: r.try_get("istat_code")?,
        catasto_code: r.try_get("catasto_code")?,
        zona_omogenea: r.try_get("zona_omogenea")?,
        zona_code: r.try_get("zona_code")?,
        bbox: bbox.map(|b| from_json("bbox", &b)).transpose()?,
        boundary: boundary.map(|b| from_json("boundary", &b)).transpose()?,
    })
}

/// `SELECT fid, geom, columns… FROM table` of a layer's published version.
fn select_features(layer: &Layer) -> String {
    let cols: String = layer
        .fields
        .iter()
        .map(|f| format!(", {}", quote_ident(&f.name)))
        .collect();
    format!("SELECT fid, geom{cols} FROM {}", quote_ident(&layer.id))
}

fn feature_from_row(layer: &Layer, r: &SqliteRow) -> Result<StoredFeature> {
    let blob: Vec<u8> = r.try_get(1)?;
    let wkb = gpkg_blob_wkb(&blob)
        .ok_or_else(|| StoreError::Corrupt(format!("{}: bad geometry blob", layer.id)))?
        .to_vec();
    let values = layer
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| value_from_row(r, i + 2, f.kind))
        .collect::<Result<_>>()?;
    Ok(StoredFeature {
        fid: r.try_get(0)?,
        wkb,
        values,
    })
}

fn sql_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Integer => "INTEGER",
        FieldType::Real => "REAL",
        FieldType::Text => "TEXT",
        FieldType::Boolean => "BOOLEAN",
        FieldType::Date => "DATE",
        FieldType::Datetime => "DATETIME",
    }
}

/// `CREATE TABLE` of one layer version, in the GeoPackage feature-table shape GDAL expects.
fn create_table_sql(table: &str, geom: GeomType, fields: &[Field]) -> String {
    let mut sql = format!(
        "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom {}",
        quote_ident(table),
        geom.sql_name()
    );
    for f in fields {
        sql.push_str(&format!(", {} {}", quote_ident(&f.name), sql_type(f.kind)));
    }
    sql.push(')');
    sql
}

fn insert_sql(table: &str, fields: &[Field]) -> String {
    let cols: String = fields
        .iter()
        .map(|f| format!(", {}", quote_ident(&f.name)))
        .collect();
    let params = ", ?".repeat(fields.len());
    format!(
        "INSERT INTO {} (geom{cols}) VALUES (?{params})",
        quote_ident(table)
    )
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

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
fn rtree(table: &str) -> String {
    format!("rtree_{table}_geom")
}

async fn has_table(ex: impl sqlx::SqliteExecutor<'_>, name: &str) -> Result<bool> {
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

const DOCUMENT_COLUMNS: &str =
    "SELECT kind, key, org, body, published, updated_at FROM atlante_documents";

fn document_from_row(r: &SqliteRow) -> Result<Document> {
    let body: String = r.try_get("body")?;
    Ok(Document {
        kind: r.try_get("kind")?,
        key: r.try_get("key")?,
        org: r.try_get("org")?,
        body: from_json("document", &body)?,
        published: r.try_get("published")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn push_bind(qb: &mut QueryBuilder<'_, Sqlite>, b: crate::cql2::Bind) {
    use crate::cql2::Bind;
    match b {
        Bind::Text(s) | Bind::Date(s) | Bind::Timestamp(s) => qb.push_bind(s),
        Bind::Integer(i) => qb.push_bind(i),
        Bind::Real(f) => qb.push_bind(f),
        Bind::Bool(v) => qb.push_bind(v),
        Bind::Geometry(wkb) => qb.push_bind(wkb),
    };
}

fn bind_value<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    v: &'q Value,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    match v {
        Value::Null => q.bind(None::<String>),
        Value::Integer(i) => q.bind(*i),
        Value::Real(f) => q.bind(*f),
        Value::Boolean(b) => q.bind(*b),
        Value::Text(s) | Value::Date(s) | Value::Datetime(s) => q.bind(s.as_str()),
    }
}

fn value_from_row(r: &SqliteRow, idx: usize, kind: FieldType) -> Result<Value> {
    Ok(match kind {
        FieldType::Integer => r
            .try_get::<Option<i64>, _>(idx)?
            .map_or(Value::Null, Value::Integer),
        FieldType::Real => r
            .try_get::<Option<f64>, _>(idx)?
            .map_or(Value::Null, Value::Real),
        FieldType::Boolean => r
            .try_get::<Option<bool>, _>(idx)?
            .map_or(Value::Null, Value::Boolean),
        FieldType::Text => r
            .try_get::<Option<String>, _>(idx)?
            .map_or(Value::Null, Value::Text),
        FieldType::Date => r
            .try_get::<Option<String>, _>(idx)?
            .map_or(Value::Null, Value::Date),
        FieldType::Datetime => r
            .try_get::<Option<String>, _>(idx)?
            .map_or(Value::Null, Value::Datetime),
    })
}

#[async_trait]
impl Store for GpkgStore {
    fn kind(&self) -> &'static str {
        "gpkg"
    }

    fn location(&self) -> String {
        self.path.clone()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_orgs(&self, orgs: &[Org]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for o in orgs {
            sqlx::query(
                "INSERT INTO atlante_orgs (id, name, kind, istat_code, catasto_code, \
                 zona_omogenea, zona_code, bbox, boundary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
                 istat_code = excluded.istat_code, catasto_code = excluded.catasto_code, \
                 zona_omogenea = excluded.zona_omogenea, zona_code = excluded.zona_code, \
                 bbox = excluded.bbox, boundary = excluded.boundary",
            )
            .bind(&o.id)
            .bind(&o.name)
            .bind(&o.kind)
            .bind(&o.istat_code)
            .bind(&o.catasto_code)
            .bind(&o.zona_omogenea)
            .bind(&o.zona_code)
            .bind(
                o.bbox
                    .map(|b| serde_json::to_string(&b).unwrap_or_default()),
            )
            .bind(o.boundary.as_ref().map(|b| b.to_string()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn orgs(&self) -> Result<Vec<Org>> {
        sqlx::query("SELECT * FROM atlante_orgs ORDER BY kind DESC, name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(org_from_row)
            .collect()
    }

    async fn org(&self, id: &str) -> Result<Option<Org>> {
        sqlx::query("SELECT * FROM atlante_orgs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(org_from_row)
            .transpose()
    }

    async fn layers(&self) -> Result<Vec<Layer>> {
        self.load_layers(None).await
    }

    async fn layer(&self, id: &str) -> Result<Option<Layer>> {
        Ok(self.load_layers(Some(id)).await?.into_iter().next())
    }

    async fn update_layer_meta(&self, id: &str, u: &LayerMetaUpdate) -> Result<Layer> {
        validate_meta(u)?;
        let done = sqlx::query(
            "UPDATE atlante_layers SET title = coalesce(?, title), \
             description = coalesce(?, description), theme = coalesce(?, theme), \
             licence = coalesce(?, licence), attribution = coalesce(?, attribution), \
             visibility = coalesce(?, visibility), \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
        )
        .bind(&u.title)
        .bind(&u.description)
        .bind(&u.theme)
        .bind(&u.licence)
        .bind(&u.attribution)
        .bind(&u.visibility)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    async fn versions(&self, id: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM atlante_layer_versions WHERE layer_id = ? ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn publish(&self, req: PublishRequest, mut rows: mpsc::Receiver<Batch>) -> Result<Layer> {
        let _writer = self.write_lock.lock().await;
        let id = crate::model::layer_table(&req.org, &req.slug);
        let mut tx = self.pool.begin().await?;
        let (current, latest): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT current_version FROM atlante_layers WHERE id = ?1), \
             (SELECT max(version) FROM atlante_layer_versions WHERE layer_id = ?1)",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let version = latest.unwrap_or(0) + 1;
        let staging = version_table(&id, version);
        sqlx::query(&create_table_sql(&staging, req.geom_type, &req.fields))
            .execute(&mut *tx)
            .await?;
        let index = format!(
            "CREATE VIRTUAL TABLE {} USING rtree(id, minx, maxx, miny, maxy)",
            quote_ident(&rtree(&staging))
        );
        sqlx::query(&index).execute(&mut *tx).await?;
        let insert = insert_sql(&staging, &req.fields);
        let insert_index = format!(
            "INSERT INTO {} VALUES (?, ?, ?, ?, ?)",
            quote_ident(&rtree(&staging))
        );
        let mut extent = None;
        let mut count: i64 = 0;
        let summary = loop {
            match rows.recv().await {
                Some(Batch::Rows(batch)) => {
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
                    count += batch.len() as i64;
                }
                Some(Batch::Done(summary)) => break summary,
                Some(Batch::Failed(msg)) => return Err(StoreError::Aborted(msg)),
                None => {
                    return Err(StoreError::Aborted(
                        "the ingest stopped before the end".into(),
                    ))
                }
            }
        };
        if let Some(cur) = current {
            unregister(&mut tx, &id).await?;
            rename(&mut tx, &id, &version_table(&id, cur)).await?;
            sqlx::query(
                "UPDATE atlante_layers SET current_version = ?, title = ?, \
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
            )
            .bind(version)
            .bind(&req.title)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO atlante_layers (id, org_id, slug, title, current_version) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(&req.org)
            .bind(&req.slug)
            .bind(&req.title)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        rename(&mut tx, &staging, &id).await?;
        register(&mut tx, &id, &req.title, req.geom_type, extent, &req.fields).await?;
        sqlx::query(
            "INSERT INTO atlante_layer_versions (layer_id, version, geom_type, feature_count, \
             extent, fields, source, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(version)
        .bind(req.geom_type.sql_name())
        .bind(count)
        .bind(extent.map(|e| serde_json::to_string(&e).unwrap_or_default()))
        .bind(fields_json(&req.fields))
        .bind(serde_json::to_string(&req.source).unwrap_or_default())
        .bind(serde_json::to_string(&summary).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        prune(&mut tx, &id, version).await?;
        tx.commit().await?;
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
        sqlx::query(
            "UPDATE atlante_layers SET current_version = ?, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
        )
        .bind(previous)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.into()))
    }

    async fn delete_layer(&self, id: &str) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let layer = self
            .layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.into()))?;
        let mut tx = self.pool.begin().await?;
        unregister(&mut tx, id).await?;
        for v in self.versions(id).await? {
            let t = if v == layer.version {
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

    async fn scan(&self, layer: &Layer) -> Result<Vec<StoredFeature>> {
        let sql = format!("{} ORDER BY fid", select_features(layer));
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| feature_from_row(layer, r)).collect()
    }

    async fn items(&self, layer: &Layer, q: &ItemQuery) -> Result<(Vec<StoredFeature>, i64)> {
        use super::filter as sql;
        let cond = item_condition(q);
        // The R-tree narrows to boxes that overlap; the exact test is in the condition.
        let envelope = q.bbox.or_else(|| cond.as_ref().and_then(sql::envelope));
        let index = rtree(&layer.id);
        let use_index = envelope.is_some() && has_table(&self.pool, &index).await?;
        let push_where = |qb: &mut QueryBuilder<'_, Sqlite>| {
            let mut sep = " WHERE ";
            if let (true, Some(b)) = (use_index, envelope) {
                qb.push(format!(
                    " WHERE fid IN (SELECT id FROM {} WHERE maxx >= ",
                    quote_ident(&index)
                ));
                qb.push_bind(b[0]).push(" AND minx <= ").push_bind(b[2]);
                qb.push(" AND maxy >= ")
                    .push_bind(b[1])
                    .push(" AND miny <= ")
                    .push_bind(b[3]);
                qb.push(")");
                sep = " AND ";
            }
            if let Some(c) = &cond {
                qb.push(sep);
                for piece in sql::compile(c, layer, sql::Dialect::Sqlite) {
                    match piece {
                        sql::Piece::Sql(s) => {
                            qb.push(s);
                        }
                        sql::Piece::Bind(b) => push_bind(qb, b),
                    }
                }
            }
        };
        let mut count =
            QueryBuilder::<Sqlite>::new(format!("SELECT count(*) FROM {}", quote_ident(&layer.id)));
        push_where(&mut count);
        let matched: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut page = QueryBuilder::<Sqlite>::new(select_features(layer));
        push_where(&mut page);
        page.push(order_by(layer, &q.sort, ""));
        page.push(" LIMIT ")
            .push_bind(q.limit)
            .push(" OFFSET ")
            .push_bind(q.offset);
        let rows = page.build().fetch_all(&self.pool).await?;
        let features = rows
            .iter()
            .map(|r| feature_from_row(layer, r))
            .collect::<Result<_>>()?;
        Ok((features, matched))
    }

    async fn item(&self, layer: &Layer, fid: i64) -> Result<Option<StoredFeature>> {
        let sql = format!("{} WHERE fid = ?", select_features(layer));
        let row = sqlx::query(&sql)
            .bind(fid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| feature_from_row(layer, r)).transpose()
    }

    async fn edit(&self, layer: &Layer, edits: &[Edit]) -> Result<Vec<i64>> {
        let _writer = self.write_lock.lock().await;
        let table = quote_ident(&layer.id);
        let index = rtree(&layer.id);
        let mut tx = self.pool.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT current_version FROM atlante_layers WHERE id = ?")
                .bind(&layer.id)
                .fetch_optional(&mut *tx)
                .await?;
        if current != Some(layer.version) {
            return Err(republished(layer));
        }
        let indexed = has_table(&mut *tx, &index).await?;
        let index = quote_ident(&index);
        let insert = insert_sql(&layer.id, &layer.fields);
        let update = {
            let sets: String = layer
                .fields
                .iter()
                .map(|f| format!(", {} = ?", quote_ident(&f.name)))
                .collect();
            format!("UPDATE {table} SET geom = ?{sets} WHERE fid = ?")
        };
        let mut ids = Vec::with_capacity(edits.len());
        for e in edits {
            let (fid, row) = match e {
                Edit::Insert(row) => {
                    let mut q = sqlx::query(&insert).bind(gpkg_blob(&row.wkb, 4326, &row.bbox));
                    for v in &row.values {
                        q = bind_value(q, v);
                    }
                    (q.execute(&mut *tx).await?.last_insert_rowid(), Some(row))
                }
                Edit::Replace(fid, row) => {
                    let mut q = sqlx::query(&update).bind(gpkg_blob(&row.wkb, 4326, &row.bbox));
                    for v in &row.values {
                        q = bind_value(q, v);
                    }
                    if q.bind(fid).execute(&mut *tx).await?.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("feature {fid}")));
                    }
                    (*fid, Some(row))
                }
                Edit::Delete(fid) => {
                    let sql = format!("DELETE FROM {table} WHERE fid = ?");
                    if sqlx::query(&sql)
                        .bind(fid)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 0
                    {
                        return Err(StoreError::NotFound(format!("feature {fid}")));
                    }
                    (*fid, None)
                }
            };
            if indexed {
                sqlx::query(&format!("DELETE FROM {index} WHERE id = ?"))
                    .bind(fid)
                    .execute(&mut *tx)
                    .await?;
                if let Some(row) = row {
                    sqlx::query(&format!("INSERT INTO {index} VALUES (?, ?, ?, ?, ?)"))
                        .bind(fid)
                        .bind(row.bbox[0])
                        .bind(row.bbox[2])
                        .bind(row.bbox[1])
                        .bind(row.bbox[3])
                        .execute(&mut *tx)
                        .await?;
                }
            }
            ids.push(fid);
        }
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        // The extent from the blobs' envelopes, read back exactly.
        let mut extent = None;
        for (blob,) in sqlx::query_as::<_, (Vec<u8>,)>(&format!("SELECT geom FROM {table}"))
            .fetch_all(&mut *tx)
            .await?
        {
            if let Some(b) = gpkg_blob_wkb(&blob)
                .and_then(crate::geom::from_wkb)
                .and_then(|g| crate::geom::bbox(&g))
            {
                extend_bbox(&mut extent, &b);
            }
        }
        sqlx::query("UPDATE atlante_layer_versions SET feature_count = ?, extent = ? WHERE layer_id = ? AND version = ?")
            .bind(count)
            .bind(extent.map(|e| serde_json::to_string(&e).unwrap_or_default()))
            .bind(&layer.id)
            .bind(layer.version)
            .execute(&mut *tx)
            .await?;
        let e = extent.unwrap_or([0.0; 4]);
        sqlx::query(
            "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, \
                     last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
        )
        .bind(e[0])
        .bind(e[1])
        .bind(e[2])
        .bind(e[3])
        .bind(&layer.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE atlante_layers SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?")
            .bind(&layer.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn insert_token(&self, hash: &str, org: &str, role: &str, label: &str) -> Result<()> {
        sqlx::query("INSERT INTO atlante_tokens (hash, org_id, role, label) VALUES (?, ?, ?, ?)")
            .bind(hash)
            .bind(org)
            .bind(role)
            .bind(label)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn put_document(&self, doc: &Document) -> Result<Document> {
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        sqlx::query(
            "INSERT INTO atlante_documents (kind, key, org, body, published, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET \
             org = excluded.org, body = excluded.body, published = excluded.published, \
             updated_at = excluded.updated_at",
        )
        .bind(&doc.kind)
        .bind(&doc.key)
        .bind(&doc.org)
        .bind(doc.body.to_string())
        .bind(doc.published)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(Document {
            updated_at: now,
            ..doc.clone()
        })
    }

    async fn document(&self, kind: &str, key: &str) -> Result<Option<Document>> {
        let sql = format!("{DOCUMENT_COLUMNS} WHERE kind = ? AND key = ?");
        let row = sqlx::query(&sql)
            .bind(kind)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn documents(&self, kind: &str, org: Option<&str>) -> Result<Vec<Document>> {
        let sql =
            format!("{DOCUMENT_COLUMNS} WHERE kind = ? AND (? IS NULL OR org = ?) ORDER BY key");
        let rows = sqlx::query(&sql)
            .bind(kind)
            .bind(org)
            .bind(org)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn delete_document(&self, kind: &str, key: &str) -> Result<bool> {
        let _writer = self.write_lock.lock().await;
        let r = sqlx::query("DELETE FROM atlante_documents WHERE kind = ? AND key = ?")
            .bind(kind)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let r: Option<(String, String)> =
            sqlx::query_as("SELECT org_id, role FROM atlante_tokens WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(r.map(|(org, role)| TokenRecord { org, role }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_quotes_every_name() {
        let f = vec![Field {
            name: "order".into(),
            label: "Order".into(),
            kind: FieldType::Text,
        }];
        assert_eq!(
            create_table_sql("015146_nil", GeomType::MultiPolygon, &f),
            "CREATE TABLE \"015146_nil\" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, \
             geom MULTIPOLYGON, \"order\" TEXT)"
        );
        assert_eq!(
            insert_sql("t", &f),
            "INSERT INTO \"t\" (geom, \"order\") VALUES (?, ?)"
        );
    }
}
