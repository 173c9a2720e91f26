//! Scratch databases for drift detection: a temporary database on the same
//! PostgreSQL or MySQL server as the target (a temporary file for SQLite),
//! created and dropped by rollgate.
//!
//! Names carry their creation time (`rollgate_scratch_{unix_secs}_{pid}_{n}`).
//! A process killed during a check cannot drop its scratch database, so
//! creating one first drops every `rollgate_scratch_*` database older than
//! [`STALE_AFTER`] on that server: no check lives that long.

use sqlx::Connection;

use crate::{EngineError, EngineKind, TargetUrl};

/// A scratch database; call [`Scratch::drop_database`] when done.
pub struct Scratch {
    pub url: TargetUrl,
    name: String,
    admin: TargetUrl,
}

/// Age after which a `rollgate_scratch_*` database is an orphan.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

const SCRATCH_PREFIX: &str = "rollgate_scratch";

/// The creation time a scratch database's name carries, if it is one.
fn created_at(name: &str) -> Option<u64> {
    name.strip_prefix(SCRATCH_PREFIX)?
        .strip_prefix('_')?
        .split('_')
        .next()?
        .parse()
        .ok()
}

fn database_error(context: &str, error: sqlx::Error) -> EngineError {
    EngineError::Database {
        context: context.to_string(),
        message: error.to_string(),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Scratch {
    /// Creates an empty scratch database next to `target`.
    pub async fn create(target: &TargetUrl) -> Result<Scratch, EngineError> {
        let scratch = Scratch::create_prefixed(target, SCRATCH_PREFIX).await?;
        scratch.drop_stale().await;
        Ok(scratch)
    }

    /// Best effort: drops the orphaned scratch databases on this server.
    async fn drop_stale(&self) {
        let now = unix_now();
        let stale =
            |name: &String| created_at(name).is_some_and(|at| at + STALE_AFTER.as_secs() < now);
        match self.admin.kind() {
            EngineKind::Postgres => {
                let Ok(mut admin) = sqlx::PgConnection::connect(self.admin.expose()).await else {
                    return;
                };
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE 'rollgate\\_scratch\\_%'",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap_or_default();
                for name in names.iter().filter(|n| stale(n)) {
                    // Names come from the pattern above: letters, digits, `_`.
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            }
            EngineKind::Mysql => {
                let Ok(mut admin) = sqlx::MySqlConnection::connect(self.admin.expose()).await
                else {
                    return;
                };
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'rollgate\\_scratch\\_%'",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap_or_default();
                for name in names.iter().filter(|n| stale(n)) {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name}"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            }
            EngineKind::Sqlite => {}
        }
    }

    /// Creates an empty database named `{prefix}_{unix_secs}_{pid}_{n}` next
    /// to `target`; `prefix` is letters, digits and underscores.
    pub async fn create_prefixed(target: &TargetUrl, prefix: &str) -> Result<Scratch, EngineError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}_{}_{}_{}",
            unix_now(),
            std::process::id(),
            nanos % 1_000_000
        );
        let connect_error = |error: sqlx::Error| EngineError::Connect {
            target: target.redacted().to_string(),
            message: error.to_string(),
        };
        match target.kind() {
            EngineKind::Postgres => {
                let mut admin = sqlx::PgConnection::connect(target.expose())
                    .await
                    .map_err(connect_error)?;
                // Generated name: letters, digits and underscores only.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| {
                        database_error("creating the scratch database (the user needs CREATEDB)", e)
                    })?;
            }
            EngineKind::Mysql => {
                let mut admin = sqlx::MySqlConnection::connect(target.expose())
                    .await
                    .map_err(connect_error)?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| {
                        database_error("creating the scratch database (the user needs CREATE)", e)
                    })?;
            }
            EngineKind::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                return Ok(Scratch {
                    url: TargetUrl::parse(&format!("sqlite://{}", path.display()))?,
                    name,
                    admin: target.clone(),
                });
            }
        }
        Ok(Scratch {
            url: target.for_database(&name)?,
            name,
            admin: target.clone(),
        })
    }

    /// The database's name.
    pub fn database(&self) -> &str {
        &self.name
    }

    /// Drops the scratch database.
    pub async fn drop_database(self) -> Result<(), EngineError> {
        match self.admin.kind() {
            EngineKind::Postgres => {
                let mut admin = sqlx::PgConnection::connect(self.admin.expose())
                    .await
                    .map_err(|e| database_error("dropping the scratch database", e))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| database_error("dropping the scratch database", e))?;
            }
            EngineKind::Mysql => {
                let mut admin = sqlx::MySqlConnection::connect(self.admin.expose())
                    .await
                    .map_err(|e| database_error("dropping the scratch database", e))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {}",
                    self.name
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| database_error("dropping the scratch database", e))?;
            }
            EngineKind::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", self.name));
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }
}
