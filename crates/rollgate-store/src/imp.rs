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

fn invalid_token(token: &str) -> StoreError {
    StoreError::Invalid {
        kind: "page token",
        name: token.to_string(),
        message: "pass the next_page_token of the previous page unchanged".into(),
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
                })
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
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("environment", &env.id));
                }
                Ok(())
            }

            async fn delete_environment(&self, id: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM environments WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete environment", "environment", id, e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("environment", id));
                }
                Ok(())
            }

            // ---- instances ----

            async fn create_instance(&self, instance: &$crate::Instance) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO instances (id, engine, url_envelope) VALUES ($1, $2, $3)")
                    .bind(&instance.id)
                    .bind(&instance.engine)
                    .bind(&instance.url_envelope)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("create instance", "instance", &instance.id, e))?;
                Ok(())
            }

            async fn get_instance(&self, id: &str) -> Result<$crate::Instance, $crate::StoreError> {
                let row = sqlx::query("SELECT id, engine, url_envelope FROM instances WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("get instance", e))?
                    .ok_or_else(|| $crate::imp::not_found("instance", id))?;
                Self::instance_row(&row).map_err(|e| $crate::imp::db_err("get instance", e))
            }

            async fn list_instances(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::Instance>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT id, engine, url_envelope FROM instances \
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
                let done = sqlx::query("UPDATE instances SET engine = $2, url_envelope = $3 WHERE id = $1")
                    .bind(&instance.id)
                    .bind(&instance.engine)
                    .bind(&instance.url_envelope)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("update instance", e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("instance", &instance.id));
                }
                Ok(())
            }

            async fn delete_instance(&self, id: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM instances WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete instance", "instance", id, e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("instance", id));
                }
                Ok(())
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
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("database", key.to_string()));
                }
                Ok(())
            }

            async fn delete_database(&self, key: &$crate::DatabaseRef) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM databases WHERE instance = $1 AND name = $2")
                    .bind(&key.instance)
                    .bind(&key.name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete database", "database", &key.to_string(), e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("database", key.to_string()));
                }
                Ok(())
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
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("project", &project.id));
                }
                Ok(())
            }

            async fn delete_project(&self, id: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM projects WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::write_err("delete project", "project", id, e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("project", id));
                }
                Ok(())
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

            async fn remove_project_database(&self, project: &str, db: &$crate::DatabaseRef) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM project_databases WHERE project = $1 AND instance = $2 AND name = $3")
                    .bind(project)
                    .bind(&db.instance)
                    .bind(&db.name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("remove database from project", e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("project database", format!("projects/{project}/{db}")));
                }
                Ok(())
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
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("user", &user.email));
                }
                Ok(())
            }

            async fn delete_user(&self, email: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM users WHERE email = $1")
                    .bind(email)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("delete user", e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("user", email));
                }
                Ok(())
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
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("service account", &account.email));
                }
                Ok(())
            }

            async fn delete_service_account(&self, email: &str) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("DELETE FROM service_accounts WHERE email = $1")
                    .bind(email)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::imp::db_err("delete service account", e))?;
                if done.rows_affected() == 0 {
                    return Err($crate::imp::not_found("service account", email));
                }
                Ok(())
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
                    "INSERT INTO audit_log (actor, action, resource, outcome, at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, actor, action, resource, outcome, at",
                )
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.resource)
                .bind(&entry.outcome)
                .bind(entry.at)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| $crate::imp::db_err("append audit entry", e))?;
                Self::audit_row(&row).map_err(|e| $crate::imp::db_err("append audit entry", e))
            }

            async fn list_audit(&self, page: &$crate::PageRequest) -> Result<$crate::Page<$crate::AuditEntry>, $crate::StoreError> {
                let after = $crate::imp::audit_token(page)?;
                let rows = sqlx::query(
                    "SELECT id, actor, action, resource, outcome, at FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
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
        }
    };
}

pub(crate) use impl_store;
