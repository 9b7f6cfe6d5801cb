//! The production store: PostGIS through sqlx-postgres. Rows go in with `COPY … FROM STDIN`
//! (EWKB hex geometry), each version table gets a GiST index, and every publish sends
//! `NOTIFY atlante_layer_changed` so other replicas can drop their caches.

use std::fmt::Write as _;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Executor, PgPool, Postgres, QueryBuilder, Row as _};
use tokio::sync::mpsc;

use super::{
    fields_json, from_json, item_condition, order_by, quote_ident, republished, validate_meta,
    version_table, Batch, Document, Edit, ItemQuery, LayerMetaUpdate, Result, Store, StoreError,
    StoredFeature, TokenRecord, KEPT_VERSIONS,
};
use crate::geom::{extend_bbox, wkb_to_ewkb};
use crate::model::{Field, FieldType, GeomType, Layer, Org, PublishRequest, SourceInfo, Value};

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_catalog.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_documents.sql"),
    ),
];

/// Rows buffered before one COPY chunk is sent.
const COPY_CHUNK_BYTES: usize = 1 << 20;

pub struct PgStore {
    pool: PgPool,
    location: String,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let opts: PgConnectOptions = url.parse()?;
        let location = format!(
            "postgres://{}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET TIME ZONE 'UTC'").await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let store = PgStore { pool, location };
        store.migrate().await?;
        Ok(store)
    }

    /// The pool, for tests and benchmarks that compare against PostGIS directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Replicas starting together must not race on the schema.
        sqlx::query("SELECT pg_advisory_xact_lock(726001)")
            .execute(&mut *tx)
            .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS atlante_migrations (version integer PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i32> =
                sqlx::query_scalar("SELECT version FROM atlante_migrations WHERE version = $1")
                    .bind(*version as i32)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO atlante_migrations (version) VALUES ($1)")
                    .bind(*version as i32)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load_layers(&self, id: Option<&str>) -> Result<Vec<Layer>> {
        let sql = format!(
            "{LAYER_SELECT} {} ORDER BY l.id",
            if id.is_some() { "WHERE l.id = $1" } else { "" }
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
    l.licence, l.attribution, l.visibility, l.current_version::int8 AS current_version, \
    to_char(l.updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at, v.geom_type, \
    v.feature_count, v.extent::text AS extent, v.fields::text AS fields, v.source::text AS source \
    FROM atlante_layers l JOIN atlante_layer_versions v \
    ON v.layer_id = l.id AND v.version = l.current_version";

fn layer_from_row(r: &PgRow) -> Result<Layer> {
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

fn org_from_row(r: &PgRow) -> Result<Org> {
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

const ORG_SELECT: &str = "SELECT id, name, kind, istat_code, catasto_code, zona_omogenea, \
    zona_code, bbox::text AS bbox, boundary::text AS boundary FROM atlante_orgs";

fn sql_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Integer => "bigint",
        FieldType::Real => "double precision",
        FieldType::Text => "text",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::Datetime => "timestamptz",
    }
}

fn pg_geom_type(g: GeomType) -> &'static str {
    match g {
        GeomType::Point => "Point",
        GeomType::MultiPoint => "MultiPoint",
        GeomType::MultiLineString => "MultiLineString",
        GeomType::MultiPolygon => "MultiPolygon",
    }
}

fn create_table_sql(table: &str, geom: GeomType, fields: &[Field]) -> String {
    let mut sql = format!(
        "CREATE TABLE {} (fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
         geom geometry({},4326) NOT NULL",
        quote_ident(table),
        pg_geom_type(geom)
    );
    for f in fields {
        let _ = write!(sql, ", {} {}", quote_ident(&f.name), sql_type(f.kind));
    }
    sql.push(')');
    sql
}

fn copy_sql(table: &str, fields: &[Field]) -> String {
    let cols: String = fields
        .iter()
        .map(|f| format!(", {}", quote_ident(&f.name)))
        .collect();
    format!("COPY {} (geom{cols}) FROM STDIN", quote_ident(table))
}

/// Appends a value in COPY text format.
fn copy_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("\\N"),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Value::Real(_) => out.push_str("\\N"),
        Value::Boolean(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Text(s) | Value::Date(s) | Value::Datetime(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\0' => {}
                    c => out.push(c),
                }
            }
        }
    }
}

fn copy_row(out: &mut String, wkb: &[u8], values: &[Value]) {
    let ewkb = wkb_to_ewkb(wkb, 4326);
    out.reserve(ewkb.len() * 2 + 16 * values.len());
    for b in &ewkb {
        let _ = write!(out, "{b:02X}");
    }
    for v in values {
        out.push('\t');
        copy_value(out, v);
    }
    out.push('\n');
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

async fn rename(tx: &mut Tx<'_>, from: &str, to: &str) -> Result<()> {
    let sql = format!(
        "ALTER TABLE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    );
    sqlx::query(&sql).execute(&mut **tx).await?;
    Ok(())
}

async fn lock_layer(tx: &mut Tx<'_>, id: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn notify(tx: &mut Tx<'_>, id: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify('atlante_layer_changed', $1)")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn prune(tx: &mut Tx<'_>, layer_id: &str, current: i64) -> Result<()> {
    let old: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM atlante_layer_versions WHERE layer_id = $1 AND version <> $2 \
         ORDER BY version DESC OFFSET $3",
    )
    .bind(layer_id)
    .bind(current as i32)
    .bind(KEPT_VERSIONS)
    .fetch_all(&mut **tx)
    .await?;
    for v in old {
        let drop = format!(
            "DROP TABLE IF EXISTS {}",
            quote_ident(&version_table(layer_id, v as i64))
        );
        sqlx::query(&drop).execute(&mut **tx).await?;
        sqlx::query("DELETE FROM atlante_layer_versions WHERE layer_id = $1 AND version = $2")
            .bind(layer_id)
            .bind(v)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// `SELECT fid, wkb, columns… FROM table` of a layer's published version.
fn select_features(layer: &Layer) -> String {
    let cols: String = layer
        .fields
        .iter()
        .map(|f| format!(", {}", read_expr(f)))
        .collect();
    format!(
        "SELECT fid, ST_AsBinary(geom, 'NDR'){cols} FROM {}",
        quote_ident(&layer.id)
    )
}

fn feature_from_row(layer: &Layer, r: &PgRow) -> Result<StoredFeature> {
    let values = layer
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| value_from_row(r, i + 2, f.kind))
        .collect::<Result<_>>()?;
    Ok(StoredFeature {
        fid: r.try_get(0)?,
        wkb: r.try_get(1)?,
        values,
    })
}

fn push_where(qb: &mut QueryBuilder<'_, Postgres>, layer: &Layer, q: &ItemQuery) {
    use super::filter as sql;
    use crate::cql2::Bind;
    let Some(cond) = item_condition(q) else {
        return;
    };
    qb.push(" WHERE ");
    for piece in sql::compile(&cond, layer, sql::Dialect::Postgres) {
        match piece {
            sql::Piece::Sql(s) => qb.push(s),
            sql::Piece::Bind(Bind::Text(s) | Bind::Date(s) | Bind::Timestamp(s)) => qb.push_bind(s),
            sql::Piece::Bind(Bind::Integer(i)) => qb.push_bind(i),
            sql::Piece::Bind(Bind::Real(f)) => qb.push_bind(f),
            sql::Piece::Bind(Bind::Bool(b)) => qb.push_bind(b),
            sql::Piece::Bind(Bind::Geometry(wkb)) => qb.push_bind(wkb),
        };
    }
}

const DOCUMENT_COLUMNS: &str = "SELECT kind, key, org, body, published, \
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at \
    FROM atlante_documents";

fn document_from_row(r: &sqlx::postgres::PgRow) -> Result<Document> {
    Ok(Document {
        kind: r.try_get("kind")?,
        key: r.try_get("key")?,
        org: r.try_get("org")?,
        body: r.try_get("body")?,
        published: r.try_get("published")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn edit_fid(e: &Edit) -> String {
    match e {
        Edit::Insert(_) => "new".into(),
        Edit::Replace(f, _) | Edit::Delete(f) => f.to_string(),
    }
}

/// A bound value, cast to its column's type.
fn push_value(qb: &mut QueryBuilder<'_, Postgres>, v: &Value, kind: FieldType) {
    match v {
        Value::Null => {
            qb.push("NULL");
        }
        Value::Integer(i) => {
            qb.push_bind(*i);
        }
        Value::Real(f) => {
            qb.push_bind(*f);
        }
        Value::Boolean(b) => {
            qb.push_bind(*b);
        }
        Value::Text(t) | Value::Date(t) | Value::Datetime(t) => {
            qb.push_bind(t.clone());
            qb.push(match kind {
                FieldType::Date => "::date",
                FieldType::Datetime => "::timestamptz",
                _ => "::text",
            });
        }
    }
}

/// The select-list expression that reads a column back in the shape `Value` expects.
fn read_expr(f: &Field) -> String {
    let q = quote_ident(&f.name);
    match f.kind {
        FieldType::Date => format!("to_char({q}, 'YYYY-MM-DD')"),
        FieldType::Datetime => format!("to_char({q}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
        _ => q,
    }
}

fn value_from_row(r: &PgRow, idx: usize, kind: FieldType) -> Result<Value> {
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
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgis"
    }

    fn location(&self) -> String {
        self.location.clone()
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
                 zona_omogenea, zona_code, bbox, boundary) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb) \
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
        sqlx::query(&format!("{ORG_SELECT} ORDER BY kind DESC, name"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(org_from_row)
            .collect()
    }

    async fn org(&self, id: &str) -> Result<Option<Org>> {
        sqlx::query(&format!("{ORG_SELECT} WHERE id = $1"))
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
            "UPDATE atlante_layers SET title = coalesce($1, title), \
             description = coalesce($2, description), theme = coalesce($3, theme), \
             licence = coalesce($4, licence), attribution = coalesce($5, attribution), \
             visibility = coalesce($6, visibility), updated_at = now() WHERE id = $7",
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
        sqlx::query("SELECT pg_notify('atlante_layer_changed', $1)")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    async fn versions(&self, id: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT version::int8 FROM atlante_layer_versions WHERE layer_id = $1 \
             ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn publish(&self, req: PublishRequest, mut rows: mpsc::Receiver<Batch>) -> Result<Layer> {
        let id = crate::model::layer_table(&req.org, &req.slug);
        let mut tx = self.pool.begin().await?;
        lock_layer(&mut tx, &id).await?;
        let (current, latest): (Option<i32>, Option<i32>) = sqlx::query_as(
            "SELECT (SELECT current_version FROM atlante_layers WHERE id = $1), \
             (SELECT max(version) FROM atlante_layer_versions WHERE layer_id = $1)",
        )
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let version = latest.unwrap_or(0) as i64 + 1;
        let staging = version_table(&id, version);
        sqlx::query(&create_table_sql(&staging, req.geom_type, &req.fields))
            .execute(&mut *tx)
            .await?;
        let mut copy = tx.copy_in_raw(&copy_sql(&staging, &req.fields)).await?;
        let mut buf = String::with_capacity(COPY_CHUNK_BYTES + 4096);
        let mut extent = None;
        let mut count: i64 = 0;
        let outcome = loop {
            match rows.recv().await {
                Some(Batch::Rows(batch)) => {
                    for row in &batch {
                        copy_row(&mut buf, &row.wkb, &row.values);
                        extend_bbox(&mut extent, &row.bbox);
                        if buf.len() >= COPY_CHUNK_BYTES {
                            copy.send(buf.as_bytes()).await?;
                            buf.clear();
                        }
                    }
                    count += batch.len() as i64;
                }
                Some(Batch::Done(summary)) => break Ok(summary),
                Some(Batch::Failed(msg)) => break Err(StoreError::Aborted(msg)),
                None => {
                    break Err(StoreError::Aborted(
                        "the ingest stopped before the end".into(),
                    ))
                }
            }
        };
        let summary = match outcome {
            Ok(s) => s,
            Err(e) => {
                copy.abort("ingest aborted").await.ok();
                return Err(e);
            }
        };
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        copy.finish().await?;
        let index = format!(
            "CREATE INDEX {} ON {} USING gist (geom)",
            quote_ident(&format!("{staging}_gix")),
            quote_ident(&staging)
        );
        sqlx::query(&index).execute(&mut *tx).await?;
        sqlx::query(&format!("ANALYZE {}", quote_ident(&staging)))
            .execute(&mut *tx)
            .await?;
        if let Some(cur) = current {
            rename(&mut tx, &id, &version_table(&id, cur as i64)).await?;
            sqlx::query(
                "UPDATE atlante_layers SET current_version = $1, title = $2, updated_at = now() \
                 WHERE id = $3",
            )
            .bind(version as i32)
            .bind(&req.title)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO atlante_layers (id, org_id, slug, title, current_version) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(&req.org)
            .bind(&req.slug)
            .bind(&req.title)
            .bind(version as i32)
            .execute(&mut *tx)
            .await?;
        }
        rename(&mut tx, &staging, &id).await?;
        sqlx::query(
            "INSERT INTO atlante_layer_versions (layer_id, version, geom_type, feature_count, \
             extent, fields, source, summary) \
             VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb)",
        )
        .bind(&id)
        .bind(version as i32)
        .bind(req.geom_type.sql_name())
        .bind(count)
        .bind(extent.map(|e| serde_json::to_string(&e).unwrap_or_default()))
        .bind(fields_json(&req.fields))
        .bind(serde_json::to_string(&req.source).unwrap_or_default())
        .bind(serde_json::to_string(&summary).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        prune(&mut tx, &id, version).await?;
        notify(&mut tx, &id).await?;
        tx.commit().await?;
        self.layer(&id).await?.ok_or(StoreError::NotFound(id))
    }

    async fn rollback(&self, id: &str) -> Result<Layer> {
        let mut tx = self.pool.begin().await?;
        lock_layer(&mut tx, id).await?;
        let current: Option<i32> =
            sqlx::query_scalar("SELECT current_version FROM atlante_layers WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let current = current.ok_or_else(|| StoreError::NotFound(id.into()))?;
        let previous: Option<i32> = sqlx::query_scalar(
            "SELECT max(version) FROM atlante_layer_versions WHERE layer_id = $1 AND version < $2",
        )
        .bind(id)
        .bind(current)
        .fetch_one(&mut *tx)
        .await?;
        let previous = previous.ok_or_else(|| {
            StoreError::Conflict(format!("{id} has no version older than {current}"))
        })?;
        rename(&mut tx, id, &version_table(id, current as i64)).await?;
        rename(&mut tx, &version_table(id, previous as i64), id).await?;
        sqlx::query(
            "UPDATE atlante_layers SET current_version = $1, updated_at = now() WHERE id = $2",
        )
        .bind(previous)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        notify(&mut tx, id).await?;
        tx.commit().await?;
        self.layer(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.into()))
    }

    async fn delete_layer(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_layer(&mut tx, id).await?;
        let current: Option<i32> =
            sqlx::query_scalar("SELECT current_version FROM atlante_layers WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let current = current.ok_or_else(|| StoreError::NotFound(id.into()))?;
        let versions: Vec<i32> =
            sqlx::query_scalar("SELECT version FROM atlante_layer_versions WHERE layer_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for v in versions {
            let t = if v == current {
                id.to_string()
            } else {
                version_table(id, v as i64)
            };
            sqlx::query(&format!("DROP TABLE IF EXISTS {}", quote_ident(&t)))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM atlante_layers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Its saved style goes with it.
        sqlx::query("DELETE FROM atlante_documents WHERE kind = 'style' AND key = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        notify(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn scan(&self, layer: &Layer) -> Result<Vec<StoredFeature>> {
        let sql = format!("{} ORDER BY fid", select_features(layer));
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| feature_from_row(layer, r)).collect()
    }

    async fn items(&self, layer: &Layer, q: &ItemQuery) -> Result<(Vec<StoredFeature>, i64)> {
        let mut count = QueryBuilder::<Postgres>::new(format!(
            "SELECT count(*) FROM {}",
            quote_ident(&layer.id)
        ));
        push_where(&mut count, layer, q);
        let matched: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut page = QueryBuilder::<Postgres>::new(select_features(layer));
        push_where(&mut page, layer, q);
        page.push(order_by(layer, &q.sort, "COLLATE \"C\""));
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
        let sql = format!("{} WHERE fid = $1", select_features(layer));
        let row = sqlx::query(&sql)
            .bind(fid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| feature_from_row(layer, r)).transpose()
    }

    async fn edit(&self, layer: &Layer, edits: &[Edit]) -> Result<Vec<i64>> {
        let table = quote_ident(&layer.id);
        let mut tx = self.pool.begin().await?;
        lock_layer(&mut tx, &layer.id).await?;
        let current: Option<i32> =
            sqlx::query_scalar("SELECT current_version FROM atlante_layers WHERE id = $1")
                .bind(&layer.id)
                .fetch_optional(&mut *tx)
                .await?;
        if current.map(i64::from) != Some(layer.version) {
            return Err(republished(layer));
        }
        let mut ids = Vec::with_capacity(edits.len());
        for e in edits {
            let mut qb = QueryBuilder::<Postgres>::new("");
            match e {
                Edit::Insert(row) => {
                    qb.push(format!("INSERT INTO {table} (geom"));
                    for f in &layer.fields {
                        qb.push(", ").push(quote_ident(&f.name));
                    }
                    qb.push(") VALUES (ST_GeomFromEWKB(")
                        .push_bind(wkb_to_ewkb(&row.wkb, 4326))
                        .push(")");
                    for (f, v) in layer.fields.iter().zip(&row.values) {
                        qb.push(", ");
                        push_value(&mut qb, v, f.kind);
                    }
                    qb.push(") RETURNING fid");
                }
                Edit::Replace(fid, row) => {
                    qb.push(format!("UPDATE {table} SET geom = ST_GeomFromEWKB("));
                    qb.push_bind(wkb_to_ewkb(&row.wkb, 4326)).push(")");
                    for (f, v) in layer.fields.iter().zip(&row.values) {
                        qb.push(format!(", {} = ", quote_ident(&f.name)));
                        push_value(&mut qb, v, f.kind);
                    }
                    qb.push(" WHERE fid = ")
                        .push_bind(*fid)
                        .push(" RETURNING fid");
                }
                Edit::Delete(fid) => {
                    qb.push(format!("DELETE FROM {table} WHERE fid = "))
                        .push_bind(*fid)
                        .push(" RETURNING fid");
                }
            }
            let id: Option<i64> = qb.build_query_scalar().fetch_optional(&mut *tx).await?;
            ids.push(id.ok_or_else(|| StoreError::NotFound(format!("feature {}", edit_fid(e))))?);
        }
        sqlx::query(&format!(
            "UPDATE atlante_layer_versions SET feature_count = s.n, extent = s.e FROM \
             (SELECT count(*) AS n, CASE WHEN count(*) = 0 THEN NULL ELSE jsonb_build_array(\
             ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), \
             ST_YMax(ST_Extent(geom))) END AS e FROM {table}) s \
             WHERE layer_id = $1 AND version = $2"
        ))
        .bind(&layer.id)
        .bind(layer.version as i32)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE atlante_layers SET updated_at = clock_timestamp() WHERE id = $1")
            .bind(&layer.id)
            .execute(&mut *tx)
            .await?;
        notify(&mut tx, &layer.id).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn insert_token(&self, hash: &str, org: &str, role: &str, label: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO atlante_tokens (hash, org_id, role, label) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(org)
        .bind(role)
        .bind(label)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn put_document(&self, doc: &Document) -> Result<Document> {
        let row = sqlx::query(
            "INSERT INTO atlante_documents (kind, key, org, body, published, updated_at) \
             VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (kind, key) DO UPDATE SET \
             org = excluded.org, body = excluded.body, published = excluded.published, \
             updated_at = now() RETURNING to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
        )
        .bind(&doc.kind)
        .bind(&doc.key)
        .bind(&doc.org)
        .bind(&doc.body)
        .bind(doc.published)
        .fetch_one(&self.pool)
        .await?;
        Ok(Document {
            updated_at: row.try_get(0)?,
            ..doc.clone()
        })
    }

    async fn document(&self, kind: &str, key: &str) -> Result<Option<Document>> {
        let sql = format!("{DOCUMENT_COLUMNS} WHERE kind = $1 AND key = $2");
        let row = sqlx::query(&sql)
            .bind(kind)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn documents(&self, kind: &str, org: Option<&str>) -> Result<Vec<Document>> {
        let sql = format!(
            "{DOCUMENT_COLUMNS} WHERE kind = $1 AND ($2::text IS NULL OR org = $2) ORDER BY key"
        );
        let rows = sqlx::query(&sql)
            .bind(kind)
            .bind(org)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn delete_document(&self, kind: &str, key: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM atlante_documents WHERE kind = $1 AND key = $2")
            .bind(kind)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn changes(&self) -> Option<mpsc::Receiver<String>> {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for layer changes");
                return None;
            }
        };
        if let Err(e) = listener.listen("atlante_layer_changed").await {
            tracing::warn!(error = %e, "cannot LISTEN for layer changes");
            return None;
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        if tx.send(n.payload().to_string()).await.is_err() {
                            break;
                        }
                    }
                    // PgListener reconnects on the next recv; do not spin meanwhile.
                    Err(e) => {
                        tracing::warn!(error = %e, "layer change listener interrupted");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Some(rx)
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let r: Option<(String, String)> =
            sqlx::query_as("SELECT org_id, role FROM atlante_tokens WHERE hash = $1")
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
    fn copy_text_escapes() {
        let mut s = String::new();
        copy_value(&mut s, &Value::Text("a\tb\\c\nd".into()));
        assert_eq!(s, "a\\tb\\\\c\\nd");
        s.clear();
        copy_value(&mut s, &Value::Real(f64::NAN));
        assert_eq!(s, "\\N");
    }

    #[test]
    fn copy_statement_quotes_names() {
        let f = vec![Field {
            name: "desc".into(),
            label: "DESC".into(),
            kind: FieldType::Text,
        }];
        assert_eq!(
            copy_sql("cmm_x", &f),
            "COPY \"cmm_x\" (geom, \"desc\") FROM STDIN"
        );
    }
}
