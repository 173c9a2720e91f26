//! `STATEMENT_INSERT_MUST_SPECIFY_COLUMN`: INSERT names its columns.

use rollgate_sql::ast::{InsertSource, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_INSERT_MUST_SPECIFY_COLUMN",
    legacy_name: Some("statement.insert.must-specify-column"),
    code: 1107,
    category: Category::Statement,
    title: "Enforce specifying column names in \"INSERT\" statements",
    description: "Flags an INSERT without a column list (`INSERT INTO t VALUES (...)` or \
        `INSERT INTO t SELECT ...`). Values are then matched to columns by position, so adding, \
        dropping or reordering a column makes the statement fail or, worse, store values in the \
        wrong columns. Write the column list: `INSERT INTO t (a, b) VALUES (...)`. \
        `INSERT ... DEFAULT VALUES` is fine.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::Insert(insert) = &cx.statement.kind else {
        return;
    };
    if !insert.columns.is_empty() || matches!(insert.source, InsertSource::DefaultValues) {
        return;
    }
    out.push(Finding::new(
        insert.table.span,
        format!(
            "INSERT into table \"{}\" does not list its columns, so values are matched to columns by position; name the columns, e.g. INSERT INTO {} (col1, col2) ...",
            insert.table.display(),
            insert.table.display()
        ),
    ));
}
