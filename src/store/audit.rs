//! The audit log, written once for both backends.

use async_trait::async_trait;

use super::sql::{Exec, RowExt, Stmt};
use super::{from_json, AuditEntry, AuditStore, Result};

fn from_row(r: &impl RowExt) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.int("seq")?,
        at: r.text("at")?,
        actor: r.text("actor")?,
        actor_org: r.opt_text("actor_org")?,
        action: r.text("action")?,
        org: r.opt_text("org")?,
        target: r.text("target")?,
        outcome: r.text("outcome")?,
        status: r.opt_int("status")?,
        detail: from_json("audit detail", &r.text("detail")?)?,
    })
}

#[async_trait]
impl<T: Exec> AuditStore for T {
    async fn record(&self, e: &AuditEntry) -> Result<()> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "INSERT INTO atlante_audit (at, actor, actor_org, action, org, target, outcome, \
             status, detail) VALUES ({}, $1, $2, $3, $4, $5, $6, $7, {})",
            d.now(),
            d.json_arg(8)
        )))
        .arg(&e.actor)
        .arg(e.actor_org.clone())
        .arg(&e.action)
        .arg(e.org.clone())
        .arg(&e.target)
        .arg(&e.outcome)
        .arg(e.status)
        .arg(e.detail.to_string());
        self.exec(s).await?;
        Ok(())
    }

    async fn audit(
        &self,
        org: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let d = self.dialect();
        let s = Stmt::new(d.sql(&format!(
            "SELECT seq, {} AS at, actor, actor_org, action, org, target, outcome, status, \
             {} AS detail FROM atlante_audit \
             WHERE ($1 IS NULL OR org = $1 OR actor_org = $1) AND ($2 IS NULL OR seq < $2) \
             ORDER BY seq DESC LIMIT $3",
            d.ts("at"),
            d.json_col("detail")
        )))
        .arg(org)
        .arg(before)
        .arg(limit);
        self.fetch_all(s).await?.iter().map(from_row).collect()
    }
}
