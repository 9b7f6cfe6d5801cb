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
    /// Seconds for a `Retry-After` header (503s: busy, or the store unreachable).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }
    /// 503 with `Retry-After`: try again in `secs` seconds.
    pub fn busy(detail: impl Into<String>, secs: u32) -> Self {
        ApiError {
            retry_after: Some(secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    /// A request body read as JSON into `T`; a 400 "bad {what}: …" when it is not one.
    pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Self> {
        serde_json::from_slice(body).map_err(|e| Self::bad_request(format!("bad {what}: {e}")))
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
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                ApiError::busy("the database is unavailable: try again shortly", 5)
            }
            StoreError::Aborted(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            full @ StoreError::Full(_) => {
                tracing::error!(error = %full, "the store's disk is full");
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, full.to_string())
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl From<crate::apps::BundleError> for ApiError {
    fn from(e: crate::apps::BundleError) -> Self {
        use crate::apps::BundleError;
        match e {
            BundleError::Busy => ApiError::busy(e.to_string(), 30),
            BundleError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            BundleError::Stopped(m) => ApiError::busy(m, 30),
            BundleError::Failed(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

impl From<crate::opendata::download::ServeError> for ApiError {
    fn from(e: crate::opendata::download::ServeError) -> Self {
        use crate::opendata::download::{DownloadError, ServeError};
        match e {
            ServeError::Busy => ApiError::busy(e.to_string(), 30),
            ServeError::Store(s) => s.into(),
            ServeError::Download(DownloadError::Invalid(m)) => {
                ApiError::new(StatusCode::BAD_REQUEST, m)
            }
            ServeError::Download(other) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
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
        // A 503 says what it is (busy, the store away) and when to come back; other 5xx
        // hide their detail.
        let body = if self.status.is_server_error()
            && self.status != StatusCode::SERVICE_UNAVAILABLE
        {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::error!(request_error_id = %id, detail = %self.detail, "request failed");
            json!({"type": "about:blank", "title": title, "status": self.status.as_u16(),
                   "detail": "internal error; quote the request id when reporting it", "request_id": id})
        } else {
            json!({"type": "about:blank", "title": title, "status": self.status.as_u16(), "detail": self.detail})
        };
        let mut res = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        res
    }
}
