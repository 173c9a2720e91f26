//! `COLUMN_REQUIRED`: every table has the listed columns.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};
use rollgate_sql::catalog::key;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_REQUIRED",
    legacy_name: Some("column.required"),
    code: 401,
    category: Category::Column,
    title: "Enforce the inclusion of specific columns in a table",
    description: "Flags a CREATE TABLE that lacks any column of `list` (by default id, \
        created_ts, updated_ts, creator_id and updater_id), unless a later ALTER TABLE ... ADD \
        COLUMN in the same file adds it, and an ALTER TABLE that drops or renames one of those \
        columns. Shared bookkeeping columns let tooling and audits treat every table alike. Add \
        the missing columns, or keep the required ones. Tables whose columns come from elsewhere \
        (CREATE TABLE AS, PARTITION OF) are not checked.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        list: Some(&["id", "created_ts", "updated_ts", "creator_id", "updater_id"]),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let required = &cx.options.list;
    if required.is_empty() {
        return;
    }
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            if create.as_query || create.partition_of.is_some() || create.name.name.is_empty() {
                return;
            }
            let table_key = key(&create.name);
            // Columns a later statement of the file adds to this table.
            let added_later: Vec<&str> = cx
                .following()
                .iter()
                .filter_map(|s| match &s.kind {
                    StatementKind::AlterTable(alter) if key(&alter.name) == table_key => {
                        Some(alter)
                    }
                    _ => None,
                })
                .flat_map(|alter| &alter.actions)
                .filter_map(|a| match &a.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        Some(column.name.name.as_str())
                    }
                    _ => None,
                })
                .collect();
            let missing: Vec<&str> = required
                .iter()
                .map(String::as_str)
                .filter(|r| {
                    !create.columns.iter().any(|c| c.name.name == *r) && !added_later.contains(r)
                })
                .collect();
            if !missing.is_empty() {
                let list = missing
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(Finding::new(
                    create.name.span,
                    format!(
                        "Table \"{}\" lacks the required column{} {list}; add {}",
                        create.name.display(),
                        if missing.len() == 1 { "" } else { "s" },
                        if missing.len() == 1 { "it" } else { "them" },
                    ),
                ));
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::DropColumn { name, .. }
                        if required.contains(&name.name) =>
                    {
                        out.push(Finding::new(
                            action.span,
                            format!(
                                "Column \"{}\" of table \"{table}\" is a required column and must not be dropped; keep it",
                                name.name
                            ),
                        ));
                    }
                    AlterTableActionKind::RenameColumn { from, to }
                        if required.contains(&from.name) && from.name != to.name =>
                    {
                        out.push(Finding::new(
                            action.span,
                            format!(
                                "Column \"{}\" of table \"{table}\" is a required column and must not be renamed to \"{}\"; keep its name",
                                from.name, to.name
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
