//! `COLUMN_DISALLOW_CHANGE_TYPE`: no ALTER COLUMN ... TYPE.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_DISALLOW_CHANGE_TYPE",
    legacy_name: Some("column.disallow-change-type"),
    code: 403,
    category: Category::Column,
    title: "Prohibit modifying column types",
    description: "Flags ALTER TABLE ... ALTER COLUMN ... TYPE. Most type changes rewrite the \
        table and its indexes under an ACCESS EXCLUSIVE lock, blocking reads and writes until it \
        finishes, and clients that still expect the old type break. Add a new column of the new \
        type, backfill it in batches and switch readers over instead. Tables created earlier in \
        the same file are not flagged.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if cx
        .catalog
        .table(&alter.name)
        .is_some_and(|t| t.created_in_file)
    {
        return;
    }
    let table = alter.name.display();
    for action in &alter.actions {
        if let AlterTableActionKind::AlterColumnType {
            column, data_type, ..
        } = &action.kind
        {
            let to = data_type
                .as_ref()
                .map(|t| format!(" to {}", t.text.trim()))
                .unwrap_or_default();
            out.push(Finding::new(
                action.span,
                format!(
                    "Changing the type of column \"{}\" of table \"{table}\"{to} takes an ACCESS EXCLUSIVE lock, blocking reads and writes until it finishes (most type changes rewrite the whole table meanwhile), and breaks clients that expect the old type; add a new column, backfill it and switch over instead",
                    column.name
                ),
            ));
        }
    }
}
