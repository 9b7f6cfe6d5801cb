//! Features of the GeoPackage store: reads (with the GeoPackage R-tree) and edits in place.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row as _, Sqlite};

use super::versions::{has_table, rtree};
use super::{run, GpkgStore};
use crate::geom::{extend_bbox, gpkg_blob, gpkg_blob_wkb};
use crate::model::{Field, FieldType, GeomType, Layer, Value};
use crate::store::changes::{self, ChangeKind, FeatureChange};
use crate::store::sql::{value_at, Dialect};
use crate::store::{
    item_condition, one_scan, order_by, page_by_id, quote_ident, republished, Edit, FeatureStore,
    ItemQuery, Result, StoreError, StoredFeature,
};

/// The extent of a stored geometry blob.
fn blob_bbox(blob: &[u8]) -> Option<[f64; 4]> {
    gpkg_blob_wkb(blob)
        .and_then(crate::geom::from_wkb)
        .and_then(|g| crate::geom::bbox(&g))
}

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
        .map(|(i, f)| value_at(r, i + 2, f.kind))
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
pub(super) fn create_table_sql(table: &str, geom: GeomType, fields: &[Field]) -> String {
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

pub(super) fn insert_sql(table: &str, fields: &[Field]) -> String {
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

pub(super) fn bind_value<'q>(
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

impl GpkgStore {
    /// The WHERE clause of an items request, as a function that writes it into a query.
    /// The R-tree narrows to boxes that overlap; the exact test is in the condition.
    async fn where_clause<'a>(
        &self,
        layer: &'a Layer,
        q: &ItemQuery,
    ) -> Result<impl Fn(&mut QueryBuilder<'_, Sqlite>) + Send + Sync + 'a> {
        use crate::store::filter as sql;
        let cond = item_condition(q);
        let envelope = q.bbox.or_else(|| cond.as_ref().and_then(sql::envelope));
        let index = rtree(&layer.id);
        let use_index = envelope.is_some() && has_table(&self.pool, &index).await?;
        Ok(move |qb: &mut QueryBuilder<'_, Sqlite>| {
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
                push_cond(qb, layer, c);
            }
        })
    }

    /// Rows of `fids`, a few hundred ids per statement: `select` with `WHERE fid IN (…)`,
    /// then `and` (which may add conditions), ordered by fid.
    async fn by_fid<T>(
        &self,
        fids: &[i64],
        select: &str,
        and: impl Fn(&mut QueryBuilder<'_, Sqlite>),
        row: impl Fn(&SqliteRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(fids.len());
        for part in fids.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new(select);
            qb.push(" WHERE fid IN (");
            let mut ids = qb.separated(", ");
            for fid in part {
                ids.push_bind(*fid);
            }
            qb.push(")");
            and(&mut qb);
            qb.push(" ORDER BY fid");
            for r in qb.build().fetch_all(&self.pool).await? {
                out.push(row(&r)?);
            }
        }
        Ok(out)
    }
}

/// Writes a CQL2 condition compiled for SQLite.
fn push_cond(qb: &mut QueryBuilder<'_, Sqlite>, layer: &Layer, c: &crate::cql2::Cond) {
    use crate::store::filter as sql;
    for piece in sql::compile(c, layer, sql::Dialect::Sqlite) {
        match piece {
            sql::Piece::Sql(s) => {
                qb.push(s);
            }
            sql::Piece::Bind(b) => push_bind(qb, b),
        }
    }
}

#[async_trait]
impl FeatureStore for GpkgStore {
    async fn select_batches(
        &self,
        layer: &Layer,
        q: &ItemQuery,
        size: usize,
        to: tokio::sync::mpsc::Sender<Vec<StoredFeature>>,
    ) -> Result<()> {
        let push_where = self.where_clause(layer, q).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(select_features(layer));
        push_where(&mut qb);
        qb.push(order_by(layer, &q.sort, ""));
        let rows = qb.build().fetch(&self.pool);
        crate::store::send_in_batches(rows, size, to, |r| feature_from_row(layer, r)).await
    }

    async fn items(&self, layer: &Layer, q: &ItemQuery) -> Result<(Vec<StoredFeature>, i64)> {
        let push_where = self.where_clause(layer, q).await?;
        if one_scan(q) {
            let mut ids = QueryBuilder::<Sqlite>::new(format!(
                "SELECT fid, count(*) OVER () FROM {}",
                quote_ident(&layer.id)
            ));
            push_where(&mut ids);
            ids.push(order_by(layer, &q.sort, ""));
            ids.push(" LIMIT ")
                .push_bind(q.limit)
                .push(" OFFSET ")
                .push_bind(q.offset);
            let page: Vec<(i64, i64)> = ids.build_query_as().fetch_all(&self.pool).await?;
            if let Some(answer) = page_by_id(self, layer, &page, q.offset).await? {
                return Ok(answer);
            }
        }
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

    async fn fids_intersecting(
        &self,
        layer: &Layer,
        fids: &[i64],
        bbox: [f64; 4],
    ) -> Result<Vec<i64>> {
        let Some(cond) = item_condition(&ItemQuery::bbox(bbox)) else {
            return Ok(fids.to_vec());
        };
        let select = format!("SELECT fid FROM {}", quote_ident(&layer.id));
        let mut out = self
            .by_fid(
                fids,
                &select,
                |qb| {
                    qb.push(" AND ");
                    push_cond(qb, layer, &cond);
                },
                |r| Ok(r.try_get(0)?),
            )
            .await?;
        out.sort_unstable();
        Ok(out)
    }

    async fn features_by_fid(&self, layer: &Layer, fids: &[i64]) -> Result<Vec<StoredFeature>> {
        let mut out = self
            .by_fid(
                fids,
                &select_features(layer),
                |_| {},
                |r| feature_from_row(layer, r),
            )
            .await?;
        out.sort_unstable_by_key(|f| f.fid);
        Ok(out)
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
        let mut touched = Vec::with_capacity(edits.len());
        let read_old = format!("SELECT geom FROM {table} WHERE fid = ?");
        for e in edits {
            let before = match e {
                Edit::Insert(_) => None,
                Edit::Replace(fid, _) | Edit::Delete(fid) => {
                    let blob: Option<Vec<u8>> = sqlx::query_scalar(&read_old)
                        .bind(fid)
                        .fetch_optional(&mut *tx)
                        .await?;
                    blob.as_deref().and_then(blob_bbox)
                }
            };
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
            touched.push(FeatureChange {
                fid,
                before,
                after: row.map(|r| r.bbox),
            });
        }
        let (count, extent): (i64, Option<String>) = sqlx::query_as(
            "SELECT feature_count, extent FROM atlante_layer_versions \
             WHERE layer_id = ? AND version = ?",
        )
        .bind(&layer.id)
        .bind(layer.version)
        .fetch_one(&mut *tx)
        .await?;
        let extent = extent
            .map(|e| crate::store::from_json("extent", &e))
            .transpose()?;
        let (count, extent) = match changes::after_edits(count, extent, &touched) {
            Some(kept) => kept,
            None => {
                let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                    .fetch_one(&mut *tx)
                    .await?;
                // The extent from the blobs' envelopes, read back exactly.
                let mut extent = None;
                let all = format!("SELECT geom FROM {table}");
                for (blob,) in sqlx::query_as::<_, (Vec<u8>,)>(&all)
                    .fetch_all(&mut *tx)
                    .await?
                {
                    if let Some(b) = blob_bbox(&blob) {
                        extend_bbox(&mut extent, &b);
                    }
                }
                (count, extent)
            }
        };
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
        for s in changes::log(
            Dialect::Sqlite,
            &layer.id,
            ChangeKind::Edited,
            layer.version,
            &touched,
        ) {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        drop(_writer);
        changes::announce(self, &layer.id, ChangeKind::Edited, layer.version, touched).await;
        Ok(ids)
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
