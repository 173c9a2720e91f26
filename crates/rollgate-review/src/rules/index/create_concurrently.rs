//! `INDEX_CREATE_CONCURRENTLY`: build indexes on existing tables
//! concurrently.

use rollgate_sql::ast::StatementKind;

use super::{created_in_file, index_label};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_CREATE_CONCURRENTLY",
    legacy_name: Some("index.create-concurrently"),
    code: 814,
    category: Category::Index,
    title: "Enforce concurrent index creation",
    description: "Flags CREATE INDEX without CONCURRENTLY on a table that existed before this \
        file. A plain build holds a SHARE lock on the table for the whole build, blocking INSERT, \
        UPDATE and DELETE until it finishes. Use CREATE INDEX CONCURRENTLY in a file marked \
        `-- rollgate:no-transaction`. Not flagged: tables created earlier in the same file, \
        CREATE INDEX ON ONLY a partitioned table (the cheap first step of a partitioned index), \
        and DROP INDEX, which Bytebase also checks but the lock-safety rules cover here.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::CreateIndex(create) = &cx.statement.kind else {
        return;
    };
    if create.concurrently || create.table.name.is_empty() || created_in_file(cx, &create.table) {
        return;
    }
    let table = create.table.display();
    let partitioned = cx
        .catalog
        .table(&create.table)
        .is_some_and(|t| t.partitioned);
    if partitioned && on_only(cx.text(cx.statement.span)) {
        return;
    }
    let fix = if partitioned {
        format!(
            "\"{table}\" is partitioned, where CONCURRENTLY is not supported: create the index ON \
             ONLY \"{table}\", build it CONCURRENTLY on each partition, then ALTER INDEX ... \
             ATTACH PARTITION each one"
        )
    } else {
        "use CREATE INDEX CONCURRENTLY in a file marked `-- rollgate:no-transaction`".to_string()
    };
    out.push(Finding::new(
        create.name.as_ref().map_or(create.table.span, |n| n.span),
        format!(
            "CREATE INDEX{} without CONCURRENTLY takes a SHARE lock on table \"{table}\", \
             blocking writes (INSERT, UPDATE, DELETE) for the whole build; {fix}",
            index_label(create)
        ),
    ));
}

/// `CREATE INDEX ... ON ONLY table`.
fn on_only(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.windows(2).any(|w| w[0] == "on" && w[1] == "only")
}
