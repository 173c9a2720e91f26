//! What the database commands share: loading files for apply, connecting,
//! and turning history rows into the planner's input.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{
    ApplyFile, EngineError, EngineKind, HistoryRecord, StatementText, TargetUrl,
};
use rollgate_migration::{AppliedRecord, MigrationFile};

/// A failure that maps to an exit code: 1 refused or failed, 2 usage or
/// connection.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub fn refused(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: crate::EXIT_FINDINGS,
        message: message.into(),
    }
    .into()
}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: crate::EXIT_USAGE,
        message: message.into(),
    }
    .into()
}

/// Engine errors: connection and URL problems are usage errors (exit 2);
/// a held lock or a failing statement is a failed run (exit 1).
pub fn engine_error(error: EngineError) -> anyhow::Error {
    match error {
        EngineError::Connect { .. } | EngineError::BadUrl(_) => usage(error.to_string()),
        other => refused(other.to_string()),
    }
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The one database of a command that takes a single `--database-url`.
pub fn single_url(urls: &[String]) -> Result<TargetUrl> {
    match urls {
        [one] => parse_url(one),
        _ => Err(usage(format!(
            "this command takes one --database-url, got {}; only `rollgate migrate` fans out",
            urls.len()
        ))),
    }
}

pub fn parse_url(text: &str) -> Result<TargetUrl> {
    TargetUrl::parse(text).map_err(engine_error)
}

pub async fn connect(url: &TargetUrl, history_schema: Option<&str>) -> Result<AnyEngine> {
    AnyEngine::connect(url, history_schema)
        .await
        .map_err(engine_error)
}

/// Every migration file of the pattern, read whole, in version order.
pub fn load_files(base: &Path, pattern: &str) -> Result<Vec<MigrationFile>> {
    let discovery =
        rollgate_migration::discover(base, pattern).map_err(|e| usage(e.to_string()))?;
    for warning in &discovery.warnings {
        eprintln!("warning: {warning}");
    }
    discovery
        .files
        .iter()
        .map(|file| {
            rollgate_migration::load_for_apply(&file.path, &file.display)
                .map_err(|e| usage(e.to_string()))
        })
        .collect()
}

/// The statements of a file, split for its engine.
pub fn statements(kind: EngineKind, file: &MigrationFile) -> Vec<StatementText> {
    rollgate_engine::prepare::statements(kind, file)
}

pub fn apply_file(kind: EngineKind, file: &MigrationFile, resume_from: usize) -> ApplyFile {
    rollgate_engine::prepare::apply_file(kind, file, resume_from)
}

/// History rows as the planner reads them. Rows whose version does not
/// parse (written by hand) are reported and skipped.
pub fn applied_records(history: &[HistoryRecord]) -> Vec<AppliedRecord> {
    let (records, skipped) = rollgate_engine::prepare::applied_records(history);
    for row in skipped {
        eprintln!(
            "warning: history row {} has version \"{}\", which is not a version; ignored",
            row.id, row.version
        );
    }
    records
}

/// Parses `500ms`, `10s`, `2m`/`2min`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration; write e.g. 500ms, 10s, 2m or 1h"))?;
    let millis = match unit.trim() {
        "ms" => number,
        "" | "s" => number.saturating_mul(1000),
        "m" | "min" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        other => {
            return Err(format!(
                "unknown duration unit \"{other}\" in \"{text}\"; use ms, s, m or h"
            ));
        }
    };
    Ok(Duration::from_millis(millis))
}

pub fn format_duration(duration: Duration) -> String {
    if duration.as_millis() < 1000 {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}
