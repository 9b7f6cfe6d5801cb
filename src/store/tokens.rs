//! API tokens, written once for both backends. Only the SHA-256 of a secret is stored; a
//! token's public id is the first 12 hex digits of that hash.

use async_trait::async_trait;

use super::sql::{Exec, RowExt, Stmt};
use super::{NewToken, Result, TokenRecord, TokenStore};

fn select(e: &impl Exec) -> String {
    let d = e.dialect();
    format!(
        "SELECT id, org_id, role, label, {} AS created_at, {} AS expires_at, \
         {} AS revoked_at, {} AS last_used_at FROM atlante_tokens",
        d.ts("created_at"),
        d.ts("expires_at"),
        d.ts("revoked_at"),
        d.ts("last_used_at")
    )
}

fn from_row(r: &impl RowExt) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.text("id")?,
        org: r.text("org_id")?,
        role: r.text("role")?,
        label: r.text("label")?,
        created_at: r.text("created_at")?,
        expires_at: r.opt_text("expires_at")?,
        revoked_at: r.opt_text("revoked_at")?,
        last_used_at: r.opt_text("last_used_at")?,
    })
}

#[async_trait]
impl<T: Exec> TokenStore for T {
    async fn insert_token(&self, t: &NewToken) -> Result<()> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "INSERT INTO atlante_tokens (hash, id, org_id, role, label, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, {}, {})",
            d.now(),
            d.ts_arg(6)
        )))
        .arg(&t.hash)
        .arg(&t.id)
        .arg(&t.org)
        .arg(&t.role)
        .arg(&t.label)
        .arg(t.expires_at.clone());
        self.exec(s).await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let s = Stmt::new(
            self.dialect()
                .sql(&format!("{} WHERE hash = $1", select(self))),
        )
        .arg(hash);
        self.fetch_optional(s)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>> {
        let s = Stmt::new(self.dialect().sql(&format!(
            "{} WHERE ($1 IS NULL OR org_id = $1) ORDER BY created_at DESC, id",
            select(self)
        )))
        .arg(org);
        self.fetch_all(s).await?.iter().map(from_row).collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "UPDATE atlante_tokens SET revoked_at = {} WHERE id = $1 AND revoked_at IS NULL",
            d.now()
        )))
        .arg(id);
        Ok(self.exec(s).await? > 0)
    }

    async fn touch_tokens(&self, ids: &[String]) -> Result<()> {
        let d = self.dialect();
        let sql = d.sql(&format!(
            "UPDATE atlante_tokens SET last_used_at = {} WHERE id = $1",
            d.now()
        ));
        let stmts = ids
            .iter()
            .map(|id| Stmt::new(sql.clone()).arg(id))
            .collect();
        self.exec_all(stmts).await
    }
}
