//! Token management and the audit log over HTTP, for an organisation's admins (a
//! metropolitan admin for every organisation): list, create, revoke; read the log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};

use super::audit::noted;
use super::error::ApiError;
use super::{AppState, Who};

/// `GET /api/orgs/{org}/tokens`: the organisation's tokens (never their secrets).
pub async fn list(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Who,
) -> Result<Json<Json_>, ApiError> {
    who.admin(&org)?;
    let tokens = state.store.tokens(Some(&org)).await?;
    Ok(Json(json!({"tokens": tokens})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    #[serde(default = "editor")]
    role: String,
    #[serde(default)]
    label: String,
    /// A lifetime such as `90d`, `12h`; none: no expiry.
    #[serde(default)]
    expires_in: Option<String>,
}

fn editor() -> String {
    "editor".into()
}

/// `POST /api/orgs/{org}/tokens`: a new token; its secret is in this answer only.
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Who,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    who.admin(&org)?;
    let b: NewTokenBody = ApiError::json_body(&body, "token request")?;
    let lifetime = match &b.expires_in {
        None => None,
        Some(s) => Some(crate::auth::parse_lifetime(s).ok_or_else(|| {
            ApiError::bad_request(
                "expires_in is a lifetime such as 90d, 12h or 30m (at most 3660d)",
            )
        })?),
    };
    let (secret, record) =
        crate::auth::create_token(state.store.as_ref(), &org, &b.role, &b.label, lifetime).await?;
    let detail = json!({"token": record.id, "role": record.role, "expires_at": record.expires_at});
    Ok(noted(
        (
            StatusCode::CREATED,
            Json(json!({"token": secret, "record": record})),
        ),
        &org,
        &record.id,
        detail,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgContactBody {
    /// The organisation's IPA code when it is not the usual one (`""` restores that).
    #[serde(default)]
    ipa_code: Option<String>,
    /// A contact e-mail for its open data.
    #[serde(default)]
    email: Option<String>,
}

/// `PATCH /api/orgs/{org}`: the organisation's IPA code override and open-data contact
/// (its admins); the organisation as it now stands.
pub async fn update_org(
    State(state): State<AppState>,
    Path(org): Path<String>,
    who: Who,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    who.admin(&org)?;
    let b: OrgContactBody = ApiError::json_body(&body, "organisation update")?;
    let detail = json!({"ipa_code": b.ipa_code, "email": b.email});
    state
        .store
        .set_org_contact(&org, b.ipa_code, b.email)
        .await?;
    let o = state
        .store
        .org(&org)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    let ipa = o.ipa();
    let mut v = serde_json::to_value(&o).unwrap_or_default();
    v["ipa_code"] = json!(ipa);
    Ok(noted((StatusCode::OK, Json(v)), &org, &org, detail))
}

/// `DELETE /api/orgs/{org}/tokens/{token}`: revokes a token of the organisation by its id.
pub async fn revoke(
    State(state): State<AppState>,
    Path((org, token)): Path<(String, String)>,
    who: Who,
) -> Result<Response, ApiError> {
    who.admin(&org)?;
    let owned = state
        .store
        .tokens(Some(&org))
        .await?
        .into_iter()
        .any(|t| t.id == token && t.revoked_at.is_none());
    if !owned || !state.store.revoke_token(&token).await? {
        return Err(ApiError::not_found("token"));
    }
    Ok(noted(StatusCode::NO_CONTENT, &org, &token, json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    org: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/audit`: entries that concern the caller's organisation (all of them, or one
/// organisation's with `org=`, for a metropolitan admin), newest first.
pub async fn audit(
    State(state): State<AppState>,
    who: Who,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Json_>, ApiError> {
    let c = who.signed_in()?;
    let org = match (&q.org, c.is_metro_admin()) {
        (Some(o), _) => {
            who.admin(o)?;
            Some(o.clone())
        }
        (None, true) => None,
        (None, false) => {
            who.admin(&c.org)?;
            Some(c.org.clone())
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state.store.audit(org.as_deref(), q.before, limit).await?;
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.seq));
    Ok(Json(
        json!({"entries": entries, "next_before": next.flatten()}),
    ))
}

/// `GET /metrics` (a metropolitan admin's token; or without one on `metrics_listen`).
pub async fn metrics(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    if !who.signed_in()?.is_metro_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "metrics are for a metropolitan admin's token (or on metrics_listen)",
        ));
    }
    Ok(metrics_text(&state))
}

/// The Prometheus text of this server's counters and gauges.
pub fn metrics_text(state: &AppState) -> Response {
    use axum::response::IntoResponse;
    let (entries, bytes) = state.tiles.cache.stats();
    let (hits, misses) = state.tiles.cache.hits_misses();
    let up = state.store_up.load(std::sync::atomic::Ordering::Relaxed);
    let gauges = [
        (
            "atlante_tile_cache_entries",
            "Tiles in the memory cache.",
            "",
            entries as f64,
        ),
        (
            "atlante_tile_cache_bytes",
            "Bytes the memory tile cache counts.",
            "",
            bytes as f64,
        ),
        (
            "atlante_tile_cache_lookups",
            "Memory tile cache lookups since start.",
            "result=\"hit\"",
            hits as f64,
        ),
        (
            "atlante_tile_cache_lookups",
            "",
            "result=\"miss\"",
            misses as f64,
        ),
        (
            "atlante_tile_indexes_bytes",
            "Heap bytes of the built tile indexes.",
            "",
            state.tiles.index_bytes() as f64,
        ),
        (
            "atlante_jobs_running",
            "Heavy work running now.",
            "kind=\"bundle\"",
            state.bundles.gate().running() as f64,
        ),
        (
            "atlante_jobs_running",
            "",
            "kind=\"upload\"",
            state.uploads.running() as f64,
        ),
        (
            "atlante_store_up",
            "1 when the store answered its last check.",
            "",
            if up { 1.0 } else { 0.0 },
        ),
    ];
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(&gauges),
    )
        .into_response()
}
