//! The one finding type shared by local lint and server check.

use serde::{Deserialize, Serialize};

/// How serious a finding is. `Disabled` exists only in configuration; an
/// advice is always `Error` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

/// One finding of the review: which rule, how serious, and where.
///
/// Lines and columns are 1-based; columns count characters. `end_line` and
/// `end_column` point just past the offending text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    /// Stable rule name, e.g. `COLUMN_NO_NULL`, or `SYNTAX_ERROR`.
    pub rule: String,
    pub level: Level,
    /// Numeric code, Bytebase's where the rule comes from Bytebase.
    pub code: u32,
    pub title: String,
    /// What is wrong, naming the object, and how to fix it.
    pub content: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

/// Everything the review says about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// The path as the user gave it or as discovery found it, with `/`
    /// separators.
    pub path: String,
    /// `None` for an explicitly named file whose name carries no version.
    pub version: Option<String>,
    /// `DDL` or `DML`.
    pub change_type: String,
    /// Algorithm-tagged checksum, e.g. `sha256-v1:…`.
    pub checksum: String,
    /// Number of statements reviewed.
    pub statements: usize,
    pub advices: Vec<Advice>,
    /// The file text, kept so renderers can show code frames. Not part of
    /// the JSON output.
    #[serde(skip)]
    pub source: Option<std::sync::Arc<str>>,
}

/// Counts over all reviewed files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub files: usize,
    pub statements: usize,
    pub errors: usize,
    pub warnings: usize,
}

impl Summary {
    pub fn of(files: &[FileReport]) -> Summary {
        let mut summary = Summary {
            files: files.len(),
            ..Summary::default()
        };
        for file in files {
            summary.statements += file.statements;
            for advice in &file.advices {
                match advice.level {
                    Level::Error => summary.errors += 1,
                    Level::Warning => summary.warnings += 1,
                }
            }
        }
        summary
    }
}
