//! The engine's own behaviour: suppression directives, file ordering and the
//! catalog carried between files.

use rollgate_migration::{Loaded, MigrationFile};
use rollgate_review::policy::{Policy, Template};
use rollgate_review::{Reviewer, review_text};
use rollgate_sql::catalog::Catalog;

fn rules_fired(text: &str) -> Vec<(String, u32)> {
    let report = review_text(
        &Policy::from_template(Template::Sample),
        Catalog::default(),
        "0001_x.sql",
        text,
    );
    report
        .advices
        .into_iter()
        .map(|a| (a.rule, a.line))
        .collect()
}

#[test]
fn ignore_applies_to_the_next_statement_only() {
    let fired = rules_fired(
        "-- rollgate:ignore COLUMN_NO_NULL\nCREATE TABLE a (id bigint PRIMARY KEY, x text);\nCREATE TABLE b (id bigint PRIMARY KEY, y text);\n",
    );
    assert_eq!(fired, [("COLUMN_NO_NULL".to_string(), 3)]);
}

#[test]
fn ignore_inside_a_statement_applies_to_that_statement() {
    let fired = rules_fired(
        "CREATE TABLE a (\n  id bigint PRIMARY KEY,\n  -- rollgate:ignore column.no-null\n  x text\n);\n",
    );
    assert!(fired.is_empty(), "{fired:?}");
}

#[test]
fn ignore_file_applies_everywhere() {
    let fired = rules_fired(
        "CREATE TABLE a (id bigint PRIMARY KEY, x text);\n-- rollgate:ignore-file COLUMN_NO_NULL\nCREATE TABLE b (id bigint PRIMARY KEY, y text);\n",
    );
    assert!(fired.is_empty(), "{fired:?}");
}

#[test]
fn the_catalog_carries_over_between_files_in_order() {
    let policy = Policy::from_template(Template::Sample);
    let mut reviewer = Reviewer::new(
        &policy,
        Catalog {
            complete: true,
            ..Catalog::default()
        },
    );
    let files = [
        ("0001_init.sql", "CREATE TABLE t (id bigint PRIMARY KEY);"),
        ("0002_again.sql", "CREATE TABLE t (id bigint PRIMARY KEY);"),
    ];
    let batch = files
        .iter()
        .map(|(name, text)| Loaded::File(MigrationFile::from_text(name, text)))
        .collect();
    let reports = reviewer.review_batch(batch);
    assert!(reports[0].advices.is_empty());
    assert_eq!(reports[1].advices[0].rule, "BUILTIN_WALK_THROUGH_CHECK");
    assert!(
        reviewer
            .catalog()
            .tables
            .contains_key(&("public".into(), "t".into()))
    );
}

#[test]
fn crlf_files_get_the_same_positions_and_checksum() {
    let lf = review_text(
        &Policy::from_template(Template::Sample),
        Catalog::default(),
        "0001_x.sql",
        "CREATE TABLE a (\n  x text\n);\n",
    );
    let crlf = review_text(
        &Policy::from_template(Template::Sample),
        Catalog::default(),
        "0001_x.sql",
        "CREATE TABLE a (\r\n  x text\r\n);\r\n",
    );
    assert_eq!(lf.checksum, crlf.checksum);
    assert_eq!(lf.advices, crlf.advices);
    assert_eq!((lf.advices[0].line, lf.advices[0].column), (2, 3));
}
