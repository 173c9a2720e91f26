//! `STATEMENT_INSERT_ROW_LIMIT`: at most `number` rows per INSERT ... VALUES.

use rollgate_sql::ast::{InsertSource, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_INSERT_ROW_LIMIT",
    legacy_name: Some("statement.insert.row-limit"),
    code: 1101,
    category: Category::Statement,
    title: "Restrict the maximum number of inserted rows",
    description: "Flags an INSERT ... VALUES with more rows than `number` (default 1000; 0 or \
        less turns the check off). A huge VALUES list makes a slow, hard-to-review migration and \
        one long transaction; load bulk data in batches or with COPY outside the schema \
        migration. INSERT ... SELECT is not counted: its row count is only known by running it.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        number: Some(1000),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::Insert(insert) = &cx.statement.kind else {
        return;
    };
    let InsertSource::Values { rows, span } = &insert.source else {
        return;
    };
    let limit = cx.options.number;
    if limit <= 0 || i64::try_from(*rows).unwrap_or(i64::MAX) <= limit {
        return;
    }
    out.push(Finding::new(
        *span,
        format!(
            "INSERT into table \"{}\" has {rows} rows in VALUES, more than the limit of {limit}; split it into batches of at most {limit} rows or load the data with COPY",
            insert.table.display()
        ),
    ));
}
