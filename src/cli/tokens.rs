//! `atlante token …` and `atlante audit`.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use atlante::store::DynStore;

use super::audit_cli;

#[derive(Subcommand)]
pub enum TokenAction {
    /// Create a token for an organisation; it is printed once and only its hash is kept.
    Create {
        #[arg(long)]
        org: String,
        /// `editor` (writes the organisation's layers and apps) or `admin` (also manages
        /// its tokens and reads its audit log; a `cmm` admin does so for every organisation).
        #[arg(long, default_value = "editor")]
        role: String,
        #[arg(long, default_value = "")]
        label: String,
        /// Lifetime, e.g. 90d, 12h, 30m; none: the token does not expire.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens (never their secrets): id, organisation, role, label, created, expiry,
    /// revocation and last use (written at most once a minute).
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a token by its id (as `token list` shows it); every server honours it within
    /// a second.
    Revoke { id: String },
}

#[derive(Args)]
pub struct AuditArgs {
    /// Only entries that concern this organisation (as owner or as actor).
    #[arg(long)]
    org: Option<String>,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn token(store: &DynStore, action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Create {
            org,
            role,
            label,
            expires_in,
        } => {
            let lifetime = match expires_in.as_deref() {
                None => None,
                Some(s) => Some(
                    atlante::auth::parse_lifetime(s)
                        .with_context(|| format!("--expires-in '{s}': use e.g. 90d, 12h or 30m"))?,
                ),
            };
            let (token, record) =
                atlante::auth::create_token(store.as_ref(), &org, &role, &label, lifetime).await?;
            audit_cli(
                store,
                "token.create",
                Some(&org),
                &record.id,
                true,
                json!({"role": role, "expires_at": record.expires_at}),
            )
            .await;
            eprintln!(
                "Token {} for {org} ({role}{}). It is shown only now; keep it safe:",
                record.id,
                record
                    .expires_at
                    .as_deref()
                    .map(|e| format!(", expires {e}"))
                    .unwrap_or_default()
            );
            println!("{token}");
        }
        TokenAction::List { org } => {
            println!(
                "{:<12} {:<7} {:<6} {:<24} {:<24} {:<24} {:<24}  label",
                "id", "org", "role", "created", "expires", "revoked", "last used"
            );
            for t in store.tokens(org.as_deref()).await? {
                let d = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                println!(
                    "{:<12} {:<7} {:<6} {:<24} {:<24} {:<24} {:<24}  {}",
                    t.id,
                    t.org,
                    t.role,
                    t.created_at,
                    d(&t.expires_at),
                    d(&t.revoked_at),
                    d(&t.last_used_at),
                    t.label
                );
            }
        }
        TokenAction::Revoke { id } => {
            let org = store
                .tokens(None)
                .await?
                .into_iter()
                .find(|t| t.id == id)
                .map(|t| t.org)
                .with_context(|| format!("no token {id}"))?;
            anyhow::ensure!(
                store.revoke_token(&id).await?,
                "token {id} was already revoked"
            );
            audit_cli(store, "token.revoke", Some(&org), &id, true, json!({})).await;
            println!("token {id} of {org} revoked");
        }
    }
    Ok(())
}

pub async fn audit(store: &DynStore, a: AuditArgs) -> anyhow::Result<()> {
    let entries = store
        .audit(a.org.as_deref(), None, a.limit.clamp(1, 10_000))
        .await?;
    for e in entries {
        if a.json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            println!(
                "{:>6} {} {:<14} {:<7} {:<16} {:<8} {:<40} {}",
                e.seq,
                e.at,
                e.actor,
                e.actor_org.as_deref().unwrap_or("-"),
                e.action,
                e.outcome,
                e.target,
                e.detail
            );
        }
    }
    Ok(())
}
