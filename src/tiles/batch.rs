//! Many tiles at once, for seeding the disk cache, exporting PMTiles and building static
//! app bundles: the tiles covering the layers' extent (counted in 64 bits and bounded
//! before any work starts), a renderer that uses every core, and a stop signal that ends
//! the work when its client goes away or its deadline passes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use super::index::LayerIndex;
use super::math::{tile_for_lonlat, TileCoord};
use super::render;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// More tiles than allowed (counted before rendering).
    #[error("{count} tiles at zooms {zooms}: more than the {max} allowed; lower the highest zoom")]
    TooMany { count: u64, max: u64, zooms: String },
    /// More bytes than allowed (found while rendering).
    #[error("the tiles exceed {max} bytes; lower the highest zoom")]
    TooBig { max: u64 },
    #[error("stopped: {0}")]
    Stopped(&'static str),
    #[error("the layers are empty")]
    Empty,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Tells long work to stop: set when its client goes away (see [`StopOnDrop`]), or past a
/// deadline.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Stop {
    pub fn with_deadline(deadline: Instant) -> Stop {
        Stop {
            flag: Arc::default(),
            deadline: Some(deadline),
        }
    }
    /// The same signal, with a deadline too.
    pub fn with_deadline_of(other: &Stop, deadline: Instant) -> Stop {
        Stop {
            flag: other.flag.clone(),
            deadline: Some(other.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
    /// Why to stop now, if so.
    pub fn why(&self) -> Option<&'static str> {
        if self.flag.load(Ordering::Relaxed) {
            Some("the client went away")
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some("the deadline passed")
        } else {
            None
        }
    }
    /// A guard that stops the work when dropped (a request's future dropped by its server
    /// when the client goes away), unless [`StopOnDrop::done`] was called.
    pub fn on_drop(&self) -> StopOnDrop {
        StopOnDrop(Some(self.clone()))
    }
}

pub struct StopOnDrop(Option<Stop>);

impl StopOnDrop {
    pub fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            s.stop();
        }
    }
}

/// The tiles of some zooms over a box, in zoom, then column, then row order: counted
/// without listing them, and listed lazily.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// Per zoom: (zoom, first column, first row, columns, rows).
    blocks: Vec<(u8, u32, u32, u64, u64)>,
}

impl Coverage {
    /// The tiles at `zooms` that cover `bounds` [w, s, e, n] in degrees.
    pub fn new(bounds: [f64; 4], zooms: &[u8]) -> Coverage {
        let blocks = zooms
            .iter()
            .map(|&z| {
                let a = tile_for_lonlat(bounds[0], bounds[3], z);
                let b = tile_for_lonlat(bounds[2], bounds[1], z);
                (
                    z,
                    a.x,
                    a.y,
                    u64::from(b.x - a.x) + 1,
                    u64::from(b.y - a.y) + 1,
                )
            })
            .collect();
        Coverage { blocks }
    }

    /// The layers' joint extent at `zooms`.
    pub fn of_layers(layers: &[crate::model::Layer], zooms: &[u8]) -> Result<Coverage, BatchError> {
        let mut bounds: Option<[f64; 4]> = None;
        for l in layers {
            if let Some(e) = &l.extent {
                crate::geom::extend_bbox(&mut bounds, e);
            }
        }
        Ok(Coverage::new(bounds.ok_or(BatchError::Empty)?, zooms))
    }

    /// How many tiles, in 64 bits (a world extent at z16 is 4.3 billion).
    pub fn count(&self) -> u64 {
        self.blocks
            .iter()
            .fold(0u64, |n, b| n.saturating_add(b.3.saturating_mul(b.4)))
    }

    /// Refuses more than `max` tiles, before any work.
    pub fn check(&self, max: u64) -> Result<(), BatchError> {
        let count = self.count();
        if count > max {
            let zooms = match (self.blocks.first(), self.blocks.last()) {
                (Some(a), Some(b)) => format!("{}-{}", a.0, b.0),
                _ => String::new(),
            };
            return Err(BatchError::TooMany { count, max, zooms });
        }
        Ok(())
    }

    /// The `i`-th tile.
    pub fn get(&self, mut i: u64) -> Option<TileCoord> {
        for &(z, x0, y0, w, h) in &self.blocks {
            let n = w * h;
            if i < n {
                return Some(TileCoord {
                    z,
                    x: x0 + (i / h) as u32,
                    y: y0 + (i % h) as u32,
                });
            }
            i -= n;
        }
        None
    }

    pub fn iter(&self) -> impl Iterator<Item = TileCoord> + '_ {
        (0..self.count()).map_while(|i| self.get(i))
    }
}

/// Every tile of zoom `z` that covers `bounds` [w, s, e, n] (degrees).
pub fn tiles_covering(bounds: [f64; 4], z: u8) -> Vec<TileCoord> {
    Coverage::new(bounds, &[z]).iter().collect()
}

/// Renders the tiles of `coverage` on all cores; calls `each` on the caller's thread with
/// every result. Stops (with an error) when `stop` says so.
pub fn render_all(
    indexes: &[Arc<LayerIndex>],
    coverage: &Coverage,
    stop: &Stop,
    mut each: impl FnMut(TileCoord, Vec<u8>) -> Result<(), BatchError>,
) -> Result<(), BatchError> {
    let total = coverage.count();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(total.max(1) as usize);
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::sync_channel::<(TileCoord, Vec<u8>)>(256);
    let mut outcome = Ok(());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                if stop.why().is_some() {
                    break;
                }
                let Some(t) = coverage.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                if tx.send((t, render(indexes, t))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (t, bytes) in rx {
            if let Err(e) = each(t, bytes) {
                stop.stop();
                outcome = Err(e);
                break;
            }
        }
    });
    outcome?;
    match stop.why() {
        Some(why) => Err(BatchError::Stopped(why)),
        None => Ok(()),
    }
}

/// Limits of one export.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_tiles: u64,
    pub max_bytes: u64,
}

/// Renders `layers` over their joint extent at `zooms` into a PMTiles v3 archive (tiles
/// gzip-compressed, metadata = the TileJSON of the layers), within `limits`. `each` is
/// called once per tile rendered (for progress). Returns the archive and the number of
/// tiles in it.
pub fn export_pmtiles(
    layers: &[crate::model::Layer],
    indexes: &[Arc<LayerIndex>],
    zooms: &[u8],
    limits: Limits,
    stop: &Stop,
    mut each: impl FnMut(),
) -> Result<(Vec<u8>, usize), BatchError> {
    let coverage = Coverage::of_layers(layers, zooms)?;
    coverage.check(limits.max_tiles)?;
    let mut bounds: Option<[f64; 4]> = None;
    for l in layers {
        if let Some(e) = &l.extent {
            crate::geom::extend_bbox(&mut bounds, e);
        }
    }
    let bounds = bounds.ok_or(BatchError::Empty)?;
    let mut meta = super::tilejson::tilejson(layers, "");
    meta["format"] = "pbf".into();
    let mut w = super::pmtiles::PmtilesWriter::default();
    let mut bytes = 0u64;
    render_all(indexes, &coverage, stop, |t, raw| {
        if !raw.is_empty() {
            let gz = super::cache::Tile::new(raw).gzip().to_vec();
            bytes += gz.len() as u64;
            if bytes > limits.max_bytes {
                return Err(BatchError::TooBig {
                    max: limits.max_bytes,
                });
            }
            w.add(t, gz);
        }
        each();
        Ok(())
    })?;
    let n = w.len();
    let mut out = Vec::new();
    w.finish(&mut out, bounds, &meta)?;
    Ok((out, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_64_bits() {
        // Two points at ±179°, z0–16: more tiles than 32 bits count.
        let zooms: Vec<u8> = (0..=16).collect();
        let world = Coverage::new([-179.0, -85.0, 179.0, 85.0], &zooms);
        assert!(world.count() > u32::MAX as u64, "{}", world.count());
        assert!(matches!(
            world.check(100_000),
            Err(BatchError::TooMany { .. })
        ));
        let all: Vec<u8> = (0..=16).collect();
        assert!(Coverage::new([-180.0, -85.0, 180.0, 85.0], &all).count() > 5_000_000_000);
        let milano = Coverage::new([9.04, 45.38, 9.28, 45.54], &[10, 11, 12]);
        let listed: Vec<TileCoord> = milano.iter().collect();
        assert_eq!(listed.len() as u64, milano.count());
        assert_eq!(listed[0].z, 10);
        assert_eq!(listed.last().unwrap().z, 12);
        assert_eq!(
            tiles_covering([9.04, 45.38, 9.28, 45.54], 12).len() as u64,
            Coverage::new([9.04, 45.38, 9.28, 45.54], &[12]).count()
        );
    }

    #[test]
    fn stops() {
        let s = Stop::default();
        assert_eq!(s.why(), None);
        drop(s.on_drop());
        assert_eq!(s.why(), Some("the client went away"));
        let s = Stop::default();
        s.on_drop().done();
        assert_eq!(s.why(), None);
        let late = Stop::with_deadline(Instant::now());
        assert_eq!(late.why(), Some("the deadline passed"));
    }
}
