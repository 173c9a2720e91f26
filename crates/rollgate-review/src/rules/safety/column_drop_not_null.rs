//! `COLUMN_DROP_NOT_NULL`: dropping `NOT NULL` breaks readers that assume a
//! value.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use super::common::column_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_DROP_NOT_NULL",
    legacy_name: None,
    code: 3011,
    category: Category::Safety,
    title: "Prohibit dropping \"NOT NULL\" constraints",
    description: "Flags ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL (squawk: ban-drop-not-null). \
        Once NULLs can be written, application code, reports and queries that assume the column \
        always has a value break. Make every reader handle NULL before deploying the change. \
        Columns created earlier in the same file are not flagged. Off in every template because \
        SCHEMA_BACKWARD_COMPATIBILITY already reports it; enable it for squawk's behaviour.",
    levels: levels(OFF, OFF, OFF),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    for action in &alter.actions {
        let AlterTableActionKind::DropNotNull { column } = &action.kind else {
            continue;
        };
        if column_is_new(cx, &alter.name, &column.name) {
            continue;
        }
        out.push(Finding::new(
            action.span,
            format!(
                "Dropping NOT NULL from column \"{}\" of table \"{}\" lets NULLs in, breaking application code \
                 and queries that assume the column always has a value; make every reader handle NULL before \
                 deploying this change",
                column.name,
                alter.name.display()
            ),
        ));
    }
}
