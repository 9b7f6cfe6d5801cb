//! `atlante tiles seed` and `atlante tiles export`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Subcommand;

use atlante::catalog::Catalog;
use atlante::config::Config;
use atlante::model::Layer;
use atlante::store::DynStore;
use atlante::tiles::{batch, TileEngine};

use super::progress;

#[derive(Subcommand)]
pub enum TilesAction {
    /// Render one layer's tiles over its extent into the disk cache the server reads
    /// (`tile_disk_cache`, default tiles/cache). The server checks visibility before it
    /// reads the cache, so seeding a draft shows it to no one else.
    Seed {
        /// One layer id, e.g. 015146_nil.
        #[arg(long)]
        layer: String,
        /// Zoom range, e.g. 0-14.
        #[arg(long, default_value = "0-14")]
        zooms: String,
        /// Cache folder (overrides the config).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Refuse to start beyond this many tiles (counted first).
        #[arg(long, default_value_t = 50_000_000)]
        max_tiles: u64,
    },
    /// Write the tiles of one or more public layers to a PMTiles v3 file (static apps,
    /// CDNs).
    Export {
        /// Comma-separated layer ids, e.g. cmm_comuni,015146_nil.
        #[arg(long)]
        layers: String,
        #[arg(long, default_value = "0-14")]
        zooms: String,
        #[arg(long)]
        out: PathBuf,
        /// Export private layers (drafts) too: the file is then not for publishing.
        #[arg(long)]
        include_private: bool,
        /// Refuse to start beyond this many tiles (counted first).
        #[arg(long, default_value_t = 50_000_000)]
        max_tiles: u64,
        /// Stop beyond this many bytes of tiles (the archive is built in memory).
        #[arg(long, default_value_t = 4 << 30)]
        max_bytes: u64,
    },
}

pub fn parse_zooms(s: &str) -> anyhow::Result<std::ops::RangeInclusive<u8>> {
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

pub async fn tiles(store: DynStore, config: &Config, action: TilesAction) -> anyhow::Result<()> {
    let catalog = Catalog::open(store).await?;
    let engine = TileEngine::new(catalog.clone(), Default::default());
    let pick = |ids: &str, include_private: bool| -> anyhow::Result<Vec<Layer>> {
        let mut ids: Vec<&str> = ids.split(',').map(str::trim).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                let l = catalog.get(id).with_context(|| format!("no layer {id}"))?;
                if !include_private && !atlante::catalog::may_see(&l, None) {
                    bail!("{id} is private (a draft): pass --include-private to export it anyway");
                }
                Ok(Arc::unwrap_or_clone(l))
            })
            .collect()
    };
    match action {
        TilesAction::Seed {
            layer,
            zooms,
            dir,
            max_tiles,
        } => {
            if layer.contains(',') {
                bail!("seed one layer at a time: the disk cache holds single-layer tiles");
            }
            let layers = pick(&layer, true)?;
            let dir = dir
                .or_else(|| config.tile_disk_cache.clone())
                .unwrap_or_else(|| PathBuf::from("tiles/cache"));
            let l = layers[0].clone();
            let zooms: Vec<u8> = parse_zooms(&zooms)?.collect();
            let coverage = batch::Coverage::of_layers(&layers, &zooms)?;
            coverage.check(max_tiles)?;
            let disk = atlante::diskcache::DiskCache::open(&dir, config.tile_disk_cache_bytes)
                .with_context(|| format!("cache folder {}", dir.display()))?;
            let indexes = engine.indexes_of(&layers).await?;
            let pb = progress(coverage.count(), &l.id, "tiles");
            let (l2, pb2) = (l.clone(), pb.clone());
            let written = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
                let mut n = 0usize;
                batch::render_all(&indexes, &coverage, &batch::Stop::default(), |t, raw| {
                    disk.put(&atlante::tiles::disk_path(&l2, t), &raw)?;
                    n += 1;
                    pb2.inc(1);
                    Ok(())
                })?;
                Ok(n)
            })
            .await??;
            pb.finish_and_clear();
            println!("seeded {written} tiles of {} (version {})", l.id, l.version);
        }
        TilesAction::Export {
            layers,
            zooms,
            out,
            include_private,
            max_tiles,
            max_bytes,
        } => {
            let layers = pick(&layers, include_private)?;
            let zooms: Vec<u8> = parse_zooms(&zooms)?.collect();
            let coverage = batch::Coverage::of_layers(&layers, &zooms)?;
            coverage.check(max_tiles)?;
            let indexes = engine.indexes_of(&layers).await?;
            let pb = progress(coverage.count(), "export", "tiles");
            let pb2 = pb.clone();
            let limits = batch::Limits {
                max_tiles,
                max_bytes,
            };
            let (count, size) =
                tokio::task::spawn_blocking(move || -> anyhow::Result<(usize, u64)> {
                    let (bytes, n) = batch::export_pmtiles(
                        &layers,
                        &indexes,
                        &zooms,
                        limits,
                        &batch::Stop::default(),
                        || pb2.inc(1),
                    )?;
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
