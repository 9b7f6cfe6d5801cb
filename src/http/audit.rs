//! The audit middleware: every route with an audit action (every write) is recorded after
//! it answers — who (token id and organisation), when, what (action, target, and the
//! organisation whose data it concerns, which the handler notes on its response), and the
//! outcome. Failures are recorded too: a refused or denied write is exactly what an
//! administration must be able to see.

use axum::extract::{RawPathParams, Request, State};
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

/// The organisation and target a request names in its path, for entries whose handler
/// answered before noting them (refusals): a layer id names its owner, `{org}` itself.
fn from_path(
    state: &AppState,
    params: &[(String, String)],
    path: &str,
) -> (Option<String>, String) {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(id) = get("id") {
        return (state.catalog.get(&id).map(|l| l.org.clone()), id);
    }
    match (get("org"), get("slug"), get("token")) {
        (Some(org), Some(slug), _) => (Some(org.clone()), format!("{org}/{slug}")),
        (Some(org), None, Some(token)) => (Some(org), token),
        (Some(org), None, None) => (Some(org.clone()), org),
        _ => (None, path.to_string()),
    }
}

pub async fn record(
    State((state, action)): State<(AppState, &'static str)>,
    params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let who = req.extensions().get::<Who>().cloned().unwrap_or_default();
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (path_org, path_target) = from_path(&state, &params, req.uri().path());
    let res = next.run(req).await;
    let note = res.extensions().get::<AuditNote>().cloned();
    let status = res.status();
    let (org, target, detail) = match note {
        Some(n) => (Some(n.org), n.target, n.detail),
        None => (path_org, path_target, json!({})),
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
