//! The embedded store: a GeoPackage file written through sqlx-sqlite. It stays a valid
//! GeoPackage (`ogrinfo` and QGIS list each published layer); Atlante's catalog sits in
//! `atlante_*` tables beside the GeoPackage system tables.

mod features;
mod rtree;
mod sqlite_fns;
mod versions;

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row as _, Sqlite, SqlitePool};
use tokio::sync::Mutex;

use super::changes::{self, ChangeFeed};
use super::sql::{bind_args, Dialect, Exec, RowExt, Stmt};
use super::{ChangeStore, Result, Store, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_catalog.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_data_columns.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_documents.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_tenancy_changes.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_staging.sql"),
    ),
    (6, include_str!("../../../migrations/sqlite/0006_trash.sql")),
    (
        7,
        include_str!("../../../migrations/sqlite/0007_base_seq.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/sqlite/0008_log_id.sql"),
    ),
    (
        9,
        include_str!("../../../migrations/sqlite/0009_open_data.sql"),
    ),
    (
        10,
        include_str!("../../../migrations/sqlite/0010_publication_log.sql"),
    ),
];

pub struct GpkgStore {
    pool: SqlitePool,
    path: String,
    /// SQLite has one writer at a time; this process's writers queue here.
    write_lock: Mutex<()>,
    feed: ChangeFeed,
}

impl GpkgStore {
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Location(format!("{}: {e}", dir.display())))?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(false)
            .busy_timeout(std::time::Duration::from_secs(30))
            // CQL2 LIKE is case-sensitive, as in PostgreSQL.
            .pragma("case_sensitive_like", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    // SAFETY: the handle is locked for the call; the connection is open.
                    unsafe { sqlite_fns::register(handle.as_raw_handle().as_ptr()) }
                        .map_err(sqlx::Error::Protocol)
                })
            })
            .connect_with(opts)
            .await?;
        let store = GpkgStore {
            pool,
            path: path.display().to_string(),
            write_lock: Mutex::new(()),
            feed: ChangeFeed::default(),
        };
        store.migrate().await?;
        super::versions::clean_staging(&store).await;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS atlante_migrations (version INTEGER PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM atlante_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
            if done.is_none() {
                let mut tx = self.pool.begin().await?;
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO atlante_migrations (version) VALUES (?)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        // GDAL reads the GeoPackage application id from the file header itself: move the
        // header out of the WAL now, or readers see a zero id until SQLite checkpoints.
        // A full disk makes the checkpoint fail; reading does not need it.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed at open");
        }
        Ok(())
    }
}

type Tx<'a> = sqlx::Transaction<'a, Sqlite>;

/// Runs a shared statement inside a transaction.
async fn run(tx: &mut Tx<'_>, s: Stmt) -> Result<()> {
    bind_args(sqlx::query(&s.sql), s.args)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl RowExt for SqliteRow {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
    fn boolean(&self, col: &str) -> Result<bool> {
        Ok(self.try_get(col)?)
    }
}

#[async_trait]
impl Exec for GpkgStore {
    type Row = SqliteRow;

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn exec(&self, s: Stmt) -> Result<u64> {
        let _writer = self.write_lock.lock().await;
        Ok(bind_args(sqlx::query(&s.sql), s.args)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn fetch_all(&self, s: Stmt) -> Result<Vec<SqliteRow>> {
        let _writer = if s.sql.trim_start().starts_with("SELECT") {
            None
        } else {
            Some(self.write_lock.lock().await)
        };
        Ok(bind_args(sqlx::query(&s.sql), s.args)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn exec_all(&self, stmts: Vec<Stmt>) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        for s in stmts {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl ChangeStore for GpkgStore {
    fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    async fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<changes::Change>> {
        changes::read_since(self, seq, limit).await
    }

    async fn layer_changes_since(
        &self,
        layer_id: &str,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<changes::Change>> {
        changes::read_layer_since(self, layer_id, seq, limit).await
    }

    async fn latest_change(&self) -> Result<i64> {
        changes::read_latest(self).await
    }

    async fn log_id(&self) -> Result<String> {
        changes::read_log_id(self).await
    }

    async fn renew_log_id(&self) -> Result<()> {
        changes::renew_log_id(self).await
    }
}

#[async_trait]
impl Store for GpkgStore {
    fn kind(&self) -> &'static str {
        "gpkg"
    }

    fn location(&self) -> String {
        self.path.clone()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
