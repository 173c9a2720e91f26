//! `SYSTEM_COLLATION_ALLOWLIST`: columns and databases use allowed
//! collations.

use rollgate_sql::ast::{AlterTableActionKind, ColumnDef, Span, StatementKind};

use super::{clause, last_name};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "SYSTEM_COLLATION_ALLOWLIST",
    legacy_name: Some("system.collation-allowlist"),
    code: 1201,
    category: Category::System,
    title: "Allowable list of Collation",
    description: "Flags a collation that is not in `list` (empty, the default, allows every \
        collation): a column's COLLATE in CREATE TABLE, ADD COLUMN or ALTER COLUMN ... TYPE, and \
        CREATE DATABASE ... LC_COLLATE or LOCALE. A collation decides sort order and equality of \
        text, so mixing collations gives inconsistent ordering and indexes that queries cannot use. \
        Names are compared ignoring case; `default` is always allowed. Use an allowed collation.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults {
        list: Some(&[]),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if cx.options.list.is_empty() {
        return;
    }
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for column in &create.columns {
                column_collation(cx, column, &table, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        column_collation(cx, column, &table, out);
                    }
                    AlterTableActionKind::AlterColumnType { column, .. } => {
                        if let Some((span, raw)) = clause(cx, action.span, "collate") {
                            flag(
                                cx,
                                &last_name(&raw),
                                span,
                                &format!("Column \"{}\" of table \"{table}\"", column.name),
                                out,
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        StatementKind::CreateDatabase { name, options } => {
            for (key, value) in options {
                if key != "LC_COLLATE" && key != "LOCALE" {
                    continue;
                }
                let span = clause(cx, cx.statement.span, key).map_or(name.span, |(span, _)| span);
                flag(
                    cx,
                    value,
                    span,
                    &format!("Database \"{}\" ({key})", name.name),
                    out,
                );
            }
        }
        _ => {}
    }
}

fn column_collation(cx: &RuleCx<'_>, column: &ColumnDef, table: &str, out: &mut Vec<Finding>) {
    let Some(collation) = &column.collation else {
        return;
    };
    let span = clause(cx, column.span, "collate").map_or(column.span, |(span, _)| span);
    flag(
        cx,
        &last_name(collation),
        span,
        &format!("Column \"{}\" of table \"{table}\"", column.name.name),
        out,
    );
}

fn flag(cx: &RuleCx<'_>, collation: &str, span: Span, what: &str, out: &mut Vec<Finding>) {
    if collation.is_empty() || collation.eq_ignore_ascii_case("default") {
        return;
    }
    let allowed = cx.options.list.iter().any(|a| {
        unquoted(a).eq_ignore_ascii_case(collation) || last_name(a).eq_ignore_ascii_case(collation)
    });
    if allowed {
        return;
    }
    out.push(Finding::new(
        span,
        format!(
            "{what} uses collation \"{collation}\", which is not in the allowed list ({}); use \
             one of them or the database default",
            cx.options.list.join(", ")
        ),
    ));
}

/// A list entry without surrounding quotes: `"en_US.utf8"` → `en_US.utf8`.
fn unquoted(entry: &str) -> &str {
    let entry = entry.trim();
    entry
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(entry)
}
