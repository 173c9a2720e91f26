//! `COLUMN_RENAME`: renaming a column breaks running clients.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use super::common::column_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_RENAME",
    legacy_name: None,
    code: 3006,
    category: Category::Safety,
    title: "Prohibit renaming columns",
    description: "Flags ALTER TABLE ... RENAME COLUMN (squawk: renaming-column). During a deploy the \
        old and the new application versions run side by side, and the old one still uses the old \
        name, so its queries fail. Add the new column, write to both, backfill, move the readers, \
        then drop the old column in a later migration. Columns created earlier in the same file are \
        not flagged. Off in every template because SCHEMA_BACKWARD_COMPATIBILITY already reports \
        renames; enable it for squawk's behaviour.",
    levels: levels(OFF, OFF, OFF),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    for action in &alter.actions {
        let AlterTableActionKind::RenameColumn { from, to } = &action.kind else {
            continue;
        };
        if column_is_new(cx, &alter.name, &from.name) {
            continue;
        }
        out.push(Finding::new(
            action.span,
            format!(
                "Renaming column \"{}\" of table \"{}\" to \"{}\" breaks application code that still uses the \
                 old name, such as the previous version still running during the deploy; add the new column, \
                 write to both, backfill, move the readers, then drop the old column in a later migration",
                from.name,
                alter.name.display(),
                to.name
            ),
        ));
    }
}
