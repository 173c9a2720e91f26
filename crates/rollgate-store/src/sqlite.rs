//! The embedded store: one SQLite file in WAL mode, the default when no
//! metadata URL is given. One process owns it.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;
use crate::imp::db_err;

/// `migrations/sqlite`, embedded at compile time and recorded (with
/// checksums: an edited applied migration is refused) in `_sqlx_migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// [`crate::Store`] on an embedded SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the SQLite file at `path` in WAL mode and
    /// applies pending migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| db_err("configure SQLite", e))?
            .filename(path.as_ref())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| db_err("open the SQLite metadata store", e))?;
        migrate(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Claims the oldest claimable run whose rollout and instance are under
    /// their limits and whose database no live run is working on. SQLite has no row locks: the claim runs inside `BEGIN
    /// IMMEDIATE` (see [`Self::begin_write`]), which makes this connection the
    /// single writer until it commits, so the counts cannot go stale.
    /// `$1` worker, `$2` now, `$3` new lease expiry, `$4` per-rollout limit,
    /// `$5` per-instance limit.
    const CLAIM_SQL: &'static str = "UPDATE task_runs \
         SET status = 'RUNNING', worker = $1, lease_expires_at = $3, attempts = attempts + 1, started_at = $2 \
         WHERE id = (SELECT r.id FROM task_runs r \
                     WHERE (r.status = 'AVAILABLE' OR (r.status = 'RUNNING' AND r.lease_expires_at < $2)) \
                       AND (SELECT COUNT(*) FROM task_runs x WHERE x.rollout = r.rollout \
                            AND x.status = 'RUNNING' AND x.lease_expires_at >= $2) < $4 \
                       AND (SELECT COUNT(*) FROM task_runs x WHERE x.instance = r.instance \
                            AND x.status = 'RUNNING' AND x.lease_expires_at >= $2) < $5 \
                       AND NOT EXISTS (SELECT 1 FROM task_runs x JOIN tasks xt ON xt.id = x.task \
                            JOIN tasks rt ON rt.id = r.task \
                            WHERE x.status = 'RUNNING' AND x.lease_expires_at >= $2 \
                              AND xt.instance = rt.instance AND xt.name = rt.name) \
                     ORDER BY r.id LIMIT 1) \
         RETURNING id, task, attempts, lease_expires_at";

    /// `BEGIN IMMEDIATE` already serializes claims on SQLite.
    async fn serialize_claims(
        _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// A write transaction that takes SQLite's write lock up front, so two
    /// writers never deadlock upgrading a read lock (they queue on the busy timeout).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(crate::imp::migrate_err)
}

crate::imp::impl_store!(SqliteStore, sqlx::sqlite::SqliteRow);
