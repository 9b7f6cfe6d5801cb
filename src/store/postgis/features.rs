//! Features of the PostGIS store: reads (GiST-indexed, CQL2 compiled to SQL) and edits in
//! place.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row as _};

use super::versions::lock_layer;
use super::{run, PgStore};
use crate::geom::wkb_to_ewkb;
use crate::model::{Field, FieldType, Layer, Value};
use crate::store::changes::{self, ChangeKind, FeatureChange};
use crate::store::sql::{value_at, Dialect};
use crate::store::{
    item_condition, one_scan, order_by, page_by_id, quote_ident, republished, Edit, FeatureStore,
    ItemQuery, Result, StoreError, StoredFeature,
};

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
        .map(|(i, f)| value_at(r, i + 2, f.kind))
        .collect::<Result<_>>()?;
    Ok(StoredFeature {
        fid: r.try_get(0)?,
        wkb: r.try_get(1)?,
        values,
    })
}

fn push_where(qb: &mut QueryBuilder<'_, Postgres>, layer: &Layer, q: &ItemQuery) {
    use crate::cql2::Bind;
    use crate::store::filter as sql;
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

#[async_trait]
impl FeatureStore for PgStore {
    async fn select_batches(
        &self,
        layer: &Layer,
        q: &ItemQuery,
        size: usize,
        to: tokio::sync::mpsc::Sender<Vec<StoredFeature>>,
    ) -> Result<()> {
        let mut qb = QueryBuilder::<Postgres>::new(select_features(layer));
        push_where(&mut qb, layer, q);
        qb.push(order_by(layer, &q.sort, "COLLATE \"C\""));
        let rows = qb.build().fetch(&self.pool);
        crate::store::send_in_batches(rows, size, to, |r| feature_from_row(layer, r)).await
    }

    async fn items(&self, layer: &Layer, q: &ItemQuery) -> Result<(Vec<StoredFeature>, i64)> {
        if one_scan(q) {
            let mut ids = QueryBuilder::<Postgres>::new(format!(
                "SELECT fid, count(*) OVER () FROM {}",
                quote_ident(&layer.id)
            ));
            push_where(&mut ids, layer, q);
            ids.push(order_by(layer, &q.sort, "COLLATE \"C\""));
            ids.push(" LIMIT ")
                .push_bind(q.limit)
                .push(" OFFSET ")
                .push_bind(q.offset);
            let page: Vec<(i64, i64)> = ids.build_query_as().fetch_all(&self.pool).await?;
            if let Some(answer) = page_by_id(self, layer, &page, q.offset).await? {
                return Ok(answer);
            }
        }
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

    async fn fids_intersecting(
        &self,
        layer: &Layer,
        fids: &[i64],
        bbox: [f64; 4],
    ) -> Result<Vec<i64>> {
        // Each id looked up by key, then tested: with `fid = ANY(…)` beside the spatial
        // test, PostgreSQL may scan the box's whole GiST range and search the list per row.
        let mut qb = QueryBuilder::<Postgres>::new("SELECT t.fid FROM unnest(");
        qb.push_bind(fids.to_vec()).push(format!(
            "::int8[]) AS u(id) JOIN {} AS t ON t.fid = u.id",
            quote_ident(&layer.id)
        ));
        push_where(&mut qb, layer, &ItemQuery::bbox(bbox));
        qb.push(" ORDER BY t.fid");
        Ok(qb.build_query_scalar().fetch_all(&self.pool).await?)
    }

    async fn features_by_fid(&self, layer: &Layer, fids: &[i64]) -> Result<Vec<StoredFeature>> {
        let mut qb = QueryBuilder::<Postgres>::new(select_features(layer));
        qb.push(" WHERE fid = ANY(")
            .push_bind(fids.to_vec())
            .push(") ORDER BY fid");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| feature_from_row(layer, r)).collect()
    }

    async fn edit(&self, layer: &Layer, edits: &[Edit]) -> Result<Vec<i64>> {
        let table = quote_ident(&layer.id);
        let mut tx = self.pool.begin().await?;
        lock_layer(&mut tx, &layer.id).await?;
        // The layer's version, with its count and extent: an edit keeps them, not recounts.
        let current: Option<(i32, i64, Option<String>)> = sqlx::query_as(
            "SELECT v.version, v.feature_count, v.extent::text FROM atlante_layers l \
             JOIN atlante_layer_versions v ON v.layer_id = l.id AND v.version = l.current_version \
             WHERE l.id = $1",
        )
        .bind(&layer.id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((_, count, extent)) = current.filter(|c| i64::from(c.0) == layer.version) else {
            return Err(republished(layer));
        };
        let mut ids = Vec::with_capacity(edits.len());
        let mut touched = Vec::with_capacity(edits.len());
        // Each edit is one statement that also answers the feature's box before it: an
        // UPDATE reads the old row through its FROM (the statement's snapshot, before the
        // change), a DELETE returns what it removed.
        let old_box = "ST_XMin(o.geom), ST_YMin(o.geom), ST_XMax(o.geom), ST_YMax(o.geom)";
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
                    qb.push(
                        ") RETURNING fid, NULL::float8, NULL::float8, NULL::float8, NULL::float8",
                    );
                }
                Edit::Replace(fid, row) => {
                    qb.push(format!("UPDATE {table} AS t SET geom = ST_GeomFromEWKB("));
                    qb.push_bind(wkb_to_ewkb(&row.wkb, 4326)).push(")");
                    for (f, v) in layer.fields.iter().zip(&row.values) {
                        qb.push(format!(", {} = ", quote_ident(&f.name)));
                        push_value(&mut qb, v, f.kind);
                    }
                    qb.push(format!(" FROM (SELECT geom FROM {table} WHERE fid = "))
                        .push_bind(*fid)
                        .push(") AS o WHERE t.fid = ")
                        .push_bind(*fid)
                        .push(format!(" RETURNING t.fid, {old_box}"));
                }
                Edit::Delete(fid) => {
                    qb.push(format!("DELETE FROM {table} AS o WHERE fid = "))
                        .push_bind(*fid)
                        .push(format!(" RETURNING fid, {old_box}"));
                }
            }
            type Answer = (i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>);
            let answer: Option<Answer> = qb.build_query_as().fetch_optional(&mut *tx).await?;
            let (fid, x0, y0, x1, y1) =
                answer.ok_or_else(|| StoreError::NotFound(format!("feature {}", edit_fid(e))))?;
            ids.push(fid);
            touched.push(FeatureChange {
                fid,
                before: match (x0, y0, x1, y1) {
                    (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
                    _ => None,
                },
                after: match e {
                    Edit::Insert(row) | Edit::Replace(_, row) => Some(row.bbox),
                    Edit::Delete(_) => None,
                },
            });
        }
        let extent = extent
            .map(|e| crate::store::from_json("extent", &e))
            .transpose()?;
        match changes::after_edits(count, extent, &touched) {
            Some((count, extent)) => {
                sqlx::query(
                    "UPDATE atlante_layer_versions SET feature_count = $1, extent = $2::jsonb \
                     WHERE layer_id = $3 AND version = $4",
                )
                .bind(count)
                .bind(extent.map(|e| serde_json::to_string(&e).unwrap_or_default()))
                .bind(&layer.id)
                .bind(layer.version as i32)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(&format!(
                    "UPDATE atlante_layer_versions SET feature_count = s.n, extent = s.e FROM \
                     (SELECT count(*) AS n, CASE WHEN count(*) = 0 THEN NULL ELSE \
                     jsonb_build_array(ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), \
                     ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))) END AS e FROM {table}) s \
                     WHERE layer_id = $1 AND version = $2"
                ))
                .bind(&layer.id)
                .bind(layer.version as i32)
                .execute(&mut *tx)
                .await?;
            }
        }
        for s in changes::log(
            Dialect::Postgres,
            &layer.id,
            ChangeKind::Edited,
            layer.version,
            &touched,
        ) {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        changes::announce(self, &layer.id, ChangeKind::Edited, layer.version, touched).await;
        Ok(ids)
    }
}
