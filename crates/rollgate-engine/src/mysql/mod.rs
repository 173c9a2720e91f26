//! The MySQL and MariaDB engine.
//!
//! MySQL commits implicitly around every DDL statement, so a file cannot be
//! applied atomically. Instead this engine records progress after each
//! statement: a `RUNNING` history row is inserted before the first
//! statement, and after every statement that succeeds its
//! `statements_done` and `statements_checksum` are updated (autocommit). A
//! failure marks the row `FAILED` with `failed at statement k of n`; the
//! next run resumes at statement k (`ApplyFile::resume_from`), and refuses
//! when the statements that already ran were edited since.
//!
//! Files that contain only DML could run in one transaction, but every file
//! runs statement by statement so that all MySQL files share one checkpoint
//! model and one recovery story.
//!
//! Locking: a session-level named lock (`GET_LOCK`), polled with backoff on
//! the engine's one dedicated connection. Named locks are server-global, so
//! the name includes the database (hashed when it would exceed MySQL's
//! 64-character limit). The server frees it when the connection drops.
//!
//! Dry run: MySQL cannot roll DDL back, so `dry_run` executes nothing (the
//! CLI only prints the statements).
//!
//! What this is not: it never reads migration files or decides ordering.

mod dump;

use std::str::FromStr;
use std::time::{Duration, Instant};

use rollgate_migration::Checksum;
use sha2::{Digest, Sha256};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use crate::{
    Applied, ApplyFile, ApplyOptions, Engine, EngineError, EngineKind, HISTORY_TABLE,
    HistoryRecord, NewRecord, Progress, RecordKind, RecordStatus, StatementFailure, TargetUrl,
    schema,
};

/// MySQL's limit on the length of a `GET_LOCK` name.
pub const MAX_LOCK_NAME_LENGTH: usize = 64;

/// How long `connect` waits for a server that does not answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A MySQL or MariaDB target, on one dedicated connection that also holds
/// the migration lock.
pub struct MysqlEngine {
    connection: MySqlConnection,
    /// The URL without its password, for messages.
    target: String,
    /// `host:port` (or the socket path), for messages.
    endpoint: String,
    /// The URL's database: where migrations run and what `dump_schema` reads.
    database: String,
    /// Where `rollgate_history` lives.
    history_database: String,
    /// `` `db`.`rollgate_history` ``, quoted.
    history_table: String,
    lock_name: String,
    locked: bool,
    history_ready: bool,
}

impl std::fmt::Debug for MysqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlEngine")
            .field("target", &self.target)
            .field("history_database", &self.history_database)
            .field("lock_name", &self.lock_name)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

impl MysqlEngine {
    /// Connects to the database named in `url`. The history table lives in
    /// that database unless `history_database` names another one (which
    /// must exist).
    pub async fn connect(
        url: &TargetUrl,
        history_database: Option<&str>,
    ) -> Result<MysqlEngine, EngineError> {
        let target = url.redacted().to_string();
        if url.kind() != EngineKind::Mysql {
            return Err(EngineError::BadUrl(format!(
                "{target} is not a MySQL or MariaDB URL; use mysql://user:password@host:3306/database"
            )));
        }
        let mut options = MySqlConnectOptions::from_str(url.expose()).map_err(|error| {
            EngineError::BadUrl(format!("cannot read the database URL {target}: {error}"))
        })?;
        let database = match options.get_database() {
            Some(database) if !database.is_empty() => database.to_string(),
            _ => {
                return Err(EngineError::BadUrl(format!(
                    "the database URL {target} names no database; add one, as in mysql://user@host:3306/<database>"
                )));
            }
        };
        let history_database = match history_database {
            None => database.clone(),
            Some(name) => {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > 64 {
                    return Err(EngineError::BadUrl(format!(
                        "history database name \"{name}\" must be 1 to 64 characters long"
                    )));
                }
                name.to_string()
            }
        };
        let endpoint = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        // sqlx adds PIPES_AS_CONCAT to sql_mode and forces the session time
        // zone to UTC by default. Both change what a user's migration means
        // (`a || b`, `NOW()` in a DATETIME default), so migrations would not
        // run the way the mysql client runs them. rollgate reads its own
        // timestamps with UTC_TIMESTAMP(), which does not need either.
        options = options.pipes_as_concat(false);
        let exposed = url.expose().to_ascii_lowercase();
        if !exposed.contains("timezone=") && !exposed.contains("time-zone=") {
            options = options.timezone(None);
        }
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                return Err(EngineError::Connect {
                    target,
                    message: connect_message(&error, &endpoint, options.get_username(), &database),
                });
            }
            Err(_) => {
                return Err(EngineError::Connect {
                    target,
                    message: format!(
                        "no answer from the MySQL/MariaDB server at {endpoint} within {}s; check the host, the port and any firewall in between",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                });
            }
        };
        let lock_name = lock_name(&database, &history_database);
        let history_table = format!(
            "{}.{}",
            quote_identifier(&history_database),
            quote_identifier(HISTORY_TABLE)
        );
        Ok(MysqlEngine {
            connection,
            target,
            endpoint,
            database,
            history_database,
            history_table,
            lock_name,
            locked: false,
            history_ready: false,
        })
    }

    /// The `GET_LOCK` name this engine takes: `rollgate:<database>`, hashed
    /// when longer than 64 characters.
    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    /// The database migrations run in.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Closes the connection, which also frees the lock.
    pub async fn close(self) -> Result<(), EngineError> {
        let target = self.target.clone();
        self.connection
            .close()
            .await
            .map_err(|error| EngineError::Database {
                context: format!("closing the connection to {target}"),
                message: error.to_string(),
            })
    }

    fn database_error(&self, context: impl Into<String>, error: &sqlx::Error) -> EngineError {
        EngineError::Database {
            context: context.into(),
            message: format!("{} (server {})", describe(error), self.endpoint),
        }
    }

    /// Creates the history table when missing. `CREATE TABLE IF NOT EXISTS`
    /// is safe when two runners race: the second one finds the table.
    async fn ensure_history(&mut self) -> Result<(), EngineError> {
        if self.history_ready {
            return Ok(());
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                version VARCHAR(255) NOT NULL,
                file_name VARCHAR(1024) NOT NULL,
                change_type VARCHAR(16) NOT NULL,
                kind VARCHAR(16) NOT NULL,
                checksum VARCHAR(255) NOT NULL,
                status VARCHAR(16) NOT NULL,
                started_at DATETIME(3) NOT NULL,
                finished_at DATETIME(3) NULL,
                duration_ms BIGINT NULL,
                applied_by VARCHAR(255) NOT NULL,
                release_id VARCHAR(255) NULL,
                task_id VARCHAR(255) NULL,
                statements_done BIGINT NOT NULL DEFAULT 0,
                statements_total BIGINT NOT NULL DEFAULT 0,
                statements_checksum VARCHAR(255) NULL,
                error TEXT NULL,
                note TEXT NULL,
                KEY rollgate_history_version (version)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.history_table
        );
        // The only interpolated part is the quoted history database name.
        if let Err(error) = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.connection)
            .await
        {
            if mysql_error_number(&error) == Some(1049) {
                return Err(EngineError::Database {
                    context: format!("creating {}", self.history_table),
                    message: format!(
                        "the history database `{}` does not exist on {}; create it or leave the history in `{}`",
                        self.history_database, self.endpoint, self.database
                    ),
                });
            }
            return Err(self.database_error(
                format!("creating the history table {}", self.history_table),
                &error,
            ));
        }
        self.history_ready = true;
        Ok(())
    }

    async fn try_lock(&mut self) -> Result<bool, EngineError> {
        let acquired: Option<i64> = sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 0) AS SIGNED)")
            .bind(&self.lock_name)
            .fetch_one(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!("taking the migration lock {}", self.lock_name),
                    &error,
                )
            })?;
        match acquired {
            Some(1) => Ok(true),
            Some(_) => Ok(false),
            None => Err(EngineError::Database {
                context: format!("taking the migration lock {}", self.lock_name),
                message: format!(
                    "GET_LOCK returned NULL on {}; the server could not take the lock",
                    self.endpoint
                ),
            }),
        }
    }

    /// Who holds the lock, as far as the server tells: the connection id and,
    /// with the PROCESS privilege, its user, host and what it does.
    async fn lock_holder(&mut self) -> Option<String> {
        let holder: Option<i64> = sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)")
            .bind(&self.lock_name)
            .fetch_one(&mut self.connection)
            .await
            .ok()
            .flatten();
        let holder = holder?;
        let details = describe_connection(&mut self.connection, holder).await;
        Some(format!("{details}, lock name {}", self.lock_name))
    }

    /// A best-effort guess at who blocks a statement that timed out waiting
    /// for a lock: the oldest open transaction of another session.
    async fn likely_blocker(&mut self) -> Option<String> {
        let row = sqlx::query(
            "SELECT CAST(p.ID AS SIGNED), CAST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS SIGNED)
             FROM information_schema.INNODB_TRX t
             JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
             WHERE p.ID <> CONNECTION_ID()
             ORDER BY t.trx_started
             LIMIT 1",
        )
        .fetch_optional(&mut self.connection)
        .await
        .ok()??;
        let id: i64 = row.try_get(0).ok()?;
        let open_for: Option<i64> = row.try_get(1).ok()?;
        let details = describe_connection(&mut self.connection, id).await;
        Some(match open_for {
            Some(seconds) => {
                format!("probably {details}, whose transaction has been open for {seconds} s")
            }
            None => format!("probably {details}, which has an open transaction"),
        })
    }

    /// The latest `MIGRATION` row of a version, for resuming it.
    async fn latest_migration_row(
        &mut self,
        version: &str,
    ) -> Result<Option<HistoryRecord>, EngineError> {
        let sql = format!(
            "{} WHERE version = ? AND kind = 'MIGRATION' ORDER BY id DESC LIMIT 1",
            select_history(&self.history_table)
        );
        // The only interpolated part is the quoted history table name.
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(version)
            .fetch_optional(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(format!("reading {}", self.history_table), &error)
            })?;
        row.map(|row| history_record(&row, &self.history_table))
            .transpose()
    }

    /// Checks that a file may resume where its last run stopped, and marks
    /// its row `RUNNING` again. Returns the row id.
    async fn resume_row(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
    ) -> Result<i64, EngineError> {
        let context = format!(
            "resuming {} at statement {}",
            file.file_name,
            file.resume_from + 1
        );
        let total = file.statements.len();
        let refuse = |message: String| EngineError::Database {
            context: context.clone(),
            message,
        };
        if file.resume_from > total {
            return Err(refuse(format!(
                "the file has only {total} statements but resuming was asked at statement {}",
                file.resume_from + 1
            )));
        }
        let Some(row) = self.latest_migration_row(&file.version).await? else {
            return Err(refuse(format!(
                "{} has no earlier run of version {}; apply it from the first statement",
                self.history_table, file.version
            )));
        };
        if !matches!(row.status, RecordStatus::Failed | RecordStatus::Running) {
            return Err(refuse(format!(
                "the last run of version {} (history row {}) is {}, not FAILED or RUNNING; there is nothing to resume",
                file.version,
                row.id,
                row.status.as_str()
            )));
        }
        if row.statements_done != file.resume_from as i64 {
            return Err(refuse(format!(
                "history row {} says {} of {} statements ran, not {}",
                row.id, row.statements_done, row.statements_total, file.resume_from
            )));
        }
        let expected = statements_checksum(file, file.resume_from);
        if row.statements_checksum != expected {
            return Err(refuse(format!(
                "the {} statement(s) that already ran and were committed were edited since \
                 (recorded {}, now {}); restore them as they were, or fix the database by hand \
                 and run `rollgate history repair --version {}`",
                file.resume_from,
                row.statements_checksum.as_deref().unwrap_or("none"),
                expected.as_deref().unwrap_or("none"),
                file.version
            )));
        }
        let sql = format!(
            "UPDATE {} SET status = 'RUNNING', error = NULL, finished_at = NULL, checksum = ?, file_name = ?,
                change_type = ?, statements_total = ?, applied_by = COALESCE(?, CURRENT_USER()),
                release_id = ?, task_id = ?
             WHERE id = ?",
            self.history_table
        );
        // The only interpolated part is the quoted history table name.
        sqlx::query(AssertSqlSafe(sql))
            .bind(&file.checksum)
            .bind(&file.file_name)
            .bind(&file.change_type)
            .bind(total as i64)
            .bind(&options.applied_by)
            .bind(&options.release_id)
            .bind(&options.task_id)
            .bind(row.id)
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(format!("updating {}", self.history_table), &error)
            })?;
        Ok(row.id)
    }

    async fn insert_running_row(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
    ) -> Result<i64, EngineError> {
        let sql = format!(
            "INSERT INTO {} (version, file_name, change_type, kind, checksum, status, started_at, applied_by,
                release_id, task_id, statements_done, statements_total)
             VALUES (?, ?, ?, 'MIGRATION', ?, 'RUNNING', UTC_TIMESTAMP(3), COALESCE(?, CURRENT_USER()), ?, ?, 0, ?)",
            self.history_table
        );
        // The only interpolated part is the quoted history table name.
        let result = sqlx::query(AssertSqlSafe(sql))
            .bind(&file.version)
            .bind(&file.file_name)
            .bind(&file.change_type)
            .bind(&file.checksum)
            .bind(&options.applied_by)
            .bind(&options.release_id)
            .bind(&options.task_id)
            .bind(file.statements.len() as i64)
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!("recording {} in {}", file.file_name, self.history_table),
                    &error,
                )
            })?;
        Ok(result.last_insert_id() as i64)
    }

    /// Runs one statement, retrying lock wait timeouts and deadlocks.
    async fn run_statement(
        &mut self,
        index: usize,
        text: &str,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<u64, sqlx::Error> {
        let mut attempt = 0;
        loop {
            // A migration statement is the user's SQL by definition; it runs
            // alone (never joined with others) over the text protocol so that
            // DDL and procedure bodies work as in the mysql client.
            match sqlx::raw_sql(AssertSqlSafe(text.to_string()))
                .execute(&mut self.connection)
                .await
            {
                Ok(result) => return Ok(result.rows_affected()),
                Err(error) => {
                    let retryable = matches!(
                        mysql_error_number(&error),
                        Some(ERROR_LOCK_WAIT_TIMEOUT | ERROR_DEADLOCK)
                    );
                    if !retryable || attempt >= options.lock_retries {
                        return Err(error);
                    }
                    attempt += 1;
                    let wait = retry_wait(attempt);
                    let blocked_by = self.likely_blocker().await;
                    progress(Progress::LockRetry {
                        index,
                        attempt,
                        wait,
                        blocked_by,
                    });
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn record_failure(
        &mut self,
        row_id: i64,
        error_text: &str,
        elapsed: Duration,
    ) -> Result<(), sqlx::Error> {
        // Ends a transaction the file may have opened itself (`START
        // TRANSACTION` in a MySQL file), so the FAILED mark is not lost with
        // it when the connection closes. Harmless under autocommit.
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.connection)
            .await?;
        let sql = format!(
            "UPDATE {} SET status = 'FAILED', error = ?, finished_at = UTC_TIMESTAMP(3),
                duration_ms = COALESCE(duration_ms, 0) + ?
             WHERE id = ?",
            self.history_table
        );
        // The only interpolated part is the quoted history table name.
        sqlx::query(AssertSqlSafe(sql))
            .bind(truncate(error_text, 8000))
            .bind(elapsed.as_millis() as i64)
            .bind(row_id)
            .execute(&mut self.connection)
            .await?;
        Ok(())
    }
}

impl Engine for MysqlEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Mysql
    }

    async fn lock(&mut self, timeout: Duration) -> Result<(), EngineError> {
        // A session can take the same named lock twice and would then need
        // two releases; keep one.
        if self.locked {
            return Ok(());
        }
        let started = Instant::now();
        let mut wait = Duration::from_millis(25);
        loop {
            if self.try_lock().await? {
                self.locked = true;
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= timeout {
                let holder = self.lock_holder().await;
                // Whole milliseconds read better in the message.
                let waited = Duration::from_millis(waited.as_millis() as u64);
                return Err(EngineError::Locked {
                    target: self.target.clone(),
                    waited,
                    holder,
                });
            }
            tokio::time::sleep(wait.min(timeout - waited)).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    async fn unlock(&mut self) -> Result<(), EngineError> {
        if !self.locked {
            return Ok(());
        }
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&self.lock_name)
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!("releasing the migration lock {}", self.lock_name),
                    &error,
                )
            })?;
        self.locked = false;
        Ok(())
    }

    async fn read_history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        if !self.history_ready {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            )
            .bind(&self.history_database)
            .bind(crate::HISTORY_TABLE)
            .fetch_optional(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(format!("looking for {}", self.history_table), &error)
            })?;
            if exists.is_none() {
                return Ok(Vec::new());
            }
        }
        let sql = format!("{} ORDER BY id", select_history(&self.history_table));
        // The only interpolated part is the quoted history table name.
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(format!("reading {}", self.history_table), &error)
            })?;
        rows.iter()
            .map(|row| history_record(row, &self.history_table))
            .collect()
    }

    async fn history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        self.ensure_history().await?;
        let sql = format!("{} ORDER BY id", select_history(&self.history_table));
        // The only interpolated part is the quoted history table name.
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(format!("reading {}", self.history_table), &error)
            })?;
        rows.iter()
            .map(|row| history_record(row, &self.history_table))
            .collect()
    }

    async fn apply(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        self.ensure_history().await?;
        let started = Instant::now();
        let total = file.statements.len();
        let row_id = if file.resume_from > 0 {
            self.resume_row(file, options).await?
        } else {
            self.insert_running_row(file, options).await?
        };

        // Every file starts in the URL's database, even when an earlier file
        // switched away with `USE`, as it would in a fresh mysql client.
        let use_database = format!("USE {}", quote_identifier(&self.database));
        // The only interpolated part is the quoted database name.
        sqlx::raw_sql(AssertSqlSafe(use_database))
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!(
                        "selecting database `{}` for {}",
                        self.database, file.file_name
                    ),
                    &error,
                )
            })?;

        // lock_wait_timeout bounds how long DDL waits for a metadata lock;
        // MySQL counts it in whole seconds, at least one.
        let lock_timeout = file.lock_timeout.unwrap_or(options.lock_timeout);
        let seconds = lock_timeout.as_millis().div_ceil(1000).max(1);
        let setting = format!("SET SESSION lock_wait_timeout = {seconds}");
        // The only interpolated part is an integer.
        sqlx::raw_sql(AssertSqlSafe(setting))
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!("setting lock_wait_timeout for {}", file.file_name),
                    &error,
                )
            })?;

        let update_progress = format!(
            "UPDATE {} SET statements_done = ?, statements_checksum = ?, statements_total = ? WHERE id = ?",
            self.history_table
        );
        let mut done_text = file.statements[..file.resume_from.min(total)]
            .iter()
            .map(|statement| statement.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for index in file.resume_from..total {
            let statement = &file.statements[index];
            progress(Progress::StatementStarted {
                index,
                total,
                line: statement.line,
            });
            let statement_started = Instant::now();
            match self
                .run_statement(index, &statement.text, options, progress)
                .await
            {
                Ok(rows_affected) => {
                    if index > 0 {
                        done_text.push('\n');
                    }
                    done_text.push_str(&statement.text);
                    // The only interpolated part is the quoted history table name.
                    sqlx::query(AssertSqlSafe(update_progress.clone()))
                        .bind((index + 1) as i64)
                        .bind(Checksum::of(&done_text).to_string())
                        .bind(total as i64)
                        .bind(row_id)
                        .execute(&mut self.connection)
                        .await
                        .map_err(|error| {
                            self.database_error(
                                format!(
                                    "recording that statement {} of {} in {} succeeded (it is committed; \
                                     history row {row_id} still says {index} done)",
                                    index + 1,
                                    total,
                                    file.file_name
                                ),
                                &error,
                            )
                        })?;
                    progress(Progress::StatementFinished {
                        index,
                        rows_affected,
                        duration: statement_started.elapsed(),
                    });
                }
                Err(error) => {
                    let (message, code) = statement_error(&error);
                    let history_error = format!(
                        "failed at statement {} of {}: {message} ({code})",
                        index + 1,
                        total
                    );
                    let recorded = self
                        .record_failure(row_id, &history_error, started.elapsed())
                        .await;
                    let committed = match index {
                        0 => "no statement of it ran".to_string(),
                        1 => "statement 1 ran and stays committed (MySQL cannot roll DDL back)"
                            .to_string(),
                        k => format!(
                            "statements 1 to {k} ran and stay committed (MySQL cannot roll DDL back)"
                        ),
                    };
                    let mut message = format!(
                        "{message} ({code}); {committed}; fix statement {} and re-run to resume there",
                        index + 1
                    );
                    if let Err(record_error) = recorded {
                        message.push_str(&format!(
                            "; recording the failure in {} also failed: {}",
                            self.history_table,
                            describe(&record_error)
                        ));
                    }
                    return Err(EngineError::Statement(StatementFailure {
                        file_name: file.file_name.clone(),
                        index,
                        line: statement.line,
                        message,
                    }));
                }
            }
        }

        let duration = started.elapsed();
        let sql = format!(
            "UPDATE {} SET status = 'SUCCEEDED', error = NULL, finished_at = UTC_TIMESTAMP(3),
                duration_ms = COALESCE(duration_ms, 0) + ?, statements_done = ?, statements_checksum = ?,
                statements_total = ?
             WHERE id = ?",
            self.history_table
        );
        // The only interpolated part is the quoted history table name.
        sqlx::query(AssertSqlSafe(sql))
            .bind(duration.as_millis() as i64)
            .bind(total as i64)
            .bind(statements_checksum(file, total))
            .bind(total as i64)
            .bind(row_id)
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!(
                        "recording {} as applied (all its statements ran and are committed; history row {row_id} still says RUNNING)",
                        file.file_name
                    ),
                    &error,
                )
            })?;
        Ok(Applied {
            duration,
            statements: total - file.resume_from.min(total),
        })
    }

    async fn record(&mut self, record: &NewRecord) -> Result<(), EngineError> {
        self.ensure_history().await?;
        let sql = format!(
            "INSERT INTO {} (version, file_name, change_type, kind, checksum, status, started_at, finished_at,
                applied_by, statements_done, statements_total, note)
             VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), COALESCE(?, CURRENT_USER()), 0, 0, ?)",
            self.history_table
        );
        // The only interpolated part is the quoted history table name.
        sqlx::query(AssertSqlSafe(sql))
            .bind(&record.version)
            .bind(&record.file_name)
            .bind(&record.change_type)
            .bind(record.kind.as_str())
            .bind(&record.checksum)
            .bind(record.status.as_str())
            .bind(&record.applied_by)
            .bind(&record.note)
            .execute(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(
                    format!(
                        "recording a {} row for version {} in {}",
                        record.kind.as_str(),
                        record.version,
                        self.history_table
                    ),
                    &error,
                )
            })?;
        Ok(())
    }

    /// MySQL commits DDL implicitly, so there is no transaction to roll
    /// back: nothing is executed here and the CLI only prints the
    /// statements.
    async fn dry_run(&mut self, _files: &[ApplyFile]) -> Result<(), EngineError> {
        Ok(())
    }

    async fn table_rows(&mut self) -> Result<std::collections::BTreeMap<String, u64>, EngineError> {
        let database = self.database.clone();
        let rows: Vec<(String, Option<u64>)> = sqlx::query_as(
            "SELECT CAST(table_name AS CHAR), CAST(table_rows AS UNSIGNED) FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE'",
        )
        .bind(&database)
        .fetch_all(&mut self.connection)
        .await
        .map_err(|error| self.database_error(format!("reading table statistics of `{database}`"), &error))?;
        Ok(rows
            .into_iter()
            .filter(|(name, _)| name != crate::HISTORY_TABLE)
            .filter_map(|(name, rows)| Some((name, rows?)))
            .collect())
    }

    async fn explain_rows(&mut self, sql: &str) -> Result<Option<u64>, EngineError> {
        // A prepared statement: one statement only. The tabular plan has a
        // `rows` estimate per table read.
        let explained = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut self.connection)
            .await;
        let Ok(rows) = explained else {
            return Ok(None);
        };
        Ok(rows
            .iter()
            .filter_map(|row| {
                use sqlx::Row as _;
                // MariaDB types the column VARCHAR, MySQL BIGINT UNSIGNED.
                row.try_get::<Option<u64>, _>("rows")
                    .ok()
                    .flatten()
                    .or_else(|| {
                        row.try_get::<Option<String>, _>("rows")
                            .ok()
                            .flatten()
                            .and_then(|text| text.trim().parse().ok())
                    })
            })
            .max())
    }

    async fn dump_schema(&mut self) -> Result<schema::SchemaSnapshot, EngineError> {
        let database = self.database.clone();
        dump::dump(&mut self.connection, &database)
            .await
            .map_err(|error| {
                self.database_error(format!("reading the schema of `{database}`"), &error)
            })
    }
}

const ERROR_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ERROR_DEADLOCK: u16 = 1213;

/// `rollgate:<database>`, plus `:<history database>` when the history lives
/// elsewhere. Longer than 64 characters, it becomes `rollgate:` and a hex
/// SHA-256 prefix of the same text.
fn lock_name(database: &str, history_database: &str) -> String {
    let scope = if database == history_database {
        database.to_string()
    } else {
        format!("{database}:{history_database}")
    };
    let name = format!("rollgate:{scope}");
    if name.chars().count() <= MAX_LOCK_NAME_LENGTH {
        return name;
    }
    let digest = Sha256::digest(scope.as_bytes());
    let hex: String = digest
        .iter()
        .take(20)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("rollgate:{hex}")
}

fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The checksum over the first `count` statements, or `None` for none.
fn statements_checksum(file: &ApplyFile, count: usize) -> Option<String> {
    if count == 0 {
        return None;
    }
    let text = file.statements[..count.min(file.statements.len())]
        .iter()
        .map(|statement| statement.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Some(Checksum::of(&text).to_string())
}

fn select_history(history_table: &str) -> String {
    format!(
        "SELECT id, version, file_name, change_type, kind, checksum, status,
            CONCAT(LEFT(DATE_FORMAT(started_at, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z') AS started_at,
            CONCAT(LEFT(DATE_FORMAT(finished_at, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z') AS finished_at,
            duration_ms, applied_by, release_id, task_id, statements_done, statements_total,
            statements_checksum, error, note
         FROM {history_table}"
    )
}

fn history_record(row: &MySqlRow, history_table: &str) -> Result<HistoryRecord, EngineError> {
    let read_error = |error: sqlx::Error| EngineError::Database {
        context: format!("reading {history_table}"),
        message: format!("{error}; was the table changed by hand?"),
    };
    let id: i64 = row.try_get("id").map_err(read_error)?;
    let kind_text: String = row.try_get("kind").map_err(read_error)?;
    let status_text: String = row.try_get("status").map_err(read_error)?;
    let kind = RecordKind::parse(&kind_text).ok_or_else(|| EngineError::Database {
        context: format!("reading {history_table}"),
        message: format!(
            "row {id} has the unknown kind \"{kind_text}\"; was it written by a newer rollgate?"
        ),
    })?;
    let status = RecordStatus::parse(&status_text).ok_or_else(|| EngineError::Database {
        context: format!("reading {history_table}"),
        message: format!(
            "row {id} has the unknown status \"{status_text}\"; was it written by a newer rollgate?"
        ),
    })?;
    Ok(HistoryRecord {
        id,
        version: row.try_get("version").map_err(read_error)?,
        file_name: row.try_get("file_name").map_err(read_error)?,
        change_type: row.try_get("change_type").map_err(read_error)?,
        kind,
        checksum: row.try_get("checksum").map_err(read_error)?,
        status,
        started_at: row.try_get("started_at").map_err(read_error)?,
        finished_at: row.try_get("finished_at").map_err(read_error)?,
        duration_ms: row.try_get("duration_ms").map_err(read_error)?,
        applied_by: row.try_get("applied_by").map_err(read_error)?,
        release_id: row.try_get("release_id").map_err(read_error)?,
        task_id: row.try_get("task_id").map_err(read_error)?,
        statements_done: row.try_get("statements_done").map_err(read_error)?,
        statements_total: row.try_get("statements_total").map_err(read_error)?,
        statements_checksum: row.try_get("statements_checksum").map_err(read_error)?,
        error: row.try_get("error").map_err(read_error)?,
        note: row.try_get("note").map_err(read_error)?,
    })
}

/// `connection 42 (root@10.0.0.5:51234, Sleep for 3 s)`; only the id when
/// the server does not show other sessions (no PROCESS privilege).
async fn describe_connection(connection: &mut MySqlConnection, id: i64) -> String {
    let row = sqlx::query(
        "SELECT CAST(USER AS CHAR), CAST(HOST AS CHAR), CAST(COMMAND AS CHAR), CAST(TIME AS SIGNED)
         FROM information_schema.PROCESSLIST WHERE ID = ?",
    )
    .bind(id)
    .fetch_optional(&mut *connection)
    .await;
    let Ok(Some(row)) = row else {
        return format!("connection {id}");
    };
    let user: Option<String> = row.try_get(0).ok().flatten();
    let host: Option<String> = row.try_get(1).ok().flatten();
    let command: Option<String> = row.try_get(2).ok().flatten();
    let time: Option<i64> = row.try_get(3).ok().flatten();
    let mut text = format!(
        "connection {id} ({}@{}",
        user.unwrap_or_default(),
        host.unwrap_or_default()
    );
    if let Some(command) = command {
        text.push_str(&format!(", {command}"));
        if let Some(time) = time {
            text.push_str(&format!(" for {time} s"));
        }
    }
    text.push(')');
    text
}

fn mysql_error_number(error: &sqlx::Error) -> Option<u16> {
    match error {
        sqlx::Error::Database(database) => database
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(|e| e.number()),
        _ => None,
    }
}

/// The server's message and `error N, SQLSTATE S` for a failed statement.
fn statement_error(error: &sqlx::Error) -> (String, String) {
    match error {
        sqlx::Error::Database(database) => {
            match database.try_downcast_ref::<MySqlDatabaseError>() {
                Some(mysql) => {
                    let code = match mysql.code() {
                        Some(state) => format!("error {}, SQLSTATE {state}", mysql.number()),
                        None => format!("error {}", mysql.number()),
                    };
                    (mysql.message().to_string(), code)
                }
                None => (database.message().to_string(), "error unknown".to_string()),
            }
        }
        other => (
            describe(other),
            "no error code: the connection failed, the statement may or may not have run"
                .to_string(),
        ),
    }
}

fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(database) => {
            match database.try_downcast_ref::<MySqlDatabaseError>() {
                Some(mysql) => format!("{} (error {})", mysql.message(), mysql.number()),
                None => database.message().to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// What went wrong connecting and what to check; never the password.
fn connect_message(error: &sqlx::Error, endpoint: &str, user: &str, database: &str) -> String {
    match error {
        sqlx::Error::Io(io) => format!(
            "could not reach the MySQL/MariaDB server at {endpoint} ({io}); check that the server is running and that the host and port are right"
        ),
        sqlx::Error::Tls(tls) => {
            format!(
                "the TLS handshake with {endpoint} failed ({tls}); check the server's certificate or the URL's ssl-mode"
            )
        }
        sqlx::Error::Database(_) => match mysql_error_number(error) {
            Some(1045) => format!(
                "access denied for user \"{user}\" at {endpoint}: {}; check the user name and the password in the URL",
                describe(error)
            ),
            Some(1044) => format!(
                "user \"{user}\" may not use database \"{database}\" at {endpoint}: {}; grant access or use another user",
                describe(error)
            ),
            Some(1049) => format!(
                "database \"{database}\" does not exist at {endpoint}; create it (CREATE DATABASE) or fix the URL"
            ),
            _ => format!(
                "the server at {endpoint} refused the connection: {}",
                describe(error)
            ),
        },
        other => format!("connecting to {endpoint} failed: {other}"),
    }
}

/// Jittered exponential backoff between lock retries: 250 ms doubling up
/// to 8 s, each scaled by a random factor in [0.5, 1).
fn retry_wait(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = Duration::from_millis(250)
        .saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(8));
    // A fresh RandomState is randomly keyed: enough randomness for jitter
    // without another dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    base.mul_f64(0.5 + (random % 1000) as f64 / 2000.0)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_mysql_limit() {
        assert_eq!(lock_name("shop", "shop"), "rollgate:shop");
        assert_eq!(lock_name("shop", "meta"), "rollgate:shop:meta");
        let long = "d".repeat(64);
        let name = lock_name(&long, &long);
        assert!(name.len() <= MAX_LOCK_NAME_LENGTH, "{name}");
        assert_ne!(name, lock_name(&"e".repeat(64), &"e".repeat(64)));
    }

    #[test]
    fn retry_waits_grow_and_stay_bounded() {
        for attempt in 1..20 {
            let wait = retry_wait(attempt);
            assert!(
                wait >= Duration::from_millis(125) && wait <= Duration::from_secs(8),
                "{wait:?}"
            );
        }
    }
}
