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
