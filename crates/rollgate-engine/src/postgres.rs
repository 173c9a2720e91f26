//! The PostgreSQL engine: one dedicated connection, a session advisory lock,
//! one transaction per file (history row included), statement-by-statement
//! runs with recorded progress for `-- rollgate:no-transaction` files, and
//! `lock_timeout` with jittered retries on SQLSTATE 55P03.
//!
//! It is not a pool and never shares its connection: the migration lock is
//! held by the session, and a pooler in transaction mode would hand it to
//! another client. It never reads migration files or decides what to apply.
//!
//! History rows: a transactional file writes its row (already `SUCCEEDED`)
//! inside its own transaction, so a failed or killed run leaves nothing. A
//! `no-transaction` file inserts a `RUNNING` row first and updates it after
//! every statement; a resumed run (`resume_from > 0`), or a new run that
//! finds a `RUNNING` row left by a dead runner, takes over that same row
//! instead of appending one, so there is one row per attempt chain and the
//! partial unique index (one `RUNNING` row per version) always holds.

mod dump;

use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use crate::schema::SchemaSnapshot;
use crate::{
    Applied, ApplyFile, ApplyOptions, Engine, EngineError, EngineKind, HISTORY_TABLE,
    HistoryRecord, NewRecord, Progress, RecordKind, RecordStatus, StatementFailure, StatementText,
    TargetUrl,
};

/// The `application_name` every rollgate session sets, so that a lock
/// holder or a blocked statement can be recognised in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "rollgate";

/// The schema of the history table when none is configured.
pub const DEFAULT_HISTORY_SCHEMA: &str = "public";

/// A PostgreSQL target on one dedicated connection.
pub struct PostgresEngine {
    conn: PgConnection,
    /// The URL without its password, for messages.
    target: String,
    /// `host:port`, for messages.
    endpoint: String,
    database: String,
    user: String,
    schema: String,
    /// `"schema"."rollgate_history"`, quoted for SQL text.
    table: String,
    lock_key: i64,
    locked: bool,
    history_ready: bool,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("lock_key", &self.lock_key)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

impl PostgresEngine {
    /// Connects with `application_name = 'rollgate'`. The history table
    /// lives in `history_schema` (default `public`), which must exist.
    pub async fn connect(
        url: &TargetUrl,
        history_schema: Option<&str>,
    ) -> Result<PostgresEngine, EngineError> {
        let target = url.redacted().to_string();
        if url.kind() != EngineKind::Postgres {
            return Err(EngineError::BadUrl(format!(
                "{target} is not a PostgreSQL URL; use postgres://user@host:port/database"
            )));
        }
        let schema = history_schema.unwrap_or(DEFAULT_HISTORY_SCHEMA).to_string();
        if schema.is_empty() || schema.contains('\0') {
            return Err(EngineError::BadUrl(format!(
                "history schema {schema:?} is not a valid PostgreSQL schema name; omit it to use \"{DEFAULT_HISTORY_SCHEMA}\""
            )));
        }
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|error| EngineError::Connect {
                target: target.clone(),
                message: format!(
                    "the URL is not a valid PostgreSQL connection string ({}); use postgres://user:password@host:port/database",
                    scrub(&error.to_string(), url.expose())
                ),
            })?
            .application_name(APPLICATION_NAME)
            // Migration statements may carry data; rollgate reports progress itself.
            .disable_statement_logging();
        let endpoint = format!("{}:{}", options.get_host(), options.get_port());
        let connecting = PgConnection::connect_with(&options);
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                return Err(EngineError::Connect {
                    target,
                    message: connect_message(&error, &endpoint, url.expose()),
                });
            }
            Err(_) => {
                return Err(EngineError::Connect {
                    target,
                    message: format!(
                        "no answer from PostgreSQL at {endpoint} within {CONNECT_TIMEOUT:?}; check the host, the port and any firewall"
                    ),
                });
            }
        };
        let row = sqlx::query(
            "SELECT current_database()::text, current_user::text, \
             current_setting('server_version_num')::int",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|error| database_error(format!("reading the session of {target}"), &error))?;
        let database: String = row
            .try_get(0)
            .map_err(|error| database_error("reading current_database()", &error))?;
        let user: String = row
            .try_get(1)
            .map_err(|error| database_error("reading current_user", &error))?;
        let version: i32 = row
            .try_get(2)
            .map_err(|error| database_error("reading server_version_num", &error))?;
        if version >= 140000 {
            // A runner killed mid-statement leaves its backend running the
            // statement, holding the migration lock and the file's locks,
            // until it next talks to the client; with this the server
            // notices the closed socket within a second and rolls back.
            // Not every platform supports it: without it, it is only slower.
            let _ = sqlx::raw_sql("SET client_connection_check_interval = '1s'")
                .execute(&mut conn)
                .await;
        }
        let table = format!("{}.{}", quote_ident(&schema), quote_ident(HISTORY_TABLE));
        Ok(PostgresEngine {
            conn,
            lock_key: lock_key(&database, &schema),
            target,
            endpoint,
            database,
            user,
            schema,
            table,
            locked: false,
            history_ready: false,
        })
    }

    /// The advisory lock key: the first 8 bytes of SHA-256 over
    /// `rollgate:<database>.<schema>.rollgate_history`.
    pub fn lock_key(&self) -> i64 {
        self.lock_key
    }

    /// The schema that holds `rollgate_history`.
    pub fn history_schema(&self) -> &str {
        &self.schema
    }

    /// Closes the connection, which also releases the migration lock.
    pub async fn close(self) -> Result<(), EngineError> {
        self.conn
            .close()
            .await
            .map_err(|error| database_error("closing the connection", &error))
    }
}

impl Engine for PostgresEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    async fn lock(&mut self, timeout: Duration) -> Result<(), EngineError> {
        if self.locked {
            return Ok(());
        }
        let started = Instant::now();
        let mut wait = LOCK_POLL_FIRST;
        loop {
            let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(self.lock_key)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|error| {
                    database_error(
                        format!("taking the migration lock on {}", self.target),
                        &error,
                    )
                })?;
            if acquired {
                self.locked = true;
                return self.verify_lock_is_ours().await;
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                let holder = self.lock_holder().await;
                return Err(EngineError::Locked {
                    target: self.target.clone(),
                    waited: elapsed,
                    holder,
                });
            }
            let sleep = (wait + jitter(wait / 4)).min(timeout - elapsed);
            tokio::time::sleep(sleep).await;
            wait = (wait * 2).min(LOCK_POLL_MAX);
        }
    }

    async fn unlock(&mut self) -> Result<(), EngineError> {
        if !self.locked {
            return Ok(());
        }
        let released: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
            .bind(self.lock_key)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|error| {
                database_error(
                    format!("releasing the migration lock on {}", self.target),
                    &error,
                )
            })?;
        self.locked = false;
        if !released {
            return Err(EngineError::Database {
                context: format!("releasing the migration lock on {}", self.target),
                message: "this session did not hold the lock any more; is a connection pooler (PgBouncer in transaction mode) \
                          between rollgate and the server? connect to PostgreSQL directly"
                    .into(),
            });
        }
        Ok(())
    }

    async fn history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        self.ensure_history_table().await?;
        self.history_rows().await
    }

    async fn read_history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        if !self.history_ready && !self.history_table_exists().await?.1 {
            return Ok(Vec::new());
        }
        self.history_rows().await
    }

    async fn apply(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        self.ensure_history_table().await?;
        if file.no_transaction {
            self.apply_without_transaction(file, options, progress)
                .await
        } else {
            self.apply_in_transaction(file, options, progress).await
        }
    }

    async fn record(&mut self, record: &NewRecord) -> Result<(), EngineError> {
        self.ensure_history_table().await?;
        let sql = format!(
            "INSERT INTO {} (version, file_name, change_type, kind, checksum, status, started_at, finished_at, duration_ms, \
             applied_by, statements_done, statements_total, note) \
             VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), clock_timestamp(), 0, $7, 0, 0, $8)",
            self.table
        );
        // The only interpolation is the quoted history table name; values are bound.
        sqlx::query(AssertSqlSafe(sql))
            .bind(&record.version)
            .bind(&record.file_name)
            .bind(&record.change_type)
            .bind(record.kind.as_str())
            .bind(&record.checksum)
            .bind(record.status.as_str())
            .bind(self.applied_by(record.applied_by.as_deref()))
            .bind(&record.note)
            .execute(&mut self.conn)
            .await
            .map_err(|error| {
                database_error(
                    format!("recording version {} in {}", record.version, self.table),
                    &error,
                )
            })?;
        Ok(())
    }

    async fn dry_run(&mut self, files: &[ApplyFile]) -> Result<(), EngineError> {
        for file in files.iter().filter(|file| !file.no_transaction) {
            refuse_transaction_control(file)?;
        }
        self.control("BEGIN", "starting the dry-run transaction")
            .await?;
        let outcome = self.dry_run_in_transaction(files).await;
        let rollback = self.control("ROLLBACK", "rolling back the dry run").await;
        outcome?;
        rollback
    }

    async fn dump_schema(&mut self) -> Result<SchemaSnapshot, EngineError> {
        dump::dump_schema(&mut self.conn, &self.schema).await
    }

    async fn table_rows(&mut self) -> Result<std::collections::BTreeMap<String, u64>, EngineError> {
        // reltuples is -1 until the first VACUUM or ANALYZE; a table with no
        // pages at all is empty whatever its statistics say.
        let rows = sqlx::query(
            "SELECT n.nspname::text || '.' || c.relname::text, \
             CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint \
                  WHEN pg_relation_size(c.oid) = 0 THEN 0 END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname !~ '^pg_(toast|temp_)' \
             AND NOT (n.nspname = $1 AND c.relname = 'rollgate_history')",
        )
        .bind(&self.schema)
        .fetch_all(&mut self.conn)
        .await
        .map_err(|error| database_error("reading table statistics", &error))?;
        let mut estimates = std::collections::BTreeMap::new();
        for row in &rows {
            let name: String = row
                .try_get(0)
                .map_err(|error| database_error("reading table statistics", &error))?;
            let estimate: Option<i64> = row
                .try_get(1)
                .map_err(|error| database_error("reading table statistics", &error))?;
            if let Some(estimate) = estimate {
                estimates.insert(name, u64::try_from(estimate).unwrap_or(0));
            }
        }
        Ok(estimates)
    }

    async fn explain_rows(&mut self, sql: &str) -> Result<Option<u64>, EngineError> {
        self.control(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = '5s'",
            "starting a read-only transaction for EXPLAIN",
        )
        .await?;
        // The extended protocol refuses several statements in one text.
        let explained = sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut self.conn)
            .await;
        self.control("ROLLBACK", "ending the EXPLAIN transaction")
            .await?;
        Ok(explained
            .ok()
            .and_then(|lines| crate::max_plan_rows(lines.iter().map(String::as_str))))
    }
}

/// The `statements_checksum` of a history row after `done` statements ran:
/// [`rollgate_migration::statements_checksum`] of their texts, `None` when
/// nothing ran (a resume at 0 needs no check).
pub fn statements_checksum(statements: &[StatementText], done: usize) -> Option<String> {
    if done == 0 {
        return None;
    }
    let texts: Vec<&str> = statements
        .iter()
        .take(done)
        .map(|statement| statement.text.as_str())
        .collect();
    Some(rollgate_migration::statements_checksum(&texts).to_string())
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const LOCK_POLL_FIRST: Duration = Duration::from_millis(25);
const LOCK_POLL_MAX: Duration = Duration::from_secs(1);
const RETRY_WAIT_FIRST: Duration = Duration::from_millis(100);
const RETRY_WAIT_MAX: Duration = Duration::from_secs(10);
const SQLSTATE_LOCK_NOT_AVAILABLE: &str = "55P03";
const SQLSTATE_UNIQUE_VIOLATION: &str = "23505";
const SQLSTATE_DUPLICATE_TABLE: &str = "42P07";
const SQLSTATE_ACTIVE_SQL_TRANSACTION: &str = "25001";

impl PostgresEngine {
    /// A transactional file: one transaction holds the statements and the
    /// history row, so a failure leaves no trace.
    ///
    /// A statement that fails on `lock_timeout` rolls the whole file back;
    /// the file is retried from its first statement after a jittered wait.
    /// That is equivalent to retrying the statement (the file is
    /// all-or-nothing), releases the locks the earlier statements took while
    /// waiting, and saves the savepoint round trips per statement.
    async fn apply_in_transaction(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        if file.resume_from > 0 {
            return Err(EngineError::Database {
                context: format!("applying {}", file.file_name),
                message: format!(
                    "cannot resume at statement {}: the file runs in one transaction, so it never ran partly on PostgreSQL; \
                     apply it from the start",
                    file.resume_from + 1
                ),
            });
        }
        refuse_transaction_control(file)?;
        let started = Instant::now();
        let lock_timeout = file.lock_timeout.unwrap_or(options.lock_timeout);
        let total = file.statements.len();
        let mut attempt = 0;
        loop {
            // rollgate's own statements share one round trip.
            let begin = format!(
                "BEGIN; SET LOCAL lock_timeout = '{}ms'",
                duration_millis(lock_timeout)
            );
            self.control_owned(
                begin,
                &format!("starting the transaction for {}", file.file_name),
            )
            .await?;
            let Some((index, error)) = self.run_statements(file, progress).await else {
                break;
            };
            // Best effort: if the connection is gone, the server rolls back anyway.
            let _ = self
                .control("ROLLBACK", "rolling back the failed file")
                .await;
            let statement = &file.statements[index];
            if attempt >= options.lock_retries
                || sqlstate(&error).as_deref() != Some(SQLSTATE_LOCK_NOT_AVAILABLE)
            {
                return Err(statement_failure(file, index, statement, &error));
            }
            attempt += 1;
            let blocked_by = self.blocking_session(&statement.text).await;
            let wait = retry_wait(attempt);
            progress(Progress::LockRetry {
                index,
                attempt,
                wait,
                blocked_by,
            });
            tokio::time::sleep(wait).await;
        }
        // The history row and COMMIT share the last round trip. The values
        // are written as E'' literals (see `escape_literal`), which mean the
        // same whatever `standard_conforming_strings` the file set.
        let duration = started.elapsed();
        let optional =
            |value: Option<&str>| value.map_or_else(|| "NULL".to_string(), escape_literal);
        let checksum = statements_checksum(&file.statements, total);
        let sql = format!(
            "INSERT INTO {} (version, file_name, change_type, kind, checksum, status, started_at, finished_at, duration_ms, \
             applied_by, release_id, task_id, statements_done, statements_total, statements_checksum) \
             VALUES ({}, {}, {}, 'MIGRATION', {}, 'SUCCEEDED', now(), clock_timestamp(), {}, {}, {}, {}, {total}, {total}, {}); COMMIT",
            self.table,
            escape_literal(&file.version),
            escape_literal(&file.file_name),
            escape_literal(&file.change_type),
            escape_literal(&file.checksum),
            duration_millis(duration),
            escape_literal(&self.applied_by(options.applied_by.as_deref())),
            optional(options.release_id.as_deref()),
            optional(options.task_id.as_deref()),
            optional(checksum.as_deref()),
        );
        // Only the quoted table name and escaped literals are interpolated.
        if let Err(error) = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await
        {
            let _ = self
                .control("ROLLBACK", "rolling back the failed file")
                .await;
            return Err(self.history_write_error(&file.version, &error));
        }
        Ok(Applied {
            duration,
            statements: total,
        })
    }

    /// Runs a transactional file's statements in order, each alone; the
    /// first failure and its statement index.
    async fn run_statements(
        &mut self,
        file: &ApplyFile,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Option<(usize, sqlx::Error)> {
        let total = file.statements.len();
        for (index, statement) in file.statements.iter().enumerate() {
            progress(Progress::StatementStarted {
                index,
                total,
                line: statement.line,
            });
            let statement_started = Instant::now();
            // A user's migration statement is the SQL rollgate exists to run:
            // it comes from a reviewed migration file and is sent alone, as is.
            match sqlx::raw_sql(AssertSqlSafe(statement.text.as_str()))
                .execute(&mut self.conn)
                .await
            {
                Ok(done) => progress(Progress::StatementFinished {
                    index,
                    rows_affected: done.rows_affected(),
                    duration: statement_started.elapsed(),
                }),
                Err(error) => return Some((index, error)),
            }
        }
        None
    }

    /// A `no-transaction` file: each statement commits on its own and the
    /// history row records how far it got.
    async fn apply_without_transaction(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        let started = Instant::now();
        let outcome = self
            .run_resumable_file(file, options, progress, started)
            .await;
        // The session outlives the file: leave it as it was.
        let reset = self
            .control("RESET lock_timeout", "resetting lock_timeout")
            .await;
        let applied = outcome?;
        reset?;
        Ok(applied)
    }

    async fn run_resumable_file(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
        started: Instant,
    ) -> Result<Applied, EngineError> {
        let lock_timeout = file.lock_timeout.unwrap_or(options.lock_timeout);
        let set_lock_timeout = format!("SET lock_timeout = '{}ms'", duration_millis(lock_timeout));
        self.control_owned(set_lock_timeout.clone(), "setting lock_timeout")
            .await?;
        let total = file.statements.len();
        let resume_from = file.resume_from.min(total);
        let row_id = self.start_resumable_row(file, options, resume_from).await?;
        // All prefix checksums in one pass, so long files are not hashed again
        // from the start after every statement.
        let texts: Vec<&str> = file
            .statements
            .iter()
            .map(|statement| statement.text.as_str())
            .collect();
        let prefixes = rollgate_migration::statements_checksum_prefixes(&texts);
        for (index, statement) in file.statements.iter().enumerate().skip(resume_from) {
            progress(Progress::StatementStarted {
                index,
                total,
                line: statement.line,
            });
            let statement_started = Instant::now();
            let unbounded = builds_index_concurrently(&statement.text);
            if unbounded {
                self.control("SET lock_timeout = 0", "lifting lock_timeout")
                    .await?;
            }
            let outcome = self
                .run_with_retries(index, statement, options.lock_retries, progress)
                .await;
            if unbounded {
                let restored = self
                    .control_owned(set_lock_timeout.clone(), "setting lock_timeout")
                    .await;
                if outcome.is_ok() {
                    restored?;
                }
            }
            let rows = match outcome {
                Ok(rows) => rows,
                Err(error) => {
                    let mut failure = statement_failure_details(file, index, statement, &error);
                    let recorded = format!(
                        "failed at statement {} of {total}: {}",
                        index + 1,
                        failure.message
                    );
                    let sql = format!(
                        "UPDATE {} SET status = 'FAILED', error = $1, finished_at = clock_timestamp(), duration_ms = $2 \
                         WHERE id = $3",
                        self.table
                    );
                    // The only interpolation is the quoted history table name.
                    let update = sqlx::query(AssertSqlSafe(sql))
                        .bind(&recorded)
                        .bind(duration_millis(started.elapsed()))
                        .bind(row_id)
                        .execute(&mut self.conn)
                        .await;
                    if let Err(update_error) = update {
                        failure.message.push_str(&format!(
                            "; recording the failure in {} failed too ({}), so its row still says RUNNING",
                            self.table,
                            describe(&update_error)
                        ));
                    }
                    return Err(EngineError::Statement(failure));
                }
            };
            progress(Progress::StatementFinished {
                index,
                rows_affected: rows,
                duration: statement_started.elapsed(),
            });
            let done = index + 1;
            // The last statement's update also finishes the row, saving a round trip.
            let finished = done == total;
            let sql = if finished {
                format!(
                    "UPDATE {} SET statements_done = $1, statements_checksum = $2, status = 'SUCCEEDED', \
                     finished_at = clock_timestamp(), duration_ms = $3 WHERE id = $4",
                    self.table
                )
            } else {
                format!(
                    "UPDATE {} SET statements_done = $1, statements_checksum = $2 WHERE id = $3",
                    self.table
                )
            };
            // The only interpolation is the quoted history table name.
            let mut update = sqlx::query(AssertSqlSafe(sql))
                .bind(done as i64)
                .bind(prefixes.get(index).cloned());
            if finished {
                update = update.bind(duration_millis(started.elapsed()));
            }
            update
                .bind(row_id)
                .execute(&mut self.conn)
                .await
                .map_err(|error| {
                    database_error(
                        format!(
                            "recording that statement {done} of {total} of {} succeeded (it is committed; the next run resumes after it \
                             only once this is recorded)",
                            file.file_name
                        ),
                        &error,
                    )
                })?;
        }
        if resume_from == total {
            // Nothing left to run (an empty file, or everything already ran).
            let sql = format!(
                "UPDATE {} SET status = 'SUCCEEDED', finished_at = clock_timestamp(), duration_ms = $1 WHERE id = $2",
                self.table
            );
            // The only interpolation is the quoted history table name.
            sqlx::query(AssertSqlSafe(sql))
                .bind(duration_millis(started.elapsed()))
                .bind(row_id)
                .execute(&mut self.conn)
                .await
                .map_err(|error| self.history_write_error(&file.version, &error))?;
        }
        Ok(Applied {
            duration: started.elapsed(),
            statements: total - resume_from,
        })
    }

    /// The row a `no-transaction` run records its progress in: the latest
    /// row of the version when this run continues it, else a new one.
    async fn start_resumable_row(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        resume_from: usize,
    ) -> Result<i64, EngineError> {
        let sql = format!(
            "SELECT id, kind, status FROM {} WHERE version = $1 ORDER BY id DESC LIMIT 1",
            self.table
        );
        // The only interpolation is the quoted history table name.
        let latest = sqlx::query(AssertSqlSafe(sql))
            .bind(&file.version)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(|error| {
                database_error(
                    format!("reading the history of version {}", file.version),
                    &error,
                )
            })?;
        let continuable = latest.and_then(|row| {
            let id: i64 = row.try_get(0).ok()?;
            let kind: String = row.try_get(1).ok()?;
            let status: String = row.try_get(2).ok()?;
            let takes_over = kind == RecordKind::Migration.as_str()
                && (status == RecordStatus::Running.as_str()
                    || (resume_from > 0 && status == RecordStatus::Failed.as_str()));
            takes_over.then_some(id)
        });
        let applied_by = self.applied_by(options.applied_by.as_deref());
        let total = file.statements.len() as i64;
        if let Some(id) = continuable {
            let sql = format!(
                "UPDATE {} SET status = 'RUNNING', file_name = $1, change_type = $2, checksum = $3, \
                 started_at = clock_timestamp(), finished_at = NULL, duration_ms = NULL, applied_by = $4, release_id = $5, \
                 task_id = $6, statements_done = $7, statements_total = $8, statements_checksum = $9, error = NULL \
                 WHERE id = $10",
                self.table
            );
            // The only interpolation is the quoted history table name.
            sqlx::query(AssertSqlSafe(sql))
                .bind(&file.file_name)
                .bind(&file.change_type)
                .bind(&file.checksum)
                .bind(applied_by)
                .bind(&options.release_id)
                .bind(&options.task_id)
                .bind(resume_from as i64)
                .bind(total)
                .bind(statements_checksum(&file.statements, resume_from))
                .bind(id)
                .execute(&mut self.conn)
                .await
                .map_err(|error| self.history_write_error(&file.version, &error))?;
            return Ok(id);
        }
        if resume_from > 0 {
            return Err(EngineError::Database {
                context: format!(
                    "resuming {} at statement {}",
                    file.file_name,
                    resume_from + 1
                ),
                message: format!(
                    "{} has no failed or running row for version {} to resume; run the file from the start",
                    self.table, file.version
                ),
            });
        }
        let sql = format!(
            "INSERT INTO {} (version, file_name, change_type, kind, checksum, status, started_at, applied_by, release_id, \
             task_id, statements_done, statements_total) \
             VALUES ($1, $2, $3, 'MIGRATION', $4, 'RUNNING', clock_timestamp(), $5, $6, $7, 0, $8) RETURNING id",
            self.table
        );
        // The only interpolation is the quoted history table name.
        sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&file.version)
            .bind(&file.file_name)
            .bind(&file.change_type)
            .bind(&file.checksum)
            .bind(applied_by)
            .bind(&options.release_id)
            .bind(&options.task_id)
            .bind(total)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|error| self.history_write_error(&file.version, &error))
    }

    /// Runs one statement of a `no-transaction` file, retrying it when it
    /// failed on `lock_timeout`. (Transactional files retry whole; see
    /// `apply_in_transaction`.)
    async fn run_with_retries(
        &mut self,
        index: usize,
        statement: &StatementText,
        retries: u32,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<u64, sqlx::Error> {
        let mut attempt = 0;
        loop {
            // A user's migration statement is the SQL rollgate exists to run:
            // it comes from a reviewed migration file and is sent alone, as is.
            let result = sqlx::raw_sql(AssertSqlSafe(statement.text.as_str()))
                .execute(&mut self.conn)
                .await;
            let error = match result {
                Ok(done) => return Ok(done.rows_affected()),
                Err(error) => error,
            };
            if attempt >= retries
                || sqlstate(&error).as_deref() != Some(SQLSTATE_LOCK_NOT_AVAILABLE)
            {
                return Err(error);
            }
            attempt += 1;
            let blocked_by = self.blocking_session(&statement.text).await;
            let wait = retry_wait(attempt);
            progress(Progress::LockRetry {
                index,
                attempt,
                wait,
                blocked_by,
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// Who holds a lock on a relation the statement names, as `pid N (state):
    /// query`. The statement is no longer waiting, so `pg_blocking_pids` is
    /// empty; instead every word of the statement that resolves to a relation
    /// is looked up in `pg_locks`.
    async fn blocking_session(&mut self, statement: &str) -> Option<String> {
        let names = relation_name_candidates(statement);
        if names.is_empty() {
            return None;
        }
        let query = sqlx::query(
            "SELECT a.pid, coalesce(a.state, ''), coalesce(a.application_name, ''), coalesce(a.query, '') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() \
               AND l.relation IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name) \
             ORDER BY a.xact_start NULLS LAST, a.pid LIMIT 1",
        )
        .bind(names)
        .fetch_optional(&mut self.conn)
        .await;
        // Diagnostics only: a failed lookup just leaves the holder unnamed.
        let row = query.ok()??;
        let pid: i32 = row.try_get(0).ok()?;
        let state: String = row.try_get(1).unwrap_or_default();
        let application: String = row.try_get(2).unwrap_or_default();
        let query: String = row.try_get(3).unwrap_or_default();
        let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut details = Vec::new();
        if !state.is_empty() {
            details.push(state);
        }
        if !application.is_empty() {
            details.push(format!("application {application}"));
        }
        let mut text = format!("pid {pid}");
        if !details.is_empty() {
            text.push_str(&format!(" ({})", details.join(", ")));
        }
        if !query.is_empty() {
            text.push_str(&format!(": {}", truncate_chars(&query, 100)));
        }
        Some(text)
    }

    async fn dry_run_in_transaction(&mut self, files: &[ApplyFile]) -> Result<(), EngineError> {
        for file in files {
            if file.no_transaction {
                // It cannot run inside a transaction; the plan still lists it.
                continue;
            }
            let lock_timeout = file
                .lock_timeout
                .unwrap_or(ApplyOptions::default().lock_timeout);
            let set = format!(
                "SET LOCAL lock_timeout = '{}ms'",
                duration_millis(lock_timeout)
            );
            self.control_owned(set, "setting lock_timeout").await?;
            for (index, statement) in file.statements.iter().enumerate() {
                // See `run_with_retries`: the file's own statement, sent alone.
                sqlx::raw_sql(AssertSqlSafe(statement.text.as_str()))
                    .execute(&mut self.conn)
                    .await
                    .map_err(|error| statement_failure(file, index, statement, &error))?;
            }
        }
        Ok(())
    }

    /// Takes the advisory lock, then checks that `pg_locks` shows it held by
    /// this backend: a pooler in transaction mode would hand the lock to a
    /// backend this connection no longer talks to.
    async fn verify_lock_is_ours(&mut self) -> Result<(), EngineError> {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() \
             AND classid::bigint = ($1::bigint >> 32) & 4294967295 AND objid::bigint = $1::bigint & 4294967295 \
             AND objsubid = 1)",
        )
        .bind(self.lock_key)
        .fetch_one(&mut self.conn)
        .await
        .map_err(|error| database_error(format!("checking the migration lock on {}", self.target), &error))?;
        if held {
            return Ok(());
        }
        self.locked = false;
        Err(EngineError::Database {
            context: format!("taking the migration lock on {}", self.target),
            message: "the advisory lock was granted but this backend does not hold it; a connection pooler (PgBouncer in \
                      transaction mode) is probably between rollgate and the server: connect to PostgreSQL directly"
                .into(),
        })
    }

    /// The session holding the migration lock, from `pg_locks` and
    /// `pg_stat_activity`, or `None` when the server will not say.
    async fn lock_holder(&mut self) -> Option<String> {
        let sql = format!(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'), \
             coalesce(a.state, ''), {query_start} \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND l.classid::bigint = ($1::bigint >> 32) & 4294967295 AND l.objid::bigint = $1::bigint & 4294967295 \
               AND l.objsubid = 1 LIMIT 1",
            query_start = utc_text("a.query_start"),
        );
        // The only interpolation is a constant expression.
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(self.lock_key)
            .fetch_optional(&mut self.conn)
            .await
            .ok()??;
        let pid: i32 = row.try_get(0).ok()?;
        let application: String = row.try_get(1).unwrap_or_default();
        let client: String = row.try_get(2).unwrap_or_default();
        let state: String = row.try_get(3).unwrap_or_default();
        let query_start: Option<String> = row.try_get(4).unwrap_or_default();
        let mut text = format!("pid {pid}, application_name {application:?}, client {client}");
        if !state.is_empty() {
            text.push_str(&format!(", state {state}"));
        }
        if let Some(query_start) = query_start {
            text.push_str(&format!(", last query started {query_start}"));
        }
        Some(text)
    }

    /// Creates `rollgate_history` and its partial unique index when missing.
    /// Safe when several runners start at once: a creation that loses the
    /// race fails with a duplicate error and the table is then read back.
    async fn ensure_history_table(&mut self) -> Result<(), EngineError> {
        if self.history_ready {
            return Ok(());
        }
        for _ in 0..3 {
            let (schema_exists, table_exists) = self.history_table_exists().await?;
            if !schema_exists {
                return Err(EngineError::Database {
                    context: format!(
                        "preparing the history table in database {} on {}",
                        self.database, self.endpoint
                    ),
                    message: format!(
                        "schema \"{}\" does not exist; create it (CREATE SCHEMA {}) or choose an existing history schema",
                        self.schema,
                        quote_ident(&self.schema)
                    ),
                });
            }
            if table_exists {
                self.history_ready = true;
                return Ok(());
            }
            let index = quote_ident(&format!("{HISTORY_TABLE}_one_running"));
            // Identifiers are quoted by `quote_ident`; nothing else is interpolated.
            // Sent as one simple query, the two statements form one implicit transaction.
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    version text NOT NULL,
                    file_name text NOT NULL,
                    change_type text NOT NULL,
                    kind text NOT NULL,
                    checksum text NOT NULL,
                    status text NOT NULL,
                    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    finished_at timestamptz,
                    duration_ms bigint,
                    applied_by text NOT NULL,
                    release_id text,
                    task_id text,
                    statements_done bigint NOT NULL DEFAULT 0,
                    statements_total bigint NOT NULL DEFAULT 0,
                    statements_checksum text,
                    error text,
                    note text
                );
                CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} (version) WHERE status = 'RUNNING'",
                table = self.table,
            );
            match sqlx::raw_sql(AssertSqlSafe(create))
                .execute(&mut self.conn)
                .await
            {
                Ok(_) => {
                    self.history_ready = true;
                    return Ok(());
                }
                Err(error)
                    if matches!(
                        sqlstate(&error).as_deref(),
                        Some(SQLSTATE_UNIQUE_VIOLATION) | Some(SQLSTATE_DUPLICATE_TABLE)
                    ) =>
                {
                    // Another runner created it at the same moment: read again.
                    continue;
                }
                Err(error) => {
                    return Err(database_error(
                        format!(
                            "creating {} in database {} on {}",
                            self.table, self.database, self.endpoint
                        ),
                        &error,
                    ));
                }
            }
        }
        Err(EngineError::Database {
            context: format!("creating {}", self.table),
            message: "it kept being created and dropped concurrently; retry".into(),
        })
    }

    async fn history_table_exists(&mut self) -> Result<(bool, bool), EngineError> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
             EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))",
        )
        .bind(&self.schema)
        .bind(HISTORY_TABLE)
        .fetch_one(&mut self.conn)
        .await
        .map_err(|error| database_error(format!("looking for {}", self.table), &error))?;
        let schema_exists: bool = row
            .try_get(0)
            .map_err(|error| database_error("reading pg_namespace", &error))?;
        let table_exists: bool = row
            .try_get(1)
            .map_err(|error| database_error("reading pg_class", &error))?;
        Ok((schema_exists, table_exists))
    }

    fn history_record(&self, row: &PgRow) -> Result<HistoryRecord, EngineError> {
        let bad =
            |error: sqlx::Error| database_error(format!("reading a row of {}", self.table), &error);
        let id: i64 = row.try_get(0).map_err(bad)?;
        let kind: String = row.try_get(4).map_err(bad)?;
        let status: String = row.try_get(6).map_err(bad)?;
        let unknown = |what: &str, value: &str| EngineError::Database {
            context: format!("reading row {id} of {}", self.table),
            message: format!(
                "unknown {what} {value:?}; was the row edited by hand, or written by a newer rollgate?"
            ),
        };
        Ok(HistoryRecord {
            id,
            version: row.try_get(1).map_err(bad)?,
            file_name: row.try_get(2).map_err(bad)?,
            change_type: row.try_get(3).map_err(bad)?,
            kind: RecordKind::parse(&kind).ok_or_else(|| unknown("kind", &kind))?,
            checksum: row.try_get(5).map_err(bad)?,
            status: RecordStatus::parse(&status).ok_or_else(|| unknown("status", &status))?,
            started_at: row.try_get(7).map_err(bad)?,
            finished_at: row.try_get(8).map_err(bad)?,
            duration_ms: row.try_get(9).map_err(bad)?,
            applied_by: row.try_get(10).map_err(bad)?,
            release_id: row.try_get(11).map_err(bad)?,
            task_id: row.try_get(12).map_err(bad)?,
            statements_done: row.try_get(13).map_err(bad)?,
            statements_total: row.try_get(14).map_err(bad)?,
            statements_checksum: row.try_get(15).map_err(bad)?,
            error: row.try_get(16).map_err(bad)?,
            note: row.try_get(17).map_err(bad)?,
        })
    }

    /// Who applied a file: as given (the server passes its user or service
    /// account), else the database user, like the other engines.
    fn applied_by(&self, given: Option<&str>) -> String {
        match given {
            Some(given) if !given.is_empty() => given.to_string(),
            _ => self.user.clone(),
        }
    }

    fn history_write_error(&self, version: &str, error: &sqlx::Error) -> EngineError {
        if sqlstate(error).as_deref() == Some(SQLSTATE_UNIQUE_VIOLATION) {
            return EngineError::Database {
                context: format!("recording version {version} in {}", self.table),
                message:
                    "another runner is applying this version right now (it has a RUNNING row); \
                          runners must take the migration lock first"
                        .into(),
            };
        }
        database_error(
            format!("recording version {version} in {}", self.table),
            error,
        )
    }

    /// One of rollgate's own statements (no user text, no values).
    async fn control(&mut self, sql: &'static str, context: &str) -> Result<(), EngineError> {
        sqlx::raw_sql(sql)
            .execute(&mut self.conn)
            .await
            .map_err(|error| database_error(context, &error))?;
        Ok(())
    }

    /// Like [`Self::control`], for statements built from constants and
    /// numbers rollgate formats itself.
    async fn control_owned(&mut self, sql: String, context: &str) -> Result<(), EngineError> {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await
            .map_err(|error| database_error(context, &error))?;
        Ok(())
    }
}

/// Refuses statements that end or start transactions inside a transactional
/// file: a `COMMIT` would make the file half-applied and a dry run real.
fn refuse_transaction_control(file: &ApplyFile) -> Result<(), EngineError> {
    for (index, statement) in file.statements.iter().enumerate() {
        let words = leading_words(&statement.text, 2);
        let first = words.first().map(String::as_str).unwrap_or("");
        let second = words.get(1).map(String::as_str).unwrap_or("");
        let controls = match first {
            "BEGIN" | "COMMIT" | "END" | "ABORT" | "START" => true,
            "ROLLBACK" => second != "TO",
            "PREPARE" => second == "TRANSACTION",
            _ => false,
        };
        if controls {
            return Err(EngineError::Statement(StatementFailure {
                file_name: file.file_name.clone(),
                index,
                line: statement.line,
                message: format!(
                    "{first} controls the transaction, but rollgate runs this file in a transaction of its own; \
                     remove the statement, or add `-- rollgate:no-transaction` to run the file statement by statement"
                ),
            }));
        }
    }
    Ok(())
}

/// `CREATE INDEX CONCURRENTLY` and `REINDEX … CONCURRENTLY` run without
/// `lock_timeout`: waiting, they block no reads or writes, but a timeout in
/// their later phases leaves an INVALID index behind that makes a retry fail
/// with "already exists".
fn builds_index_concurrently(text: &str) -> bool {
    let words = leading_words(text, 4);
    let word = |at: usize| words.get(at).map(String::as_str).unwrap_or("");
    match word(0) {
        "CREATE" => {
            let rest = if word(1) == "UNIQUE" { 2 } else { 1 };
            word(rest) == "INDEX" && word(rest + 1) == "CONCURRENTLY"
        }
        "REINDEX" => text.to_ascii_uppercase().contains("CONCURRENTLY"),
        _ => false,
    }
}

/// The first `count` words of a statement, uppercased, after comments.
fn leading_words(text: &str, count: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    while words.len() < count {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            words.push(rest[..end].to_ascii_uppercase());
            rest = &rest[end..];
        }
    }
    words
}

/// Words of a statement that could name a relation: plain identifiers,
/// `schema.name` pairs and quoted identifiers, in a form `to_regclass`
/// accepts without raising an error (at most two dotted parts).
fn relation_name_candidates(statement: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let flush = |current: &mut String, names: &mut Vec<String>| {
        let candidate = std::mem::take(current);
        let parts = candidate.split('.').count();
        if !candidate.is_empty()
            && parts <= 2
            && !candidate.starts_with('.')
            && !candidate.ends_with('.')
            && !candidate.contains("..")
            && candidate
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"')
            && !candidate.contains("\"\"")
            && !names.contains(&candidate)
            && names.len() < 64
        {
            names.push(candidate);
        }
    };
    for c in statement.chars() {
        if quoted {
            current.push(c);
            if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            current.push(c);
            quoted = true;
        } else if c.is_alphanumeric() || c == '_' || c == '$' || c == '.' {
            current.push(c);
        } else {
            flush(&mut current, &mut names);
        }
    }
    if !quoted {
        flush(&mut current, &mut names);
    }
    names
}

/// The advisory lock key for a history table: stable across processes,
/// releases and platforms.
fn lock_key(database: &str, schema: &str) -> i64 {
    let digest = Sha256::digest(format!("rollgate:{database}.{schema}.{HISTORY_TABLE}").as_bytes());
    let mut bytes = [0_u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// A random-enough duration below `max`, from the clock's nanoseconds:
/// enough to keep concurrent runners from polling in lockstep.
/// The wait before retry `attempt` (1-based) of a statement that hit
/// `lock_timeout`: doubling from `RETRY_WAIT_FIRST` up to `RETRY_WAIT_MAX`,
/// plus up to half again as jitter so competing runners spread out.
fn retry_wait(attempt: u32) -> Duration {
    let base = RETRY_WAIT_FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(RETRY_WAIT_MAX);
    base + jitter(base / 2)
}

fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    // Multiplying by an odd constant spreads the low bits of the clock.
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if max_nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(mixed % max_nanos)
}

/// Whole milliseconds, at least 1 for a non-zero duration so that a tiny
/// `lock_timeout` never turns into 0 ("wait forever").
fn duration_millis(duration: Duration) -> i64 {
    let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    if millis == 0 && !duration.is_zero() {
        1
    } else {
        millis
    }
}

/// A timestamp column as UTC ISO 8601 text with milliseconds.
fn utc_text(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// A string as an `E'...'` literal: backslashes and quotes doubled, so its
/// meaning does not depend on `standard_conforming_strings`. PostgreSQL text
/// cannot hold NUL, so NUL characters are dropped.
fn escape_literal(value: &str) -> String {
    let escaped: String = value
        .chars()
        .filter(|c| *c != '\0')
        .collect::<String>()
        .replace('\\', "\\\\")
        .replace('\'', "''");
    format!("E'{escaped}'")
}

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|error| error.code())
        .map(|code| code.into_owned())
}

/// A database error as one line: message, SQLSTATE, detail and hint.
fn describe(error: &sqlx::Error) -> String {
    let Some(database) = error.as_database_error() else {
        return error.to_string();
    };
    let mut text = database.message().to_string();
    if let Some(code) = database.code() {
        text.push_str(&format!(" (SQLSTATE {code})"));
    }
    if let Some(pg) = database.try_downcast_ref::<PgDatabaseError>() {
        if let Some(detail) = pg.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = pg.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
    }
    text
}

pub(crate) fn database_error(context: impl Into<String>, error: &sqlx::Error) -> EngineError {
    EngineError::Database {
        context: context.into(),
        message: describe(error),
    }
}

fn statement_failure(
    file: &ApplyFile,
    index: usize,
    statement: &StatementText,
    error: &sqlx::Error,
) -> EngineError {
    EngineError::Statement(statement_failure_details(file, index, statement, error))
}

fn statement_failure_details(
    file: &ApplyFile,
    index: usize,
    statement: &StatementText,
    error: &sqlx::Error,
) -> StatementFailure {
    let mut message = describe(error);
    match sqlstate(error).as_deref() {
        Some(SQLSTATE_ACTIVE_SQL_TRANSACTION) => {
            message.push_str("; add `-- rollgate:no-transaction` to the file to run it statement by statement outside a transaction");
        }
        Some(SQLSTATE_LOCK_NOT_AVAILABLE) => {
            message.push_str(
                "; another session held a conflicting lock for longer than lock_timeout on every attempt: \
                 find it in pg_stat_activity, or raise the timeout (--lock-timeout or `-- rollgate:lock-timeout`)",
            );
        }
        _ => {}
    }
    StatementFailure {
        file_name: file.file_name.clone(),
        index,
        line: statement.line,
        message,
    }
}

/// A connection failure as advice: what went wrong at which `host:port`,
/// and what to check. Never contains the password.
fn connect_message(error: &sqlx::Error, endpoint: &str, url: &str) -> String {
    let message = match error {
        sqlx::Error::Database(database) => {
            let code = database
                .code()
                .map(|code| code.into_owned())
                .unwrap_or_default();
            let text = database.message();
            match code.as_str() {
                "3D000" => format!(
                    "{text} on PostgreSQL at {endpoint} (SQLSTATE {code}); create the database or fix its name in the URL"
                ),
                "28P01" | "28000" => format!(
                    "{text} at PostgreSQL {endpoint} (SQLSTATE {code}); check the user name and password (and pg_hba.conf)"
                ),
                "53300" => format!(
                    "{text} at PostgreSQL {endpoint} (SQLSTATE {code}); too many connections, retry later"
                ),
                _ => format!(
                    "PostgreSQL at {endpoint} refused the connection: {text} (SQLSTATE {code})"
                ),
            }
        }
        sqlx::Error::Io(io) => format!(
            "could not reach PostgreSQL at {endpoint} ({io}); check that the server is running and that the host and port are right"
        ),
        sqlx::Error::Tls(tls) => format!(
            "TLS with PostgreSQL at {endpoint} failed ({tls}); check sslmode and the certificates"
        ),
        other => format!(
            "could not connect to PostgreSQL at {endpoint} ({other}); check that the server is running and the URL"
        ),
    };
    scrub(&message, url)
}

/// Removes the URL's password from a message, in case a driver echoed it.
fn scrub(message: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .unwrap_or("");
    if password.is_empty() {
        message.to_string()
    } else {
        message.replace(password, "********")
    }
}

impl PostgresEngine {
    /// Every row of the history table, which must exist.
    async fn history_rows(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        let sql = format!(
            "SELECT id, version, file_name, change_type, kind, checksum, status, {started}, {finished}, duration_ms, \
             applied_by, release_id, task_id, statements_done, statements_total, statements_checksum, error, note \
             FROM {table} ORDER BY id",
            started = utc_text("started_at"),
            finished = utc_text("finished_at"),
            table = self.table,
        );
        // The only interpolation is the history table's name, quoted by `quote_ident`.
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut self.conn)
            .await
            .map_err(|error| database_error(format!("reading {}", self.table), &error))?;
        rows.iter().map(|row| self.history_record(row)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_depend_on_database_and_schema() {
        assert_eq!(lock_key("app", "public"), lock_key("app", "public"));
        assert_ne!(lock_key("app", "public"), lock_key("app", "audit"));
        assert_ne!(lock_key("app", "public"), lock_key("other", "public"));
    }

    #[test]
    fn transaction_control_is_found_after_comments() {
        assert_eq!(leading_words("-- note\n/* x */ commit;", 2), ["COMMIT"]);
        assert_eq!(
            leading_words("rollback to savepoint a", 2),
            ["ROLLBACK", "TO"]
        );
        assert!(leading_words("  ", 2).is_empty());
    }

    #[test]
    fn concurrent_index_builds_are_recognised() {
        assert!(builds_index_concurrently(
            "create unique index concurrently i on t (a)"
        ));
        assert!(builds_index_concurrently(
            "-- x\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)"
        ));
        assert!(builds_index_concurrently(
            "REINDEX (VERBOSE) INDEX CONCURRENTLY i"
        ));
        assert!(!builds_index_concurrently("CREATE INDEX i ON t (a)"));
        assert!(!builds_index_concurrently("DROP INDEX CONCURRENTLY i"));
    }

    #[test]
    fn relation_candidates_stay_within_what_to_regclass_accepts() {
        let names =
            relation_name_candidates("ALTER TABLE app.\"Users\" ADD COLUMN a.b.c int DEFAULT 1.5");
        assert_eq!(
            names,
            [
                "ALTER",
                "TABLE",
                "app.\"Users\"",
                "ADD",
                "COLUMN",
                "int",
                "DEFAULT"
            ]
        );
    }

    #[test]
    fn literals_are_escaped_for_any_string_setting() {
        assert_eq!(super::escape_literal("a'b\\c\0d"), "E'a''b\\\\cd'");
    }

    #[test]
    fn passwords_are_scrubbed() {
        assert_eq!(
            scrub("bad s3cret here", "postgres://u:s3cret@h/db"),
            "bad ******** here"
        );
        assert_eq!(duration_millis(Duration::from_micros(10)), 1);
        assert_eq!(truncate_chars("abcdef", 3), "abc…");
    }
}
