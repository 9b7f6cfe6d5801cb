//! `atlante apps list` and `atlante apps build`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use atlante::apps::{self, AppConfig, Inputs, Mode};
use atlante::catalog::Catalog;
use atlante::config::Config;
use atlante::store::DynStore;

use super::progress;

#[derive(Subcommand)]
pub enum AppsAction {
    /// List an organisation's apps.
    List {
        #[arg(long)]
        org: String,
    },
    /// Generate an app as plain files: index.html, app.js, app.css, config.json, style.json,
    /// MapLibre's files and, in static mode, tiles.pmtiles. Open index.html from any web
    /// server. Like the server, it draws only the app's public layers.
    Build {
        #[arg(long)]
        org: String,
        /// The app's slug.
        #[arg(long)]
        app: String,
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// `online` (reads the server at --server) or `static` (embeds its tiles).
        #[arg(long, default_value = "static")]
        mode: String,
        /// The Atlante server an online app reads, e.g. https://sit.cittametropolitana.mi.it
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Highest zoom level exported in static mode.
        #[arg(long, default_value_t = 14)]
        maxzoom: u8,
        /// Refuse beyond this many tiles (default: the server's `max_bundle_tiles`).
        #[arg(long)]
        max_tiles: Option<u64>,
    },
}

pub async fn apps(store: DynStore, config: &Config, action: AppsAction) -> anyhow::Result<()> {
    match action {
        AppsAction::List { org } => {
            for d in store.documents("app", Some(&org)).await? {
                let title = d.body["title"].as_str().unwrap_or("");
                let state = if d.published { "published" } else { "draft" };
                println!("{:<32} {state:<9} {}  {title}", d.key, d.updated_at);
            }
        }
        AppsAction::Build {
            org,
            app,
            out,
            mode,
            server,
            maxzoom,
            max_tiles,
        } => {
            anyhow::ensure!(apps::valid_slug(&app), "'{app}' is not an app slug");
            let mode = Mode::parse(&mode).context("--mode is online or static")?;
            let doc = store
                .document("app", &format!("{org}/{app}"))
                .await?
                .with_context(|| format!("no app {org}/{app}"))?;
            let cfg: AppConfig = serde_json::from_value(doc.body)?;
            let catalog = Catalog::open(store.clone()).await?;
            let engine = atlante::tiles::TileEngine::new(catalog.clone(), Default::default());
            let gathered = apps::gather(&catalog, &engine, &cfg, None)
                .await
                .map_err(|e| anyhow::anyhow!(e.0))?;
            for id in &gathered.withheld {
                eprintln!("warning: {id} is not public (or gone): the app is built without it");
            }
            let inputs = Inputs {
                org: &org,
                slug: &app,
                config: &cfg,
                layers: gathered.layers,
                base: server.trim_end_matches('/'),
                comuni: gathered.comuni,
                backgrounds: apps::backgrounds_of(&cfg, &config.backgrounds),
            };
            let pb = progress(1, "building", "bundle");
            let limits = atlante::tiles::batch::Limits {
                max_tiles: max_tiles.unwrap_or(config.max_bundle_tiles),
                max_bytes: config.max_bundle_bytes.max(4 << 30),
            };
            let fonts = std::sync::Arc::new(atlante::fonts::Fonts::scan(&config.fonts_dirs));
            let files = apps::bundle(
                &engine,
                &fonts,
                config.web_dir.as_deref(),
                &inputs,
                mode,
                maxzoom.min(16),
                limits,
                &atlante::tiles::batch::Stop::default(),
            )
            .await?;
            pb.finish_and_clear();
            std::fs::create_dir_all(&out)?;
            apps::write_dir(&out, &files)?;
            let size: usize = files.iter().map(|(_, b)| b.len()).sum();
            println!(
                "wrote {} files ({size} bytes) to {}: serve that folder with any web server",
                files.len(),
                out.display()
            );
        }
    }
    Ok(())
}
