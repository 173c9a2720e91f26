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

/// Migrations of `migrations/sqlite`, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "releases_rollouts_queue",
        include_str!("../migrations/sqlite/0002_releases_rollouts_queue.sql"),
    ),
    (
        5,
        "review_policies",
        include_str!("../migrations/sqlite/0005_review_policies.sql"),
    ),
];

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

    /// Claims the oldest claimable run. SQLite has no row locks: the claim
    /// runs inside `BEGIN IMMEDIATE` (see [`Self::begin_write`]), which makes
    /// this connection the single writer until it commits.
    /// `$1` worker, `$2` now, `$3` new lease expiry.
    const CLAIM_SQL: &'static str = "UPDATE task_runs \
         SET status = 'RUNNING', worker = $1, lease_expires_at = $3, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM task_runs \
                     WHERE status = 'AVAILABLE' OR (status = 'RUNNING' AND lease_expires_at < $2) \
                     ORDER BY id LIMIT 1) \
         RETURNING id, task, attempts, lease_expires_at";

    /// A write transaction that takes SQLite's write lock up front, so two
    /// writers never deadlock upgrading a read lock (they queue on the busy timeout).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(|e| db_err("migrate", e))?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS rollgate_store_migrations (\
         version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| db_err("migrate", e))?;
    crate::imp::apply_migrations!(tx, MIGRATIONS);
    tx.commit().await.map_err(|e| db_err("migrate", e))
}

crate::imp::impl_store!(SqliteStore, sqlx::sqlite::SqliteRow);
