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
    #[command(flatten)]
    meta: MetaArgs,
}

/// A layer's description (`ingest` and `layer set`); only what is given changes.
#[derive(Args, Default)]
pub struct MetaArgs {
    #[arg(long)]
    description: Option<String>,
    /// Free-text theme the viewer groups layers by (e.g. `mobilità`).
    #[arg(long)]
    theme: Option<String>,
    /// Licence: CC-BY-4.0 (new layers' default), CC0-1.0, IODL-2.0, CC-BY-SA-4.0,
    /// ODbL-1.0, ODC-By-1.0 or CC-BY-3.0-IT.
    #[arg(long)]
    licence: Option<String>,
    /// Credit shown on maps, as plain text.
    #[arg(long)]
    attribution: Option<String>,
    /// An http(s) link for the attribution (e.g. the licence's page).
    #[arg(long)]
    attribution_url: Option<String>,
    #[arg(long)]
    title_en: Option<String>,
    #[arg(long)]
    description_en: Option<String>,
    /// Keywords, comma-separated.
    #[arg(long, value_delimiter = ',')]
    keywords: Option<Vec<String>>,
    /// EU data themes, comma-separated: AGRI, ECON, EDUC, ENER, ENVI, GOVE, HEAL, INTR,
    /// JUST, REGI, SOCI, TECH, TRAN.
    #[arg(long, value_delimiter = ',')]
    eu_themes: Option<Vec<String>>,
    /// Update frequency: CONT, DAILY, WEEKLY, MONTHLY, QUARTERLY, ANNUAL_2, ANNUAL,
    /// BIENNIAL, IRREG, NEVER or UNKNOWN.
    #[arg(long)]
    frequency: Option<String>,
    /// Contact e-mail for the dataset.
    #[arg(long)]
    contact_email: Option<String>,
    /// Start of the temporal coverage, YYYY-MM-DD.
    #[arg(long)]
    temporal_start: Option<String>,
    /// End of the temporal coverage, YYYY-MM-DD.
    #[arg(long)]
    temporal_end: Option<String>,
    /// How the data was made (lineage).
    #[arg(long)]
    lineage: Option<String>,
    /// Scale denominator of the source (2000 for 1:2000).
    #[arg(long)]
    scale: Option<u32>,
}

impl MetaArgs {
    fn update(self, title: Option<String>, visibility: Option<String>) -> LayerMetaUpdate {
        LayerMetaUpdate {
            title,
            visibility,
            description: self.description,
            theme: self.theme,
            licence: self.licence,
            attribution: self.attribution,
            attribution_url: self.attribution_url,
            title_en: self.title_en,
            description_en: self.description_en,
            keywords: self.keywords,
            eu_themes: self.eu_themes,
            frequency: self.frequency,
            contact_email: self.contact_email,
            temporal_start: self.temporal_start,
            temporal_end: self.temporal_end,
            lineage: self.lineage,
            scale: self.scale,
        }
    }
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
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
        #[command(flatten)]
        meta: MetaArgs,
    },
    /// Publish the previous kept version again. Refused when it would discard feature edits
    /// made since the version was published, unless --discard-edits.
    Rollback {
        id: String,
        #[arg(long)]
        discard_edits: bool,
    },
    /// Delete a layer: it leaves the catalog at once and is kept in the trash for
    /// `retention_days` (default 30) for `atlante layer restore`; asks first unless --yes.
    Delete {
        id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Remove it for good now (its data, versions and style), also from the trash.
        #[arg(long)]
        purge: bool,
    },
    /// Bring back a deleted layer from the trash.
    Restore { id: String },
    /// List the layers in the trash.
    Trash,
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
    // The description is checked before the file is read, and set once it is in.
    let update = a.meta.update(None, None);
    atlante::store::validate_meta(&update)?;
    run_ingest(store, &a.file, &opts).await?;
    if update != LayerMetaUpdate::default() {
        let id = atlante::model::layer_table(&opts.org, &opts.slug);
        store.update_layer_meta(&id, &update).await?;
    }
    Ok(())
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
    let bar = pb.clone();
    let report = Box::new(move |read: u64, total: u64| {
        bar.set_length(total.max(read));
        bar.set_position(read);
    });
    let result = run(store.as_ref(), &path, &display, opts, report).await;
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

/// Asks on the terminal; refuses without one (pass --yes).
pub fn confirm(question: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("{question} Not asked: no terminal. Pass --yes to go ahead.");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "s" | "si" | "sì") {
        bail!("nothing done");
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
            meta,
        } => {
            let before = store
                .layer(&id)
                .await?
                .with_context(|| format!("no layer {id}"))?;
            let u = meta.update(title, visibility.clone());
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
        LayerAction::Rollback { id, discard_edits } => {
            let before = store
                .layer(&id)
                .await?
                .with_context(|| format!("no layer {id}"))?;
            let edits = store.edits_since_publish(&id).await?;
            if edits > 0 && !discard_edits {
                bail!(
                    "rolling back {id} would discard {edits} feature edits made since version {} \
                     was published: pass --discard-edits to roll back anyway",
                    before.version
                );
            }
            let l = store.rollback(&id).await?;
            audit_cli(
                store,
                "layer.rollback",
                Some(&l.org),
                &id,
                true,
                json!({"from_version": before.version, "to_version": l.version, "discarded_edits": edits}),
            )
            .await;
            println!(
                "{} is back at version {} ({} features)",
                l.id, l.version, l.feature_count
            );
        }
        LayerAction::Delete { id, yes, purge } => {
            let live = store.layer(&id).await?;
            let trashed = store
                .deleted_layers()
                .await?
                .into_iter()
                .find(|(l, _)| l.id == id);
            let (l, where_) = match (&live, &trashed) {
                (Some(l), _) => (l.clone(), "published"),
                (None, Some((l, _))) if purge => (l.clone(), "in the trash"),
                (None, Some(_)) => {
                    bail!("{id} is already in the trash: --purge removes it for good")
                }
                (None, None) => bail!("no layer {id}"),
            };
            if !yes {
                let what = if purge {
                    "remove for good"
                } else {
                    "delete (kept in the trash for atlante layer restore)"
                };
                confirm(&format!(
                    "{what} {id} ({where_}, version {}, {} features, {} versions kept)?",
                    l.version,
                    l.feature_count,
                    store.versions(&id).await?.len()
                ))?;
            }
            if live.is_some() {
                store.delete_layer(&id).await?;
                audit_cli(
                    store,
                    "layer.delete",
                    Some(&l.org),
                    &id,
                    true,
                    json!({"version": l.version}),
                )
                .await;
            }
            if purge {
                store.purge_layer(&id).await?;
                audit_cli(store, "layer.purge", Some(&l.org), &id, true, json!({})).await;
                println!("{id} removed for good");
            } else {
                println!("{id} deleted: in the trash, `atlante layer restore {id}` brings it back");
            }
        }
        LayerAction::Restore { id } => {
            let l = store.restore_layer(&id).await?;
            audit_cli(
                store,
                "layer.restore",
                Some(&l.org),
                &id,
                true,
                json!({"version": l.version}),
            )
            .await;
            println!("{id} restored (version {}, {})", l.version, l.visibility);
        }
        LayerAction::Trash => {
            for (l, deleted_at) in store.deleted_layers().await? {
                println!("{:<40} deleted {deleted_at}  {}", l.id, l.title);
            }
        }
    }
    Ok(())
}
