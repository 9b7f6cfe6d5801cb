//! The `atlante` command: serve, demo, ingest, layer, token, orgs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use atlante::config::Config;
use atlante::http::AppState;
use atlante::ingest::{ingest, IngestOptions};
use atlante::store::{self, DynStore};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "atlante",
    version,
    about = "Atlante — the SIT Metropolitano of the Città Metropolitana di Milano",
    long_about = "Atlante ingests the layers the 133 comuni deliver (zipped Shapefiles, GeoPackage, \
GeoJSON, CSV, KML, DXF), stores them in PostGIS or in an embedded GeoPackage, and serves them.\n\n\
The store is a GeoPackage file by default (data/atlante.gpkg); pass --store postgres://… or set \
DATABASE_URL for PostGIS. Settings come from --config FILE (TOML), then ATLANTE_* variables, then flags.\n\n\
Start with `atlante demo`: it loads the bundled Milan data and serves it on http://127.0.0.1:8080."
)]
struct Cli {
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
    /// Load the bundled Milan demo layers (once) and run the server.
    Demo {
        #[arg(long)]
        listen: Option<String>,
        /// Load the demo data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Ingest a file as a new version of a layer (atomic: a failure changes nothing).
    Ingest {
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
    },
    /// Inspect and manage layers.
    Layer {
        #[command(subcommand)]
        action: LayerAction,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// List the organisations (the Città Metropolitana and its comuni).
    Orgs,
    /// Pre-render tiles into the disk cache, or export them to a PMTiles archive.
    Tiles {
        #[command(subcommand)]
        action: TilesAction,
    },
    /// Web-GIS apps saved by the organisations (`PUT /api/orgs/{org}/apps/{slug}`).
    Apps {
        #[command(subcommand)]
        action: AppsAction,
    },
}

#[derive(Subcommand)]
enum AppsAction {
    /// List an organisation's apps.
    List {
        #[arg(long)]
        org: String,
    },
    /// Generate an app as plain files: index.html, app.js, app.css, config.json, style.json,
    /// MapLibre's files and, in static mode, tiles.pmtiles. Open index.html from any web server.
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
    },
}

#[derive(Subcommand)]
enum TilesAction {
    /// Render a layer's tiles over its extent into the disk cache the server reads
    /// (`tile_disk_cache`, default tiles/cache).
    Seed {
        /// Layer id, e.g. 015146_nil.
        #[arg(long)]
        layer: String,
        /// Zoom range, e.g. 0-14.
        #[arg(long, default_value = "0-14")]
        zooms: String,
        /// Cache folder (overrides the config).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write the tiles of one or more layers to a PMTiles v3 file (static apps, CDNs).
    Export {
        /// Comma-separated layer ids, e.g. cmm_comuni,015146_nil.
        #[arg(long)]
        layers: String,
        #[arg(long, default_value = "0-14")]
        zooms: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LayerAction {
    /// List layers with version, geometry type and feature count.
    List,
    /// Show one layer's catalog entry as JSON.
    Show { id: String },
    /// Publish the previous kept version again.
    Rollback { id: String },
    /// Delete a layer and all its versions.
    Delete { id: String },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token for an organisation; it is printed once and only its hash is kept.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "editor")]
        role: String,
        #[arg(long, default_value = "")]
        label: String,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(s) = cli.store {
        config.store = s;
    }
    init_logs(&config.log_format);
    match cli.command {
        Command::Serve { listen } => {
            set_listen(&mut config, listen)?;
            let store = open_store(&config).await?;
            serve(store, config).await
        }
        Command::Demo { listen, no_serve } => {
            set_listen(&mut config, listen)?;
            let store = open_store(&config).await?;
            load_demo(&store, &config).await?;
            if no_serve {
                return Ok(());
            }
            serve(store, config).await
        }
        Command::Ingest {
            file,
            org,
            layer,
            title,
            crs,
            encoding,
            source_layer,
            geometry,
        } => {
            let store = open_store(&config).await?;
            let opts = IngestOptions {
                org,
                slug: layer,
                title,
                crs,
                encoding,
                source_layer,
                geometry,
                max_bytes: config.max_upload_bytes.saturating_mul(50),
            };
            run_ingest(&store, &file, &opts).await
        }
        Command::Layer { action } => {
            let store = open_store(&config).await?;
            match action {
                LayerAction::List => {
                    println!(
                        "{:<40} {:>3} {:<16} {:>9}  title",
                        "id", "ver", "geometry", "features"
                    );
                    for l in store.layers().await? {
                        println!(
                            "{:<40} {:>3} {:<16} {:>9}  {}{}",
                            l.id,
                            l.version,
                            l.geom_type.sql_name(),
                            l.feature_count,
                            l.title,
                            if l.is_public() { "" } else { " (private)" }
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
                LayerAction::Rollback { id } => {
                    let l = store.rollback(&id).await?;
                    println!(
                        "{} is back at version {} ({} features)",
                        l.id, l.version, l.feature_count
                    );
                }
                LayerAction::Delete { id } => {
                    store.delete_layer(&id).await?;
                    println!("{id} deleted");
                }
            }
            Ok(())
        }
        Command::Token {
            action: TokenAction::Create { org, role, label },
        } => {
            let store = open_store(&config).await?;
            let token = atlante::auth::create_token(store.as_ref(), &org, &role, &label).await?;
            eprintln!("Token for {org} ({role}). It is shown only now; keep it safe:");
            println!("{token}");
            Ok(())
        }
        Command::Tiles { action } => {
            let store = open_store(&config).await?;
            tiles_command(store, &config, action).await
        }
        Command::Apps { action } => {
            let store = open_store(&config).await?;
            apps_command(store, &config, action).await
        }
        Command::Orgs => {
            let store = open_store(&config).await?;
            for o in store.orgs().await? {
                println!(
                    "{:<7} {:<40} {}",
                    o.id,
                    o.name,
                    o.zona_omogenea.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
    }
}

fn parse_zooms(s: &str) -> anyhow::Result<std::ops::RangeInclusive<u8>> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u8, u8) = (a.trim().parse()?, b.trim().parse()?);
    if a > b || b > atlante::tiles::math::MAX_ZOOM {
        bail!(
            "zooms must be like 0-14, within 0-{}",
            atlante::tiles::math::MAX_ZOOM
        );
    }
    Ok(a..=b)
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len).with_message(what.to_string());
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} tiles ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

async fn tiles_command(
    store: DynStore,
    config: &Config,
    action: TilesAction,
) -> anyhow::Result<()> {
    use atlante::tiles::{batch, TileEngine};
    let engine = TileEngine::new(store, 0, None).await?;
    let pick = |ids: &str| -> anyhow::Result<Vec<atlante::model::Layer>> {
        ids.split(',')
            .map(|id| {
                engine
                    .layer(id.trim())
                    .with_context(|| format!("no layer {id}"))
            })
            .collect()
    };
    match action {
        TilesAction::Seed { layer, zooms, dir } => {
            let layers = pick(&layer)?;
            let dir = dir
                .or_else(|| config.tile_disk_cache.clone())
                .unwrap_or_else(|| PathBuf::from("tiles/cache"));
            let bounds = layers[0].extent.context("the layer is empty")?;
            let tiles: Vec<_> = parse_zooms(&zooms)?
                .flat_map(|z| batch::tiles_covering(bounds, z))
                .collect();
            let indexes = engine.indexes_of(&layers).await?;
            let pb = progress(tiles.len() as u64, &layers[0].id);
            let (l, pb2) = (layers[0].clone(), pb.clone());
            let written = tokio::task::spawn_blocking(move || {
                let mut n = 0usize;
                batch::render_all(&indexes, &tiles, |t, raw| {
                    let p = atlante::tiles::disk_path(&dir, &l, t);
                    if let Some(parent) = p.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    if std::fs::write(&p, &raw).is_ok() {
                        n += 1;
                    }
                    pb2.inc(1);
                });
                n
            })
            .await?;
            pb.finish_and_clear();
            println!(
                "seeded {written} tiles of {} (version {})",
                layers[0].id, layers[0].version
            );
        }
        TilesAction::Export { layers, zooms, out } => {
            let layers = pick(&layers)?;
            let zooms: Vec<u8> = parse_zooms(&zooms)?.collect();
            let indexes = engine.indexes_of(&layers).await?;
            let pb = progress(batch::count_tiles(&layers, &zooms) as u64, "export");
            let pb2 = pb.clone();
            let (count, size) =
                tokio::task::spawn_blocking(move || -> anyhow::Result<(usize, u64)> {
                    let (bytes, n) =
                        batch::export_pmtiles(&layers, &indexes, &zooms, || pb2.inc(1))?;
                    let tmp = out.with_extension("pmtiles.tmp");
                    std::fs::write(&tmp, &bytes)?;
                    std::fs::rename(&tmp, &out)?;
                    Ok((n, bytes.len() as u64))
                })
                .await??;
            pb.finish_and_clear();
            println!("exported {count} tiles ({size} bytes)");
        }
    }
    Ok(())
}

async fn apps_command(store: DynStore, config: &Config, action: AppsAction) -> anyhow::Result<()> {
    use atlante::apps::{self, AppConfig, Inputs, Mode};
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
        } => {
            anyhow::ensure!(apps::valid_slug(&app), "'{app}' is not an app slug");
            let mode = Mode::parse(&mode).context("--mode is online or static")?;
            let doc = store
                .document("app", &format!("{org}/{app}"))
                .await?
                .with_context(|| format!("no app {org}/{app}"))?;
            let cfg: AppConfig = serde_json::from_value(doc.body)?;
            let layers = apps::gather(store.as_ref(), &org, &cfg)
                .await
                .map_err(|e| anyhow::anyhow!(e.0))?;
            let inputs = Inputs {
                org: &org,
                slug: &app,
                config: &cfg,
                layers,
                base: server.trim_end_matches('/'),
            };
            let engine = atlante::tiles::TileEngine::new(store.clone(), 0, None).await?;
            let pb = progress(1, "building");
            let files = apps::bundle(&engine, &config.web_dir, &inputs, mode, maxzoom)
                .await
                .map_err(|e| anyhow::anyhow!(e.0))?;
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

fn set_listen(config: &mut Config, listen: Option<String>) -> anyhow::Result<()> {
    if let Some(l) = listen {
        config.listen = l.parse().with_context(|| format!("bad --listen '{l}'"))?;
    }
    Ok(())
}

/// Opens the store and makes sure the organisations are seeded.
async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    let store = store::open(&config.store)
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

async fn run_ingest(store: &DynStore, file: &Path, opts: &IngestOptions) -> anyhow::Result<()> {
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
    let pb = ProgressBar::new(0).with_message(display.clone());
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} features ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let result = ingest(store.as_ref(), &path, &display, opts, pb.clone()).await;
    pb.finish_and_clear();
    let (layer, summary) = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "published {} version {} ({})",
        layer.id,
        layer.version,
        layer.geom_type.sql_name()
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

/// The bundled demo layers: (file under demo/, org, slug, title, theme).
const DEMO: &[(&str, &str, &str, &str)] = &[
    (
        "cmm/comuni_cmm_openpolis.geojson",
        "cmm",
        "comuni",
        "Comuni della Città Metropolitana",
    ),
    (
        "cmm/zone_omogenee.geojson",
        "cmm",
        "zone_omogenee",
        "Zone omogenee (appartenenza compilata, da verificare)",
    ),
    (
        "milano/nil_2020.geojson",
        "015146",
        "nil",
        "Nuclei di Identità Locale (NIL) 2020",
    ),
    (
        "milano/aree_pedonali_ztl.geojson",
        "015146",
        "aree_pedonali_ztl",
        "Aree pedonali e ZTL",
    ),
    (
        "milano/atm_percorsi_metro.geojson",
        "015146",
        "metro_percorsi",
        "Metropolitana: percorsi",
    ),
    (
        "milano/atm_fermate_metro.geojson",
        "015146",
        "metro_fermate",
        "Metropolitana: fermate",
    ),
];

fn demo_dir() -> PathBuf {
    let here = PathBuf::from("demo");
    if here.is_dir() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo")
    }
}

async fn load_demo(store: &DynStore, config: &Config) -> anyhow::Result<()> {
    let dir = demo_dir();
    for (file, org, slug, title) in DEMO {
        let id = atlante::model::layer_table(org, slug);
        if store.layer(&id).await?.is_some() {
            tracing::info!(layer = %id, "demo layer already loaded");
            continue;
        }
        let opts = IngestOptions {
            org: org.to_string(),
            slug: slug.to_string(),
            title: Some(title.to_string()),
            max_bytes: config.max_upload_bytes,
            ..Default::default()
        };
        run_ingest(store, &dir.join(file), &opts).await?;
        let attribution = if *org == "cmm" {
            "ISTAT; openpolis/geojson-italy (CC BY 4.0)"
        } else {
            "Comune di Milano – dati.comune.milano.it (CC BY 4.0)"
        };
        let update = atlante::store::LayerMetaUpdate {
            attribution: Some(attribution.into()),
            licence: Some("CC-BY-4.0".into()),
            theme: Some(
                if *org == "cmm" {
                    "confini"
                } else {
                    "mobilità"
                }
                .into(),
            ),
            ..Default::default()
        };
        store.update_layer_meta(&id, &update).await?;
    }
    Ok(())
}

async fn serve(store: DynStore, config: Config) -> anyhow::Result<()> {
    let stale = atlante::ingest::clean_stale_work_dirs();
    if stale > 0 {
        tracing::info!(
            folders = stale,
            "removed work folders of interrupted ingests"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = store.kind(), location = %store.location(), "Atlante listening on http://{addr}/");
    let state = AppState::new(store, config).await?;
    state.tiles.watch();
    let warm = state.tiles.clone();
    tokio::spawn(async move { warm.warm().await });
    atlante::http::serve(listener, state, shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
