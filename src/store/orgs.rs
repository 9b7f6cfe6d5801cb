//! Organisations, written once for both backends (see `sql.rs`).

use async_trait::async_trait;

use super::sql::{Exec, RowExt, Stmt};
use super::{from_json, OrgStore, Result, StoreError};
use crate::model::Org;

/// The columns of an organisation; its boundary (the comuni's together are a third of a
/// megabyte of JSON) only when asked for.
fn select(e: &impl Exec, boundary: bool) -> String {
    let d = e.dialect();
    format!(
        "SELECT id, name, kind, istat_code, catasto_code, zona_omogenea, zona_code, \
         ipa_code, email, {} AS bbox, {} AS boundary FROM atlante_orgs",
        d.json_col("bbox"),
        if boundary {
            d.json_col("boundary")
        } else {
            "NULL".into()
        }
    )
}

fn from_row(r: &impl RowExt) -> Result<Org> {
    Ok(Org {
        id: r.text("id")?,
        name: r.text("name")?,
        kind: r.text("kind")?,
        istat_code: r.opt_text("istat_code")?,
        catasto_code: r.opt_text("catasto_code")?,
        zona_omogenea: r.opt_text("zona_omogenea")?,
        zona_code: r.opt_text("zona_code")?,
        ipa_override: r.opt_text("ipa_code")?,
        email: r.opt_text("email")?,
        bbox: r
            .opt_text("bbox")?
            .map(|b| from_json("bbox", &b))
            .transpose()?,
        boundary: r
            .opt_text("boundary")?
            .map(|b| from_json("boundary", &b))
            .transpose()?,
    })
}

/// Every organisation, the Città Metropolitana first, then by name.
async fn all(e: &impl Exec, boundary: bool) -> Result<Vec<Org>> {
    let s = Stmt::new(format!("{} ORDER BY kind DESC, name", select(e, boundary)));
    e.fetch_all(s).await?.iter().map(from_row).collect()
}

#[async_trait]
impl<T: Exec> OrgStore for T {
    async fn upsert_orgs(&self, orgs: &[Org]) -> Result<()> {
        let d = self.dialect();
        let sql = d.sql(&format!(
            "INSERT INTO atlante_orgs (id, name, kind, istat_code, catasto_code, \
             zona_omogenea, zona_code, bbox, boundary) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {}, {}) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
             istat_code = excluded.istat_code, catasto_code = excluded.catasto_code, \
             zona_omogenea = excluded.zona_omogenea, zona_code = excluded.zona_code, \
             bbox = excluded.bbox, boundary = excluded.boundary",
            d.json_arg(8),
            d.json_arg(9)
        ));
        let stmts = orgs
            .iter()
            .map(|o| {
                Stmt::new(sql.clone())
                    .arg(&o.id)
                    .arg(&o.name)
                    .arg(&o.kind)
                    .arg(o.istat_code.clone())
                    .arg(o.catasto_code.clone())
                    .arg(o.zona_omogenea.clone())
                    .arg(o.zona_code.clone())
                    .arg(
                        o.bbox
                            .map(|b| serde_json::to_string(&b).unwrap_or_default()),
                    )
                    .arg(o.boundary.as_ref().map(|b| b.to_string()))
            })
            .collect();
        self.exec_all(stmts).await
    }

    async fn orgs(&self) -> Result<Vec<Org>> {
        all(self, false).await
    }

    async fn orgs_with_boundaries(&self) -> Result<Vec<Org>> {
        all(self, true).await
    }

    async fn set_org_contact(
        &self,
        id: &str,
        ipa_code: Option<String>,
        email: Option<String>,
    ) -> Result<()> {
        if let Some(c) = ipa_code.as_deref().filter(|c| !c.is_empty()) {
            let ok = (2..=20).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(StoreError::Invalid(
                    "an IPA code is 2 to 20 lower-case letters, digits or _".into(),
                ));
            }
        }
        if let Some(e) = email.as_deref().filter(|e| !e.is_empty()) {
            super::layers::validate_email(e)?;
        }
        if self.org(id).await?.is_none() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        let s = Stmt::new(self.dialect().sql(
            "UPDATE atlante_orgs SET ipa_code = coalesce($1, ipa_code), \
             email = coalesce($2, email) WHERE id = $3",
        ))
        .arg(ipa_code)
        .arg(email)
        .arg(id);
        self.exec_all(vec![s]).await
    }

    async fn org(&self, id: &str) -> Result<Option<Org>> {
        let s = Stmt::new(
            self.dialect()
                .sql(&format!("{} WHERE id = $1", select(self, true))),
        )
        .arg(id);
        self.fetch_optional(s)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }
}
