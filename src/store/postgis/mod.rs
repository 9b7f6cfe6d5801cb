//! The production store: PostGIS through sqlx-postgres. Rows go in with `COPY … FROM STDIN`
//! (EWKB hex geometry), each version table gets a GiST index, and every committed change
//! sends `NOTIFY atlante_changes` with its sequence number so other replicas catch up from
//! the change log.

mod features;
mod versions;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Executor, PgPool, Postgres, Row as _};
use tokio::sync::mpsc;

use super::changes::{self, ChangeFeed};
use super::sql::{bind_args, Dialect, Exec, RowExt, Stmt};
use super::{ChangeStore, Result, Store};

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_catalog.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_documents.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_tenancy_changes.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_staging.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_trash.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_base_seq.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/postgres/0007_log_id.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/postgres/0008_open_data.sql"),
    ),
    (
        9,
        include_str!("../../../migrations/postgres/0009_publication_log.sql"),
    ),
];

pub struct PgStore {
    pool: PgPool,
    location: String,
    feed: ChangeFeed,
}

impl PgStore {
    pub async fn open(url: &str, connections: u32) -> Result<Self> {
        let opts: PgConnectOptions = url.parse()?;
        let location = format!(
            "postgres://{}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            // The change feed's listener takes one for itself.
            .max_connections(connections.max(2))
            // Without the database, a request is told so (503) within a second or two
            // instead of waiting 30 s.
            .acquire_timeout(std::time::Duration::from_millis(1500))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET TIME ZONE 'UTC'").await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let store = PgStore {
            pool,
            location,
            feed: ChangeFeed::default(),
        };
        store.migrate().await?;
        super::versions::clean_staging(&store).await;
        Ok(store)
    }

    /// The pool, for tests and benchmarks that compare against PostGIS directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Replicas starting together must not race on the schema.
        sqlx::query("SELECT pg_advisory_xact_lock(726001)")
            .execute(&mut *tx)
            .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS atlante_migrations (version integer PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i32> =
                sqlx::query_scalar("SELECT version FROM atlante_migrations WHERE version = $1")
                    .bind(*version as i32)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO atlante_migrations (version) VALUES ($1)")
                    .bind(*version as i32)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

type Tx<'a> = sqlx::Transaction<'a, Postgres>;

/// Runs a shared statement inside a transaction.
async fn run(tx: &mut Tx<'_>, s: Stmt) -> Result<()> {
    bind_args(sqlx::query(&s.sql), s.args)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl RowExt for PgRow {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    /// `bigint` or `integer` columns alike.
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self
            .try_get::<i64, _>(col)
            .or_else(|_| self.try_get::<i32, _>(col).map(i64::from))?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get::<Option<i64>, _>(col).or_else(|_| {
            self.try_get::<Option<i32>, _>(col)
                .map(|v| v.map(i64::from))
        })?)
    }
    fn boolean(&self, col: &str) -> Result<bool> {
        Ok(self.try_get(col)?)
    }
}

#[async_trait]
impl Exec for PgStore {
    type Row = PgRow;

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn exec(&self, s: Stmt) -> Result<u64> {
        Ok(bind_args(sqlx::query(&s.sql), s.args)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn fetch_all(&self, s: Stmt) -> Result<Vec<PgRow>> {
        Ok(bind_args(sqlx::query(&s.sql), s.args)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn exec_all(&self, stmts: Vec<Stmt>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for s in stmts {
            run(&mut tx, s).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl ChangeStore for PgStore {
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

    async fn notifications(&self) -> Option<mpsc::Receiver<i64>> {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for layer changes");
                return None;
            }
        };
        if let Err(e) = listener.listen("atlante_changes").await {
            tracing::warn!(error = %e, "cannot LISTEN for layer changes");
            return None;
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        let Ok(seq) = n.payload().parse::<i64>() else {
                            continue;
                        };
                        if tx.send(seq).await.is_err() {
                            break;
                        }
                    }
                    // PgListener reconnects on the next recv; do not spin meanwhile.
                    Err(e) => {
                        tracing::warn!(error = %e, "layer change listener interrupted");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Some(rx)
    }
}

#[async_trait]
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgis"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
