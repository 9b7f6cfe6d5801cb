//! Many tiles at once, for seeding the disk cache and exporting PMTiles: the tile list over
//! the layers' extent and a renderer that uses every core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use super::index::LayerIndex;
use super::math::{tile_for_lonlat, TileCoord};
use super::render;

/// Every tile of zoom `z` that covers `bounds` [w, s, e, n] (degrees).
pub fn tiles_covering(bounds: [f64; 4], z: u8) -> Vec<TileCoord> {
    let a = tile_for_lonlat(bounds[0], bounds[3], z);
    let b = tile_for_lonlat(bounds[2], bounds[1], z);
    let mut out = Vec::with_capacity(((b.x - a.x + 1) * (b.y - a.y + 1)) as usize);
    for x in a.x..=b.x {
        for y in a.y..=b.y {
            out.push(TileCoord { z, x, y });
        }
    }
    out
}

/// Renders `tiles` on all cores; calls `each` on the caller's thread with every result.
pub fn render_all(
    indexes: &[Arc<LayerIndex>],
    tiles: &[TileCoord],
    mut each: impl FnMut(TileCoord, Vec<u8>),
) {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(tiles.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<(TileCoord, Vec<u8>)>(256);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = tiles.get(i) else { break };
                if tx.send((*t, render(indexes, *t))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (t, bytes) in rx {
            each(t, bytes);
        }
    });
}

/// Renders `layers` over their joint extent at `zooms` into a PMTiles v3 archive (tiles
/// gzip-compressed, metadata = the TileJSON of the layers). `each` is called once per tile
/// rendered (for progress). Returns the archive and the number of tiles in it.
pub fn export_pmtiles(
    layers: &[crate::model::Layer],
    indexes: &[Arc<LayerIndex>],
    zooms: &[u8],
    mut each: impl FnMut(),
) -> std::io::Result<(Vec<u8>, usize)> {
    let mut bounds: Option<[f64; 4]> = None;
    for l in layers {
        if let Some(e) = &l.extent {
            crate::geom::extend_bbox(&mut bounds, e);
        }
    }
    let bounds = bounds.ok_or_else(|| std::io::Error::other("the layers are empty"))?;
    let tiles: Vec<TileCoord> = zooms
        .iter()
        .flat_map(|z| tiles_covering(bounds, *z))
        .collect();
    let mut meta = super::tilejson::tilejson(layers, "");
    meta["format"] = "pbf".into();
    let mut w = super::pmtiles::PmtilesWriter::default();
    render_all(indexes, &tiles, |t, raw| {
        if !raw.is_empty() {
            w.add(t, super::cache::Tile::new(raw).gzip().to_vec());
        }
        each();
    });
    let n = w.len();
    let mut out = Vec::new();
    w.finish(&mut out, bounds, &meta)?;
    Ok((out, n))
}

/// How many tiles [`export_pmtiles`] renders.
pub fn count_tiles(layers: &[crate::model::Layer], zooms: &[u8]) -> usize {
    let mut bounds: Option<[f64; 4]> = None;
    for l in layers {
        if let Some(e) = &l.extent {
            crate::geom::extend_bbox(&mut bounds, e);
        }
    }
    bounds.map_or(0, |b| {
        zooms.iter().map(|z| tiles_covering(b, *z).len()).sum()
    })
}
