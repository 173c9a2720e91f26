//! `COLUMN_DROP`: dropping a column breaks clients and loses data.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use super::common::column_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_DROP",
    legacy_name: None,
    code: 3008,
    category: Category::Safety,
    title: "Prohibit dropping columns",
    description: "Flags ALTER TABLE ... DROP COLUMN (squawk: ban-drop-column). Application code that \
        still reads or writes the column fails, including the previous version running during the \
        deploy, and the column's data is lost. Stop using the column in the application first, \
        deploy, then drop it in a later migration. Columns created earlier in the same file are not \
        flagged. Off in every template because SCHEMA_BACKWARD_COMPATIBILITY already reports dropped \
        columns; enable it for squawk's behaviour.",
    levels: levels(OFF, OFF, OFF),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    for action in &alter.actions {
        let AlterTableActionKind::DropColumn { name, .. } = &action.kind else {
            continue;
        };
        if column_is_new(cx, &alter.name, &name.name) {
            continue;
        }
        out.push(Finding::new(
            action.span,
            format!(
                "Dropping column \"{}\" of table \"{}\" breaks application code that still reads or writes it, \
                 and its data is lost; stop using the column in the application first, then drop it in a \
                 later migration",
                name.name,
                alter.name.display()
            ),
        ));
    }
}
