//! `atlante ingest` and `atlante layer …`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;

use atlante::config::Config;
use atlante::ingest::{ingest as run, IngestOptions};
use atlante::store::{DynStore, LayerMetaUpdate};

use super::{audit_cli, progress};

#[derive(Args)]
pub struct IngestArgs {
    /// The file: .zip (Shapefile), .shp, .gpkg, .geojson, .csv, .kml or .dxf.
    file: PathBuf,
    /// Owning organisation: `cmm` or the comune's six-digit ISTAT code (Milano is 015146).
    #[arg(long)]
    org: String,
    /// Layer slug: lower-case letters, digits and `_`.
    #[arg(long)]
    layer: String,
    #[arg(long)]
    title: Option<String>,
    /// Source CRS, overriding the file's, e.g. EPSG:3003.
    #[arg(long)]
    crs: Option<String>,
    /// DBF text encoding, overriding the .cpg, e.g. cp1252 or latin1.
    #[arg(long)]
    encoding: Option<String>,
    /// Layer inside a multi-layer file (or dataset inside a zip).
    #[arg(long)]
    source_layer: Option<String>,
    /// Keep only this geometry kind from a mixed file: point, multipoint, line, polygon.
    #[arg(long)]
    geometry: Option<String>,
    /// `public` publishes the layer; a new layer is otherwise private (a draft), and an
    /// existing one keeps its visibility.
    #[arg(long)]
    visibility: Option<String>,
}

#[derive(Subcommand)]
pub enum LayerAction {
    /// List layers with version, visibility, geometry type and feature count.
    List,
    /// Show one layer's catalog entry as JSON.
    Show { id: String },
    /// Change a layer's metadata or visibility (not a new version).
    Set {
        id: String,
        /// `public` (published) or `private` (a draft, seen only by its organisation).
        #[arg(long)]
        visibility: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        theme: Option<String>,
        #[arg(long)]
        licence: Option<String>,
        /// Credit shown on maps, as plain text.
        #[arg(long)]
        attribution: Option<String>,
        /// An http(s) link for the attribution (e.g. the licence's page).
        #[arg(long)]
        attribution_url: Option<String>,
    },
    /// Publish the previous kept version again.
    Rollback { id: String },
    /// Delete a layer and all its versions.
    Delete { id: String },
}

pub async fn ingest(store: &DynStore, config: &Config, a: IngestArgs) -> anyhow::Result<()> {
    let opts = IngestOptions {
        org: a.org,
        slug: a.layer,
        title: a.title,
        crs: a.crs,
        encoding: a.encoding,
        source_layer: a.source_layer,
        geometry: a.geometry,
        visibility: a.visibility,
        max_bytes: config.max_upload_bytes.saturating_mul(50),
    };
    run_ingest(store, &a.file, &opts).await
}

pub async fn run_ingest(store: &DynStore, file: &Path, opts: &IngestOptions) -> anyhow::Result<()> {
    let lossy = file.to_string_lossy();
    if lossy.starts_with("/vsi") || lossy.contains("://") {
        bail!("{lossy}: only local files can be ingested");
    }
    let path =
        std::fs::canonicalize(file).with_context(|| format!("{}: no such file", file.display()))?;
    let display = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pb = progress(0, &display, "features");
    let started = std::time::Instant::now();
    let result = run(store.as_ref(), &path, &display, opts, pb.clone()).await;
    pb.finish_and_clear();
    let target = atlante::model::layer_table(&opts.org, &opts.slug);
    let (layer, summary) = match result {
        Ok(done) => done,
        Err(e) => {
            audit_cli(
                store,
                "layer.upload",
                Some(&opts.org),
                &target,
                false,
                json!({"file": display, "error": e.to_string()}),
            )
            .await;
            bail!("{e}");
        }
    };
    audit_cli(store, "layer.upload", Some(&layer.org), &layer.id, true,
        json!({"file": display, "version": layer.version, "features": summary.written, "visibility": layer.visibility})).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "published {} version {} ({}, {})",
        layer.id,
        layer.version,
        layer.geom_type.sql_name(),
        if layer.is_public() {
            "public"
        } else {
            "private: a draft until `atlante layer set … --visibility public`"
        }
    );
    println!(
        "  read {} · written {} · repaired {} · rejected {} · {:.2} s · {:.0} features/s",
        summary.read,
        summary.written,
        summary.repaired,
        summary.rejected,
        secs,
        summary.written as f64 / secs.max(1e-9)
    );
    println!(
        "  CRS {} → EPSG:4326 via {}",
        layer.source.crs, layer.source.transform
    );
    println!("  encoding {}", layer.source.encoding);
    for r in &summary.rejected_reasons {
        println!("  rejected: {r}");
    }
    for w in &summary.warnings {
        println!("  warning: {w}");
    }
    Ok(())
}

pub async fn layer(store: &DynStore, action: LayerAction) -> anyhow::Result<()> {
    match action {
        LayerAction::List => {
            println!(
                "{:<40} {:>3} {:<8} {:<16} {:>9}  title",
                "id", "ver", "", "geometry", "features"
            );
            for l in store.layers().await? {
                println!(
                    "{:<40} {:>3} {:<8} {:<16} {:>9}  {}",
                    l.id,
                    l.version,
                    l.visibility,
                    l.geom_type.sql_name(),
                    l.feature_count,
                    l.title,
                );
            }
        }
        LayerAction::Show { id } => {
            let l = store
                .layer(&id)
                .await?
                .with_context(|| format!("no layer {id}"))?;
            println!("{}", serde_json::to_string_pretty(&l)?);
        }
        LayerAction::Set {
            id,
            visibility,
            title,
            description,
            theme,
            licence,
            attribution,
            attribution_url,
        } => {
            let before = store
                .layer(&id)
                .await?
                .with_context(|| format!("no layer {id}"))?;
            let u = LayerMetaUpdate {
                title,
                description,
                theme,
                licence,
                attribution,
                attribution_url,
                visibility: visibility.clone(),
            };
            let l = store.update_layer_meta(&id, &u).await?;
            audit_cli(
                store,
                "layer.update",
                Some(&before.org),
                &id,
                true,
                json!({"visibility": visibility}),
            )
            .await;
            println!("{} is {} (version {})", l.id, l.visibility, l.version);
        }
        LayerAction::Rollback { id } => {
            let before = store
                .layer(&id)
                .await?
                .with_context(|| format!("no layer {id}"))?;
            let l = store.rollback(&id).await?;
            audit_cli(
                store,
                "layer.rollback",
                Some(&l.org),
                &id,
                true,
                json!({"from_version": before.version, "to_version": l.version}),
            )
            .await;
            println!(
                "{} is back at version {} ({} features)",
                l.id, l.version, l.feature_count
            );
        }
        LayerAction::Delete { id } => {
            let before = store
                .layer(&id)
                .await?
                .with_context(|| format!("no layer {id}"))?;
            store.delete_layer(&id).await?;
            audit_cli(
                store,
                "layer.delete",
                Some(&before.org),
                &id,
                true,
                json!({"version": before.version}),
            )
            .await;
            println!("{id} deleted");
        }
    }
    Ok(())
}
