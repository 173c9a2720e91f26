//! `STATEMENT_MERGE_ALTER_TABLE`: changes to one table that could be a
//! single statement.

use rollgate_sql::ast::{
    AlterTable, AlterTableActionKind, ColumnConstraintKind, ObjectName, Statement, StatementKind,
    TableConstraintKind,
};
use rollgate_sql::catalog::key;

use super::line_of;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_MERGE_ALTER_TABLE",
    legacy_name: Some("statement.merge-alter-table"),
    code: 207,
    category: Category::Statement,
    title: "Prohibit issuing multiple independent changes on the same table",
    description: "Flags an ALTER TABLE that could have been merged into an earlier ALTER TABLE of \
        the same table in the same file, or folded into the table's CREATE TABLE earlier in the \
        file. Every ALTER TABLE takes its own lock (usually ACCESS EXCLUSIVE, blocking reads and \
        writes) and may scan or rewrite the table again; one statement with several comma-separated \
        actions does it once. Changes that cannot be merged are not flagged: renames, SET SCHEMA, \
        (DE)ATTACH PARTITION and VALIDATE CONSTRAINT, and any pair separated by a statement that \
        uses the table (e.g. a backfill UPDATE) or by transaction control.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if alter.name.name.is_empty() || alter.actions.is_empty() {
        return;
    }
    let table = key(&alter.name);
    let targets = referenced_tables(alter);
    for previous in cx.previous().iter().rev() {
        match &previous.kind {
            StatementKind::AlterTable(earlier) if key(&earlier.name) == table => {
                if earlier.only == alter.only && can_merge(earlier, alter) {
                    out.push(Finding::new(
                        alter.name.span,
                        format!(
                            "Table \"{}\" is altered again here; merge these actions into the \
                             ALTER TABLE on line {} so the table is locked and scanned or \
                             rewritten once instead of twice",
                            alter.name.display(),
                            line_of(cx, previous.span.start)
                        ),
                    ));
                }
                return;
            }
            StatementKind::CreateTable(create) if key(&create.name) == table => {
                let foldable = !create.as_query
                    && create.partition_of.is_none()
                    && alter.actions.iter().all(|a| foldable(&a.kind));
                if foldable {
                    out.push(Finding::new(
                        alter.name.span,
                        format!(
                            "Table \"{}\" is created on line {} of this file; put this change \
                             into its CREATE TABLE statement instead of altering the table \
                             afterwards",
                            alter.name.display(),
                            line_of(cx, previous.span.start)
                        ),
                    ));
                }
                return;
            }
            _ => {
                if is_barrier(cx, previous, &alter.name, &targets) {
                    return;
                }
            }
        }
    }
}

/// Both statements consist of actions that PostgreSQL accepts together in
/// one ALTER TABLE.
fn can_merge(earlier: &AlterTable, later: &AlterTable) -> bool {
    let all_mergeable = |alter: &AlterTable| {
        !alter.actions.is_empty() && alter.actions.iter().all(|a| mergeable(&a.kind))
    };
    let has = |alter: &AlterTable, f: fn(&AlterTableActionKind) -> bool| {
        alter.actions.iter().any(|a| f(&a.kind))
    };
    let set_not_null =
        |k: &AlterTableActionKind| matches!(k, AlterTableActionKind::SetNotNull { .. });
    let drop_constraint =
        |k: &AlterTableActionKind| matches!(k, AlterTableActionKind::DropConstraint { .. });
    // `SET NOT NULL` then dropping the helper `CHECK (c IS NOT NULL)`: the
    // check must still exist while SET NOT NULL runs to spare the scan.
    let not_null_dance = has(earlier, set_not_null) && has(later, drop_constraint);
    all_mergeable(earlier) && all_mergeable(later) && !not_null_dance
}

/// Actions that may share an ALTER TABLE with others.
fn mergeable(kind: &AlterTableActionKind) -> bool {
    !matches!(
        kind,
        AlterTableActionKind::RenameColumn { .. }
            | AlterTableActionKind::RenameConstraint { .. }
            | AlterTableActionKind::RenameTable { .. }
            | AlterTableActionKind::SetSchema { .. }
            | AlterTableActionKind::AttachPartition { .. }
            | AlterTableActionKind::DetachPartition { .. }
            | AlterTableActionKind::ValidateConstraint { .. }
    )
}

/// Actions that can be expressed in the CREATE TABLE itself.
fn foldable(kind: &AlterTableActionKind) -> bool {
    match kind {
        AlterTableActionKind::AddConstraint(constraint) => !matches!(
            &constraint.kind,
            TableConstraintKind::PrimaryKey {
                using_index: Some(_),
                ..
            } | TableConstraintKind::Unique {
                using_index: Some(_),
                ..
            }
        ),
        AlterTableActionKind::AddColumn { .. }
        | AlterTableActionKind::DropColumn { .. }
        | AlterTableActionKind::AlterColumnType { .. }
        | AlterTableActionKind::SetNotNull { .. }
        | AlterTableActionKind::DropNotNull { .. }
        | AlterTableActionKind::SetDefault { .. }
        | AlterTableActionKind::DropDefault { .. }
        | AlterTableActionKind::DropConstraint { .. }
        | AlterTableActionKind::RenameColumn { .. }
        | AlterTableActionKind::RenameConstraint { .. } => true,
        _ => false,
    }
}

/// Tables the ALTER's foreign keys point at.
fn referenced_tables(alter: &AlterTable) -> Vec<(String, String)> {
    let mut tables = Vec::new();
    for action in &alter.actions {
        match &action.kind {
            AlterTableActionKind::AddColumn { column, .. } => {
                for constraint in &column.constraints {
                    if let ColumnConstraintKind::References(target) = &constraint.kind {
                        tables.push(key(&target.table));
                    }
                }
            }
            AlterTableActionKind::AddConstraint(constraint) => {
                if let TableConstraintKind::ForeignKey { target, .. } = &constraint.kind {
                    tables.push(key(&target.table));
                }
            }
            _ => {}
        }
    }
    tables
}

/// A statement between the two that prevents merging: transaction control,
/// anything that mentions the table (a backfill, an index, a view), or the
/// creation of a table the later ALTER's foreign keys reference.
fn is_barrier(
    cx: &RuleCx<'_>,
    statement: &Statement,
    table: &ObjectName,
    targets: &[(String, String)],
) -> bool {
    match &statement.kind {
        StatementKind::Begin | StatementKind::Commit | StatementKind::Rollback => return true,
        StatementKind::CreateTable(create) if targets.contains(&key(&create.name)) => return true,
        StatementKind::DropTable(drop) if drop.names.iter().any(|n| targets.contains(&key(n))) => {
            return true;
        }
        _ => {}
    }
    mentions(cx.text(statement.span), &table.name)
}

/// Whether `name` occurs in `text` as a whole word (ignoring case).
fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let name = name.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}
