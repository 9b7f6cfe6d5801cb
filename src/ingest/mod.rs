//! Ingest: GDAL reads a file as a comune delivers it, validates and repairs geometries,
//! reprojects to EPSG:4326 and streams rows into [`Store::publish`], which makes the new
//! version live in one transaction. The CLI and the HTTP upload both call [`ingest`].

mod archive;
mod encoding;
pub(crate) mod gdal_env;
mod locate;
mod names;
mod open;
mod prepare;
mod shapefile;
mod stream;

use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use crate::model::{valid_slug, IngestSummary, Layer};
use crate::store::prelude::*;
use crate::store::StoreError;

pub use locate::Kind;
pub use open::MAX_FIELDS;

/// Told `(features read, features in the file)` as the reader goes (the total is 0 when the
/// driver cannot count cheaply). The CLI draws a bar with it; HTTP passes [`no_progress`].
pub type Progress = Box<dyn Fn(u64, u64) + Send>;

/// A [`Progress`] that ignores what it is told.
pub fn no_progress() -> Progress {
    Box::new(|_, _| {})
}

/// What the caller asks for; the same for the CLI and HTTP.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub org: String,
    pub slug: String,
    pub title: Option<String>,
    /// `EPSG:n`, overriding what the file declares.
    pub crs: Option<String>,
    /// DBF encoding, overriding the `.cpg` (`cp1252`, `latin1`, `utf-8`…).
    pub encoding: Option<String>,
    /// Layer name inside a multi-layer file, or dataset name inside a zip.
    pub source_layer: Option<String>,
    /// `point`, `multipoint`, `line` or `polygon`: keep only this kind in a mixed file.
    pub geometry: Option<String>,
    /// `public` or `private`. A new layer is private (a draft) unless this says public; an
    /// existing one keeps its visibility unless this is given.
    pub visibility: Option<String>,
    /// Upper bound on the bytes an archive may expand to.
    pub max_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A bad option: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The file is malformed or inconsistent: 422.
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    /// A format Atlante does not take: 415.
    #[error("{file}: {problem}")]
    Unsupported { file: String, problem: String },
    /// Too big, or a zip bomb: 413.
    #[error("{0}")]
    TooLarge(String),
    #[error("unknown organisation '{0}'")]
    UnknownOrg(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store stopped taking rows; its own error says why.
    #[error("the store stopped the ingest")]
    StoreGone,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Removes work folders that killed ingests left in the temporary directory (older than a
/// day, so a running ingest of another process is never touched). Returns how many.
pub fn clean_stale_work_dirs() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("atlante-ingest-") || name.starts_with("atlante-upload-")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::remove_dir_all(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Ingests `input` (shown to users as `display`) as a new version of `opts.org`/`opts.slug`.
pub async fn ingest(
    store: &(impl Store + ?Sized),
    input: &Path,
    display: &str,
    opts: &IngestOptions,
    progress: Progress,
) -> Result<(Layer, IngestSummary), IngestError> {
    if !valid_slug(&opts.slug) {
        return Err(IngestError::BadRequest(format!(
            "layer slug '{}' is not valid: use 1-40 lower-case letters, digits and single '_', starting with a letter",
            opts.slug
        )));
    }
    if let Some(v) = &opts.visibility {
        if v != "public" && v != "private" {
            return Err(IngestError::BadRequest(format!(
                "visibility must be public or private, not '{}'",
                v.chars().take(20).collect::<String>()
            )));
        }
    }
    if store.org(&opts.org).await?.is_none() {
        return Err(IngestError::UnknownOrg(opts.org.clone()));
    }
    let id = crate::model::layer_table(&opts.org, &opts.slug);
    if store
        .deleted_layers()
        .await?
        .iter()
        .any(|(l, _)| l.id == id)
    {
        return Err(crate::store::in_trash(&id).into());
    }
    let title = match &opts.title {
        Some(t) if !t.trim().is_empty() => t.trim().chars().take(200).collect(),
        _ => match store
            .layer(&crate::model::layer_table(&opts.org, &opts.slug))
            .await?
        {
            Some(l) => l.title,
            None => opts.slug.replace('_', " "),
        },
    };
    let work = tempfile::Builder::new()
        .prefix("atlante-ingest-")
        .tempdir()
        .map_err(|e| IngestError::Internal(format!("cannot create a work folder: {e}")))?;
    let job = Job {
        input: input.to_path_buf(),
        display: display.to_string(),
        work: work.path().to_path_buf(),
        opts: opts.clone(),
        title,
        progress,
    };
    let (req_tx, req_rx) = oneshot::channel();
    let (row_tx, row_rx) = mpsc::channel(4);
    let reader = tokio::task::spawn_blocking(move || stream::run(job, req_tx, row_tx));
    let published = match req_rx.await {
        Ok(req) => Some(store.publish(req, row_rx).await),
        Err(_) => None,
    };
    let read = reader
        .await
        .map_err(|e| IngestError::Internal(format!("the reader thread failed: {e}")))?;
    match (published, read) {
        (Some(Ok(layer)), Ok(summary)) => Ok((layer, summary)),
        (Some(Err(e)), Err(IngestError::StoreGone)) | (Some(Err(e)), Ok(_)) => Err(e.into()),
        (_, Err(e)) => Err(e),
        (None, Ok(_)) => Err(IngestError::Internal(
            "the reader ended without a schema".into(),
        )),
    }
}

/// Everything the reader needs; owned, so it can move to the blocking thread.
pub(crate) struct Job {
    pub input: PathBuf,
    pub display: String,
    pub work: PathBuf,
    pub opts: IngestOptions,
    pub title: String,
    pub progress: Progress,
}

pub(crate) fn invalid(file: &str, problem: impl Into<String>) -> IngestError {
    IngestError::Invalid {
        file: file.to_string(),
        problem: problem.into(),
    }
}
