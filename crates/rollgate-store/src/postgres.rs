//! The shared store: PostgreSQL, for several server replicas on one store.
//! sqlx's migrator holds an advisory lock while migrating, so replicas that
//! start together apply each migration once.

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::StoreError;
use crate::imp::db_err;

/// `migrations/postgres`, embedded at compile time and recorded (with
/// checksums: an edited applied migration is refused) in `_sqlx_migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock key held while claiming a task run ("rgclaim" in ASCII).
const CLAIM_LOCK: i64 = 0x0072_6763_6c61_696d;

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

    /// Claims the oldest claimable run whose rollout and instance are under
    /// their limits and whose database no live run is working on; `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass
    /// over a row another one is claiming instead of claiming it twice.
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
                     ORDER BY r.id LIMIT 1 FOR UPDATE OF r SKIP LOCKED) \
         RETURNING id, task, attempts, lease_expires_at";

    /// Two claimers under READ COMMITTED could each count the other's
    /// rollout as below its limit and both claim; a transaction-scoped
    /// advisory lock makes claims take turns (each is a few statements), so
    /// every claim counts the runs committed before it.
    async fn serialize_claims(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(crate::imp::migrate_err)
}

crate::imp::impl_store!(PostgresStore, sqlx::postgres::PgRow);
