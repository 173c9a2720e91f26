//! Scratch databases for drift detection: a temporary database on the same
//! PostgreSQL or MySQL server as the target (a temporary file for SQLite),
//! created and dropped by rollgate.

use sqlx::Connection;

use crate::{EngineError, EngineKind, TargetUrl};

/// A scratch database; call [`Scratch::drop_database`] when done.
pub struct Scratch {
    pub url: TargetUrl,
    name: String,
    admin: TargetUrl,
}

fn database_error(context: &str, error: sqlx::Error) -> EngineError {
    EngineError::Database {
        context: context.to_string(),
        message: error.to_string(),
    }
}

impl Scratch {
    /// Creates an empty scratch database next to `target`.
    pub async fn create(target: &TargetUrl) -> Result<Scratch, EngineError> {
        Scratch::create_prefixed(target, "rollgate_scratch").await
    }

    /// Creates an empty database named `{prefix}_{pid}_{n}` next to `target`;
    /// `prefix` is letters, digits and underscores.
    pub async fn create_prefixed(target: &TargetUrl, prefix: &str) -> Result<Scratch, EngineError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000);
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
