//! Saved JSON documents (layer styles, app configurations), written once for both backends.

use async_trait::async_trait;

use super::sql::{Exec, RowExt, Stmt};
use super::{from_json, Document, DocumentStore, Result};

fn select(e: &impl Exec) -> String {
    let d = e.dialect();
    format!(
        "SELECT kind, key, org, {} AS body, published, {} AS updated_at FROM atlante_documents",
        d.json_col("body"),
        d.ts("updated_at")
    )
}

fn from_row(r: &impl RowExt) -> Result<Document> {
    Ok(Document {
        kind: r.text("kind")?,
        key: r.text("key")?,
        org: r.text("org")?,
        body: from_json("document", &r.text("body")?)?,
        published: r.boolean("published")?,
        updated_at: r.text("updated_at")?,
    })
}

#[async_trait]
impl<T: Exec> DocumentStore for T {
    async fn put_document(&self, doc: &Document) -> Result<Document> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "INSERT INTO atlante_documents (kind, key, org, body, published, updated_at) \
             VALUES ($1, $2, $3, {}, $5, {now}) ON CONFLICT (kind, key) DO UPDATE SET \
             org = excluded.org, body = excluded.body, published = excluded.published, \
             updated_at = {now} RETURNING {} AS updated_at",
            d.json_arg(4),
            d.ts("updated_at"),
            now = d.now()
        )))
        .arg(&doc.kind)
        .arg(&doc.key)
        .arg(&doc.org)
        .arg(doc.body.to_string())
        .arg(doc.published);
        let row = self
            .fetch_optional(s)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("document not saved".into()))?;
        Ok(Document {
            updated_at: row.text("updated_at")?,
            ..doc.clone()
        })
    }

    async fn document(&self, kind: &str, key: &str) -> Result<Option<Document>> {
        let s = Stmt::new(
            self.dialect()
                .sql(&format!("{} WHERE kind = $1 AND key = $2", select(self))),
        )
        .arg(kind)
        .arg(key);
        self.fetch_optional(s)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn documents(&self, kind: &str, org: Option<&str>) -> Result<Vec<Document>> {
        let s = Stmt::new(self.dialect().sql(&format!(
            "{} WHERE kind = $1 AND ($2 IS NULL OR org = $2) ORDER BY key",
            select(self)
        )))
        .arg(kind)
        .arg(org);
        self.fetch_all(s).await?.iter().map(from_row).collect()
    }

    async fn delete_document(&self, kind: &str, key: &str) -> Result<bool> {
        let s = Stmt::new(
            self.dialect()
                .sql("DELETE FROM atlante_documents WHERE kind = $1 AND key = $2"),
        )
        .arg(kind)
        .arg(key);
        Ok(self.exec(s).await? > 0)
    }
}
