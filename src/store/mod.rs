//! The store: small traits by concern ([`OrgStore`], [`LayerStore`], [`VersionStore`],
//! [`FeatureStore`], [`DocumentStore`], [`TokenStore`], [`AuditStore`], [`ChangeStore`]),
//! two backends (PostGIS and an embedded GeoPackage, in `postgis/` and `gpkg/`) that pass
//! one behavioural test suite. All SQL of Atlante lives under this module; the SQL both
//! backends share is written once (`sql.rs` and the concern modules beside it).
//!
//! A layer version is one table. The published version is the table `{org}_{slug}`; the
//! previous ones are kept as `{org}_{slug}__v{n}`. [`Store::publish`] writes the new version and
//! swaps it in inside **one transaction**, so a failure at any point (bad row, lost connection,
//! `kill -9`) leaves the published version and the catalog exactly as they were, with no
//! staging table behind.

pub mod audit;
pub mod backup;
pub mod changes;
pub mod documents;
pub mod filter;
pub mod gpkg;
pub mod layers;
pub mod orgs;
pub mod postgis;
pub mod publications;
pub mod sql;
pub mod staging;
pub mod tokens;
pub mod versions;

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::model::{Field, IngestSummary, Layer, Org, PublishRequest, Row, Value};

pub(crate) fn republished(layer: &Layer) -> StoreError {
    StoreError::Conflict(format!(
        "{} was republished meanwhile: read it again",
        layer.id
    ))
}

/// The error for writing a layer that is in the trash.
pub(crate) fn in_trash(id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "{id} was deleted and is in the trash: restore it (atlante layer restore {id}) or purge \
         it (atlante layer delete {id} --purge) before uploading it again"
    ))
}

/// How many previous versions of a layer are kept for rollback.
pub const KEPT_VERSIONS: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// The database cannot be reached (connection refused, pool timed out): a 503.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The disk under the database is full (SQLite `SQLITE_FULL`, PostgreSQL `53100`): the
    /// write was rolled back; a 507.
    #[error("the store's disk is full, nothing was changed: free space and try again ({0})")]
    Full(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A value the caller sent is not acceptable (a 400).
    #[error("{0}")]
    Invalid(String),
    /// The producer of rows gave up (bad input): the transaction was rolled back.
    #[error("ingest aborted: {0}")]
    Aborted(String),
    #[error("corrupt catalog entry: {0}")]
    Corrupt(String),
    #[error("unsupported store location: {0}")]
    Location(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(d)
                if d.code().is_some_and(|c| {
                    // admin shutdown, cannot connect now, too many connections
                    matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
                }) =>
            {
                StoreError::Unavailable(d.to_string())
            }
            sqlx::Error::Database(d)
                if d.code()
                    .is_some_and(|c| matches!(c.as_ref(), "13" | "53100")) =>
            {
                StoreError::Full(d.message().to_string())
            }
            other => StoreError::Db(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What ingest sends to [`Store::publish`], in order: row batches, then `Done` or `Failed`.
/// A closed channel without `Done` counts as a failure.
#[derive(Debug)]
pub enum Batch {
    Rows(Vec<Row>),
    Done(IngestSummary),
    Failed(String),
}

/// An API token as stored: only the hash of the secret is kept. `id` is its public name
/// (the first 12 hex digits of the hash), shown in lists, audit entries and revocations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub org: String,
    pub role: String,
    pub label: String,
    /// RFC 3339 times, set by the store.
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: String,
    pub id: String,
    pub org: String,
    pub role: String,
    pub label: String,
    /// RFC 3339, or None for a token that does not expire.
    pub expires_at: Option<String>,
}

/// One audit entry: who (token and organisation), when, what (action and target, and the
/// organisation it concerns), and the outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    /// Set by the store.
    pub seq: i64,
    /// RFC 3339, set by the store.
    pub at: String,
    /// The token's public id; `cli` for the command line.
    pub actor: String,
    /// The organisation of the caller.
    pub actor_org: Option<String>,
    /// e.g. `layer.upload`, `feature.edit`, `token.revoke`.
    pub action: String,
    /// The organisation whose data the write concerns.
    pub org: Option<String>,
    /// What was written, e.g. a layer id or an app key.
    pub target: String,
    /// `ok`, `denied`, `refused` or `failed`.
    pub outcome: String,
    /// The HTTP status, when over HTTP.
    pub status: Option<i64>,
    pub detail: serde_json::Value,
}

/// A saved JSON document owned by an organisation: a layer's style (kind `style`, key = the
/// layer id) or an app configuration (kind `app`, key = `{org}/{slug}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: String,
    pub key: String,
    pub org: String,
    pub body: serde_json::Value,
    pub published: bool,
    /// RFC 3339, set by the store.
    pub updated_at: String,
}

/// Layer metadata a publisher can edit without a new version.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerMetaUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub theme: Option<String>,
    pub licence: Option<String>,
    pub attribution: Option<String>,
    pub attribution_url: Option<String>,
    pub visibility: Option<String>,
    // Open-data description (see `model::OpenMeta`).
    pub title_en: Option<String>,
    pub description_en: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub eu_themes: Option<Vec<String>>,
    pub frequency: Option<String>,
    pub contact_email: Option<String>,
    pub temporal_start: Option<String>,
    pub temporal_end: Option<String>,
    pub lineage: Option<String>,
    pub scale: Option<u32>,
}

/// One stored feature: its id, 2D WKB in EPSG:4326 and values in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeature {
    pub fid: i64,
    pub wkb: Vec<u8>,
    pub values: Vec<Value>,
}

/// An items request, already resolved against the catalog (field indexes, not names).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemQuery {
    /// [west, south, east, north] in EPSG:4326: features whose geometry intersects it.
    pub bbox: Option<[f64; 4]>,
    /// (field index, None for the feature id; ascending?)
    pub sort: Vec<(Option<usize>, bool)>,
    /// A checked CQL2 filter (and `datetime`), compiled by each store to its SQL.
    pub filter: Option<crate::cql2::Cond>,
    pub limit: i64,
    pub offset: i64,
}

impl ItemQuery {
    /// The features whose geometry intersects a box (EPSG:4326), by fid.
    pub fn bbox(bbox: [f64; 4]) -> ItemQuery {
        ItemQuery {
            bbox: Some(bbox),
            ..ItemQuery::everything()
        }
    }

    /// Every feature, by fid.
    pub fn everything() -> ItemQuery {
        ItemQuery {
            bbox: None,
            sort: Vec::new(),
            filter: None,
            limit: i64::MAX,
            offset: 0,
        }
    }
}

/// Whether an items request is answered in one scan of the rows it matches (their ids
/// in order, each with how many match in all: `count(*) OVER ()`) and then the page read by
/// id, rather than a count and a page that each scan them: when its condition bounds the
/// matches to a place (a bbox, a spatial filter). A condition that may match most of a
/// layer keeps the count and the page, which reads only the page's rows in order.
pub(crate) fn one_scan(q: &ItemQuery) -> bool {
    item_condition(q).is_some_and(|c| filter::envelope(&c).is_some())
}

/// An items answer from a one-scan page (see [`one_scan`]): (fid, how many match in all)
/// in order, its features read by id in that order. None when the page is empty past the
/// first (it says nothing of the count: the caller counts).
pub(crate) async fn page_by_id<S: FeatureStore + ?Sized>(
    store: &S,
    layer: &Layer,
    page: &[(i64, i64)],
    offset: i64,
) -> Result<Option<(Vec<StoredFeature>, i64)>> {
    let Some(&(_, matched)) = page.first() else {
        return Ok((offset == 0).then(|| (Vec::new(), 0)));
    };
    let ids: Vec<i64> = page.iter().map(|p| p.0).collect();
    let mut by_id: std::collections::HashMap<i64, StoredFeature> = store
        .features_by_fid(layer, &ids)
        .await?
        .into_iter()
        .map(|f| (f.fid, f))
        .collect();
    let features = ids.iter().filter_map(|id| by_id.remove(id)).collect();
    Ok(Some((features, matched)))
}

/// One change to a layer's published features (OGC API - Features Part 4).
#[derive(Debug, Clone)]
pub enum Edit {
    Insert(Row),
    Replace(i64, Row),
    Delete(i64),
}

/// The organisations (the Città Metropolitana and its comuni).
#[async_trait]
pub trait OrgStore {
    async fn upsert_orgs(&self, orgs: &[Org]) -> Result<()>;
    /// All of them, without their boundaries.
    async fn orgs(&self) -> Result<Vec<Org>>;
    /// All of them with their boundaries (for the base map).
    async fn orgs_with_boundaries(&self) -> Result<Vec<Org>>;
    /// One, with its boundary.
    async fn org(&self, id: &str) -> Result<Option<Org>>;
    /// Sets an organisation's IPA code override and contact e-mail: None leaves one as it
    /// is, an empty string clears it.
    async fn set_org_contact(
        &self,
        id: &str,
        ipa_code: Option<String>,
        email: Option<String>,
    ) -> Result<()>;
}

/// The layer catalog: layers with their published version's facts, and their metadata.
#[async_trait]
pub trait LayerStore {
    /// All layers with their published version, ordered by id.
    async fn layers(&self) -> Result<Vec<Layer>>;
    async fn layer(&self, id: &str) -> Result<Option<Layer>>;
    /// Changes metadata only: no new version, no data change (announced as `Meta`).
    async fn update_layer_meta(&self, id: &str, update: &LayerMetaUpdate) -> Result<Layer>;
    /// Versions kept for a layer, newest first.
    async fn versions(&self, id: &str) -> Result<Vec<i64>>;
    /// Layers in the trash (deleted, not yet purged), with when they were deleted.
    async fn deleted_layers(&self) -> Result<Vec<(Layer, String)>>;
    /// How many feature edits (Part 4) the published version has had since it was
    /// published: what a rollback would discard.
    async fn edits_since_publish(&self, id: &str) -> Result<i64>;
}

/// Versions of a layer: publish, rollback, delete (see the module doc).
#[async_trait]
pub trait VersionStore {
    /// Writes a new version from `rows` and publishes it atomically (see the module doc).
    async fn publish(&self, req: PublishRequest, rows: mpsc::Receiver<Batch>) -> Result<Layer>;
    /// Makes the previous kept version the published one again.
    async fn rollback(&self, id: &str) -> Result<Layer>;
    /// Moves a layer to the trash: it leaves the catalog at once; its data stays until
    /// [`VersionStore::purge_layer`] (a new upload of the same id is refused meanwhile).
    async fn delete_layer(&self, id: &str) -> Result<()>;
    /// Brings a deleted layer back, as it was.
    async fn restore_layer(&self, id: &str) -> Result<Layer>;
    /// Removes a deleted layer for good: its tables, versions and saved style.
    async fn purge_layer(&self, id: &str) -> Result<()>;
}

/// The features of a layer's published version, read and edited in place.
#[async_trait]
pub trait FeatureStore {
    /// Every feature of the published version that `q` selects (its box and filter, in
    /// its order; not its page: `limit` and `offset` are ignored), sent in batches of
    /// `size` as they are read (a million features never sit in memory twice). Stops
    /// early, without error, when the receiver goes.
    async fn select_batches(
        &self,
        layer: &Layer,
        q: &ItemQuery,
        size: usize,
        to: mpsc::Sender<Vec<StoredFeature>>,
    ) -> Result<()>;
    /// Every feature of the published version, ordered by fid, in batches.
    async fn scan_batches(
        &self,
        layer: &Layer,
        size: usize,
        to: mpsc::Sender<Vec<StoredFeature>>,
    ) -> Result<()> {
        self.select_batches(layer, &ItemQuery::everything(), size, to)
            .await
    }
    /// Every feature of the published version, ordered by fid.
    async fn scan(&self, layer: &Layer) -> Result<Vec<StoredFeature>> {
        let (tx, mut rx) = mpsc::channel(4);
        let mut out = Vec::new();
        let collect = async {
            while let Some(batch) = rx.recv().await {
                out.extend(batch);
            }
        };
        let (scanned, ()) = tokio::join!(self.scan_batches(layer, 10_000, tx), collect);
        scanned.map(|()| out)
    }
    /// One page of features and how many match in all.
    async fn items(&self, layer: &Layer, q: &ItemQuery) -> Result<(Vec<StoredFeature>, i64)>;
    /// One feature by id.
    async fn item(&self, layer: &Layer, fid: i64) -> Result<Option<StoredFeature>>;
    /// Of `fids`, those whose geometry intersects `bbox` (EPSG:4326, as an items request's
    /// bbox), ascending.
    async fn fids_intersecting(
        &self,
        layer: &Layer,
        fids: &[i64],
        bbox: [f64; 4],
    ) -> Result<Vec<i64>>;
    /// The features of `fids` (ascending; ids that do not exist are left out).
    async fn features_by_fid(&self, layer: &Layer, fids: &[i64]) -> Result<Vec<StoredFeature>>;
    /// Applies edits to the published version in one transaction (all or nothing) and
    /// returns the feature id each touched. A missing id is `NotFound`; a layer republished
    /// since `layer` was read is a `Conflict`; either way nothing changes.
    async fn edit(&self, layer: &Layer, edits: &[Edit]) -> Result<Vec<i64>>;
}

/// Saved JSON documents owned by an organisation (styles, app configurations).
#[async_trait]
pub trait DocumentStore {
    /// Saves (creates or replaces) a document; returns it as stored.
    async fn put_document(&self, doc: &Document) -> Result<Document>;
    async fn document(&self, kind: &str, key: &str) -> Result<Option<Document>>;
    /// The documents of a kind, of one organisation or all, ordered by key.
    async fn documents(&self, kind: &str, org: Option<&str>) -> Result<Vec<Document>>;
    /// Removes a document; false when there was none.
    async fn delete_document(&self, kind: &str, key: &str) -> Result<bool>;
}

/// API tokens: only the hash of a secret is stored.
#[async_trait]
pub trait TokenStore {
    async fn insert_token(&self, t: &NewToken) -> Result<()>;
    /// The token with this secret hash, revoked or expired ones included (the caller
    /// decides).
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// Tokens of one organisation or all, newest first.
    async fn tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Revokes a token by its public id; false when there is no such live token.
    async fn revoke_token(&self, id: &str) -> Result<bool>;
    /// Records that these tokens were used now.
    async fn touch_tokens(&self, ids: &[String]) -> Result<()>;
}

/// The audit log: who wrote what, when, with which outcome.
#[async_trait]
pub trait AuditStore {
    async fn record(&self, e: &AuditEntry) -> Result<()>;
    /// Entries that concern `org` (as owner or as actor), or all; newest first, those with
    /// a sequence number below `before` when given.
    async fn audit(
        &self,
        org: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>>;
}

/// The durable change log of layer changes (see [`changes`]).
#[async_trait]
pub trait ChangeStore {
    /// Where this process's writes are announced as they commit.
    fn feed(&self) -> &changes::ChangeFeed;
    /// Logged changes with a sequence number above `seq`, oldest first (at most `limit`).
    async fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<changes::Change>>;
    /// One layer's logged changes above `seq`, oldest first (at most `limit`).
    async fn layer_changes_since(
        &self,
        layer_id: &str,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<changes::Change>>;
    /// The highest sequence number logged so far (0 when none).
    async fn latest_change(&self) -> Result<i64>;
    /// The log's identity: what was derived from it (a persisted tile index) is valid only
    /// against the same log.
    async fn log_id(&self) -> Result<String>;
    /// Gives the log a new identity (after a restore: sequence numbers may be reused).
    async fn renew_log_id(&self) -> Result<()>;
    /// Sequence numbers of changes committed by any process, as the store announces them
    /// (PostGIS LISTEN/NOTIFY). None when the store cannot announce; callers poll then.
    async fn notifications(&self) -> Option<mpsc::Receiver<i64>> {
        None
    }
}

/// One entry of the publication log: a logged change with the layer as it stood after it
/// (see [`publications`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogEntry {
    pub seq: i64,
    pub at: String,
    pub layer_id: String,
    pub kind: changes::ChangeKind,
    /// The published version after the change (0 when deleted).
    pub version: i64,
    /// The owner, visibility, title and feature count after the change (None for rows
    /// logged before the publication log existed, or once the layer was purged).
    pub org: Option<String>,
    pub visibility: Option<String>,
    pub title: Option<String>,
    pub feature_count: Option<i64>,
    /// For feature edits: how many features.
    pub features: usize,
    /// In a layer's history: the parts of its description this change altered (`title`,
    /// `visibility`, `licence`, `keywords`…), against the entry before.
    pub changed: Vec<String>,
}

/// The publication log and download counts: a layer's history and the publishing
/// dashboard's figures (see [`publications`]).
#[async_trait]
pub trait PublicationStore {
    /// A layer's last `limit` logged changes, oldest first, feature edits included.
    async fn history(&self, layer_id: &str, limit: i64) -> Result<Vec<LogEntry>>;
    /// Every layer's logged changes but feature edits, oldest first.
    async fn publication_log(&self) -> Result<Vec<LogEntry>>;
    /// Counts one download of a layer in a format, today.
    async fn count_download(&self, layer_id: &str, format: &str) -> Result<()>;
    /// Downloads over all time: (layer id, format, count).
    async fn download_counts(&self) -> Result<Vec<(String, String, i64)>>;
}

/// A whole store: every concern, on one backend.
#[async_trait]
pub trait Store:
    OrgStore
    + LayerStore
    + VersionStore
    + FeatureStore
    + DocumentStore
    + TokenStore
    + AuditStore
    + ChangeStore
    + PublicationStore
    + Send
    + Sync
{
    /// `gpkg` or `postgis`.
    fn kind(&self) -> &'static str;
    /// Where the store is, without secrets.
    fn location(&self) -> String;
    /// Cheap round trip, for `/ready`.
    async fn ping(&self) -> Result<()>;
}

/// Brings every store trait into scope, so their methods can be called on a [`DynStore`].
pub mod prelude {
    pub use super::{
        AuditStore, ChangeStore, DocumentStore, FeatureStore, LayerStore, OrgStore,
        PublicationStore, Store, TokenStore, VersionStore,
    };
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store a location names: `postgres://…` for PostGIS, anything else is a
/// GeoPackage file path. Runs the migrations.
pub async fn open(location: &str) -> Result<DynStore> {
    open_with(location, DEFAULT_CONNECTIONS).await
}

/// Connections to PostgreSQL a store holds unless told otherwise (`store_connections`).
pub const DEFAULT_CONNECTIONS: u32 = 16;

/// [`open`], holding at most `connections` connections to PostgreSQL.
pub async fn open_with(location: &str, connections: u32) -> Result<DynStore> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        Ok(Arc::new(
            postgis::PgStore::open(location, connections).await?,
        ))
    } else if location.contains("://") {
        Err(StoreError::Location(location.to_string()))
    } else {
        Ok(Arc::new(gpkg::GpkgStore::open(location.as_ref()).await?))
    }
}

/// The table holding version `v` of a layer when it is not the published one.
pub(crate) fn version_table(layer_id: &str, v: i64) -> String {
    format!("{layer_id}__v{v}")
}

/// Quotes an SQL identifier. Identifiers only ever come from the catalog or from ingest's
/// normalised names; quoting is the second line of defence.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A stable digest of a layer's published content, for "the store is unchanged" checks.
pub async fn checksum(store: &(impl Store + ?Sized), layer_id: &str) -> Result<String> {
    let layer = store
        .layer(layer_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(layer_id.to_string()))?;
    let mut h = Sha256::new();
    h.update(layer.version.to_le_bytes());
    h.update(serde_json::to_vec(&layer.fields).unwrap_or_default());
    for f in store.scan(&layer).await? {
        h.update(f.fid.to_le_bytes());
        h.update(&f.wkb);
        h.update(format!("{:?}", f.values));
    }
    Ok(hex::encode(h.finalize()))
}

/// Purges the layers deleted more than `days` ago; their ids.
pub async fn purge_expired(store: &(impl Store + ?Sized), days: u64) -> Result<Vec<String>> {
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(days.min(36_500) as i64))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let mut purged = Vec::new();
    for (l, deleted_at) in store.deleted_layers().await? {
        if deleted_at < cutoff {
            store.purge_layer(&l.id).await?;
            purged.push(l.id);
        }
    }
    Ok(purged)
}

/// Sends a stream of rows, made features by `feature`, in batches of `size` (both backends'
/// `scan_batches`). Stops early, without error, when the receiver goes.
pub(crate) async fn send_in_batches<R>(
    mut rows: impl futures_util::Stream<Item = std::result::Result<R, sqlx::Error>> + Unpin,
    size: usize,
    to: mpsc::Sender<Vec<StoredFeature>>,
    feature: impl Fn(&R) -> Result<StoredFeature>,
) -> Result<()> {
    use futures_util::TryStreamExt;
    let mut batch = Vec::with_capacity(size);
    while let Some(r) = rows.try_next().await? {
        batch.push(feature(&r)?);
        if batch.len() == size && to.send(std::mem::take(&mut batch)).await.is_err() {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = to.send(batch).await;
    }
    Ok(())
}

/// Parses a catalog JSON column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn fields_json(fields: &[Field]) -> String {
    serde_json::to_string(fields).unwrap_or_else(|_| "[]".into())
}

pub use layers::{valid_link, validate_meta};
pub(crate) use sql::{item_condition, order_by};
