//! `POST /api/orgs/{org}/layers/{slug}`: a multipart upload (`file`, and optional `title`,
//! `crs`, `encoding`, `source_layer`, `geometry`) ingested as a new version of the layer.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::audit::noted;
use super::error::ApiError;
use super::{AppState, Who};
use crate::ingest::{self, IngestOptions, Kind};
use crate::store::LayerMetaUpdate;

const ACCEPTED: &[&str] = &["zip", "gpkg", "geojson", "json", "csv", "kml", "dxf"];

/// A display name made only of safe characters; never used as a path.
fn display_name(client: &str) -> String {
    let base = client.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(100)
        .collect();
    if clean.is_empty() {
        "upload".into()
    } else {
        clean
    }
}

/// Reads and drops up to `max` bytes of a multipart body.
async fn drain(multipart: &mut Multipart, max: usize) {
    let mut read = 0;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            read += chunk.len();
            if read > max {
                return;
            }
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    who: Who,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    if state.store.org(&org).await?.is_none() {
        return Err(ApiError::not_found("organisation"));
    }
    who.writer(&org)?;
    let Some(_pass) = state.uploads.try_enter(&org) else {
        // Read (and drop) a small body before refusing, so the client gets the 503 rather
        // than a connection closed under its upload; a large one is cut.
        drain(&mut multipart, 16 << 20).await;
        return Err(ApiError::busy(
            format!(
                "too many uploads are running (at most {} at once, {} per organisation): try again shortly",
                state.config.max_uploads, state.config.max_uploads_per_org
            ),
            10,
        ));
    };
    let max = state.config.max_upload_bytes;
    let work = tempfile::Builder::new()
        .prefix("atlante-upload-")
        .tempdir()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut opts = IngestOptions {
        org,
        slug,
        max_bytes: max.saturating_mul(4),
        ..Default::default()
    };
    let mut meta = LayerMetaUpdate::default();
    let mut file: Option<(std::path::PathBuf, String)> = None;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the upload is larger than {max} bytes"),
            )
        } else {
            ApiError::bad_request(format!("bad multipart body: {e}"))
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let display = display_name(field.file_name().unwrap_or("upload"));
            let ext = std::path::Path::new(&display)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            if !ACCEPTED.contains(&ext.as_str())
                || (ext != "zip" && Kind::from_extension(&ext).is_none())
            {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{display}: send a .zip (Shapefile), .gpkg, .geojson, .csv, .kml or .dxf file"),
                ));
            }
            // The stored name is ours: only the checked extension comes from the client.
            let path = work.path().join(format!("upload.{ext}"));
            let mut out = tokio::fs::File::create(&path)
                .await
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let mut size: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                size += chunk.len() as u64;
                if size > max {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("{display}: the upload is larger than {max} bytes"),
                    ));
                }
                out.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            }
            out.flush().await.ok();
            file = Some((path, display));
        } else {
            let value = field.text().await.map_err(bad)?;
            let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            match name.as_str() {
                "title" => opts.title = value,
                "crs" => opts.crs = value,
                "encoding" => opts.encoding = value,
                "source_layer" => opts.source_layer = value,
                "geometry" => opts.geometry = value,
                "visibility" => opts.visibility = value,
                // The layer's description (as `PATCH /api/layers/{id}` takes it).
                "description" => meta.description = value,
                "theme" => meta.theme = value,
                "licence" => meta.licence = value,
                "attribution" => meta.attribution = value,
                "attribution_url" => meta.attribution_url = value,
                "title_en" => meta.title_en = value,
                "description_en" => meta.description_en = value,
                "frequency" => meta.frequency = value,
                "contact_email" => meta.contact_email = value,
                "temporal_start" => meta.temporal_start = value,
                "temporal_end" => meta.temporal_end = value,
                "lineage" => meta.lineage = value,
                "keywords" => meta.keywords = value.map(|v| split_list(&v)),
                "eu_themes" => meta.eu_themes = value.map(|v| split_list(&v)),
                "scale" => {
                    meta.scale = value
                        .map(|v| v.parse())
                        .transpose()
                        .map_err(|_| ApiError::bad_request("scale is a whole number"))?
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown form field '{other}'"
                    )))
                }
            }
        }
    }
    let (path, display) =
        file.ok_or_else(|| ApiError::bad_request("the form has no 'file' part"))?;
    // A bad description is refused before the file is read.
    crate::store::validate_meta(&meta)?;
    let target = crate::model::layer_table(&opts.org, &opts.slug);
    let (layer, summary) = match ingest::ingest(
        state.store.as_ref(),
        &path,
        &display,
        &opts,
        ingest::no_progress(),
    )
    .await
    {
        Ok(done) => done,
        Err(e) => {
            let detail = json!({"file": display, "error": e.to_string()});
            let err = ApiError::from(e);
            state
                .metrics
                .ingest(if err.status.is_server_error() { 2 } else { 1 });
            return Ok(noted(err, &opts.org, &target, detail));
        }
    };
    let layer = if meta == LayerMetaUpdate::default() {
        layer
    } else {
        state.store.update_layer_meta(&layer.id, &meta).await?
    };
    state.metrics.ingest(0);
    tracing::info!(layer = %layer.id, version = layer.version, written = summary.written, "layer published");
    let detail = json!({"file": display, "version": layer.version, "features": summary.written, "visibility": layer.visibility});
    Ok(noted(
        (
            StatusCode::CREATED,
            Json(json!({"layer": layer, "summary": summary})),
        ),
        &layer.org,
        &layer.id,
        detail,
    ))
}

/// A comma-separated list of a form field.
fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}
