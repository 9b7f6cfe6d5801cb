//! One mapping from module errors to HTTP statuses and RFC 7807 problem+json bodies.
//! 5xx bodies carry a generic message and a request id; the detail goes to the log.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ingest::IngestError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
    }
    pub fn forbidden(org: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("this token may not write what organisation {org} owns"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(w) => ApiError::not_found(&w),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            StoreError::Aborted(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let status = match e {
            IngestError::Store(s) => return s.into(),
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::Unsupported { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnknownOrg(_) => StatusCode::NOT_FOUND,
            IngestError::StoreGone | IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = if self.status.is_server_error() {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::error!(request_error_id = %id, detail = %self.detail, "request failed");
            json!({"type": "about:blank", "title": title, "status": self.status.as_u16(),
                   "detail": "internal error; quote the request id when reporting it", "request_id": id})
        } else {
            json!({"type": "about:blank", "title": title, "status": self.status.as_u16(), "detail": self.detail})
        };
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
