//! Migration file names: `<version><sep><description>[_ddl|_dml].sql`.
//!
//! This module only reads the name; it never looks at the file's contents or
//! the path around it.

use std::fmt;

use crate::version::Version;

/// Whether a migration changes the schema or the data. The file name decides:
/// a name ending in `_dml.sql` is DML, everything else is DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeType {
    Ddl,
    Dml,
}

/// What a versioned migration file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    pub version: Version,
    /// The words between the version and the suffix, e.g. `create_table_t1`.
    pub description: String,
    pub change_type: ChangeType,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Ddl => "DDL",
            ChangeType::Dml => "DML",
        }
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ChangeType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Parses a file name (no directories) such as `202505121650_create_t1.sql`,
/// `V1__init.sql`, `v1.2.3-fix_dml.sql` or `0001.sql`.
///
/// Returns `None` when the name does not start with a version followed by a
/// separator (`_`, `__`, `-`) or the end of the name, so `2fa_setup.sql` is
/// unversioned rather than version 2.
pub fn parse_file_name(file_name: &str) -> Option<ParsedName> {
    let (version, after_version) = Version::split_prefix(file_name)?;
    let (rest, change_type) =
        if let Some(rest) = strip_suffix_ignore_case(after_version, "_dml.sql") {
            (rest, ChangeType::Dml)
        } else if let Some(rest) = strip_suffix_ignore_case(after_version, "_ddl.sql") {
            (rest, ChangeType::Ddl)
        } else {
            (strip_extension(after_version), ChangeType::Ddl)
        };
    if !(rest.is_empty() || rest.starts_with(['_', '-'])) {
        return None;
    }
    let description = rest.trim_matches(['_', '-']).to_string();
    Some(ParsedName {
        version,
        description,
        change_type,
    })
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let split = text.len().checked_sub(suffix.len())?;
    // `get` returns None off a character boundary, so non-ASCII names are safe.
    let tail = text.get(split..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..split])
}

/// Drops the last `.extension`, keeping inner dots (`init.up.sql` → `init.up`).
fn strip_extension(text: &str) -> &str {
    text.rfind('.').map_or(text, |dot| &text[..dot])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` is `version|description|type`, or `None` for unversioned.
    fn check(file_name: &str, expected: Option<&str>) {
        let actual = parse_file_name(file_name).map(|parsed| {
            format!(
                "{}|{}|{}",
                parsed.version, parsed.description, parsed.change_type
            )
        });
        assert_eq!(actual.as_deref(), expected, "file name {file_name:?}");
    }

    #[test]
    fn file_name_table() {
        check(
            "202505121650_create_table_t1.sql",
            Some("202505121650|create_table_t1|DDL"),
        );
        check("v1.2.3_x.sql", Some("1.2.3|x|DDL"));
        check("V1__init.sql", Some("1|init|DDL"));
        check("0001.sql", Some("0001||DDL"));
        check("0001", Some("0001||DDL"));
        check("1.2.sql", Some("1.2||DDL"));
        check("7-add-index.sql", Some("7|add-index|DDL"));
        check("3_backfill_dml.sql", Some("3|backfill|DML"));
        check("3_backfill_DML.SQL", Some("3|backfill|DML"));
        check("4_widen_ddl.sql", Some("4|widen|DDL"));
        check("5_dml.sql", Some("5||DML"));
        check("6_init.up.sql", Some("6|init.up|DDL"));
        check("8_dml.txt", Some("8|dml|DDL"));
        check("9_données_dml.sql", Some("9|données|DML"));
    }

    #[test]
    fn names_without_a_leading_version() {
        check("create_table.sql", None);
        check("vacuum.sql", None);
        check("2fa_setup.sql", None);
        check("1.2.x.sql", None);
        check("", None);
        check("_1_a.sql", None);
    }
}
