//! `atlante serve` and `atlante demo`.

use std::path::PathBuf;

use anyhow::Context;

use atlante::config::Config;
use atlante::http::AppState;
use atlante::ingest::IngestOptions;
use atlante::store::DynStore;

pub fn set_listen(config: &mut Config, listen: Option<String>) -> anyhow::Result<()> {
    if let Some(l) = listen {
        config.listen = l.parse().with_context(|| format!("bad --listen '{l}'"))?;
    }
    Ok(())
}

/// The bundled demo layers: (file under demo/, org, slug, title).
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

/// Loads each demo layer once, published (public) with its attribution and licence.
pub async fn load_demo(store: &DynStore, config: &Config) -> anyhow::Result<()> {
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
            visibility: Some("public".into()),
            max_bytes: config.max_upload_bytes,
            ..Default::default()
        };
        super::layers::run_ingest(store, &dir.join(file), &opts).await?;
        let (attribution, url) = if *org == "cmm" {
            (
                "ISTAT; openpolis/geojson-italy (CC BY 4.0)",
                "https://github.com/openpolis/geojson-italy",
            )
        } else {
            (
                "Comune di Milano – dati.comune.milano.it (CC BY 4.0)",
                "https://dati.comune.milano.it",
            )
        };
        let update = atlante::store::LayerMetaUpdate {
            attribution: Some(attribution.into()),
            attribution_url: Some(url.into()),
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

pub async fn serve(store: DynStore, config: Config) -> anyhow::Result<()> {
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
    raise_open_files();
    purge_trash(store.clone(), config.retention_days);
    let metrics_listen = config.metrics_listen;
    let state = AppState::new(store, config).await?;
    state.catalog.watch();
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        let router = atlante::http::metrics_router(state.clone());
        let cfg = state.config.clone();
        tokio::spawn(async move {
            let _ = atlante::http::run(listener, router, &cfg, std::future::pending()).await;
        });
    }
    let warm = state.tiles.clone();
    tokio::spawn(async move { warm.warm().await });
    atlante::http::serve(listener, state, shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Purges, now and every hour, the layers deleted more than `days` ago.
fn purge_trash(store: DynStore, days: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match atlante::store::purge_expired(store.as_ref(), days).await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::info!(layers = ?ids, days, "purged layers deleted beyond the retention period")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "trash not purged"),
            }
        }
    });
}

/// Raises the soft limit of open files to the hard one: each connection holds a
/// descriptor, and Debian's default soft limit (1024) is below `max_connections`.
fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit on a local struct; no other state is touched.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) == 0 {
                tracing::debug!(files = l.rlim_cur, "open files limit raised");
            }
        }
    }
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
