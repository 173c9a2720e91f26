//! `STATEMENT_DISALLOW_ADD_NOT_NULL`: no `SET NOT NULL` on existing columns.

use rollgate_sql::ast::{
    AlterTableActionKind, Expr, ObjectName, StatementKind, TableConstraintKind,
};
use rollgate_sql::catalog::key;

use super::created_in_file;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DISALLOW_ADD_NOT_NULL",
    legacy_name: Some("statement.disallow-add-not-null"),
    code: 212,
    category: Category::Statement,
    title: "Restrict adding \"NOT NULL\" constraint to existing columns",
    description: "Flags ALTER TABLE ... ALTER COLUMN ... SET NOT NULL on a table that existed \
        before this file. PostgreSQL scans the whole table to check for NULLs while holding an \
        ACCESS EXCLUSIVE lock, blocking reads and writes, and application code that still writes \
        NULL starts failing. On PostgreSQL 12+, first add CHECK (col IS NOT NULL) NOT VALID and \
        VALIDATE it: SET NOT NULL then skips the scan. Not flagged: tables created earlier in the \
        same file, and columns with such a validated check added earlier in the same file.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if created_in_file(cx, &alter.name) {
        return;
    }
    for action in &alter.actions {
        let AlterTableActionKind::SetNotNull { column } = &action.kind else {
            continue;
        };
        if has_validated_check(cx, &alter.name, &column.name) {
            continue;
        }
        out.push(Finding::new(
            action.span,
            format!(
                "SET NOT NULL on column \"{}\" of table \"{}\" scans the whole table under an \
                 ACCESS EXCLUSIVE lock, blocking reads and writes until it finishes; first add \
                 CHECK ({} IS NOT NULL) NOT VALID and VALIDATE CONSTRAINT it, so that SET NOT NULL \
                 (PostgreSQL 12+) skips the scan",
                column.name,
                alter.name.display(),
                column.name
            ),
        ));
    }
}

/// Earlier in the file, a `CHECK (column IS NOT NULL)` was added to the
/// table and is valid: added without NOT VALID, or validated afterwards.
fn has_validated_check(cx: &RuleCx<'_>, table: &ObjectName, column: &str) -> bool {
    let table = key(table);
    let mut added: Vec<(Option<String>, bool)> = Vec::new();
    for statement in cx.previous() {
        let StatementKind::AlterTable(alter) = &statement.kind else {
            continue;
        };
        if key(&alter.name) != table {
            continue;
        }
        for action in &alter.actions {
            match &action.kind {
                AlterTableActionKind::AddConstraint(constraint) => {
                    if let TableConstraintKind::Check { expr } = &constraint.kind
                        && is_not_null_check(cx, expr, column)
                    {
                        let name = constraint.name.as_ref().map(|n| n.name.clone());
                        added.push((name, !constraint.not_valid));
                    }
                }
                AlterTableActionKind::ValidateConstraint { name } => {
                    for (added_name, valid) in &mut added {
                        if added_name.as_deref() == Some(name.name.as_str()) {
                            *valid = true;
                        }
                    }
                }
                AlterTableActionKind::DropConstraint { name, .. } => {
                    added.retain(|(n, _)| n.as_deref() != Some(name.name.as_str()));
                }
                _ => {}
            }
        }
    }
    added.iter().any(|(_, valid)| *valid)
}

/// `column IS NOT NULL` (or `column NOTNULL`), judged from the source text:
/// the lowered expression does not keep the `NULL` operand.
fn is_not_null_check(cx: &RuleCx<'_>, expr: &Expr, column: &str) -> bool {
    let text = cx.text(expr.span).trim();
    let text = text
        .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
        .trim_end_matches(|c: char| c == ')' || c.is_whitespace());
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((first, rest)) = words.split_first() else {
        return false;
    };
    let name = match first.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(quoted) => quoted.to_string(),
        None => first.to_lowercase(),
    };
    let rest: Vec<String> = rest.iter().map(|w| w.to_lowercase()).collect();
    name == column && (rest == ["is", "not", "null"] || rest == ["notnull"])
}
