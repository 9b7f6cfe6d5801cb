//! The command tree (clap) and its dispatch. Each group of subcommands has its own file:
//! `serve.rs` (serve, demo), `layers.rs` (ingest, layer …), `tokens.rs` (token …, audit),
//! `tiles.rs` (tiles seed/export), `apps.rs` (apps list/build).

mod apps;
mod layers;
mod serve;
mod tiles;
mod tokens;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use atlante::config::Config;
use atlante::store::{self, AuditEntry, DynStore};

#[derive(Parser)]
#[command(
    name = "atlante",
    version,
    about = "Atlante — the SIT Metropolitano of the Città Metropolitana di Milano",
    long_about = "Atlante ingests the layers the 133 comuni deliver (zipped Shapefiles, GeoPackage, \
GeoJSON, CSV, KML, DXF), stores them in PostGIS or in an embedded GeoPackage, and serves them: \
vector tiles, OGC API - Features, a viewer, a console and generated web-GIS apps.\n\n\
The store is a GeoPackage file by default (data/atlante.gpkg); pass --store postgres://… or set \
DATABASE_URL for PostGIS. Settings come from --config FILE (TOML), then ATLANTE_* variables, then flags.\n\n\
A new layer is a draft (private to its organisation) until it is published with \
`atlante layer set ID --visibility public`, the console, or `--visibility public` at ingest.\n\n\
Start with `atlante demo`: it loads the bundled Milan data and serves it on http://127.0.0.1:8080."
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ATLANTE_CONFIG")]
    config: Option<PathBuf>,
    /// Store location: a GeoPackage path or a postgres:// URL (overrides config and DATABASE_URL).
    #[arg(long, global = true)]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Load the bundled Milan demo layers (once, published) and run the server.
    Demo {
        #[arg(long)]
        listen: Option<String>,
        /// Load the demo data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Ingest a file as a new version of a layer (atomic: a failure changes nothing).
    Ingest(layers::IngestArgs),
    /// Inspect and manage layers.
    Layer {
        #[command(subcommand)]
        action: layers::LayerAction,
    },
    /// Manage API tokens: create, list, revoke.
    Token {
        #[command(subcommand)]
        action: tokens::TokenAction,
    },
    /// Read the audit log: who wrote what, when, with which outcome.
    Audit(tokens::AuditArgs),
    /// List the organisations (the Città Metropolitana and its comuni) with their IPA
    /// codes, or set one's IPA code and open-data contact.
    Orgs {
        #[command(subcommand)]
        action: Option<OrgsAction>,
    },
    /// Pre-render tiles into the disk cache, or export them to a PMTiles archive.
    Tiles {
        #[command(subcommand)]
        action: tiles::TilesAction,
    },
    /// Web-GIS apps saved by the organisations (`PUT /api/orgs/{org}/apps/{slug}`).
    Apps {
        #[command(subcommand)]
        action: apps::AppsAction,
    },
    /// Back the whole store up to a file: a consistent GeoPackage copy (VACUUM INTO), or a
    /// pg_dump of the PostGIS database's public schema (custom format).
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the whole store with a backup (stop the servers first; asks unless --yes).
    Restore {
        from: PathBuf,
        #[arg(long)]
        yes: bool,
    },
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "atlante=info,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(s) = cli.store {
        config.store = s;
    }
    init_logs(&config.log_format);
    match cli.command {
        Command::Serve { listen } => {
            serve::set_listen(&mut config, listen)?;
            let store = open_store(&config).await?;
            serve::serve(store, config).await
        }
        Command::Demo { listen, no_serve } => {
            serve::set_listen(&mut config, listen)?;
            let store = open_store(&config).await?;
            serve::load_demo(&store, &config).await?;
            if no_serve {
                return Ok(());
            }
            serve::serve(store, config).await
        }
        Command::Ingest(args) => layers::ingest(&open_store(&config).await?, &config, args).await,
        Command::Layer { action } => layers::layer(&open_store(&config).await?, action).await,
        Command::Token { action } => tokens::token(&open_store(&config).await?, action).await,
        Command::Audit(args) => tokens::audit(&open_store(&config).await?, args).await,
        Command::Tiles { action } => {
            tiles::tiles(open_store(&config).await?, &config, action).await
        }
        Command::Apps { action } => apps::apps(open_store(&config).await?, &config, action).await,
        Command::Backup { out } => {
            store::backup::backup(&config.store, &out).await?;
            println!(
                "backup of {} written to {} ({} bytes)",
                redact(&config.store),
                out.display(),
                std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0)
            );
            Ok(())
        }
        Command::Restore { from, yes } => {
            if !yes {
                layers::confirm(&format!(
                    "replace everything in {} with {}?",
                    redact(&config.store),
                    from.display()
                ))?;
            }
            store::backup::restore(&config.store, &from).await?;
            // Opening runs the migrations a backup of an older release needs.
            open_store(&config).await?;
            println!("{} restored from {}", redact(&config.store), from.display());
            Ok(())
        }
        Command::Orgs { action: None } => {
            for o in open_store(&config).await?.orgs().await? {
                println!(
                    "{:<7} {:<40} {:<12} {}",
                    o.id,
                    o.name,
                    o.ipa(),
                    o.zona_omogenea.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        Command::Orgs {
            action:
                Some(OrgsAction::Set {
                    id,
                    ipa_code,
                    email,
                }),
        } => {
            let store = open_store(&config).await?;
            store.set_org_contact(&id, ipa_code, email).await?;
            let o = store
                .org(&id)
                .await?
                .with_context(|| format!("no organisation {id}"))?;
            println!(
                "{} {}: IPA {}, contact {}",
                o.id,
                o.name,
                o.ipa(),
                o.email.as_deref().unwrap_or("—")
            );
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum OrgsAction {
    /// Set an organisation's IPA code (when it is not `c_` + its Belfiore code) and the
    /// e-mail the open-data catalogues give as its contact; an empty value clears one.
    Set {
        /// `cmm` or the comune's ISTAT code.
        id: String,
        #[arg(long)]
        ipa_code: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
}

/// Opens the store and makes sure the organisations are seeded.
async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    let store = store::open_with(&config.store, config.store_connections)
        .await
        .with_context(|| format!("cannot open the store at {}", redact(&config.store)))?;
    let orgs = atlante::seed::organisations().map_err(anyhow::Error::msg)?;
    store.upsert_orgs(&orgs).await?;
    Ok(store)
}

fn redact(location: &str) -> String {
    match (location.find("://"), location.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &location[..s], &location[at..]),
        _ => location.to_string(),
    }
}

/// Records a write made from the command line in the audit log (the actor is `cli`).
async fn audit_cli(
    store: &DynStore,
    action: &str,
    org: Option<&str>,
    target: &str,
    ok: bool,
    detail: serde_json::Value,
) {
    let e = AuditEntry {
        seq: 0,
        at: String::new(),
        actor: "cli".into(),
        actor_org: None,
        action: action.into(),
        org: org.map(str::to_string),
        target: target.into(),
        outcome: if ok { "ok" } else { "failed" }.into(),
        status: None,
        detail,
    };
    if let Err(err) = store.record(&e).await {
        tracing::error!(error = %err, "audit entry not written");
    }
}

/// A progress bar for `len` units of `what` (tiles, features).
fn progress(len: u64, msg: &str, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(len).with_message(msg.to_string());
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}
