//! One migration file: its name-derived metadata, text, checksum and
//! directives. `MigrationFile::from_text` is pure; `load` is the only
//! function here that touches the file system.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::checksum::Checksum;
use crate::directives::{Directives, parse_directives};
use crate::name::{ChangeType, parse_file_name};
use crate::version::Version;

/// Files above this size are not reviewed (and not read), so that one
/// generated data dump cannot stall a review.
pub const MAX_REVIEW_SIZE: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// Display path with `/` separators, relative as given.
    pub path: String,
    /// `None` when the file name has no version prefix.
    pub version: Option<Version>,
    pub description: String,
    pub change_type: ChangeType,
    /// Over `text`, with line endings normalized (see `Checksum::of`).
    pub checksum: Checksum,
    /// The contents with a leading BOM removed; line endings untouched so
    /// offsets match what the author's editor shows.
    pub text: String,
    pub directives: Directives,
}

/// The outcome of reading a file that exists and is readable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per file, consumed right away; boxing would only add noise for callers"
)]
pub enum Loaded {
    File(MigrationFile),
    /// Zero bytes, or only whitespace and a BOM.
    Empty {
        path: String,
    },
    /// Larger than `MAX_REVIEW_SIZE`; its contents were not read.
    Oversized {
        path: String,
        size: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "cannot read migration file {path}: {source}; check that the path is right and the file is readable"
    )]
    Unreadable { path: String, source: io::Error },
    #[error(
        "migration file {path} is not valid UTF-8 (first invalid byte at line {line}, column {column}); \
         save the file as UTF-8"
    )]
    NotUtf8 {
        path: String,
        line: u32,
        column: u32,
    },
}

impl MigrationFile {
    /// Builds the model from text already in memory. The version, description
    /// and change type come from the last component of `path`; an unversioned
    /// name gives version `None`, its stem as description, and DDL.
    pub fn from_text(path: &str, text: &str) -> MigrationFile {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let (version, description, change_type) = match parse_file_name(file_name) {
            Some(parsed) => (Some(parsed.version), parsed.description, parsed.change_type),
            None => {
                let stem = file_name
                    .rsplit_once('.')
                    .map_or(file_name, |(stem, _)| stem);
                (None, stem.to_string(), ChangeType::Ddl)
            }
        };
        MigrationFile {
            path: path.to_string(),
            version,
            description,
            change_type,
            checksum: Checksum::of(text),
            text: text.to_string(),
            directives: parse_directives(text),
        }
    }
}

/// Reads one migration file. `display` is the path to show in messages and to
/// store in `MigrationFile::path`.
pub fn load(path: &Path, display: &str) -> Result<Loaded, LoadError> {
    let unreadable = |source| LoadError::Unreadable {
        path: display.to_string(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > MAX_REVIEW_SIZE {
        return Ok(Loaded::Oversized {
            path: display.to_string(),
            size,
        });
    }
    // The file may grow between the size check and the read, so the read is
    // capped too: one byte past the limit is enough to know it is too big.
    let mut bytes = Vec::new();
    file.take(MAX_REVIEW_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_REVIEW_SIZE {
        return Ok(Loaded::Oversized {
            path: display.to_string(),
            size: bytes.len() as u64,
        });
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(error) => {
            let (line, column) = line_and_column(&bytes[..error.valid_up_to()]);
            return Err(LoadError::NotUtf8 {
                path: display.to_string(),
                line,
                column,
            });
        }
    };
    if text.trim_start_matches('\u{feff}').trim().is_empty() {
        return Ok(Loaded::Empty {
            path: display.to_string(),
        });
    }
    Ok(Loaded::File(MigrationFile::from_text(display, text)))
}

/// Reads one migration file whole, whatever its size: the migrator must
/// apply a large data file even though the review skips it. An empty file
/// is returned as such; the caller decides what it means.
pub fn load_for_apply(path: &Path, display: &str) -> Result<MigrationFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable {
        path: display.to_string(),
        source,
    })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(MigrationFile::from_text(display, text)),
        Err(error) => {
            let (line, column) = line_and_column(&bytes[..error.valid_up_to()]);
            Err(LoadError::NotUtf8 {
                path: display.to_string(),
                line,
                column,
            })
        }
    }
}

/// The 1-based line and character column just after `valid`, which is the
/// valid UTF-8 prefix before the first bad byte. A BOM is not counted, since
/// editors do not show it.
fn line_and_column(valid: &[u8]) -> (u32, u32) {
    let valid = std::str::from_utf8(valid).unwrap_or_default();
    let valid = valid.strip_prefix('\u{feff}').unwrap_or(valid);
    let line_start = valid.rfind('\n').map_or(0, |newline| newline + 1);
    let line = valid.matches('\n').count() + 1;
    let column = valid[line_start..].chars().count() + 1;
    let to_u32 = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    (to_u32(line), to_u32(column))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` to a fresh file named `name` and loads it, rendering the
    /// outcome as one line.
    fn check_load(name: &str, bytes: &[u8], expected: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let actual = match load(&path, &format!("migrations/{name}")) {
            Ok(Loaded::File(file)) => format!(
                "file {} v={} {:?} {} text={:?}",
                file.path,
                file.version.map_or("-".to_string(), |v| v.to_string()),
                file.description,
                file.change_type,
                file.text
            ),
            Ok(other) => format!("{other:?}"),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(actual, expected);
    }

    #[test]
    fn loads_text_and_strips_bom() {
        check_load(
            "0001_init.sql",
            b"\xef\xbb\xbfcreate table t();\r\n",
            r#"file migrations/0001_init.sql v=0001 "init" DDL text="create table t();\r\n""#,
        );
        check_load(
            "notes_dml.sql",
            b"select 1;",
            r#"file migrations/notes_dml.sql v=- "notes_dml" DDL text="select 1;""#,
        );
    }

    #[test]
    fn empty_files() {
        check_load("1_a.sql", b"", r#"Empty { path: "migrations/1_a.sql" }"#);
        check_load(
            "1_a.sql",
            b"\xef\xbb\xbf \n\t\r\n",
            r#"Empty { path: "migrations/1_a.sql" }"#,
        );
    }

    #[test]
    fn non_utf8_names_line_and_column() {
        let expected = "error: migration file migrations/1_a.sql is not valid UTF-8 \
                        (first invalid byte at line 2, column 3); save the file as UTF-8";
        check_load("1_a.sql", b"select 1;\nd\xc3\xa9\xff;", expected);
        let expected = "error: migration file migrations/1_a.sql is not valid UTF-8 \
                        (first invalid byte at line 1, column 1); save the file as UTF-8";
        check_load("1_a.sql", b"\xef\xbb\xbf\xfe", expected);
    }

    #[test]
    fn oversized_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1_big.sql");
        // Sparse, so the test stays cheap; it is also not valid SQL, which
        // would not matter because it must not be read.
        File::create(&path)
            .unwrap()
            .set_len(MAX_REVIEW_SIZE + 1)
            .unwrap();
        let loaded = load(&path, "1_big.sql").unwrap();
        assert_eq!(
            loaded,
            Loaded::Oversized {
                path: "1_big.sql".to_string(),
                size: MAX_REVIEW_SIZE + 1
            }
        );

        std::fs::write(&path, "x".repeat(MAX_REVIEW_SIZE as usize)).unwrap();
        assert!(matches!(load(&path, "1_big.sql").unwrap(), Loaded::File(_)));
    }

    #[test]
    fn unreadable_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(&dir.path().join("missing.sql"), "migrations/missing.sql").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("cannot read migration file migrations/missing.sql: "),
            "{message}"
        );
        assert!(
            message.ends_with("check that the path is right and the file is readable"),
            "{message}"
        );
        assert!(matches!(
            load(dir.path(), "migrations").unwrap_err(),
            LoadError::Unreadable { .. }
        ));
    }

    #[test]
    fn from_text_reads_name_and_directives() {
        let file = MigrationFile::from_text(
            "db/v2__backfill_dml.sql",
            "-- rollgate:no-transaction\nupdate t set a = 1;",
        );
        assert_eq!(file.version, Some(Version::parse("2").unwrap()));
        assert_eq!(
            (file.description.as_str(), file.change_type),
            ("backfill", ChangeType::Dml)
        );
        assert!(file.directives.no_transaction);
        assert!(file.checksum.matches(&file.text));
    }
}
