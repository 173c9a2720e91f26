//! From the migration model to what an engine applies, and back: the one
//! place that splits a file for its engine and reads history rows as the
//! planner's input. `rollgate migrate` and the server's workers both use it.

use std::time::Duration;

use rollgate_migration::{AppliedKind, AppliedRecord, AppliedStatus, MigrationFile, Version};
use rollgate_sql::split::{SplitDialect, split};

use crate::{ApplyFile, EngineKind, HistoryRecord, RecordKind, RecordStatus, StatementText};

/// The statements of a file, split for its engine. The planner's resume
/// checks must see exactly these texts.
pub fn statements(kind: EngineKind, file: &MigrationFile) -> Vec<StatementText> {
    let dialect = match kind {
        EngineKind::Postgres => SplitDialect::Postgres,
        EngineKind::Mysql => SplitDialect::Mysql,
        EngineKind::Sqlite => SplitDialect::Sqlite,
    };
    split(dialect, &file.text)
        .into_iter()
        .map(|s| StatementText {
            text: s.text,
            line: s.line,
        })
        .collect()
}

/// A planned file, ready for [`crate::Engine::apply`].
pub fn apply_file(kind: EngineKind, file: &MigrationFile, resume_from: usize) -> ApplyFile {
    ApplyFile {
        version: file
            .version
            .as_ref()
            .map(|v| v.as_str().to_string())
            .unwrap_or_default(),
        file_name: file.path.clone(),
        change_type: file.change_type.as_str().to_string(),
        checksum: file.checksum.as_str().to_string(),
        statements: statements(kind, file),
        no_transaction: file.directives.no_transaction,
        lock_timeout: file
            .directives
            .lock_timeout
            .as_ref()
            .map(|t| Duration::from_millis(t.milliseconds)),
        resume_from,
    }
}

/// History rows as the planner reads them, plus the rows that had to be
/// skipped because their version does not parse (written by hand), so the
/// caller can say so.
pub fn applied_records(history: &[HistoryRecord]) -> (Vec<AppliedRecord>, Vec<&HistoryRecord>) {
    let mut records = Vec::with_capacity(history.len());
    let mut skipped = Vec::new();
    for row in history {
        let Ok(version) = Version::parse(&row.version) else {
            skipped.push(row);
            continue;
        };
        records.push(AppliedRecord {
            version,
            file_name: row.file_name.clone(),
            kind: match row.kind {
                RecordKind::Migration => AppliedKind::Migration,
                RecordKind::Baseline => AppliedKind::Baseline,
                RecordKind::Repair => AppliedKind::Repair,
            },
            checksum: row.checksum.clone(),
            status: match row.status {
                RecordStatus::Running => AppliedStatus::Running,
                RecordStatus::Succeeded => AppliedStatus::Succeeded,
                RecordStatus::Failed => AppliedStatus::Failed,
                RecordStatus::Cleared => AppliedStatus::Cleared,
            },
            statements_done: u32::try_from(row.statements_done).unwrap_or(0),
            statements_total: u32::try_from(row.statements_total).unwrap_or(0),
            statements_checksum: row.statements_checksum.clone(),
            error: row.error.clone(),
        });
    }
    (records, skipped)
}
