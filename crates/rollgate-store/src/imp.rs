//! The SQL both backends share. SQLite accepts PostgreSQL's `$N` parameters,
//! so one body of queries, expanded once per backend by [`impl_store!`],
//! serves both; what differs (connection, migrations, locking) lives in
//! `sqlite.rs` and `postgres.rs`.

use crate::{Page, PageRequest, StoreError};

pub(crate) fn db_err(context: &'static str, e: sqlx::Error) -> StoreError {
    StoreError::Database {
        context,
        message: e.to_string(),
    }
}

/// Maps constraint violations of a write to Conflict on `kind`/`name`.
pub(crate) fn write_err(
    context: &'static str,
    kind: &'static str,
    name: &str,
    e: sqlx::Error,
) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && (d.is_unique_violation() || d.is_foreign_key_violation())
    {
        return StoreError::Conflict {
            kind,
            name: name.to_string(),
        };
    }
    db_err(context, e)
}

/// `Ok` when a write touched a row; `NotFound` naming the resource otherwise.
pub(crate) fn expect_found(
    rows_affected: u64,
    kind: &'static str,
    name: impl Into<String>,
) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(not_found(kind, name))
    } else {
        Ok(())
    }
}

pub(crate) fn not_found(kind: &'static str, name: impl Into<String>) -> StoreError {
    StoreError::NotFound {
        kind,
        name: name.into(),
    }
}

pub(crate) fn encode_roles(roles: &[String]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn decode_roles(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Database {
        context: "decode roles",
        message: e.to_string(),
    })
}

/// `LIMIT` to ask for: one more than the page, to know whether another follows.
pub(crate) fn fetch_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit()) + 1
}

/// Cuts the extra row off and derives the next token from the last item kept.
pub(crate) fn finish_page<T>(
    page: &PageRequest,
    mut items: Vec<T>,
    token: impl Fn(&T) -> String,
) -> Page<T> {
    let limit = page.limit() as usize;
    let next_page_token = if items.len() > limit {
        items.truncate(limit);
        items.last().map(token)
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

/// Database page tokens are `instance/name`; instance ids hold no `/`.
pub(crate) fn split_db_token(
    page: &PageRequest,
) -> Result<(Option<String>, Option<String>), StoreError> {
    match &page.page_token {
        None => Ok((None, None)),
        Some(token) => match token.split_once('/') {
            Some((instance, name)) => Ok((Some(instance.to_string()), Some(name.to_string()))),
            None => Err(invalid_token(token)),
        },
    }
}

pub(crate) fn audit_token(page: &PageRequest) -> Result<i64, StoreError> {
    match &page.page_token {
        None => Ok(0),
        Some(token) => token.parse::<i64>().map_err(|_| invalid_token(token)),
    }
}

/// A position or count as the `BIGINT` the schema stores.
pub(crate) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Lease length in whole seconds, rounded up, at least one.
pub(crate) fn lease_secs(lease: std::time::Duration) -> i64 {
    let secs = lease.as_secs() + u64::from(lease.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// Stage ids and databases of a rollout must each appear once.
pub(crate) fn check_stages(stages: &[(String, Vec<crate::DatabaseRef>)]) -> Result<(), StoreError> {
    let mut ids = std::collections::BTreeSet::new();
    let mut dbs = std::collections::BTreeSet::new();
    for (id, databases) in stages {
        if !ids.insert(id.as_str()) {
            return Err(StoreError::Invalid {
                kind: "rollout stage",
                name: id.clone(),
                message: "each stage may appear once".into(),
            });
        }
        for db in databases {
            if !dbs.insert(db) {
                return Err(StoreError::Invalid {
                    kind: "rollout task",
                    name: db.to_string(),
                    message: "each database may appear in one stage, once".into(),
                });
            }
        }
    }
    Ok(())
}

/// A plan lists each target once.
pub(crate) fn check_targets(targets: &[crate::DatabaseRef]) -> Result<(), StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    match targets.iter().find(|db| !seen.insert(*db)) {
        Some(db) => Err(StoreError::Invalid {
            kind: "plan target",
            name: db.to_string(),
            message: "list each database once".into(),
        }),
        None => Ok(()),
    }
}

fn invalid_token(token: &str) -> StoreError {
    StoreError::Invalid {
        kind: "page token",
        name: token.to_string(),
        message: "pass the next_page_token of the previous page unchanged".into(),
    }
}

/// A failed metadata migration, with what to do about the common causes.
pub(crate) fn migrate_err(error: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    let message = match &error {
        MigrateError::VersionMissing(version) => format!(
            "migration {version} was applied by a newer rollgate than this one; run that version (or newer) against this store"
        ),
        MigrateError::VersionMismatch(version) => format!(
            "migration {version} differs from the one applied to this store; this binary's store migrations were edited after release, use an official build"
        ),
        MigrateError::Dirty(version) => format!(
            "migration {version} was interrupted and left the store partially migrated; restore the store from a backup"
        ),
        _ => error.to_string(),
    };
    StoreError::Database {
        context: "migrate the metadata store",
        message,
    }
}

macro_rules! impl_store {
    ($store:ty, $row:ty) => {
        impl $store {
            fn env_row(row: &$row) -> Result<$crate::Environment, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::Environment {
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                    order: row.try_get("sort_order")?,
                    policy_json: row.try_get("policy_json")?,
                })
            }

            fn instance_row(row: &$row) -> Result<$crate::Instance, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::Instance {
                    id: row.try_get("id")?,
                    engine: row.try_get("engine")?,
                    url_envelope: row.try_get("url_envelope")?,
                    environment: row.try_get("environment")?,
                })
            }

            fn database_row(row: &$row) -> Result<$crate::Database, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::Database {
                    instance: row.try_get("instance")?,
                    name: row.try_get("name")?,
                    environment: row.try_get("environment")?,
                })
            }

            fn project_row(row: &$row) -> Result<$crate::Project, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::Project {
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                })
            }

            fn user_row(row: &$row) -> Result<$crate::User, $crate::StoreError> {
                use sqlx::Row as _;
                let roles: String = row.try_get("roles_json").map_err(|e| $crate::imp::db_err("read user", e))?;
                Ok($crate::User {
                    email: row.try_get("email").map_err(|e| $crate::imp::db_err("read user", e))?,
                    password_hash: row.try_get("password_hash").map_err(|e| $crate::imp::db_err("read user", e))?,
                    roles: $crate::imp::decode_roles(&roles)?,
                })
            }

            fn service_account_row(row: &$row) -> Result<$crate::ServiceAccount, $crate::StoreError> {
                use sqlx::Row as _;
                let roles: String = row.try_get("roles_json").map_err(|e| $crate::imp::db_err("read service account", e))?;
                Ok($crate::ServiceAccount {
                    email: row.try_get("email").map_err(|e| $crate::imp::db_err("read service account", e))?,
                    key_hash: row.try_get("key_hash").map_err(|e| $crate::imp::db_err("read service account", e))?,
                    roles: $crate::imp::decode_roles(&roles)?,
                })
            }

            fn audit_row(row: &$row) -> Result<$crate::AuditEntry, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::AuditEntry {
                    id: row.try_get("id")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    resource: row.try_get("resource")?,
                    outcome: row.try_get("outcome")?,
                    at: row.try_get("at")?,
                    address: row.try_get("address")?,
                })
            }

            fn release_row(row: &$row) -> Result<$crate::Release, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::Release {
                    project: row.try_get("project")?,
                    id: row.try_get("id")?,
                    files: Vec::new(),
                    vcs: $crate::Vcs {
                        commit_sha: row.try_get("commit_sha")?,
                        commit_url: row.try_get("commit_url")?,
                        merge_request_url: row.try_get("merge_request_url")?,
                        author: row.try_get("author")?,
                    },
                })
            }

            fn task_run_row(row: &$row) -> Result<$crate::TaskRun, sqlx::Error> {
                use sqlx::Row as _;
                Ok($crate::TaskRun {
                    id: row.try_get("id")?,
                    task_id: row.try_get("task")?,
                    status: row.try_get("status")?,
                    worker: row.try_get("worker")?,
                    lease_expires_at: row.try_get("lease_expires_at")?,
                    attempts: row.try_get("attempts")?,
                    error: row.try_get("error")?,
                    created_at: row.try_get("created_at")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                })
            }

            /// (release id, file).
            fn release_file_row(row: &$row) -> Result<(String, $crate::ReleaseFile), sqlx::Error> {
                use sqlx::Row as _;
                Ok((
                    row.try_get("release_id")?,
                    $crate::ReleaseFile {
                        path: row.try_get("path")?,
                        version: row.try_get("version")?,
                        change_type: row.try_get("change_type")?,
                        checksum: row.try_get("checksum")?,
                        statement: row.try_get("statement")?,
                    },
                ))
            }
        }

        impl $store {
            /// Deletes a user or service account (`delete_sql` binds the
            /// email as `$1`), its project IAM bindings and its sessions, in
            /// one transaction.
            async fn delete_principal(&self, delete_sql: &'static str, kind: &'static str, email: &str) -> Result<(), $crate::StoreError> {
                use $crate::imp::db_err;
                let mut tx = self.begin_write().await.map_err(|e| db_err("delete account", e))?;
                let done = sqlx::query(delete_sql)
                    .bind(email)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("delete account", e))?;
                $crate::imp::expect_found(done.rows_affected(), kind, email)?;
                sqlx::query("DELETE FROM project_iam_bindings WHERE member = $1")
                    .bind($crate::iam_member(email))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("delete account", e))?;
                // A new account of the same name must not inherit sessions.
                sqlx::query("DELETE FROM sessions WHERE principal = $1")
                    .bind(email)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("delete account", e))?;
                tx.commit().await.map_err(|e| db_err("delete account", e))
            }
        }

        impl $crate::Store for $store {
            async fn is_empty(&self) -> Result<bool, $crate::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM environments) + (SELECT COUNT(*) FROM instances) \
                     + (SELECT COUNT(*) FROM projects) + (SELECT COUNT(*) FROM users) \
                     + (SELECT COUNT(*) FROM service_accounts) AS n",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("count metadata", e))?;
                let n: i64 = row.try_get("n").map_err(|e| $crate::imp::db_err("count metadata", e))?;
                Ok(n == 0)
            }

            // ---- environments ----

            async fn create_environment(&self, env: &$crate::Environment) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO environments (id, title, sort_order, policy_json) VALUES ($1, $2, $3, $4)")
                    .bind(&env.id)
                    .bind(&env.title)
                    .bind(env.order)
                    .bind(&env.policy_json)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create environment", "environment", &env.id, e))?;
                Ok(())
            }

            async fn get_environment(&self, id: &str) -> Result<$crate::Environment, $crate::StoreError> {
                let row = sqlx::query("SELECT id, title, sort_order, policy_json FROM environments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get environment", e))?
                    .ok_or_else(|| $crate::imp::not_found("environment", id))?;
                Self::env_row(&row).map_err(|e| $crate::imp::db_err("get environment", e))
            }

            async fn list_environments(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Environment>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT id, title, sort_order, policy_json FROM environments \
                     WHERE CAST($1 AS TEXT) IS NULL OR id > $1 ORDER BY id LIMIT $2",
                )
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list environments", e))?;
                let items = rows.iter().map(Self::env_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| $crate::imp::db_err("list environments", e))?;
                Ok($crate::imp::finish_page(page, items, |e| e.id.clone()))
            }

            async fn update_environment(&self, env: &$crate::Environment) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("UPDATE environments SET title = $2, sort_order = $3, policy_json = $4 WHERE id = $1")
                    .bind(&env.id)
                    .bind(&env.title)
                    .bind(env.order)
                    .bind(&env.policy_json)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("update environment", e))?;
                $crate::imp::expect_found(done.rows_affected(), "environment", &env.id)
            }

            async fn delete_environment(&self, id: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM environments WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete environment", "environment", id, e))?;
                $crate::imp::expect_found(done.rows_affected(), "environment", id)
            }

            // ---- instances ----

            async fn create_instance(&self, instance: &$crate::Instance) -> Result<(), $crate::StoreError> {
                self.get_environment(&instance.environment).await?;
                sqlx::query("INSERT INTO instances (id, engine, url_envelope, environment) VALUES ($1, $2, $3, $4)")
                    .bind(&instance.id)
                    .bind(&instance.engine)
                    .bind(&instance.url_envelope)
                    .bind(&instance.environment)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create instance", "instance", &instance.id, e))?;
                Ok(())
            }

            async fn get_instance(&self, id: &str) -> Result<$crate::Instance, $crate::StoreError> {
                let row = sqlx::query("SELECT id, engine, url_envelope, COALESCE(environment, '') AS environment FROM instances WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get instance", e))?
                    .ok_or_else(|| $crate::imp::not_found("instance", id))?;
                Self::instance_row(&row).map_err(|e| $crate::imp::db_err("get instance", e))
            }

            async fn list_instances(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Instance>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT id, engine, url_envelope, COALESCE(environment, '') AS environment FROM instances \
                     WHERE CAST($1 AS TEXT) IS NULL OR id > $1 ORDER BY id LIMIT $2",
                )
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list instances", e))?;
                let items = rows.iter().map(Self::instance_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| $crate::imp::db_err("list instances", e))?;
                Ok($crate::imp::finish_page(page, items, |i| i.id.clone()))
            }

            async fn update_instance(&self, instance: &$crate::Instance) -> Result<(), $crate::StoreError> {
                self.get_instance(&instance.id).await?;
                self.get_environment(&instance.environment).await?;
                let done = sqlx::query("UPDATE instances SET engine = $2, url_envelope = $3, environment = $4 WHERE id = $1")
                    .bind(&instance.id)
                    .bind(&instance.engine)
                    .bind(&instance.url_envelope)
                    .bind(&instance.environment)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("update instance", "instance", &instance.id, e))?;
                $crate::imp::expect_found(done.rows_affected(), "instance", &instance.id)
            }

            async fn delete_instance(&self, id: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM instances WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete instance", "instance", id, e))?;
                $crate::imp::expect_found(done.rows_affected(), "instance", id)
            }

            // ---- databases ----

            async fn create_database(&self, db: &$crate::Database) -> Result<(), $crate::StoreError> {
                self.get_instance(&db.instance).await?;
                self.get_environment(&db.environment).await?;
                let key = $crate::DatabaseRef::new(db.instance.clone(), db.name.clone()).to_string();
                sqlx::query("INSERT INTO databases (instance, name, environment) VALUES ($1, $2, $3)")
                    .bind(&db.instance)
                    .bind(&db.name)
                    .bind(&db.environment)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create database", "database", &key, e))?;
                Ok(())
            }

            async fn get_database(&self, key: &$crate::DatabaseRef) -> Result<$crate::Database, $crate::StoreError> {
                let row = sqlx::query("SELECT instance, name, environment FROM databases WHERE instance = $1 AND name = $2")
                    .bind(&key.instance)
                    .bind(&key.name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get database", e))?
                    .ok_or_else(|| $crate::imp::not_found("database", key.to_string()))?;
                Self::database_row(&row).map_err(|e| $crate::imp::db_err("get database", e))
            }

            async fn list_databases(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Database>, $crate::StoreError> {
                let (instance, name) = $crate::imp::split_db_token(page)?;
                let rows = sqlx::query(
                    "SELECT instance, name, environment FROM databases \
                     WHERE CAST($1 AS TEXT) IS NULL OR instance > $1 OR (instance = $1 AND name > $2) \
                     ORDER BY instance, name LIMIT $3",
                )
                .bind(instance)
                .bind(name)
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list databases", e))?;
                let items = rows.iter().map(Self::database_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| $crate::imp::db_err("list databases", e))?;
                Ok($crate::imp::finish_page(page, items, |d| format!("{}/{}", d.instance, d.name)))
            }

            async fn update_database(&self, db: &$crate::Database) -> Result<(), $crate::StoreError> {
                let key = $crate::DatabaseRef::new(db.instance.clone(), db.name.clone());
                self.get_database(&key).await?;
                self.get_environment(&db.environment).await?;
                let done = sqlx::query("UPDATE databases SET environment = $3 WHERE instance = $1 AND name = $2")
                    .bind(&db.instance)
                    .bind(&db.name)
                    .bind(&db.environment)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("update database", "database", &key.to_string(), e))?;
                $crate::imp::expect_found(done.rows_affected(), "database", key.to_string())
            }

            async fn delete_database(&self, key: &$crate::DatabaseRef) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM databases WHERE instance = $1 AND name = $2")
                    .bind(&key.instance)
                    .bind(&key.name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete database", "database", &key.to_string(), e))?;
                $crate::imp::expect_found(done.rows_affected(), "database", key.to_string())
            }

            // ---- projects ----

            async fn create_project(&self, project: &$crate::Project) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO projects (id, title) VALUES ($1, $2)")
                    .bind(&project.id)
                    .bind(&project.title)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create project", "project", &project.id, e))?;
                Ok(())
            }

            async fn get_project(&self, id: &str) -> Result<$crate::Project, $crate::StoreError> {
                let row = sqlx::query("SELECT id, title FROM projects WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get project", e))?
                    .ok_or_else(|| $crate::imp::not_found("project", id))?;
                Self::project_row(&row).map_err(|e| $crate::imp::db_err("get project", e))
            }

            async fn list_projects(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Project>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT id, title FROM projects WHERE CAST($1 AS TEXT) IS NULL OR id > $1 ORDER BY id LIMIT $2",
                )
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list projects", e))?;
                let items = rows.iter().map(Self::project_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| $crate::imp::db_err("list projects", e))?;
                Ok($crate::imp::finish_page(page, items, |p| p.id.clone()))
            }

            async fn update_project(&self, project: &$crate::Project) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("UPDATE projects SET title = $2 WHERE id = $1")
                    .bind(&project.id)
                    .bind(&project.title)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("update project", e))?;
                $crate::imp::expect_found(done.rows_affected(), "project", &project.id)
            }

            async fn delete_project(&self, id: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM projects WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete project", "project", id, e))?;
                $crate::imp::expect_found(done.rows_affected(), "project", id)
            }

            async fn add_project_database(&self, project: &str, db: &$crate::DatabaseRef) -> Result<(), $crate::StoreError> {
                self.get_project(project).await?;
                self.get_database(db).await?;
                let name = format!("projects/{project}/{db}");
                sqlx::query("INSERT INTO project_databases (project, instance, name) VALUES ($1, $2, $3)")
                    .bind(project)
                    .bind(&db.instance)
                    .bind(&db.name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("add database to project", "project database", &name, e))?;
                Ok(())
            }

            async fn set_project_databases(&self, project: &str, databases: &[$crate::DatabaseRef]) -> Result<(), $crate::StoreError> {
                use $crate::imp::db_err;
                let wanted: std::collections::BTreeSet<&$crate::DatabaseRef> = databases.iter().collect();
                let mut tx = self.begin_write().await.map_err(|e| db_err("set project databases", e))?;
                sqlx::query("SELECT 1 FROM projects WHERE id = $1")
                    .bind(project)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("set project databases", e))?
                    .ok_or_else(|| $crate::imp::not_found("project", project))?;
                for db in &wanted {
                    sqlx::query("SELECT 1 FROM databases WHERE instance = $1 AND name = $2")
                        .bind(&db.instance)
                        .bind(&db.name)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| db_err("set project databases", e))?
                        .ok_or_else(|| $crate::imp::not_found("database", &db.to_string()))?;
                }
                sqlx::query("DELETE FROM project_databases WHERE project = $1")
                    .bind(project)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("set project databases", e))?;
                for db in wanted {
                    sqlx::query("INSERT INTO project_databases (project, instance, name) VALUES ($1, $2, $3)")
                        .bind(project)
                        .bind(&db.instance)
                        .bind(&db.name)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_err("set project databases", e))?;
                }
                tx.commit().await.map_err(|e| db_err("set project databases", e))
            }

            async fn remove_project_database(&self, project: &str, db: &$crate::DatabaseRef) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM project_databases WHERE project = $1 AND instance = $2 AND name = $3")
                    .bind(project)
                    .bind(&db.instance)
                    .bind(&db.name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("remove database from project", e))?;
                $crate::imp::expect_found(done.rows_affected(), "project database", format!("projects/{project}/{db}"))
            }

            async fn list_project_databases(&self, project: &str, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::DatabaseRef>, $crate::StoreError> {
                use sqlx::Row as _;
                self.get_project(project).await?;
                let (instance, name) = $crate::imp::split_db_token(page)?;
                let rows = sqlx::query(
                    "SELECT instance, name FROM project_databases WHERE project = $1 \
                     AND (CAST($2 AS TEXT) IS NULL OR instance > $2 OR (instance = $2 AND name > $3)) \
                     ORDER BY instance, name LIMIT $4",
                )
                .bind(project)
                .bind(instance)
                .bind(name)
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list project databases", e))?;
                let items = rows
                    .iter()
                    .map(|row| Ok($crate::DatabaseRef { instance: row.try_get("instance")?, name: row.try_get("name")? }))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(|e| $crate::imp::db_err("list project databases", e))?;
                Ok($crate::imp::finish_page(page, items, |d| format!("{}/{}", d.instance, d.name)))
            }

            // ---- project IAM ----

            async fn set_project_iam_policy(&self, project: &str, bindings: &[$crate::IamBinding]) -> Result<(), $crate::StoreError> {
                use $crate::imp::db_err;
                let rows: std::collections::BTreeSet<(&str, &str)> = bindings
                    .iter()
                    .flat_map(|b| b.members.iter().map(move |m| (b.role.as_str(), m.as_str())))
                    .collect();
                let mut tx = self.begin_write().await.map_err(|e| db_err("set project IAM policy", e))?;
                sqlx::query("SELECT 1 FROM projects WHERE id = $1")
                    .bind(project)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("set project IAM policy", e))?
                    .ok_or_else(|| $crate::imp::not_found("project", project))?;
                sqlx::query("DELETE FROM project_iam_bindings WHERE project = $1")
                    .bind(project)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("set project IAM policy", e))?;
                for (role, member) in rows {
                    sqlx::query("INSERT INTO project_iam_bindings (project, role, member) VALUES ($1, $2, $3)")
                        .bind(project)
                        .bind(role)
                        .bind(member)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_err("set project IAM policy", e))?;
                }
                tx.commit().await.map_err(|e| db_err("set project IAM policy", e))
            }

            async fn get_project_iam_policy(&self, project: &str) -> Result<Vec<$crate::IamBinding>, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                self.get_project(project).await?;
                let rows = sqlx::query("SELECT role, member FROM project_iam_bindings WHERE project = $1 ORDER BY role, member")
                    .bind(project)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("get project IAM policy", e))?;
                let mut bindings: Vec<$crate::IamBinding> = Vec::new();
                for row in &rows {
                    let role: String = row.try_get("role").map_err(|e| db_err("get project IAM policy", e))?;
                    let member: String = row.try_get("member").map_err(|e| db_err("get project IAM policy", e))?;
                    match bindings.last_mut() {
                        Some(last) if last.role == role => last.members.push(member),
                        _ => bindings.push($crate::IamBinding { role, members: vec![member] }),
                    }
                }
                Ok(bindings)
            }

            async fn project_roles(&self, project: &str, member: &str) -> Result<Vec<String>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query("SELECT role FROM project_iam_bindings WHERE project = $1 AND member = $2 ORDER BY role")
                    .bind(project)
                    .bind(member)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("read project roles", e))?;
                rows.iter()
                    .map(|row| row.try_get("role"))
                    .collect::<Result<Vec<String>, sqlx::Error>>()
                    .map_err(|e| $crate::imp::db_err("read project roles", e))
            }

            async fn member_project_roles(&self, member: &str) -> Result<Vec<(String, String)>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query("SELECT project, role FROM project_iam_bindings WHERE member = $1 ORDER BY project, role")
                    .bind(member)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("read project roles", e))?;
                rows.iter()
                    .map(|row| Ok((row.try_get("project")?, row.try_get("role")?)))
                    .collect::<Result<Vec<(String, String)>, sqlx::Error>>()
                    .map_err(|e| $crate::imp::db_err("read project roles", e))
            }

            // ---- users ----

            async fn create_user(&self, user: &$crate::User) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO users (email, password_hash, roles_json) VALUES ($1, $2, $3)")
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind($crate::imp::encode_roles(&user.roles))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create user", "user", &user.email, e))?;
                Ok(())
            }

            async fn get_user(&self, email: &str) -> Result<$crate::User, $crate::StoreError> {
                let row = sqlx::query("SELECT email, password_hash, roles_json FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get user", e))?
                    .ok_or_else(|| $crate::imp::not_found("user", email))?;
                Self::user_row(&row)
            }

            async fn list_users(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::User>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT email, password_hash, roles_json FROM users \
                     WHERE CAST($1 AS TEXT) IS NULL OR email > $1 ORDER BY email LIMIT $2",
                )
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list users", e))?;
                let items = rows.iter().map(Self::user_row).collect::<Result<Vec<_>, _>>()?;
                Ok($crate::imp::finish_page(page, items, |u| u.email.clone()))
            }

            async fn update_user(&self, user: &$crate::User) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("UPDATE users SET password_hash = $2, roles_json = $3 WHERE email = $1")
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind($crate::imp::encode_roles(&user.roles))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("update user", e))?;
                $crate::imp::expect_found(done.rows_affected(), "user", &user.email)
            }

            async fn delete_user(&self, email: &str) -> Result<(), $crate::StoreError> {
                self.delete_principal("DELETE FROM users WHERE email = $1", "user", email).await
            }

            // ---- service accounts ----

            async fn create_service_account(&self, account: &$crate::ServiceAccount) -> Result<(), $crate::StoreError> {
                let local = account.email.strip_suffix($crate::SERVICE_ACCOUNT_DOMAIN).unwrap_or("");
                if local.is_empty() || local.contains('@') {
                    return Err($crate::StoreError::Invalid {
                        kind: "service account",
                        name: account.email.clone(),
                        message: format!("the email must be NAME{}", $crate::SERVICE_ACCOUNT_DOMAIN),
                    });
                }
                sqlx::query("INSERT INTO service_accounts (email, key_hash, roles_json) VALUES ($1, $2, $3)")
                    .bind(&account.email)
                    .bind(&account.key_hash)
                    .bind($crate::imp::encode_roles(&account.roles))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create service account", "service account", &account.email, e))?;
                Ok(())
            }

            async fn get_service_account(&self, email: &str) -> Result<$crate::ServiceAccount, $crate::StoreError> {
                let row = sqlx::query("SELECT email, key_hash, roles_json FROM service_accounts WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get service account", e))?
                    .ok_or_else(|| $crate::imp::not_found("service account", email))?;
                Self::service_account_row(&row)
            }

            async fn list_service_accounts(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::ServiceAccount>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT email, key_hash, roles_json FROM service_accounts \
                     WHERE CAST($1 AS TEXT) IS NULL OR email > $1 ORDER BY email LIMIT $2",
                )
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list service accounts", e))?;
                let items = rows.iter().map(Self::service_account_row).collect::<Result<Vec<_>, _>>()?;
                Ok($crate::imp::finish_page(page, items, |a| a.email.clone()))
            }

            async fn update_service_account(&self, account: &$crate::ServiceAccount) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("UPDATE service_accounts SET key_hash = $2, roles_json = $3 WHERE email = $1")
                    .bind(&account.email)
                    .bind(&account.key_hash)
                    .bind($crate::imp::encode_roles(&account.roles))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("update service account", e))?;
                $crate::imp::expect_found(done.rows_affected(), "service account", &account.email)
            }

            async fn delete_service_account(&self, email: &str) -> Result<(), $crate::StoreError> {
                self.delete_principal("DELETE FROM service_accounts WHERE email = $1", "service account", email).await
            }

            // ---- sessions ----

            async fn create_session(&self, session: &$crate::Session) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO sessions (token_hash, principal, expires_at) VALUES ($1, $2, $3)")
                    .bind(&session.token_hash)
                    .bind(&session.principal)
                    .bind(session.expires_at)
                    .execute(&self.pool)
                    .await
                    // The hash is not a secret, but nobody needs to see it either.
                    .map_err(|e| $crate::imp::write_err("create session", "session", "of the same token", e))?;
                Ok(())
            }

            async fn session_principal(&self, token_hash: &str, now: i64) -> Result<Option<String>, $crate::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT principal FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("look up session", e))?;
                row.map(|r| r.try_get("principal"))
                    .transpose()
                    .map_err(|e| $crate::imp::db_err("look up session", e))
            }

            async fn delete_session(&self, token_hash: &str) -> Result<(), $crate::StoreError> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("delete session", e))?;
                Ok(())
            }

            async fn delete_principal_sessions(&self, principal: &str) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE principal = $1")
                    .bind(principal)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("delete sessions", e))?;
                Ok(done.rows_affected())
            }

            async fn delete_expired_sessions(&self, now: i64) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("delete expired sessions", e))?;
                Ok(done.rows_affected())
            }

            // ---- audit log ----

            async fn append_audit(&self, entry: &$crate::NewAuditEntry) -> Result<$crate::AuditEntry, $crate::StoreError> {
                let row = sqlx::query(
                    "INSERT INTO audit_log (actor, action, resource, outcome, at, address) VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING id, actor, action, resource, outcome, at, address",
                )
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.resource)
                .bind(&entry.outcome)
                .bind(entry.at)
                .bind(entry.address.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("append audit entry", e))?;
                Self::audit_row(&row).map_err(|e| $crate::imp::db_err("append audit entry", e))
            }

            async fn list_audit(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::AuditEntry>, $crate::StoreError> {
                let after = $crate::imp::audit_token(page)?;
                let rows = sqlx::query(
                    "SELECT id, actor, action, resource, outcome, at, address FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list audit log", e))?;
                let items = rows.iter().map(Self::audit_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| $crate::imp::db_err("list audit log", e))?;
                Ok($crate::imp::finish_page(page, items, |a| a.id.to_string()))
            }

            // ---- releases ----

            async fn create_release(
                &self,
                project: &str,
                release_id: &str,
                files: &[$crate::ReleaseFile],
                vcs: &$crate::Vcs,
            ) -> Result<(), $crate::StoreError> {
                use $crate::imp::db_err;
                self.get_project(project).await?;
                let mut tx = self.begin_write().await.map_err(|e| db_err("create release", e))?;
                sqlx::query(
                    "INSERT INTO releases (project, id, commit_sha, commit_url, merge_request_url, author) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(project)
                .bind(release_id)
                .bind(&vcs.commit_sha)
                .bind(&vcs.commit_url)
                .bind(&vcs.merge_request_url)
                .bind(&vcs.author)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::imp::write_err("create release", "release", release_id, e))?;
                for (position, file) in files.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO release_files (project, release_id, position, path, version, change_type, checksum, statement) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(project)
                    .bind(release_id)
                    .bind($crate::imp::to_i64(position))
                    .bind(&file.path)
                    .bind(&file.version)
                    .bind(&file.change_type)
                    .bind(&file.checksum)
                    .bind(&file.statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("create release", e))?;
                }
                tx.commit().await.map_err(|e| db_err("create release", e))
            }

            async fn get_release(&self, project: &str, release_id: &str) -> Result<$crate::Release, $crate::StoreError> {
                use $crate::imp::db_err;
                let row = sqlx::query(
                    "SELECT project, id, commit_sha, commit_url, merge_request_url, author FROM releases \
                     WHERE project = $1 AND id = $2",
                )
                .bind(project)
                .bind(release_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_err("get release", e))?
                .ok_or_else(|| $crate::imp::not_found("release", release_id))?;
                let mut release = Self::release_row(&row).map_err(|e| db_err("get release", e))?;
                let rows = sqlx::query(
                    "SELECT release_id, path, version, change_type, checksum, statement FROM release_files \
                     WHERE project = $1 AND release_id = $2 ORDER BY position",
                )
                .bind(project)
                .bind(release_id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_err("get release", e))?;
                for row in &rows {
                    release.files.push(Self::release_file_row(row).map_err(|e| db_err("get release", e))?.1);
                }
                Ok(release)
            }

            async fn list_releases(&self, project: &str, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Release>, $crate::StoreError> {
                use $crate::imp::db_err;
                self.get_project(project).await?;
                let rows = sqlx::query(
                    "SELECT project, id, commit_sha, commit_url, merge_request_url, author FROM releases \
                     WHERE project = $1 AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3",
                )
                .bind(project)
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_err("list releases", e))?;
                let items = rows.iter().map(Self::release_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| db_err("list releases", e))?;
                let mut page = $crate::imp::finish_page(page, items, |r| r.id.clone());
                // The files of the whole page in one query: ids between the first and last kept.
                if let (Some(first), Some(last)) = (page.items.first(), page.items.last()) {
                    let rows = sqlx::query(
                        "SELECT release_id, path, version, change_type, checksum, statement FROM release_files \
                         WHERE project = $1 AND release_id >= $2 AND release_id <= $3 ORDER BY release_id, position",
                    )
                    .bind(project)
                    .bind(first.id.clone())
                    .bind(last.id.clone())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("list releases", e))?;
                    for row in &rows {
                        let (release_id, file) = Self::release_file_row(row).map_err(|e| db_err("list releases", e))?;
                        if let Some(release) = page.items.iter_mut().find(|r| r.id == release_id) {
                            release.files.push(file);
                        }
                    }
                }
                Ok(page)
            }

            // ---- plans ----

            async fn create_plan(
                &self,
                project: &str,
                release_id: &str,
                targets: &[$crate::DatabaseRef],
                creator: &str,
                now: i64,
            ) -> Result<$crate::Plan, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                $crate::imp::check_targets(targets)?;
                self.get_project(project).await?;
                let mut tx = self.begin_write().await.map_err(|e| db_err("create plan", e))?;
                sqlx::query("SELECT 1 FROM releases WHERE project = $1 AND id = $2")
                    .bind(project)
                    .bind(release_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("create plan", e))?
                    .ok_or_else(|| $crate::imp::not_found("release", release_id))?;
                let row = sqlx::query(
                    "INSERT INTO plans (project, release_id, creator, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(project)
                .bind(release_id)
                .bind(creator)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| db_err("create plan", e))?;
                let id: i64 = row.try_get("id").map_err(|e| db_err("create plan", e))?;
                for (position, target) in targets.iter().enumerate() {
                    sqlx::query("INSERT INTO plan_targets (plan, position, instance, name) VALUES ($1, $2, $3, $4)")
                        .bind(id)
                        .bind($crate::imp::to_i64(position))
                        .bind(&target.instance)
                        .bind(&target.name)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_err("create plan", e))?;
                }
                tx.commit().await.map_err(|e| db_err("create plan", e))?;
                Ok($crate::Plan {
                    id,
                    project: project.to_string(),
                    release: release_id.to_string(),
                    targets: targets.to_vec(),
                    creator: creator.to_string(),
                    created_at: now,
                })
            }

            async fn get_plan(&self, project: &str, id: i64) -> Result<$crate::Plan, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                let row = sqlx::query(
                    "SELECT id, project, release_id, creator, created_at FROM plans WHERE project = $1 AND id = $2",
                )
                .bind(project)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_err("get plan", e))?
                .ok_or_else(|| $crate::imp::not_found("plan", format!("projects/{project}/plans/{id}")))?;
                let mut plan = $crate::Plan {
                    id,
                    project: row.try_get("project").map_err(|e| db_err("get plan", e))?,
                    release: row.try_get("release_id").map_err(|e| db_err("get plan", e))?,
                    targets: Vec::new(),
                    creator: row.try_get("creator").map_err(|e| db_err("get plan", e))?,
                    created_at: row.try_get("created_at").map_err(|e| db_err("get plan", e))?,
                };
                let rows = sqlx::query("SELECT instance, name FROM plan_targets WHERE plan = $1 ORDER BY position")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("get plan", e))?;
                for row in &rows {
                    plan.targets.push($crate::DatabaseRef {
                        instance: row.try_get("instance").map_err(|e| db_err("get plan", e))?,
                        name: row.try_get("name").map_err(|e| db_err("get plan", e))?,
                    });
                }
                Ok(plan)
            }

            async fn list_plans(&self, project: &str, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Plan>, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                self.get_project(project).await?;
                let after = $crate::imp::audit_token(page)?;
                let rows = sqlx::query("SELECT id FROM plans WHERE project = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(project)
                    .bind(after)
                    .bind($crate::imp::fetch_limit(page))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("list plans", e))?;
                let ids = rows.iter().map(|r| r.try_get::<i64, _>("id")).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| db_err("list plans", e))?;
                let page = $crate::imp::finish_page(page, ids, |id| id.to_string());
                let mut items = Vec::with_capacity(page.items.len());
                for id in page.items {
                    items.push(self.get_plan(project, id).await?);
                }
                Ok($crate::Page { items, next_page_token: page.next_page_token })
            }

            // ---- rollouts ----

            async fn create_rollout(
                &self,
                project: &str,
                plan_id: i64,
                stages: &[(String, Vec<$crate::DatabaseRef>)],
                now: i64,
            ) -> Result<i64, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                $crate::imp::check_stages(stages)?;
                let mut tx = self.begin_write().await.map_err(|e| db_err("create rollout", e))?;
                let plan = sqlx::query("SELECT release_id FROM plans WHERE project = $1 AND id = $2")
                    .bind(project)
                    .bind(plan_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("create rollout", e))?
                    .ok_or_else(|| $crate::imp::not_found("plan", format!("projects/{project}/plans/{plan_id}")))?;
                let release_id: String = plan.try_get("release_id").map_err(|e| db_err("create rollout", e))?;
                let inserted = sqlx::query(
                    "INSERT INTO rollouts (project, plan, release_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (plan) DO NOTHING RETURNING id",
                )
                .bind(project)
                .bind(plan_id)
                .bind(&release_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_err("create rollout", e))?;
                let Some(row) = inserted else {
                    // Idempotent: the rollout of this plan exists already.
                    let row = sqlx::query("SELECT id FROM rollouts WHERE plan = $1")
                        .bind(plan_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| db_err("create rollout", e))?;
                    tx.commit().await.map_err(|e| db_err("create rollout", e))?;
                    return row.try_get("id").map_err(|e| db_err("create rollout", e));
                };
                let id: i64 = row.try_get("id").map_err(|e| db_err("create rollout", e))?;
                for (position, (stage_id, databases)) in stages.iter().enumerate() {
                    let position = $crate::imp::to_i64(position);
                    sqlx::query("INSERT INTO rollout_stages (rollout, position, stage_id) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(position)
                        .bind(stage_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_err("create rollout", e))?;
                    for db in databases {
                        sqlx::query("SELECT 1 FROM databases WHERE instance = $1 AND name = $2")
                            .bind(&db.instance)
                            .bind(&db.name)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(|e| db_err("create rollout", e))?
                            .ok_or_else(|| $crate::imp::not_found("database", db.to_string()))?;
                        sqlx::query(
                            "INSERT INTO tasks (rollout, stage_position, instance, name, status) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(id)
                        .bind(position)
                        .bind(&db.instance)
                        .bind(&db.name)
                        .bind($crate::status::NOT_STARTED)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_err("create rollout", e))?;
                    }
                }
                tx.commit().await.map_err(|e| db_err("create rollout", e))?;
                Ok(id)
            }

            async fn get_rollout(&self, id: i64) -> Result<$crate::Rollout, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                let row = sqlx::query("SELECT id, project, plan, release_id, created_at FROM rollouts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| db_err("get rollout", e))?
                    .ok_or_else(|| $crate::imp::not_found("rollout", id.to_string()))?;
                let mut rollout = $crate::Rollout {
                    id,
                    project: row.try_get("project").map_err(|e| db_err("get rollout", e))?,
                    plan: row.try_get("plan").map_err(|e| db_err("get rollout", e))?,
                    release: row.try_get("release_id").map_err(|e| db_err("get rollout", e))?,
                    created_at: row.try_get("created_at").map_err(|e| db_err("get rollout", e))?,
                    stages: Vec::new(),
                    overrides: Vec::new(),
                };
                let stage_rows = sqlx::query("SELECT position, stage_id FROM rollout_stages WHERE rollout = $1 ORDER BY position")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("get rollout", e))?;
                let mut positions = Vec::with_capacity(stage_rows.len());
                for row in &stage_rows {
                    positions.push(row.try_get::<i64, _>("position").map_err(|e| db_err("get rollout", e))?);
                    rollout.stages.push($crate::Stage {
                        id: row.try_get("stage_id").map_err(|e| db_err("get rollout", e))?,
                        tasks: Vec::new(),
                    });
                }
                let task_rows = sqlx::query(
                    "SELECT id, stage_position, instance, name, status, skipped_reason FROM tasks \
                     WHERE rollout = $1 ORDER BY stage_position, id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_err("get rollout", e))?;
                for row in &task_rows {
                    let position: i64 = row.try_get("stage_position").map_err(|e| db_err("get rollout", e))?;
                    let task = $crate::Task {
                        id: row.try_get("id").map_err(|e| db_err("get rollout", e))?,
                        database: $crate::DatabaseRef {
                            instance: row.try_get("instance").map_err(|e| db_err("get rollout", e))?,
                            name: row.try_get("name").map_err(|e| db_err("get rollout", e))?,
                        },
                        status: row.try_get("status").map_err(|e| db_err("get rollout", e))?,
                        skipped_reason: row.try_get("skipped_reason").map_err(|e| db_err("get rollout", e))?,
                    };
                    if let Some(i) = positions.iter().position(|p| *p == position) {
                        rollout.stages[i].tasks.push(task);
                    }
                }
                let override_rows = sqlx::query(
                    "SELECT stage_id, actor, reason, blocking_json, at FROM rollout_overrides WHERE rollout = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_err("get rollout", e))?;
                for row in &override_rows {
                    rollout.overrides.push($crate::RolloutOverride {
                        rollout: id,
                        stage: row.try_get("stage_id").map_err(|e| db_err("get rollout", e))?,
                        actor: row.try_get("actor").map_err(|e| db_err("get rollout", e))?,
                        reason: row.try_get("reason").map_err(|e| db_err("get rollout", e))?,
                        blocking_json: row.try_get("blocking_json").map_err(|e| db_err("get rollout", e))?,
                        at: row.try_get("at").map_err(|e| db_err("get rollout", e))?,
                    });
                }
                Ok(rollout)
            }

            async fn list_rollouts(&self, project: &str, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Rollout>, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                self.get_project(project).await?;
                let after = $crate::imp::audit_token(page)?;
                let rows = sqlx::query("SELECT id FROM rollouts WHERE project = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(project)
                    .bind(after)
                    .bind($crate::imp::fetch_limit(page))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("list rollouts", e))?;
                let ids = rows.iter().map(|r| r.try_get::<i64, _>("id")).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| db_err("list rollouts", e))?;
                let page = $crate::imp::finish_page(page, ids, |id| id.to_string());
                let mut items = Vec::with_capacity(page.items.len());
                for id in page.items {
                    items.push(self.get_rollout(id).await?);
                }
                Ok($crate::Page { items, next_page_token: page.next_page_token })
            }

            async fn record_rollout_override(&self, entry: &$crate::RolloutOverride) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO rollout_overrides (rollout, stage_id, actor, reason, blocking_json, at) \
                     SELECT id, $2, $3, $4, $5, $6 FROM rollouts WHERE id = $1",
                )
                .bind(entry.rollout)
                .bind(&entry.stage)
                .bind(&entry.actor)
                .bind(&entry.reason)
                .bind(&entry.blocking_json)
                .bind(entry.at)
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("record rollout override", e))
                .and_then(|done| $crate::imp::expect_found(done.rows_affected(), "rollout", entry.rollout.to_string()))
            }

            async fn skip_task(&self, task_id: i64, reason: &str) -> Result<(), $crate::StoreError> {
                use $crate::imp::db_err;
                let done = sqlx::query(
                    "UPDATE tasks SET status = 'SKIPPED', skipped_reason = $2 \
                     WHERE id = $1 AND status IN ('NOT_STARTED', 'FAILED', 'CANCELED')",
                )
                .bind(task_id)
                .bind(reason)
                .execute(&self.pool)
                .await
                .map_err(|e| db_err("skip task", e))?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                let exists = sqlx::query("SELECT 1 FROM tasks WHERE id = $1")
                    .bind(task_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| db_err("skip task", e))?;
                Err(match exists {
                    None => $crate::imp::not_found("task", task_id.to_string()),
                    Some(_) => $crate::StoreError::Conflict { kind: "status of task", name: task_id.to_string() },
                })
            }

            // ---- task runs ----

            async fn enqueue_task_run(&self, task_id: i64, now: i64) -> Result<i64, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                let mut tx = self.begin_write().await.map_err(|e| db_err("enqueue task run", e))?;
                sqlx::query("SELECT 1 FROM tasks WHERE id = $1")
                    .bind(task_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("enqueue task run", e))?
                    .ok_or_else(|| $crate::imp::not_found("task", task_id.to_string()))?;
                let row = sqlx::query(
                    "INSERT INTO task_runs (task, rollout, instance, status, created_at) \
                     SELECT id, rollout, instance, $2, $3 FROM tasks WHERE id = $1 RETURNING id",
                )
                .bind(task_id)
                .bind($crate::status::AVAILABLE)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| $crate::imp::write_err("enqueue task run", "active run of task", &task_id.to_string(), e))?;
                let run_id: i64 = row.try_get("id").map_err(|e| db_err("enqueue task run", e))?;
                sqlx::query("UPDATE tasks SET status = $2, skipped_reason = NULL WHERE id = $1")
                    .bind(task_id)
                    .bind($crate::status::PENDING)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("enqueue task run", e))?;
                tx.commit().await.map_err(|e| db_err("enqueue task run", e))?;
                Ok(run_id)
            }

            async fn claim_task_run(
                &self,
                worker_id: &str,
                lease: std::time::Duration,
                now: i64,
                limits: &$crate::ClaimLimits,
            ) -> Result<Option<$crate::ClaimedRun>, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                let expires = now.saturating_add($crate::imp::lease_secs(lease));
                let limit = |l: Option<u32>| l.map_or(i64::MAX, i64::from);
                let mut tx = self.begin_write().await.map_err(|e| db_err("claim task run", e))?;
                Self::serialize_claims(&mut tx).await.map_err(|e| db_err("claim task run", e))?;
                let claimed = sqlx::query(Self::CLAIM_SQL)
                    .bind(worker_id)
                    .bind(now)
                    .bind(expires)
                    .bind(limit(limits.per_rollout))
                    .bind(limit(limits.per_instance))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("claim task run", e))?;
                let Some(row) = claimed else {
                    tx.commit().await.map_err(|e| db_err("claim task run", e))?;
                    return Ok(None);
                };
                let run_id: i64 = row.try_get("id").map_err(|e| db_err("claim task run", e))?;
                let task_id: i64 = row.try_get("task").map_err(|e| db_err("claim task run", e))?;
                let attempt: i64 = row.try_get("attempts").map_err(|e| db_err("claim task run", e))?;
                let lease_expires_at: i64 = row.try_get("lease_expires_at").map_err(|e| db_err("claim task run", e))?;
                sqlx::query("UPDATE tasks SET status = $2 WHERE id = $1")
                    .bind(task_id)
                    .bind($crate::status::RUNNING)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("claim task run", e))?;
                let row = sqlx::query(
                    "SELECT t.rollout, t.instance, t.name, r.project, r.release_id FROM tasks t \
                     JOIN rollouts r ON r.id = t.rollout WHERE t.id = $1",
                )
                .bind(task_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| db_err("claim task run", e))?;
                let run = $crate::ClaimedRun {
                    run_id,
                    task_id,
                    rollout_id: row.try_get("rollout").map_err(|e| db_err("claim task run", e))?,
                    project: row.try_get("project").map_err(|e| db_err("claim task run", e))?,
                    release: row.try_get("release_id").map_err(|e| db_err("claim task run", e))?,
                    database: $crate::DatabaseRef {
                        instance: row.try_get("instance").map_err(|e| db_err("claim task run", e))?,
                        name: row.try_get("name").map_err(|e| db_err("claim task run", e))?,
                    },
                    attempt,
                    lease_expires_at,
                };
                tx.commit().await.map_err(|e| db_err("claim task run", e))?;
                Ok(Some(run))
            }

            async fn heartbeat(
                &self,
                run_id: i64,
                worker_id: &str,
                lease: std::time::Duration,
                now: i64,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE task_runs SET lease_expires_at = $4 \
                     WHERE id = $1 AND worker = $2 AND status = 'RUNNING' AND lease_expires_at >= $3",
                )
                .bind(run_id)
                .bind(worker_id)
                .bind(now)
                .bind(now.saturating_add($crate::imp::lease_secs(lease)))
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("heartbeat task run", e))?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_task_run(
                &self,
                run_id: i64,
                worker_id: &str,
                outcome: $crate::RunOutcome,
                error: Option<&str>,
                now: i64,
            ) -> Result<(), $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                let mut tx = self.begin_write().await.map_err(|e| db_err("finish task run", e))?;
                let row = sqlx::query(
                    "UPDATE task_runs SET status = $3, error = $4, lease_expires_at = NULL, finished_at = $5 \
                     WHERE id = $1 AND worker = $2 AND status = 'RUNNING' RETURNING task",
                )
                .bind(run_id)
                .bind(worker_id)
                .bind(outcome.as_str())
                .bind(error)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_err("finish task run", e))?;
                let Some(row) = row else {
                    let exists = sqlx::query("SELECT 1 FROM task_runs WHERE id = $1")
                        .bind(run_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| db_err("finish task run", e))?;
                    return Err(match exists {
                        None => $crate::imp::not_found("task run", run_id.to_string()),
                        Some(_) => $crate::StoreError::Conflict {
                            kind: "lease of task run",
                            name: run_id.to_string(),
                        },
                    });
                };
                let task_id: i64 = row.try_get("task").map_err(|e| db_err("finish task run", e))?;
                sqlx::query("UPDATE tasks SET status = $2 WHERE id = $1")
                    .bind(task_id)
                    .bind(outcome.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("finish task run", e))?;
                tx.commit().await.map_err(|e| db_err("finish task run", e))
            }

            async fn cancel_task_run(&self, task_id: i64, now: i64) -> Result<bool, $crate::StoreError> {
                use $crate::imp::db_err;
                let mut tx = self.begin_write().await.map_err(|e| db_err("cancel task run", e))?;
                sqlx::query("SELECT 1 FROM tasks WHERE id = $1")
                    .bind(task_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_err("cancel task run", e))?
                    .ok_or_else(|| $crate::imp::not_found("task", task_id.to_string()))?;
                let done = sqlx::query(
                    "UPDATE task_runs SET status = 'CANCELED', lease_expires_at = NULL, finished_at = $2 \
                     WHERE task = $1 AND status IN ('AVAILABLE', 'RUNNING')",
                )
                .bind(task_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err("cancel task run", e))?;
                if done.rows_affected() == 0 {
                    tx.commit().await.map_err(|e| db_err("cancel task run", e))?;
                    return Ok(false);
                }
                sqlx::query("UPDATE tasks SET status = 'CANCELED' WHERE id = $1")
                    .bind(task_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err("cancel task run", e))?;
                tx.commit().await.map_err(|e| db_err("cancel task run", e))?;
                Ok(true)
            }

            async fn release_worker_runs(&self, worker_id: &str) -> Result<u64, $crate::StoreError> {
                use $crate::imp::db_err;
                let mut tx = self.begin_write().await.map_err(|e| db_err("release task runs", e))?;
                sqlx::query(
                    "UPDATE tasks SET status = 'PENDING' WHERE id IN \
                     (SELECT task FROM task_runs WHERE worker = $1 AND status = 'RUNNING')",
                )
                .bind(worker_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err("release task runs", e))?;
                let done = sqlx::query(
                    "UPDATE task_runs SET status = 'AVAILABLE', worker = NULL, lease_expires_at = NULL \
                     WHERE worker = $1 AND status = 'RUNNING'",
                )
                .bind(worker_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err("release task runs", e))?;
                tx.commit().await.map_err(|e| db_err("release task runs", e))?;
                Ok(done.rows_affected())
            }

            async fn list_task_runs(&self, task_id: i64) -> Result<Vec<$crate::TaskRun>, $crate::StoreError> {
                use $crate::imp::db_err;
                sqlx::query("SELECT 1 FROM tasks WHERE id = $1")
                    .bind(task_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| db_err("list task runs", e))?
                    .ok_or_else(|| $crate::imp::not_found("task", task_id.to_string()))?;
                let rows = sqlx::query(
                    "SELECT id, task, status, worker, lease_expires_at, attempts, error, created_at, started_at, finished_at \
                     FROM task_runs WHERE task = $1 ORDER BY id",
                )
                .bind(task_id)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_err("list task runs", e))?;
                rows.iter().map(Self::task_run_row).collect::<Result<Vec<_>, _>>()
                    .map_err(|e| db_err("list task runs", e))
            }

            async fn count_task_runs(&self) -> Result<Vec<(String, i64)>, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM task_runs GROUP BY status ORDER BY status")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("count task runs", e))?;
                rows.iter()
                    .map(|row| Ok((row.try_get("status")?, row.try_get("n")?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(|e| db_err("count task runs", e))
            }

            async fn get_task_run(&self, run_id: i64) -> Result<$crate::TaskRun, $crate::StoreError> {
                use $crate::imp::db_err;
                let row = sqlx::query(
                    "SELECT id, task, status, worker, lease_expires_at, attempts, error, created_at, started_at, finished_at \
                     FROM task_runs WHERE id = $1",
                )
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| db_err("get task run", e))?
                .ok_or_else(|| $crate::imp::not_found("task run", run_id.to_string()))?;
                Self::task_run_row(&row).map_err(|e| db_err("get task run", e))
            }

            async fn append_task_log(&self, run_id: i64, entry_json: &str) -> Result<$crate::TaskLogEntry, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                if let Err(e) = serde_json::from_str::<serde_json::Value>(entry_json) {
                    return Err($crate::StoreError::Invalid {
                        kind: "log entry of task run",
                        name: run_id.to_string(),
                        message: format!("not JSON: {e}"),
                    });
                }
                self.get_task_run(run_id).await?;
                let row = sqlx::query("INSERT INTO task_run_logs (run, entry_json) VALUES ($1, $2) RETURNING id")
                    .bind(run_id)
                    .bind(entry_json)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| db_err("append task log", e))?;
                Ok($crate::TaskLogEntry {
                    id: row.try_get("id").map_err(|e| db_err("append task log", e))?,
                    entry_json: entry_json.to_string(),
                })
            }

            async fn list_task_log(&self, run_id: i64) -> Result<Vec<$crate::TaskLogEntry>, $crate::StoreError> {
                use sqlx::Row as _;
                use $crate::imp::db_err;
                self.get_task_run(run_id).await?;
                let rows = sqlx::query("SELECT id, entry_json FROM task_run_logs WHERE run = $1 ORDER BY id")
                    .bind(run_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_err("list task log", e))?;
                rows.iter()
                    .map(|row| Ok($crate::TaskLogEntry { id: row.try_get("id")?, entry_json: row.try_get("entry_json")? }))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(|e| db_err("list task log", e))
            }

            // ---- review policies ----

            async fn put_review_policy(&self, policy: &$crate::ReviewPolicy) -> Result<(), $crate::StoreError> {
                let (environment, project) = match &policy.attach {
                    $crate::PolicyAttach::Environment(id) => {
                        self.get_environment(id).await?;
                        (Some(id.as_str()), None)
                    }
                    $crate::PolicyAttach::Project(id) => {
                        self.get_project(id).await?;
                        (None, Some(id.as_str()))
                    }
                };
                let name = policy.attach.to_string();
                sqlx::query(
                    "INSERT INTO review_policies (attach, environment, project, review) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (attach) DO UPDATE SET review = excluded.review",
                )
                .bind(&name)
                .bind(environment)
                .bind(project)
                .bind(&policy.review)
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::imp::write_err("put review policy", "review policy", &name, e))?;
                Ok(())
            }

            async fn get_review_policy(&self, attach: &$crate::PolicyAttach) -> Result<$crate::ReviewPolicy, $crate::StoreError> {
                use sqlx::Row as _;
                let name = attach.to_string();
                let row = sqlx::query("SELECT review FROM review_policies WHERE attach = $1")
                    .bind(&name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get review policy", e))?
                    .ok_or_else(|| $crate::imp::not_found("review policy", format!("{name}/reviewPolicy")))?;
                Ok($crate::ReviewPolicy {
                    attach: attach.clone(),
                    review: row.try_get("review").map_err(|e| $crate::imp::db_err("get review policy", e))?,
                })
            }

            async fn list_review_policies(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::ReviewPolicy>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT attach, review FROM review_policies \
                     WHERE CAST($1 AS TEXT) IS NULL OR attach > $1 ORDER BY attach LIMIT $2",
                )
                .bind(page.page_token.as_deref())
                .bind($crate::imp::fetch_limit(page))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("list review policies", e))?;
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    let attach: String = row.try_get("attach").map_err(|e| $crate::imp::db_err("list review policies", e))?;
                    let review: String = row.try_get("review").map_err(|e| $crate::imp::db_err("list review policies", e))?;
                    let attach = $crate::PolicyAttach::parse(&attach).ok_or_else(|| $crate::StoreError::Database {
                        context: "list review policies",
                        message: format!("unexpected attach point `{attach}`"),
                    })?;
                    items.push($crate::ReviewPolicy { attach, review });
                }
                Ok($crate::imp::finish_page(page, items, |p| p.attach.to_string()))
            }

            async fn delete_review_policy(&self, attach: &$crate::PolicyAttach) -> Result<(), $crate::StoreError> {
                let name = attach.to_string();
                let done = sqlx::query("DELETE FROM review_policies WHERE attach = $1")
                    .bind(&name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("delete review policy", e))?;
                $crate::imp::expect_found(done.rows_affected(), "review policy", format!("{name}/reviewPolicy"))
            }

            async fn claim_drift_check(&self, key: &$crate::DatabaseRef, now: i64, older_than: i64) -> Result<bool, $crate::StoreError> {
                self.get_database(key).await?;
                let done = sqlx::query(
                    "INSERT INTO drift_checks (instance, name, status, claimed_at) VALUES ($1, $2, 'NOT_CHECKED', $3) \
                     ON CONFLICT (instance, name) DO UPDATE SET claimed_at = excluded.claimed_at \
                     WHERE drift_checks.claimed_at IS NULL OR drift_checks.claimed_at <= $4",
                )
                .bind(&key.instance)
                .bind(&key.name)
                .bind(now)
                .bind(older_than)
                .execute(&self.pool)
                .await
                .map_err(|e| match $crate::imp::write_err("claim a drift check", "database", &key.to_string(), e) {
                    $crate::StoreError::Conflict { .. } => $crate::imp::not_found("database", key.to_string()),
                    other => other,
                })?;
                Ok(done.rows_affected() > 0)
            }

            async fn record_drift_check(&self, result: &$crate::DriftResult) -> Result<(), $crate::StoreError> {
                use $crate::drift_status as d;
                let name = result.database.to_string();
                if ![d::IN_SYNC, d::DRIFTED, d::ERROR].contains(&result.status.as_str()) {
                    return Err($crate::StoreError::Invalid {
                        kind: "drift check",
                        name,
                        message: format!("status `{}` is not IN_SYNC, DRIFTED or ERROR", result.status),
                    });
                }
                if ![d::ON_DEMAND, d::SCHEDULE].contains(&result.checked_by.as_str()) {
                    return Err($crate::StoreError::Invalid {
                        kind: "drift check",
                        name,
                        message: format!("checked_by `{}` is not on_demand or schedule", result.checked_by),
                    });
                }
                self.get_database(&result.database).await?;
                sqlx::query(
                    "INSERT INTO drift_checks (instance, name, status, checked_at, detail, checked_by, claimed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $4) \
                     ON CONFLICT (instance, name) DO UPDATE SET status = excluded.status, \
                     checked_at = excluded.checked_at, detail = excluded.detail, checked_by = excluded.checked_by, \
                     claimed_at = CASE WHEN drift_checks.claimed_at IS NULL OR drift_checks.claimed_at < excluded.claimed_at \
                     THEN excluded.claimed_at ELSE drift_checks.claimed_at END",
                )
                .bind(&result.database.instance)
                .bind(&result.database.name)
                .bind(&result.status)
                .bind(result.checked_at)
                .bind(&result.detail)
                .bind(&result.checked_by)
                .execute(&self.pool)
                .await
                .map_err(|e| match $crate::imp::write_err("record a drift check", "database", &name, e) {
                    $crate::StoreError::Conflict { .. } => $crate::imp::not_found("database", name.clone()),
                    other => other,
                })?;
                Ok(())
            }

            async fn get_drift_status(&self, key: &$crate::DatabaseRef) -> Result<$crate::DriftStatus, $crate::StoreError> {
                use sqlx::Row as _;
                self.get_database(key).await?;
                let row = sqlx::query(
                    "SELECT status, checked_at, detail, checked_by FROM drift_checks \
                     WHERE instance = $1 AND name = $2 AND checked_at IS NOT NULL",
                )
                .bind(&key.instance)
                .bind(&key.name)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("get a drift status", e))?;
                let Some(row) = row else {
                    return Ok($crate::DriftStatus {
                        database: key.clone(),
                        status: $crate::drift_status::NOT_CHECKED.to_string(),
                        checked_at: None,
                        detail: None,
                        checked_by: None,
                    });
                };
                let get = |e| $crate::imp::db_err("get a drift status", e);
                Ok($crate::DriftStatus {
                    database: key.clone(),
                    status: row.try_get("status").map_err(get)?,
                    checked_at: row.try_get("checked_at").map_err(get)?,
                    detail: row.try_get("detail").map_err(get)?,
                    checked_by: row.try_get("checked_by").map_err(get)?,
                })
            }

            async fn count_drift_statuses(&self) -> Result<Vec<(String, i64)>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT CASE WHEN c.checked_at IS NULL THEN 'NOT_CHECKED' ELSE c.status END AS status, \
                     COUNT(*) AS n FROM databases d LEFT JOIN drift_checks c \
                     ON c.instance = d.instance AND c.name = d.name GROUP BY 1 ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("count drift statuses", e))?;
                rows.iter()
                    .map(|row| {
                        let get = |e| $crate::imp::db_err("count drift statuses", e);
                        Ok((row.try_get("status").map_err(get)?, row.try_get("n").map_err(get)?))
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_store;
