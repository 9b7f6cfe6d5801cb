//! The catalog service: a snapshot of every layer, kept current by the store's change feed,
//! and the one visibility rule ([`may_see`]) that every surface asks — catalog, OGC API,
//! tiles, TileJSON, styles, apps, bundles, seeds and exports.
//!
//! Writes reach the snapshot without anyone refreshing it: the store announces its own
//! commits to this process synchronously (so a write is visible when it returns), and the
//! catalog reads the change log above its cursor on every PostGIS notification and on a
//! one-second poll (so changes made by other processes arrive too, and a missed
//! notification costs at most a second). Subscribers (the tile engine) hear each layer
//! that changed, with its state before and after.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::auth::Caller;
use crate::model::Layer;
use crate::store::changes::{Change, ChangeKind};
use crate::store::{DynStore, StoreError};

/// The one visibility rule: public layers to everyone, private ones (drafts) to their
/// organisation and to a metropolitan admin.
pub fn may_see(layer: &Layer, who: Option<&Caller>) -> bool {
    layer.is_public() || who.is_some_and(|c| c.can_write(&layer.org))
}

/// A layer that changed: its change, and the catalog's entry before and after it.
pub struct LayerEvent<'a> {
    pub change: &'a Change,
    pub before: Option<Arc<Layer>>,
    pub after: Option<Arc<Layer>>,
}

type Listener = Arc<dyn Fn(&LayerEvent) + Send + Sync>;

#[derive(Default)]
struct Snapshot {
    layers: HashMap<String, Arc<Layer>>,
    /// Deleted layers and the latest change seen when they went: an older read of the
    /// layer arriving late must not bring it back.
    gone: HashMap<String, i64>,
}

pub struct Catalog {
    store: DynStore,
    snapshot: RwLock<Snapshot>,
    listeners: RwLock<Vec<Listener>>,
    /// The change log position read so far by [`Catalog::catch_up`].
    cursor: tokio::sync::Mutex<i64>,
}

impl Catalog {
    /// Loads the snapshot and subscribes to this process's writes.
    pub async fn open(store: DynStore) -> Result<Arc<Catalog>, StoreError> {
        // The cursor is read before the layers, so no change can fall between the two.
        let cursor = store.latest_change().await?;
        let layers = store.layers().await?;
        let catalog = Arc::new(Catalog {
            store: store.clone(),
            snapshot: RwLock::new(Snapshot {
                layers: layers
                    .into_iter()
                    .map(|l| (l.id.clone(), Arc::new(l)))
                    .collect(),
                gone: HashMap::new(),
            }),
            listeners: RwLock::new(Vec::new()),
            cursor: tokio::sync::Mutex::new(cursor),
        });
        let weak = Arc::downgrade(&catalog);
        store.feed().subscribe(move |a| {
            if let Some(c) = weak.upgrade() {
                c.apply(&a.change, a.layer.clone());
            }
        });
        Ok(catalog)
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// A layer whatever its visibility: for the engine's own bookkeeping, never for an
    /// answer to a caller (use [`Catalog::visible`]).
    pub fn get(&self, id: &str) -> Option<Arc<Layer>> {
        self.snapshot.read().ok()?.layers.get(id).cloned()
    }

    /// Every layer, ordered by id, whatever its visibility (see [`Catalog::get`]).
    pub fn all(&self) -> Vec<Arc<Layer>> {
        let mut v: Vec<Arc<Layer>> = self
            .snapshot
            .read()
            .map(|s| s.layers.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The layer if `who` may see it; unknown and private answer alike (None).
    pub fn visible(&self, id: &str, who: Option<&Caller>) -> Option<Arc<Layer>> {
        self.get(id).filter(|l| may_see(l, who))
    }

    /// Every layer `who` may see, ordered by id.
    pub fn visible_all(&self, who: Option<&Caller>) -> Vec<Arc<Layer>> {
        self.all().into_iter().filter(|l| may_see(l, who)).collect()
    }

    /// Calls `f` for every layer change this catalog applies.
    pub fn subscribe(&self, f: impl Fn(&LayerEvent) + Send + Sync + 'static) {
        if let Ok(mut l) = self.listeners.write() {
            l.push(Arc::new(f));
        }
    }

    /// Applies a change with the layer's state after it (None: gone). Idempotent, and a
    /// state older than the one held is ignored.
    fn apply(&self, change: &Change, after: Option<Layer>) {
        let (before, after) = {
            let Ok(mut s) = self.snapshot.write() else {
                return;
            };
            let before = s.layers.get(&change.layer_id).cloned();
            match after {
                Some(l) => {
                    let stale = before.as_ref().is_some_and(|b| b.change_seq > l.change_seq)
                        || s.gone.get(&l.id).is_some_and(|g| *g > l.change_seq);
                    if stale || before.as_deref() == Some(&l) {
                        // Feature edits are still told (with the layer as held): which
                        // features changed is in each change, not in the layer's state.
                        match (change.kind, before) {
                            (ChangeKind::Edited, Some(b)) => (Some(b.clone()), Some(b)),
                            _ => return,
                        }
                    } else {
                        let l = Arc::new(l);
                        s.gone.remove(&l.id);
                        s.layers.insert(l.id.clone(), l.clone());
                        (before, Some(l))
                    }
                }
                None => {
                    if before.as_ref().is_some_and(|b| b.change_seq > change.seq) {
                        return;
                    }
                    let g = s.gone.entry(change.layer_id.clone()).or_insert(0);
                    *g = (*g).max(change.seq);
                    match s.layers.remove(&change.layer_id) {
                        Some(b) => (Some(b), None),
                        None => return,
                    }
                }
            }
        };
        let listeners: Vec<Listener> = self.listeners.read().map(|l| l.clone()).unwrap_or_default();
        let event = LayerEvent {
            change,
            before,
            after,
        };
        for l in listeners {
            l(&event);
        }
    }

    /// Reads the change log above the cursor and applies each change with the layer as it
    /// now stands.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let mut cursor = self.cursor.lock().await;
        loop {
            let batch = self.store.changes_since(*cursor, 500).await?;
            let Some(last) = batch.last().map(|c| c.seq) else {
                return Ok(());
            };
            let mut read: HashMap<String, Option<Layer>> = HashMap::new();
            for c in &batch {
                if !read.contains_key(&c.layer_id) {
                    read.insert(c.layer_id.clone(), self.store.layer(&c.layer_id).await?);
                }
            }
            for c in &batch {
                self.apply(c, read.get(&c.layer_id).cloned().flatten());
            }
            *cursor = last;
        }
    }

    /// Follows changes made by other processes: on each PostGIS notification, and every
    /// second (several processes on one GeoPackage; notifications missed while
    /// reconnecting).
    pub fn watch(self: &Arc<Self>) {
        let catalog = Arc::downgrade(self);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut notes = store.notifications().await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let noted = async {
                    match notes.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    n = noted => if n.is_none() { notes = None },
                    _ = tick.tick() => {}
                }
                let Some(c) = catalog.upgrade() else {
                    return;
                };
                if let Err(e) = c.catch_up().await {
                    tracing::warn!(error = %e, "catalog: change log not readable");
                }
            }
        });
    }
}
