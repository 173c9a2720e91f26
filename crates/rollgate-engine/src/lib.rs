//! Target databases: the only crate that talks to them.
//!
//! One [`Engine`] trait, three implementations (PostgreSQL, MySQL/MariaDB,
//! SQLite), all on sqlx. An engine applies already-planned migration files
//! exactly once, records each in the `rollgate_history` table inside the
//! target, holds a per-database migration lock, dumps the live schema, and
//! runs files in a rolled-back transaction for `--dry-run`.
//!
//! What to apply is decided elsewhere, purely (`rollgate_migration::plan`):
//! an engine never reads migration files and never decides ordering. The
//! history table inside the target is the truth of what was applied there.
//!
//! Secrets: a [`TargetUrl`]'s password never reaches a log, an error or a
//! `Debug` output; only [`TargetUrl::redacted`] is shown.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod any;
pub mod drift;
pub mod mysql;
pub mod postgres;
pub mod prepare;
pub mod schema;
pub mod scratch;
pub mod sqlite;

mod url;

pub use url::TargetUrl;

/// The kinds of target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    Sqlite,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Postgres => "postgres",
            EngineKind::Mysql => "mysql",
            EngineKind::Sqlite => "sqlite",
        }
    }

    /// Whether DDL runs inside a transaction that can roll back. MySQL and
    /// MariaDB commit implicitly around DDL.
    pub fn transactional_ddl(self) -> bool {
        !matches!(self, EngineKind::Mysql)
    }
}

/// The history table's name; the schema (PostgreSQL) or database is
/// configurable per run.
pub const HISTORY_TABLE: &str = "rollgate_history";

/// One row of `rollgate_history`. Rows are appended, never updated, except
/// the row of the file being applied, whose progress is updated in place
/// (on PostgreSQL and SQLite inside the file's own transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub id: i64,
    /// The version as written in the file name.
    pub version: String,
    pub file_name: String,
    /// `DDL` or `DML`.
    pub change_type: String,
    pub kind: RecordKind,
    /// Algorithm-tagged, e.g. `sha256-v1:…`.
    pub checksum: String,
    pub status: RecordStatus,
    /// Timestamps as the database prints them in UTC, ISO 8601.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// The database user and, when run by the server, the user or service
    /// account that started the rollout.
    pub applied_by: String,
    pub release_id: Option<String>,
    pub task_id: Option<String>,
    /// How many statements of the file succeeded (for resumable files:
    /// MySQL, and PostgreSQL `no-transaction` files).
    pub statements_done: i64,
    pub statements_total: i64,
    /// Checksum over the text of the first `statements_done` statements, so
    /// a resume can refuse a file whose already-run part was edited.
    pub statements_checksum: Option<String>,
    /// The database error of a failed file, with the statement number.
    pub error: Option<String>,
    /// For `Repair` rows: why, as given by the operator.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordKind {
    /// The file was run.
    Migration,
    /// `rollgate baseline`: marked applied without running.
    Baseline,
    /// `rollgate history repair`: a changed checksum accepted, or a failed
    /// row cleared. An audit entry.
    Repair,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordStatus {
    /// Being applied now, or the runner died while applying it (MySQL and
    /// `no-transaction` files; on PostgreSQL and SQLite a `Running` row
    /// never commits).
    Running,
    Succeeded,
    Failed,
    /// A `Repair` row that clears a failed file: it is pending again.
    Cleared,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Migration => "MIGRATION",
            RecordKind::Baseline => "BASELINE",
            RecordKind::Repair => "REPAIR",
        }
    }

    pub fn parse(text: &str) -> Option<RecordKind> {
        [
            RecordKind::Migration,
            RecordKind::Baseline,
            RecordKind::Repair,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Running => "RUNNING",
            RecordStatus::Succeeded => "SUCCEEDED",
            RecordStatus::Failed => "FAILED",
            RecordStatus::Cleared => "CLEARED",
        }
    }

    pub fn parse(text: &str) -> Option<RecordStatus> {
        [
            RecordStatus::Running,
            RecordStatus::Succeeded,
            RecordStatus::Failed,
            RecordStatus::Cleared,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A row to append: `baseline` and `history repair` write these directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub version: String,
    pub file_name: String,
    pub change_type: String,
    pub kind: RecordKind,
    pub checksum: String,
    pub status: RecordStatus,
    pub applied_by: Option<String>,
    pub note: Option<String>,
}

/// One statement of a file, already split, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    pub text: String,
    /// 1-based line of the statement's first character in the file.
    pub line: u32,
}

/// A file the plan says to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFile {
    pub version: String,
    /// The path as shown to users.
    pub file_name: String,
    pub change_type: String,
    pub checksum: String,
    pub statements: Vec<StatementText>,
    /// `-- rollgate:no-transaction`: run statement by statement, outside a
    /// transaction, recording progress after each.
    pub no_transaction: bool,
    /// `-- rollgate:lock-timeout`: overrides the run's lock timeout.
    pub lock_timeout: Option<Duration>,
    /// Resume a failed file at this 0-based statement (statements before it
    /// already ran); 0 for a fresh run.
    pub resume_from: usize,
}

/// How a run applies files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// `lock_timeout` set before each DDL statement (PostgreSQL), or
    /// `lock_wait_timeout` (MySQL). Default 5 s.
    pub lock_timeout: Duration,
    /// How often a statement that failed on a lock timeout is retried.
    pub lock_retries: u32,
    /// Recorded in the history row.
    pub applied_by: Option<String>,
    pub release_id: Option<String>,
    pub task_id: Option<String>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            lock_timeout: Duration::from_secs(5),
            lock_retries: 5,
            applied_by: None,
            release_id: None,
            task_id: None,
        }
    }
}

/// What an engine reports while applying, for logs and progress lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    StatementStarted {
        index: usize,
        total: usize,
        line: u32,
    },
    StatementFinished {
        index: usize,
        rows_affected: u64,
        duration: Duration,
    },
    /// A statement failed on a lock timeout and will be retried.
    LockRetry {
        index: usize,
        attempt: u32,
        wait: Duration,
        blocked_by: Option<String>,
    },
}

/// The result of applying one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub duration: Duration,
    pub statements: usize,
}

/// A statement that failed, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementFailure {
    pub file_name: String,
    /// 0-based statement index and 1-based line in the file.
    pub index: usize,
    pub line: u32,
    /// The database's message, with SQLSTATE when there is one.
    pub message: String,
}

impl fmt::Display for StatementFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: statement {} failed: {}",
            self.file_name,
            self.line,
            self.index + 1,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad URL, unreachable server, wrong password. Names host and port,
    /// never the password.
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("{0}")]
    BadUrl(String),
    /// Another runner holds the migration lock.
    #[error(
        "another migration holds the lock on {target} and did not release it within {:.1} s{}; retry later or raise --lock-timeout",
        waited.as_secs_f64(),
        holder.as_ref().map(|h| format!(" (held by {h})")).unwrap_or_default()
    )]
    Locked {
        target: String,
        waited: Duration,
        holder: Option<String>,
    },
    /// A statement of a migration failed; nothing of a transactional file
    /// was kept.
    #[error("{0}")]
    Statement(StatementFailure),
    /// Any other database error, with what rollgate was doing.
    #[error("{context}: {message}")]
    Database { context: String, message: String },
}

/// A target database. Implementations hold one dedicated connection: the
/// migration lock is session-scoped and lives as long as it.
pub trait Engine: Send {
    fn kind(&self) -> EngineKind;

    /// Takes the per-database migration lock, polling with backoff for up to
    /// `timeout`. Session-scoped (never transaction-scoped, which deadlocks
    /// with `CREATE INDEX CONCURRENTLY`).
    fn lock(&mut self, timeout: Duration) -> impl Future<Output = Result<(), EngineError>> + Send;

    fn unlock(&mut self) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Every history row in insertion order; creates the table when missing.
    fn history(&mut self) -> impl Future<Output = Result<Vec<HistoryRecord>, EngineError>> + Send;

    /// Every history row in insertion order, or none when the history
    /// table does not exist. Never writes: for read-only callers such as
    /// the server's release check.
    fn read_history(
        &mut self,
    ) -> impl Future<Output = Result<Vec<HistoryRecord>, EngineError>> + Send;

    /// Applies one file and records it. PostgreSQL and SQLite run a
    /// transactional file and its history row in one transaction; others
    /// record progress after each statement.
    fn apply(
        &mut self,
        file: &ApplyFile,
        options: &ApplyOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> impl Future<Output = Result<Applied, EngineError>> + Send;

    /// Appends a baseline or repair row.
    fn record(
        &mut self,
        record: &NewRecord,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Runs the files in one transaction and rolls it back (PostgreSQL and
    /// SQLite); the first failure is returned. Never writes history.
    fn dry_run(
        &mut self,
        files: &[ApplyFile],
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// The live schema, normalized (see [`schema`]).
    fn dump_schema(
        &mut self,
    ) -> impl Future<Output = Result<schema::SchemaSnapshot, EngineError>> + Send;

    /// Estimated row counts of the user tables, keyed like
    /// [`schema::TableSnapshot::name`], from the server's statistics: on
    /// PostgreSQL `pg_class.reltuples` (0 for a never-analyzed table with no
    /// pages), on MySQL `information_schema.tables.table_rows`. A table
    /// without an estimate is absent; SQLite keeps none (empty map). Reads
    /// only statistics, never the tables.
    fn table_rows(
        &mut self,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, EngineError>> + Send;

    /// The planner's estimate of the rows one statement reads or writes,
    /// from `EXPLAIN` without running it (on PostgreSQL inside a read-only
    /// transaction that is rolled back). `None` when the engine has no
    /// planner estimate (SQLite) or cannot explain the statement, e.g.
    /// because it names a table an earlier pending file creates. `sql` must
    /// be one statement; several are refused by the prepared protocol.
    fn explain_rows(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Option<u64>, EngineError>> + Send;
}

/// The largest `rows=N` of an `EXPLAIN` text plan: the widest node's
/// estimate, which for `UPDATE`/`DELETE` is the scan feeding the change.
pub fn max_plan_rows<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    lines
        .into_iter()
        .flat_map(|line| {
            line.match_indices("rows=")
                .map(move |(at, _)| &line[at + 5..])
        })
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .max()
}
