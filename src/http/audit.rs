//! The audit middleware: every route with an audit action (every write) is recorded after
//! it answers — who (token id and organisation), when, what (action, target, and the
//! organisation whose data it concerns, which the handler notes on its response), and the
//! outcome. Failures are recorded too: a refused or denied write is exactly what an
//! administration must be able to see.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, Who};
use crate::store::AuditEntry;

/// What a write handler tells the audit log about its target.
#[derive(Debug, Clone)]
pub struct AuditNote {
    /// The organisation whose data was written.
    pub org: String,
    /// e.g. the layer id or the app key.
    pub target: String,
    pub detail: serde_json::Value,
}

/// A response with an audit note attached.
pub fn noted(
    res: impl IntoResponse,
    org: &str,
    target: &str,
    detail: serde_json::Value,
) -> Response {
    let mut res = res.into_response();
    res.extensions_mut().insert(AuditNote {
        org: org.to_string(),
        target: target.to_string(),
        detail,
    });
    res
}

fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=399 => "ok",
        401 | 403 => "denied",
        400..=499 => "refused",
        _ => "failed",
    }
}

/// Writes one entry; a failure to write is logged, never turned into the request's answer.
pub async fn write(state: &AppState, e: AuditEntry) {
    if let Err(err) = state.store.record(&e).await {
        tracing::error!(error = %err, action = %e.action, target = %e.target, "audit entry not written");
    }
}

pub async fn record(
    State((state, action)): State<(AppState, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let who = req.extensions().get::<Who>().cloned().unwrap_or_default();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let note = res.extensions().get::<AuditNote>().cloned();
    let status = res.status();
    let (org, target, detail) = match note {
        Some(n) => (Some(n.org), n.target, n.detail),
        None => (None, path, json!({})),
    };
    write(
        &state,
        AuditEntry {
            seq: 0,
            at: String::new(),
            actor: who
                .caller()
                .map_or_else(|| "anonymous".to_string(), |c| c.token_id.clone()),
            actor_org: who.caller().map(|c| c.org.clone()),
            action: action.to_string(),
            org,
            target,
            outcome: outcome(status).to_string(),
            status: Some(status.as_u16() as i64),
            detail,
        },
    )
    .await;
    res
}
