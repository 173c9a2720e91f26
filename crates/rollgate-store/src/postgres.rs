//! The shared store: PostgreSQL, for several server replicas on one store.
//! Migrations run under a transaction-scoped advisory lock so replicas that
//! start together apply them once.

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::StoreError;
use crate::imp::db_err;

/// Migrations of `migrations/postgres`, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "releases_rollouts_queue",
        include_str!("../migrations/postgres/0002_releases_rollouts_queue.sql"),
    ),
    (
        5,
        "review_policies",
        include_str!("../migrations/postgres/0005_review_policies.sql"),
    ),
];

/// Advisory lock key held while migrating ("rollgate" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x726f_6c6c_6761_7465;

/// [`crate::Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies pending migrations.
    /// Errors never include the URL.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(url)
            .await
            .map_err(|e| db_err("connect to the PostgreSQL metadata store", e))?;
        migrate(&pool).await?;
        Ok(PostgresStore { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Claims the oldest claimable run; `FOR UPDATE SKIP LOCKED` lets
    /// concurrent claimers (other replicas) pass over a row another one is
    /// claiming instead of waiting for it or claiming it twice.
    /// `$1` worker, `$2` now, `$3` new lease expiry.
    const CLAIM_SQL: &'static str = "UPDATE task_runs \
         SET status = 'RUNNING', worker = $1, lease_expires_at = $3, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM task_runs \
                     WHERE status = 'AVAILABLE' OR (status = 'RUNNING' AND lease_expires_at < $2) \
                     ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING id, task, attempts, lease_expires_at";

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(|e| db_err("migrate", e))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err("migrate", e))?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS rollgate_store_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| db_err("migrate", e))?;
    crate::imp::apply_migrations!(tx, MIGRATIONS);
    tx.commit().await.map_err(|e| db_err("migrate", e))
}

crate::imp::impl_store!(PostgresStore, sqlx::postgres::PgRow);
