//! The shared store: PostgreSQL, for several server replicas on one store.
//! sqlx's migrator holds an advisory lock while migrating, so replicas that
//! start together apply each migration once.

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::StoreError;
use crate::imp::db_err;

/// `migrations/postgres`, embedded at compile time and recorded (with
/// checksums: an edited applied migration is refused) in `_sqlx_migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

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
    MIGRATOR.run(pool).await.map_err(crate::imp::migrate_err)
}

crate::imp::impl_store!(PostgresStore, sqlx::postgres::PgRow);
