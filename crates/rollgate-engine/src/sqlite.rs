//! The SQLite engine: one dedicated `sqlx` connection to a database file
//! (`sqlite://path`, created when missing) or to an in-memory database.
//!
//! Each transactional file runs in one `BEGIN IMMEDIATE` transaction
//! together with its history row, so a file that fails leaves no trace. A
//! `-- rollgate:no-transaction` file runs statement by statement, with a
//! `RUNNING` history row whose progress is updated after each statement;
//! SQLite could run most such files in a transaction, but the directive is
//! honoured so a file behaves the same on every engine (and `VACUUM`,
//! `ATTACH` and `PRAGMA foreign_keys` really need it: a transactional file
//! that contains one is refused before anything runs).
//!
//! Locking. SQLite has no advisory locks, and one write transaction cannot
//! span a run (each file must commit on its own, and `VACUUM` cannot run in
//! one). So the migration lock is an exclusive OS file lock (`flock`, via
//! `File::try_lock`) on a sidecar file, `<database>-rollgate-lock`, held from
//! `lock()` to `unlock()`. The operating system releases it when the
//! process exits or is killed, so a crash never leaves a stale lock behind
//! (the classic complaint about lock rows). The file holds the holder's pid,
//! user and start time, which a waiting runner names in its error. It is
//! never deleted: deleting a lock file that another process has open lets
//! two runners lock two different files. On top of that, every file runs
//! under `BEGIN IMMEDIATE` with `busy_timeout` set to the lock timeout, so
//! writers that are not rollgate are waited for too, and the history is
//! checked again inside that transaction, so a version is never applied
//! twice even by a runner that skipped `lock()`. An in-memory database has
//! no file and no other user: it gets no file lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use rollgate_migration::statements_checksum_prefixes;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Row, SqliteConnection};

use crate::schema::{
    ColumnSnapshot, ConstraintSnapshot, IndexSnapshot, SchemaSnapshot, TableSnapshot, ViewSnapshot,
};
use crate::{
    Applied, ApplyFile, ApplyOptions, Engine, EngineError, EngineKind, HISTORY_TABLE,
    HistoryRecord, NewRecord, Progress, RecordKind, RecordStatus, StatementFailure, StatementText,
    TargetUrl,
};

/// A connection to one SQLite database, holding the migration lock between
/// `lock()` and `unlock()`.
pub struct SqliteEngine {
    connection: SqliteConnection,
    /// The redacted URL, for messages.
    target: String,
    /// `<database>-rollgate-lock`; `None` for an in-memory database.
    lock_path: Option<PathBuf>,
    /// Open and exclusively locked while the migration lock is held.
    lock_file: Option<File>,
    /// The history table is known to exist.
    history_ready: bool,
}

/// The suffix of the lock file next to the database file.
pub const LOCK_FILE_SUFFIX: &str = "-rollgate-lock";

impl SqliteEngine {
    /// Opens (creating when missing) the database `url` names. SQLite has
    /// no schemas: the history table always lives in the database itself,
    /// so `history_schema` must be `None` or `main`.
    pub async fn connect(
        url: &TargetUrl,
        history_schema: Option<&str>,
    ) -> Result<SqliteEngine, EngineError> {
        let target = url.redacted().to_string();
        if url.kind() != EngineKind::Sqlite {
            return Err(EngineError::BadUrl(format!(
                "{target} is not a SQLite URL; write sqlite://path/to/file.db"
            )));
        }
        if let Some(schema) = history_schema
            && !schema.eq_ignore_ascii_case("main")
        {
            return Err(EngineError::BadUrl(format!(
                "SQLite has no schemas: the history table {HISTORY_TABLE} always lives in the database file {target} itself, \
                 so the history schema \"{schema}\" cannot be used; leave the history schema unset"
            )));
        }
        let options =
            SqliteConnectOptions::from_str(url.expose()).map_err(|error| EngineError::Connect {
                target: target.clone(),
                message: format!(
                    "the URL is not a valid SQLite URL ({error}); write sqlite://path/to/file.db"
                ),
            })?;
        let path = options.get_filename().display().to_string();
        let mut connection = SqliteConnection::connect_with(&options)
            .await
            .map_err(|error| connect_error(&target, &path, &error))?;
        // Opening does not read the file; this does, so a file that is not a
        // database fails here rather than in the middle of a run.
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sqlite_master")
            .fetch_one(&mut connection)
            .await
            .map_err(|error| connect_error(&target, &path, &error))?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut connection)
                .await
                .map_err(|error| connect_error(&target, &path, &error))?;
        // SQLite reports an empty file name for in-memory and temporary
        // databases, and the full path otherwise.
        let lock_path = (!file.is_empty()).then(|| {
            let file = std::fs::canonicalize(&file).unwrap_or_else(|_| PathBuf::from(&file));
            let mut name = file.into_os_string();
            name.push(LOCK_FILE_SUFFIX);
            PathBuf::from(name)
        });
        Ok(SqliteEngine {
            connection,
            target,
            lock_path,
            lock_file: None,
            history_ready: false,
        })
    }

    /// The lock file next to the database; `None` for an in-memory database.
    pub fn lock_file_path(&self) -> Option<&Path> {
        self.lock_path.as_deref()
    }
}

impl Engine for SqliteEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    async fn lock(&mut self, timeout: Duration) -> Result<(), EngineError> {
        let started = Instant::now();
        if self.lock_file.is_none()
            && let Some(path) = self.lock_path.clone()
        {
            let file = self.take_file_lock(&path, timeout, started).await?;
            self.lock_file = Some(file);
        }
        // The lock is ours. Make sure the database itself can be written in
        // the time left: another program may hold a write transaction, or
        // the file may be read-only.
        self.set_busy_timeout(timeout.saturating_sub(started.elapsed()))
            .await?;
        let target = self.target.clone();
        let doing = "checking that the database can be written";
        let checked = match self.connection.begin_with("BEGIN IMMEDIATE").await {
            // A read-only connection can begin a write transaction; only a
            // write tells. This one is rolled back.
            Ok(mut transaction) => match sqlx::raw_sql("CREATE TABLE rollgate_write_check (x)")
                .execute(&mut *transaction)
                .await
            {
                Ok(_) => transaction
                    .rollback()
                    .await
                    .map_err(|error| begin_error(&target, &error, Some(timeout), doing)),
                Err(error) => Err(begin_error(&target, &error, Some(timeout), doing)),
            },
            Err(error) => Err(begin_error(&target, &error, Some(timeout), doing)),
        };
        if checked.is_err() {
            // Best effort: the lock check already failed, which is the error to report.
            let _ = self.release_file_lock();
            return checked;
        }
        // Later writes (history rows, baselines) wait as long as the lock did.
        self.set_busy_timeout(timeout).await
    }

    async fn unlock(&mut self) -> Result<(), EngineError> {
        self.release_file_lock()
    }

    async fn read_history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        if !self.history_ready {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollgate_history'",
            )
            .fetch_optional(&mut self.connection)
            .await
            .map_err(|error| {
                self.database_error(&format!("looking for {HISTORY_TABLE}"), &error)
            })?;
            if exists.is_none() {
                return Ok(Vec::new());
            }
        }
        self.history_rows().await
    }

    async fn history(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        if !self.ensure_history(true).await? {
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
        if file.resume_from > file.statements.len() {
            return Err(EngineError::Database {
                context: format!("applying {} to {}", file.file_name, self.target),
                message: format!(
                    "cannot resume at statement {} of a file with {} statements; plan the run again",
                    file.resume_from + 1,
                    file.statements.len()
                ),
            });
        }
        if !file.no_transaction
            && let Some(refusal) = refusal_in_transaction(file)
        {
            return Err(EngineError::Statement(refusal));
        }
        self.ensure_history(false).await?;
        self.set_busy_timeout(file.lock_timeout.unwrap_or(options.lock_timeout))
            .await?;
        if file.no_transaction {
            self.apply_statement_by_statement(file, options, progress)
                .await
        } else {
            self.apply_in_transaction(file, options, progress).await
        }
    }

    async fn record(&mut self, record: &NewRecord) -> Result<(), EngineError> {
        self.ensure_history(false).await?;
        sqlx::query(
            "INSERT INTO rollgate_history (version, file_name, change_type, kind, checksum, status, started_at, finished_at, \
             duration_ms, applied_by, statements_done, statements_total, note) \
             VALUES (?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0, ?, 0, 0, ?)",
        )
        .bind(&record.version)
        .bind(&record.file_name)
        .bind(&record.change_type)
        .bind(record.kind.as_str())
        .bind(&record.checksum)
        .bind(record.status.as_str())
        .bind(record.applied_by.clone().unwrap_or_else(os_user))
        .bind(&record.note)
        .execute(&mut self.connection)
        .await
        .map_err(|error| self.database_error(&format!("recording {} for version {}", record.kind.as_str(), record.version), &error))?;
        Ok(())
    }

    async fn dry_run(&mut self, files: &[ApplyFile]) -> Result<(), EngineError> {
        for file in files {
            if !file.no_transaction
                && let Some(refusal) = refusal_in_transaction(file)
            {
                return Err(EngineError::Statement(refusal));
            }
        }
        let target = self.target.clone();
        let mut transaction = self
            .connection
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|error| {
                begin_error(&target, &error, None, "starting the dry-run transaction")
            })?;
        for file in files {
            for (index, statement) in file.statements.iter().enumerate().skip(file.resume_from) {
                // A no-transaction file's VACUUM, ATTACH or PRAGMA cannot be
                // rehearsed inside the dry run's transaction; none of them
                // changes the schema the later statements see.
                if file.no_transaction && transaction_problem(&statement.text).is_some() {
                    continue;
                }
                // The user's own migration SQL: running it is the point, and
                // it is what they asked rollgate to run against this database.
                if let Err(error) = sqlx::raw_sql(AssertSqlSafe(statement.text.clone()))
                    .execute(&mut *transaction)
                    .await
                {
                    // Best effort: the statement's error is what to report,
                    // and dropping the transaction rolls it back anyway.
                    let _ = transaction.rollback().await;
                    return Err(EngineError::Statement(statement_failure(
                        file, index, statement, &error,
                    )));
                }
            }
        }
        transaction
            .rollback()
            .await
            .map_err(|error| self.database_error("rolling back the dry run", &error))
    }

    /// SQLite keeps no row estimates unless `ANALYZE` ran, and then only
    /// per index; counting would scan every table, so there are none.
    async fn table_rows(&mut self) -> Result<std::collections::BTreeMap<String, u64>, EngineError> {
        Ok(std::collections::BTreeMap::new())
    }

    /// SQLite's `EXPLAIN QUERY PLAN` has no row estimates.
    async fn explain_rows(&mut self, _sql: &str) -> Result<Option<u64>, EngineError> {
        Ok(None)
    }

    async fn dump_schema(&mut self) -> Result<SchemaSnapshot, EngineError> {
        let context = "reading the schema";
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND name <> 'rollgate_history' ORDER BY name",
        )
        .fetch_all(&mut self.connection)
        .await
        .map_err(|error| self.database_error(context, &error))?;
        let mut snapshot = SchemaSnapshot::default();
        for name in names {
            let table = self
                .table_snapshot(&name)
                .await
                .map_err(|error| self.database_error(&format!("reading table {name}"), &error))?;
            snapshot.tables.push(table);
        }
        let views: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
                .fetch_all(&mut self.connection)
                .await
                .map_err(|error| self.database_error(context, &error))?;
        snapshot.views = views
            .into_iter()
            .map(|(name, sql)| ViewSnapshot {
                name,
                definition: normalize_sql(sql.as_deref().unwrap_or("")),
                materialized: false,
            })
            .collect();
        Ok(snapshot.normalize())
    }
}

impl SqliteEngine {
    /// Polls the lock file's exclusive lock with backoff until `timeout`.
    async fn take_file_lock(
        &mut self,
        path: &Path,
        timeout: Duration,
        started: Instant,
    ) -> Result<File, EngineError> {
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(|error| EngineError::Database {
                context: format!("opening the lock file {}", path.display()),
                message: format!("{error}; rollgate keeps it next to the database, so check that the directory is writable"),
            })?;
        let mut pause = Duration::from_millis(25);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let waited = started.elapsed();
                    if waited >= timeout {
                        return Err(EngineError::Locked {
                            target: self.target.clone(),
                            waited: timeout,
                            holder: read_holder(path),
                        });
                    }
                    tokio::time::sleep(pause.min(timeout - waited)).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(TryLockError::Error(error)) => {
                    return Err(EngineError::Database {
                        context: format!("locking {}", path.display()),
                        message: format!(
                            "{error}; the file system must support file locks (flock)"
                        ),
                    });
                }
            }
        }
        let since: String = sqlx::query_scalar("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')")
            .fetch_one(&mut self.connection)
            .await
            .map_err(|error| self.database_error("reading the time", &error))?;
        let holder = format!(
            "rollgate pid {} (user {}) since {since}",
            std::process::id(),
            os_user()
        );
        write_holder(&mut file, &holder).map_err(|error| EngineError::Database {
            context: format!("writing the lock file {}", path.display()),
            message: error.to_string(),
        })?;
        Ok(file)
    }

    fn release_file_lock(&mut self) -> Result<(), EngineError> {
        let Some(file) = self.lock_file.take() else {
            return Ok(());
        };
        // Best effort: a stale holder line is only shown to a runner that
        // finds the file locked, which it no longer is.
        let _ = file.set_len(0);
        file.unlock().map_err(|error| EngineError::Database {
            context: format!(
                "unlocking {}",
                self.lock_path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            message: format!("{error}; the lock is released anyway when rollgate exits"),
        })
    }

    /// Creates the history table when missing. With `tolerate_read_only`, a
    /// read-only database without one returns `false` (nothing was applied
    /// there) instead of failing.
    async fn ensure_history(&mut self, tolerate_read_only: bool) -> Result<bool, EngineError> {
        if self.history_ready {
            return Ok(true);
        }
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollgate_history'",
        )
        .fetch_optional(&mut self.connection)
        .await
        .map_err(|error| self.database_error(&format!("looking for {HISTORY_TABLE}"), &error))?;
        if exists.is_none() {
            // IF NOT EXISTS: two runners may both find it missing.
            if let Err(error) = sqlx::raw_sql(CREATE_HISTORY)
                .execute(&mut self.connection)
                .await
            {
                if tolerate_read_only && primary_code(&error) == Some(SQLITE_READONLY) {
                    return Ok(false);
                }
                return Err(self.database_error(&format!("creating {HISTORY_TABLE}"), &error));
            }
        }
        self.history_ready = true;
        Ok(true)
    }

    async fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), EngineError> {
        let milliseconds = timeout.as_millis().min(i32::MAX as u128);
        // A number formatted by us: PRAGMA takes no bind parameters.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {milliseconds}"
        )))
        .execute(&mut self.connection)
        .await
        .map_err(|error| self.database_error("setting busy_timeout", &error))?;
        Ok(())
    }

    async fn apply_in_transaction(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        let started = Instant::now();
        let target = self.target.clone();
        let timeout = file.lock_timeout.unwrap_or(options.lock_timeout);
        let mut transaction = self
            .connection
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|error| {
                begin_error(
                    &target,
                    &error,
                    Some(timeout),
                    &format!("starting the transaction for {}", file.file_name),
                )
            })?;
        let context = format!("applying {} to {target}", file.file_name);
        let database_error = |error: &sqlx::Error| EngineError::Database {
            context: context.clone(),
            message: describe(error),
        };
        let started_at: String = sqlx::query_scalar("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
            .fetch_one(&mut *transaction)
            .await
            .map_err(|error| database_error(&error))?;
        if let Some(error) = already_applied(&mut transaction, file, &context).await? {
            return Err(error);
        }
        let total = file.statements.len();
        for (index, statement) in file.statements.iter().enumerate().skip(file.resume_from) {
            progress(Progress::StatementStarted {
                index,
                total,
                line: statement.line,
            });
            let statement_started = Instant::now();
            // The user's own migration SQL: running it is the point, and it
            // is what they asked rollgate to run against this database.
            match sqlx::raw_sql(AssertSqlSafe(statement.text.clone()))
                .execute(&mut *transaction)
                .await
            {
                Ok(result) => progress(Progress::StatementFinished {
                    index,
                    rows_affected: result.rows_affected(),
                    duration: statement_started.elapsed(),
                }),
                Err(error) => {
                    // Best effort: the statement's error is what to report,
                    // and dropping the transaction rolls it back anyway.
                    let _ = transaction.rollback().await;
                    return Err(EngineError::Statement(statement_failure(
                        file, index, statement, &error,
                    )));
                }
            }
        }
        let texts: Vec<&str> = file
            .statements
            .iter()
            .map(|statement| statement.text.as_str())
            .collect();
        let done_checksum = statements_checksum_prefixes(&texts).pop();
        sqlx::query(
            "INSERT INTO rollgate_history (version, file_name, change_type, kind, checksum, status, started_at, finished_at, \
             duration_ms, applied_by, release_id, task_id, statements_done, statements_total, statements_checksum) \
             VALUES (?, ?, ?, 'MIGRATION', ?, 'SUCCEEDED', ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&file.version)
        .bind(&file.file_name)
        .bind(&file.change_type)
        .bind(&file.checksum)
        .bind(&started_at)
        .bind(milliseconds(started.elapsed()))
        .bind(options.applied_by.clone().unwrap_or_else(os_user))
        .bind(&options.release_id)
        .bind(&options.task_id)
        .bind(count(total))
        .bind(count(total))
        .bind(done_checksum)
        .execute(&mut *transaction)
        .await
        .map_err(|error| database_error(&error))?;
        transaction
            .commit()
            .await
            .map_err(|error| database_error(&error))?;
        Ok(Applied {
            duration: started.elapsed(),
            statements: total - file.resume_from,
        })
    }

    async fn apply_statement_by_statement(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Applied, EngineError> {
        let started = Instant::now();
        let context = format!("applying {} to {}", file.file_name, self.target);
        let total = file.statements.len();
        let texts: Vec<&str> = file
            .statements
            .iter()
            .map(|statement| statement.text.as_str())
            .collect();
        let prefixes = statements_checksum_prefixes(&texts);
        let prefix = |done: usize| {
            done.checked_sub(1)
                .and_then(|last| prefixes.get(last))
                .cloned()
        };

        let connection = &mut self.connection;
        if let Some(error) = already_applied(connection, file, &context).await? {
            return Err(error);
        }
        let database_error = |error: &sqlx::Error| EngineError::Database {
            context: context.clone(),
            message: describe(error),
        };
        // A new row per attempt: earlier attempts stay in the history.
        let id = sqlx::query(
            "INSERT INTO rollgate_history (version, file_name, change_type, kind, checksum, status, started_at, applied_by, \
             release_id, task_id, statements_done, statements_total, statements_checksum) \
             VALUES (?, ?, ?, 'MIGRATION', ?, 'RUNNING', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, ?, ?, ?, ?, ?)",
        )
        .bind(&file.version)
        .bind(&file.file_name)
        .bind(&file.change_type)
        .bind(&file.checksum)
        .bind(options.applied_by.clone().unwrap_or_else(os_user))
        .bind(&options.release_id)
        .bind(&options.task_id)
        .bind(count(file.resume_from))
        .bind(count(total))
        .bind(prefix(file.resume_from))
        .execute(&mut *connection)
        .await
        .map_err(|error| database_error(&error))?
        .last_insert_rowid();

        for (index, statement) in file.statements.iter().enumerate().skip(file.resume_from) {
            progress(Progress::StatementStarted {
                index,
                total,
                line: statement.line,
            });
            let statement_started = Instant::now();
            // The user's own migration SQL: running it is the point, and it
            // is what they asked rollgate to run against this database.
            match sqlx::raw_sql(AssertSqlSafe(statement.text.clone()))
                .execute(&mut *connection)
                .await
            {
                Ok(result) => {
                    sqlx::query("UPDATE rollgate_history SET statements_done = ?, statements_checksum = ? WHERE id = ?")
                        .bind(count(index + 1))
                        .bind(prefix(index + 1))
                        .bind(id)
                        .execute(&mut *connection)
                        .await
                        .map_err(|error| database_error(&error))?;
                    progress(Progress::StatementFinished {
                        index,
                        rows_affected: result.rows_affected(),
                        duration: statement_started.elapsed(),
                    });
                }
                Err(error) => {
                    let failure = statement_failure(file, index, statement, &error);
                    let message = format!(
                        "failed at statement {} of {total} (line {}): {}",
                        index + 1,
                        statement.line,
                        failure.message
                    );
                    sqlx::query(
                        "UPDATE rollgate_history SET status = 'FAILED', error = ?, \
                         finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), duration_ms = ? WHERE id = ?",
                    )
                    .bind(message)
                    .bind(milliseconds(started.elapsed()))
                    .bind(id)
                    .execute(&mut *connection)
                    .await
                    .map_err(|error| database_error(&error))?;
                    return Err(EngineError::Statement(failure));
                }
            }
        }
        sqlx::query(
            "UPDATE rollgate_history SET status = 'SUCCEEDED', statements_done = ?, statements_checksum = ?, \
             finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), duration_ms = ? WHERE id = ?",
        )
        .bind(count(total))
        .bind(prefix(total))
        .bind(milliseconds(started.elapsed()))
        .bind(id)
        .execute(&mut *connection)
        .await
        .map_err(|error| database_error(&error))?;
        Ok(Applied {
            duration: started.elapsed(),
            statements: total - file.resume_from,
        })
    }

    fn history_record(&self, row: &SqliteRow) -> Result<HistoryRecord, EngineError> {
        let context = format!("reading {HISTORY_TABLE} in {}", self.target);
        let error = |error: sqlx::Error| EngineError::Database {
            context: context.clone(),
            message: describe(&error),
        };
        let id: i64 = row.try_get("id").map_err(error)?;
        let unknown = |column: &str, value: &str, expected: &str| EngineError::Database {
            context: context.clone(),
            message: format!(
                "row {id} has {column} \"{value}\", which this rollgate does not know (expected {expected}); \
                 was it written by a newer rollgate?"
            ),
        };
        let kind: String = row.try_get("kind").map_err(error)?;
        let status: String = row.try_get("status").map_err(error)?;
        Ok(HistoryRecord {
            id,
            version: row.try_get("version").map_err(error)?,
            file_name: row.try_get("file_name").map_err(error)?,
            change_type: row.try_get("change_type").map_err(error)?,
            kind: RecordKind::parse(&kind)
                .ok_or_else(|| unknown("kind", &kind, "MIGRATION, BASELINE or REPAIR"))?,
            checksum: row.try_get("checksum").map_err(error)?,
            status: RecordStatus::parse(&status).ok_or_else(|| {
                unknown("status", &status, "RUNNING, SUCCEEDED, FAILED or CLEARED")
            })?,
            started_at: row.try_get("started_at").map_err(error)?,
            finished_at: row.try_get("finished_at").map_err(error)?,
            duration_ms: row.try_get("duration_ms").map_err(error)?,
            applied_by: row.try_get("applied_by").map_err(error)?,
            release_id: row.try_get("release_id").map_err(error)?,
            task_id: row.try_get("task_id").map_err(error)?,
            statements_done: row.try_get("statements_done").map_err(error)?,
            statements_total: row.try_get("statements_total").map_err(error)?,
            statements_checksum: row.try_get("statements_checksum").map_err(error)?,
            error: row.try_get("error").map_err(error)?,
            note: row.try_get("note").map_err(error)?,
        })
    }

    async fn table_snapshot(&mut self, name: &str) -> Result<TableSnapshot, sqlx::Error> {
        let connection = &mut self.connection;
        // `hidden` 1 marks the hidden columns of virtual tables; generated
        // columns (2 and 3) are part of the schema.
        let columns: Vec<(String, String, bool, Option<String>, i64)> =
            sqlx::query_as("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?) WHERE hidden <> 1 ORDER BY cid")
                .bind(name)
                .fetch_all(&mut *connection)
                .await?;
        let mut table = TableSnapshot {
            name: name.to_string(),
            ..TableSnapshot::default()
        };
        let mut primary_key: Vec<(i64, &str)> = Vec::new();
        for (column, data_type, not_null, default, pk) in &columns {
            table.columns.push(ColumnSnapshot {
                name: column.clone(),
                data_type: data_type
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_uppercase(),
                nullable: !not_null,
                default: default.clone(),
            });
            if *pk > 0 {
                primary_key.push((*pk, column));
            }
        }
        if !primary_key.is_empty() {
            primary_key.sort();
            let columns: Vec<&str> = primary_key.iter().map(|(_, column)| *column).collect();
            table.constraints.push(ConstraintSnapshot {
                name: format!("{name}_pkey"),
                kind: "PRIMARY KEY".to_string(),
                definition: format!("({})", columns.join(", ")),
            });
        }

        let indexes: Vec<(String, bool, String)> = sqlx::query_as(
            "SELECT name, \"unique\", origin FROM pragma_index_list(?) ORDER BY name",
        )
        .bind(name)
        .fetch_all(&mut *connection)
        .await?;
        for (index, unique, origin) in indexes {
            match origin.as_str() {
                // The primary key's own index: reported as the constraint.
                "pk" => {}
                "u" => {
                    let columns: Vec<Option<String>> =
                        sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                            .bind(&index)
                            .fetch_all(&mut *connection)
                            .await?;
                    let columns: Vec<String> =
                        columns.into_iter().map(Option::unwrap_or_default).collect();
                    table.constraints.push(ConstraintSnapshot {
                        name: format!("{name}_{}_key", columns.join("_")),
                        kind: "UNIQUE".to_string(),
                        definition: format!("({})", columns.join(", ")),
                    });
                }
                _ => {
                    let sql: Option<String> = sqlx::query_scalar(
                        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                    )
                    .bind(&index)
                    .fetch_optional(&mut *connection)
                    .await?
                    .flatten();
                    table.indexes.push(IndexSnapshot {
                        name: index,
                        definition: normalize_sql(sql.as_deref().unwrap_or("")),
                        unique,
                        primary: false,
                    });
                }
            }
        }

        type ForeignKeyRow = (i64, String, String, Option<String>, String, String, String);
        let foreign_keys: Vec<ForeignKeyRow> = sqlx::query_as(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete, \"match\" FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(name)
        .fetch_all(&mut *connection)
        .await?;
        let mut start = 0;
        while start < foreign_keys.len() {
            let id = foreign_keys[start].0;
            let end = foreign_keys[start..]
                .iter()
                .position(|key| key.0 != id)
                .map_or(foreign_keys.len(), |offset| start + offset);
            let group = &foreign_keys[start..end];
            let from: Vec<&str> = group.iter().map(|key| key.2.as_str()).collect();
            let to: Vec<&str> = group.iter().filter_map(|key| key.3.as_deref()).collect();
            let (_, parent, _, _, on_update, on_delete, matching) = &group[0];
            let mut definition = format!("({}) REFERENCES {parent}", from.join(", "));
            if !to.is_empty() {
                definition.push_str(&format!(" ({})", to.join(", ")));
            }
            definition.push_str(&format!(" ON UPDATE {on_update} ON DELETE {on_delete}"));
            if matching != "NONE" {
                definition.push_str(&format!(" MATCH {matching}"));
            }
            table.constraints.push(ConstraintSnapshot {
                name: format!("{name}_{}_fkey", from.join("_")),
                kind: "FOREIGN KEY".to_string(),
                definition,
            });
            start = end;
        }

        let sql: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
                .bind(name)
                .fetch_optional(&mut *connection)
                .await?
                .flatten();
        for (number, check) in check_constraints(sql.as_deref().unwrap_or(""))
            .into_iter()
            .enumerate()
        {
            table.constraints.push(ConstraintSnapshot {
                name: check
                    .name
                    .unwrap_or_else(|| format!("{name}_check{}", number + 1)),
                kind: "CHECK".to_string(),
                definition: check.expression,
            });
        }
        Ok(table)
    }

    fn database_error(&self, doing: &str, error: &sqlx::Error) -> EngineError {
        EngineError::Database {
            context: format!("{doing} in {}", self.target),
            message: describe(error),
        }
    }
}

const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS rollgate_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    file_name TEXT NOT NULL,
    change_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    checksum TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    applied_by TEXT NOT NULL,
    release_id TEXT,
    task_id TEXT,
    statements_done INTEGER NOT NULL DEFAULT 0,
    statements_total INTEGER NOT NULL DEFAULT 0,
    statements_checksum TEXT,
    error TEXT,
    note TEXT
)";

const SQLITE_BUSY: i64 = 5;
const SQLITE_READONLY: i64 = 8;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;

/// Refuses to apply a version whose latest history row says it is applied:
/// another runner got there first (it did not take the lock, or the plan
/// was made before that runner finished). Checked under the write lock.
async fn already_applied(
    connection: &mut SqliteConnection,
    file: &ApplyFile,
    context: &str,
) -> Result<Option<EngineError>, EngineError> {
    let latest: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, status FROM rollgate_history WHERE version = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(&file.version)
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| EngineError::Database {
        context: context.to_string(),
        message: describe(&error),
    })?;
    Ok(latest.filter(|(_, status)| status == RecordStatus::Succeeded.as_str()).map(|(id, _)| EngineError::Database {
        context: context.to_string(),
        message: format!(
            "version {} is already recorded as applied ({HISTORY_TABLE} row {id}), probably by another runner; nothing was run. \
             Run rollgate migrate again to plan from the current history",
            file.version
        ),
    }))
}

/// The first statement of a transactional file that cannot run inside
/// rollgate's transaction, as a refusal that names it.
fn refusal_in_transaction(file: &ApplyFile) -> Option<StatementFailure> {
    file.statements
        .iter()
        .enumerate()
        .skip(file.resume_from)
        .find_map(|(index, statement)| {
            let problem = transaction_problem(&statement.text)?;
            Some(StatementFailure {
                file_name: file.file_name.clone(),
                index,
                line: statement.line,
                message: format!("refused before running anything: {problem}"),
            })
        })
}

/// Why a statement cannot run inside the transaction rollgate wraps a file
/// in, if it cannot.
fn transaction_problem(sql: &str) -> Option<String> {
    let words = leading_words(sql, 4);
    let word = |index: usize| words.get(index).map(String::as_str).unwrap_or("");
    let add_directive = "add `-- rollgate:no-transaction` to the file so it runs statement by statement outside a transaction";
    match word(0) {
        "VACUUM" | "ATTACH" | "DETACH" => Some(format!(
            "{} cannot run inside a transaction; {add_directive}",
            word(0)
        )),
        "PRAGMA" => {
            // `PRAGMA main.foreign_keys = OFF` reads as PRAGMA, MAIN, FOREIGN_KEYS.
            let name = if word(2).is_empty() || !sql.contains('.') {
                word(1)
            } else {
                word(2)
            };
            let sets = sql.contains('=') || sql.contains('(');
            match name {
                "FOREIGN_KEYS" if sets => Some(format!(
                    "PRAGMA foreign_keys is silently ignored inside a transaction, so the file would run with the setting unchanged; \
                     {add_directive}"
                )),
                "JOURNAL_MODE" if sets => Some(format!(
                    "the journal mode cannot be changed inside a transaction; {add_directive}"
                )),
                _ => None,
            }
        }
        "BEGIN" | "COMMIT" | "END" => Some(transaction_control(word(0))),
        "ROLLBACK" if word(1) != "TO" && word(2) != "TO" => Some(transaction_control(word(0))),
        _ => None,
    }
}

fn transaction_control(word: &str) -> String {
    format!(
        "{word} would end or nest the transaction rollgate runs the file in (each file runs in one transaction together with its \
         history row); remove the file's own transaction statements, or add `-- rollgate:no-transaction` to the file"
    )
}

/// The first `limit` words of a statement, uppercased, skipping comments
/// and splitting on anything that is not part of an identifier.
fn leading_words(sql: &str, limit: usize) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = sql;
    while words.len() < limit {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
            continue;
        }
        let length = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if length == 0 {
            // Punctuation such as `.` or `=`: skip one character.
            let mut chars = rest.chars();
            if chars.next().is_none() {
                break;
            }
            rest = chars.as_str();
            continue;
        }
        words.push(rest[..length].to_uppercase());
        rest = &rest[length..];
    }
    words
}

struct CheckConstraint {
    name: Option<String>,
    /// The parenthesized expression, normalized: `(a > 0)`.
    expression: String,
}

/// The CHECK constraints in a `CREATE TABLE` statement, which SQLite keeps
/// only as text. Quotes and comments are respected; the expression is
/// everything inside the parentheses after `CHECK`.
fn check_constraints(sql: &str) -> Vec<CheckConstraint> {
    let tokens = tokens(sql);
    let mut checks = Vec::new();
    for (position, token) in tokens.iter().enumerate() {
        if !token.eq_ignore_ascii_case("CHECK")
            || tokens.get(position + 1).map(String::as_str) != Some("(")
        {
            continue;
        }
        let mut depth = 0usize;
        let mut expression = String::new();
        for token in &tokens[position + 1..] {
            match token.as_str() {
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                _ => {}
            }
            expression.push(' ');
            expression.push_str(token);
            if depth == 0 {
                break;
            }
        }
        let name = match position
            .checked_sub(2)
            .map(|at| (&tokens[at], &tokens[at + 1]))
        {
            Some((keyword, name)) if keyword.eq_ignore_ascii_case("CONSTRAINT") => {
                Some(name.trim_matches(['"', '`', '[', ']']).to_string())
            }
            _ => None,
        };
        checks.push(CheckConstraint {
            name,
            expression: normalize_sql(&expression),
        });
    }
    checks
}

/// Splits SQL into words, quoted strings or identifiers, and single
/// punctuation characters, dropping whitespace and comments.
fn tokens(sql: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek().is_some_and(|(_, next)| *next == '-') => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, next)| *next == '*') => {
                chars.next();
                let mut previous = ' ';
                for (_, c) in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let mut end = sql.len();
                while let Some((at, c)) = chars.next() {
                    if c == close {
                        // A doubled quote is an escaped quote, not the end.
                        if close != ']' && chars.peek().is_some_and(|(_, next)| *next == close) {
                            chars.next();
                            continue;
                        }
                        end = at + c.len_utf8();
                        break;
                    }
                }
                tokens.push(sql[start..end].to_string());
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some((at, c)) = chars.peek().copied() {
                    if !(c.is_alphanumeric() || c == '_' || c == '.') {
                        break;
                    }
                    end = at + c.len_utf8();
                    chars.next();
                }
                tokens.push(sql[start..end].to_string());
            }
            c => tokens.push(c.to_string()),
        }
    }
    tokens
}

/// SQL text as the database keeps it, made comparable: comments dropped,
/// whitespace outside quotes collapsed to single spaces, none just inside
/// parentheses or before commas.
fn normalize_sql(sql: &str) -> String {
    let mut out = String::new();
    for token in tokens(sql) {
        let glue =
            matches!(token.as_str(), ")" | "," | ";") || out.ends_with('(') || out.is_empty();
        if !glue {
            out.push(' ');
        }
        out.push_str(&token);
    }
    out
}

fn statement_failure(
    file: &ApplyFile,
    index: usize,
    statement: &StatementText,
    error: &sqlx::Error,
) -> StatementFailure {
    StatementFailure {
        file_name: file.file_name.clone(),
        index,
        line: statement.line,
        message: describe(error),
    }
}

/// The database's message with SQLite's result code.
fn describe(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => match database.code() {
            Some(code) => format!("{} (SQLite code {code})", database.message()),
            None => database.message().to_string(),
        },
        None => error.to_string(),
    }
}

/// The primary result code (the low byte of an extended one).
fn primary_code(error: &sqlx::Error) -> Option<i64> {
    let code: i64 = error.as_database_error()?.code()?.parse().ok()?;
    Some(code & 0xff)
}

fn connect_error(target: &str, path: &str, error: &sqlx::Error) -> EngineError {
    let reason = describe(error);
    let message = match primary_code(error) {
        Some(SQLITE_NOTADB) => {
            format!("{path} is not a SQLite database ({reason}); check the path")
        }
        Some(SQLITE_CANTOPEN) => format!(
            "cannot open or create the SQLite database file {path} ({reason}); check that its directory exists and is writable \
             (the file itself is created when missing)"
        ),
        _ => format!("cannot open the SQLite database file {path}: {reason}"),
    };
    EngineError::Connect {
        target: target.to_string(),
        message,
    }
}

/// A failed `BEGIN IMMEDIATE`: busy means another connection is writing.
fn begin_error(
    target: &str,
    error: &sqlx::Error,
    timeout: Option<Duration>,
    doing: &str,
) -> EngineError {
    match primary_code(error) {
        Some(SQLITE_BUSY) => EngineError::Locked {
            target: target.to_string(),
            waited: timeout.unwrap_or_default(),
            holder: Some(
                "another connection with an open write transaction on the database".to_string(),
            ),
        },
        Some(SQLITE_READONLY) => EngineError::Database {
            context: format!("{doing} in {target}"),
            message: format!(
                "the database is read-only ({}); check the file's and its directory's permissions, or drop mode=ro from the URL",
                describe(error)
            ),
        },
        _ => EngineError::Database {
            context: format!("{doing} in {target}"),
            message: describe(error),
        },
    }
}

/// Who holds the lock, as its holder wrote it into the lock file.
fn read_holder(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(200).collect())
}

fn write_holder(file: &mut File, holder: &str) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(holder.as_bytes())?;
    file.flush()
}

/// SQLite has no users: the operating-system user stands in.
fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn milliseconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn count(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SqliteEngine {
    /// Every row of the history table, which must exist.
    async fn history_rows(&mut self) -> Result<Vec<HistoryRecord>, EngineError> {
        let rows = sqlx::query(
            "SELECT id, version, file_name, change_type, kind, checksum, status, started_at, finished_at, duration_ms, applied_by, \
             release_id, task_id, statements_done, statements_total, statements_checksum, error, note \
             FROM rollgate_history ORDER BY id",
        )
        .fetch_all(&mut self.connection)
        .await
        .map_err(|error| self.database_error(&format!("reading {HISTORY_TABLE}"), &error))?;
        rows.iter().map(|row| self.history_record(row)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_cannot_run_in_a_transaction() {
        let refused = |sql: &str| {
            transaction_problem(sql)
                .map(|problem| problem.split(' ').next().unwrap_or("").to_string())
        };
        assert_eq!(refused("VACUUM"), Some("VACUUM".into()));
        assert_eq!(
            refused("-- tidy\n/* x */ vacuum main"),
            Some("VACUUM".into())
        );
        assert_eq!(refused("PRAGMA foreign_keys = OFF"), Some("PRAGMA".into()));
        assert_eq!(
            refused("pragma main.foreign_keys=off"),
            Some("PRAGMA".into())
        );
        assert_eq!(refused("PRAGMA foreign_keys"), None);
        assert_eq!(refused("PRAGMA journal_mode = WAL"), Some("the".into()));
        assert_eq!(refused("PRAGMA user_version = 3"), None);
        assert_eq!(refused("commit"), Some("COMMIT".into()));
        assert_eq!(refused("BEGIN TRANSACTION"), Some("BEGIN".into()));
        assert_eq!(refused("ROLLBACK"), Some("ROLLBACK".into()));
        assert_eq!(refused("ROLLBACK TO sp"), None);
        assert_eq!(refused("ROLLBACK TRANSACTION TO SAVEPOINT sp"), None);
        assert_eq!(refused("SAVEPOINT sp"), None);
        assert_eq!(refused("CREATE TABLE vacuum_log (a int)"), None);
        assert_eq!(refused("UPDATE t SET a = CASE WHEN b THEN 1 END"), None);
        assert_eq!(refused(""), None);
    }

    #[test]
    fn sql_normalizes_whitespace_and_comments_outside_quotes() {
        assert_eq!(
            normalize_sql(
                "CREATE  INDEX i ON t (\n  a, -- first\n  b /* second */\n) WHERE c = 'x  y'"
            ),
            "CREATE INDEX i ON t (a, b) WHERE c = 'x  y'"
        );
        assert_eq!(
            normalize_sql("select 'it''s' , \"a  b\""),
            "select 'it''s', \"a  b\""
        );
        assert_eq!(normalize_sql("'unterminated"), "'unterminated");
    }

    #[test]
    fn check_constraints_are_read_from_the_table_sql() {
        let checks = check_constraints(
            "CREATE TABLE t (a int CHECK (a > 0), b text, CONSTRAINT \"b_short\" CHECK(length(b) < 10), c text DEFAULT 'CHECK (x)')",
        );
        let rendered: Vec<(Option<String>, String)> =
            checks.into_iter().map(|c| (c.name, c.expression)).collect();
        assert_eq!(
            rendered,
            [
                (None, "(a > 0)".to_string()),
                (Some("b_short".to_string()), "(length (b) < 10)".to_string())
            ]
        );
    }
}
