//! The configuration tree: defaults, then an optional TOML file, then `ATLANTE_*`
//! environment variables (and `DATABASE_URL`), then command-line flags. Unknown keys in the
//! file are rejected.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the server listens on.
    pub listen: SocketAddr,
    /// `postgres://…` for PostGIS, otherwise the path of the embedded GeoPackage.
    pub store: String,
    /// Largest accepted upload, in bytes (also the bound on what an archive expands to).
    pub max_upload_bytes: u64,
    /// Public base URL used in links, e.g. `https://sit.cittametropolitana.mi.it`.
    pub public_url: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Seconds a request may take before it is cut with 503.
    pub request_timeout_secs: u64,
    /// Connections to PostgreSQL each server holds at most (PostGIS store only). A request
    /// needing one when all are busy waits for one, up to 1.5 s, then is answered 503.
    pub store_connections: u32,
    /// How many feature queries (items, CQL2) run at once; the others wait their turn, up to 2 s,
    /// then are answered 503 with `Retry-After`. Below `store_connections`, so that edits
    /// and the catalog always find a connection.
    pub store_reads: usize,
    /// Bytes of rendered tiles kept in memory (0 turns the cache off).
    pub tile_cache_bytes: usize,
    /// Bytes of tile indexes kept in memory (0: no limit). Beyond it, the least recently
    /// used layers' indexes are dropped, and built again from the store when asked for.
    pub tile_index_bytes: usize,
    /// Where tile indexes are persisted, so a restart or an eviction pages them in instead
    /// of scanning the store. `Config::load` (the command line) puts them in
    /// `{cache_dir}/indexes` unless set; an empty path turns it off.
    pub tile_index_dir: Option<std::path::PathBuf>,
    /// Serve the web assets from this folder (`web/` of a checkout, with `npm ci` run in
    /// it) instead of the copies embedded in the binary: for working on the pages.
    pub web_dir: Option<std::path::PathBuf>,
    /// Build absolute links from the reverse proxy's `Forwarded` / `X-Forwarded-Proto` /
    /// `X-Forwarded-Host` headers (only behind a proxy that sets them; `public_url` wins).
    pub trust_proxy_headers: bool,
    /// Backgrounds under the layers and the comuni: raster tiles from their host, vector
    /// tiles from a PMTiles archive here (`[[backgrounds]]` tables; see
    /// [`crate::backgrounds`]). `ATLANTE_BASEMAP_URL` adds a raster one named `raster`.
    pub backgrounds: Vec<crate::backgrounds::Background>,
    /// Folders of the fonts map labels are cut from (`.ttf`/`.otf`; see [`crate::fonts`]).
    pub fonts_dirs: Vec<std::path::PathBuf>,
    /// Folder of the disk tile cache (what `atlante tiles seed` fills); none: no disk cache.
    pub tile_disk_cache: Option<std::path::PathBuf>,
    /// Bytes the disk tile cache may hold (least recently used files go first).
    pub tile_disk_cache_bytes: u64,
    /// Folder of other cached files: static app bundles (built once per app version).
    pub cache_dir: std::path::PathBuf,
    /// Bytes the bundle cache may hold.
    pub bundle_cache_bytes: u64,
    /// Bytes the cache of whole-layer downloads may hold (`{cache_dir}/downloads`).
    pub download_cache_bytes: u64,
    /// Most tiles in one static bundle (counted before building; beyond: 413).
    pub max_bundle_tiles: u64,
    /// Most bytes of tiles in one static bundle.
    pub max_bundle_bytes: u64,
    /// Heavy jobs (bundle builds) at once; beyond: 503 with Retry-After.
    pub max_heavy_jobs: usize,
    /// Seconds a heavy job may run before it is stopped.
    pub heavy_job_secs: u64,
    /// Uploads (ingests) at once, in all and per organisation; beyond: 503 with Retry-After.
    pub max_uploads: usize,
    pub max_uploads_per_org: usize,
    /// Seconds a client may take to send a request's headers, and may stay idle between
    /// requests on a kept-alive connection, before the server closes it.
    pub header_timeout_secs: u64,
    /// Open connections at once; beyond, new ones are closed at once.
    pub max_connections: usize,
    /// Longest query string accepted (beyond: 414).
    pub max_query_bytes: usize,
    /// A separate address serving `/metrics` (Prometheus) without a token; without it,
    /// `/metrics` is on the main address for a metropolitan admin's token.
    pub metrics_listen: Option<SocketAddr>,
    /// Days a deleted layer is kept for `atlante layer restore` before it is purged.
    pub retention_days: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 8080).into(),
            store: "data/atlante.gpkg".into(),
            max_upload_bytes: 200 << 20,
            public_url: None,
            log_format: "text".into(),
            request_timeout_secs: 300,
            store_connections: crate::store::DEFAULT_CONNECTIONS,
            store_reads: 8,
            tile_cache_bytes: 256 << 20,
            tile_index_bytes: 4 << 30,
            tile_index_dir: None,
            tile_disk_cache: None,
            tile_disk_cache_bytes: 1 << 30,
            cache_dir: "data/cache".into(),
            bundle_cache_bytes: 1 << 30,
            download_cache_bytes: 4 << 30,
            max_bundle_tiles: 200_000,
            max_bundle_bytes: 256 << 20,
            max_heavy_jobs: 2,
            heavy_job_secs: 120,
            max_uploads: 4,
            max_uploads_per_org: 2,
            header_timeout_secs: 15,
            max_connections: 10_000,
            max_query_bytes: 64 << 10,
            metrics_listen: None,
            retention_days: 30,
            web_dir: None,
            trust_proxy_headers: false,
            backgrounds: Vec::new(),
            fonts_dirs: vec![
                "/usr/share/fonts/truetype/open-sans".into(),
                "/usr/share/fonts/truetype/dejavu".into(),
            ],
        }
    }
}

impl Config {
    /// Loads the file (if any) and applies the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", p.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("bad config {}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        crate::backgrounds::check(&cfg.backgrounds).map_err(|e| anyhow::anyhow!(e))?;
        match &cfg.tile_index_dir {
            None => cfg.tile_index_dir = Some(cfg.cache_dir.join("indexes")),
            Some(p) if p.as_os_str().is_empty() => cfg.tile_index_dir = None,
            Some(_) => {}
        }
        Ok(cfg)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.store = v;
        }
        if let Some(v) = get("ATLANTE_STORE") {
            self.store = v;
        }
        if let Some(v) = get("ATLANTE_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|e| anyhow::anyhow!("ATLANTE_LISTEN: {e}"))?;
        }
        if let Some(v) = get("ATLANTE_MAX_UPLOAD_BYTES") {
            self.max_upload_bytes = v
                .parse()
                .map_err(|e| anyhow::anyhow!("ATLANTE_MAX_UPLOAD_BYTES: {e}"))?;
        }
        if let Some(v) = get("ATLANTE_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = get("ATLANTE_TILE_INDEX_BYTES") {
            self.tile_index_bytes = v
                .parse()
                .map_err(|e| anyhow::anyhow!("ATLANTE_TILE_INDEX_BYTES: {e}"))?;
        }
        if let Some(v) = get("ATLANTE_TILE_CACHE_BYTES") {
            self.tile_cache_bytes = v
                .parse()
                .map_err(|e| anyhow::anyhow!("ATLANTE_TILE_CACHE_BYTES: {e}"))?;
        }
        if let Some(v) = get("ATLANTE_TILE_DISK_CACHE") {
            self.tile_disk_cache =
                Some(v.into()).filter(|p: &std::path::PathBuf| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("ATLANTE_WEB_DIR") {
            self.web_dir =
                Some(v.into()).filter(|p: &std::path::PathBuf| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("ATLANTE_TRUST_PROXY_HEADERS") {
            self.trust_proxy_headers = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = get("ATLANTE_BASEMAP_URL") {
            if !v.is_empty() {
                self.backgrounds.retain(|b| b.id != "raster");
                self.backgrounds.push(crate::backgrounds::Background {
                    id: "raster".into(),
                    title: "Sfondo".into(),
                    kind: "raster".into(),
                    url: Some(v),
                    path: None,
                    style: None,
                    attribution: get("ATLANTE_BASEMAP_ATTRIBUTION").unwrap_or_default(),
                    tile_size: 256,
                    max_zoom: 19,
                });
            }
        }
        if let Some(v) = get("ATLANTE_FONTS_DIRS") {
            self.fonts_dirs = std::env::split_paths(&v).collect();
        }
        if let Some(v) = get("ATLANTE_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("ATLANTE_CACHE_DIR") {
            self.cache_dir = v.into();
        }
        if let Some(v) = get("ATLANTE_METRICS_LISTEN") {
            self.metrics_listen = Some(
                v.parse()
                    .map_err(|e| anyhow::anyhow!("ATLANTE_METRICS_LISTEN: {e}"))?,
            );
        }
        macro_rules! number {
            ($($key:literal => $field:ident),* $(,)?) => {$(
                if let Some(v) = get($key) {
                    self.$field = v.parse().map_err(|e| anyhow::anyhow!("{}: {e}", $key))?;
                }
            )*};
        }
        number!(
            "ATLANTE_REQUEST_TIMEOUT_SECS" => request_timeout_secs,
            "ATLANTE_STORE_CONNECTIONS" => store_connections,
            "ATLANTE_STORE_READS" => store_reads,
            "ATLANTE_TILE_DISK_CACHE_BYTES" => tile_disk_cache_bytes,
            "ATLANTE_BUNDLE_CACHE_BYTES" => bundle_cache_bytes,
            "ATLANTE_DOWNLOAD_CACHE_BYTES" => download_cache_bytes,
            "ATLANTE_MAX_BUNDLE_TILES" => max_bundle_tiles,
            "ATLANTE_MAX_BUNDLE_BYTES" => max_bundle_bytes,
            "ATLANTE_MAX_HEAVY_JOBS" => max_heavy_jobs,
            "ATLANTE_HEAVY_JOB_SECS" => heavy_job_secs,
            "ATLANTE_MAX_UPLOADS" => max_uploads,
            "ATLANTE_MAX_UPLOADS_PER_ORG" => max_uploads_per_org,
            "ATLANTE_HEADER_TIMEOUT_SECS" => header_timeout_secs,
            "ATLANTE_MAX_CONNECTIONS" => max_connections,
            "ATLANTE_MAX_QUERY_BYTES" => max_query_bytes,
            "ATLANTE_RETENTION_DAYS" => retention_days,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_unknown_keys() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "ATLANTE_LISTEN").then(|| "0.0.0.0:9000".to_string()))
            .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(toml::from_str::<Config>("lisen = 'x'").is_err());
        let c: Config = toml::from_str("store = 'postgres://x/y'").unwrap();
        assert_eq!(c.store, "postgres://x/y");
    }
}
