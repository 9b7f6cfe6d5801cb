//! Items requests that are a plain bbox — what a map client asks as it pans — answered
//! with the layer's tile index when it is held: the index knows every feature's box, so
//! which features a bbox matches is settled in memory, and the store is asked only for
//! the features of the page (by id) and about the few whose box straddles the bbox's edge
//! (their geometry decides). No count over thousands of geometries, no sort of them.
//!
//! The answer is the store's, to the byte: a feature whose box lies inside the bbox meets
//! it; one whose box is apart from it does not; the others are tested by the store with the
//! same condition as any items request. Boxes are compared with a margin of a few
//! centimetres over their quantisation ([`super::arena::QBox`]), which only sends a few
//! more features to the store. Features come from the store, at their stored precision.

use super::index::lonlat_bbox_to_merc;
use super::TileEngine;
use crate::model::Layer;
use crate::store::{ItemQuery, StoreError, StoredFeature};

/// Margin, in Web Mercator metres, between a box held (rounded outward to 0.93 cm) and
/// the bbox's edge before a feature is taken as surely inside or surely apart.
const MARGIN: f64 = 0.05;

/// The bbox of a request the index can answer: a bbox and nothing else that selects or
/// orders, not across the antimeridian, within Web Mercator's latitudes (features beyond
/// them are held clamped).
fn plain_bbox(q: &ItemQuery) -> Option<[f64; 4]> {
    let b = q.bbox?;
    let plain = q.filter.is_none()
        && q.sort.is_empty()
        && b[0] <= b[2]
        && b[1] <= b[3]
        && b[1] >= -85.0
        && b[3] <= 85.0;
    plain.then_some(b)
}

impl TileEngine {
    /// One page of a layer's features and how many match in all, as the store answers
    /// them: through the layer's held index when the request is a plain bbox, else from
    /// the store alone.
    pub async fn items(
        &self,
        layer: &Layer,
        q: &ItemQuery,
    ) -> Result<(Vec<StoredFeature>, i64), StoreError> {
        let store = self.store();
        let (Some(bbox), Some(idx)) = (plain_bbox(q), self.held(layer)) else {
            return store.items(layer, q).await;
        };
        self.catch_up(&idx).await?;
        let m = lonlat_bbox_to_merc(&bbox);
        let inner = [m[0] + MARGIN, m[1] + MARGIN, m[2] - MARGIN, m[3] - MARGIN];
        let outer = [m[0] - MARGIN, m[1] - MARGIN, m[2] + MARGIN, m[3] + MARGIN];
        let (mut fids, edge) = idx.fids_in(&inner, &outer);
        if !edge.is_empty() {
            fids.extend(store.fids_intersecting(layer, &edge, bbox).await?);
            fids.sort_unstable();
        }
        self.items_from_index
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let matched = fids.len() as i64;
        let page: Vec<i64> = fids
            .into_iter()
            .skip(usize::try_from(q.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(q.limit).unwrap_or(usize::MAX))
            .collect();
        Ok((store.features_by_fid(layer, &page).await?, matched))
    }

    /// How many items requests the indexes answered since start, for metrics and tests.
    pub fn items_from_index(&self) -> u64 {
        self.items_from_index
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
