//! `INDEX_NO_DUPLICATE_COLUMN`: a column listed twice in one key.

use rollgate_sql::ast::{
    AlterTableActionKind, Span, StatementKind, TableConstraint, TableConstraintKind,
};

use super::index_label;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_NO_DUPLICATE_COLUMN",
    legacy_name: Some("index.no-duplicate-column"),
    code: 812,
    category: Category::Index,
    title: "Prohibit indexes containing duplicate columns",
    description: "Flags a column listed more than once in the column list of a CREATE INDEX, a \
        PRIMARY KEY or UNIQUE constraint, or a FOREIGN KEY. A repeated index column only makes the \
        index bigger and slower to maintain, and PostgreSQL rejects repeated key columns in \
        constraints, so the migration fails. List each column once.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateIndex(create) => {
            let columns: Vec<(&str, Span)> = create
                .columns
                .iter()
                .filter_map(|c| c.column.as_deref().map(|name| (name, c.span)))
                .collect();
            let what = format!(
                "index{} on table \"{}\"",
                index_label(create),
                create.table.display()
            );
            flag(&columns, &what, out);
        }
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for constraint in &create.constraints {
                constraint_columns(constraint, &table, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                if let AlterTableActionKind::AddConstraint(constraint) = &action.kind {
                    constraint_columns(constraint, &table, out);
                }
            }
        }
        _ => {}
    }
}

fn constraint_columns(constraint: &TableConstraint, table: &str, out: &mut Vec<Finding>) {
    let name = constraint
        .name
        .as_ref()
        .map_or_else(String::new, |n| format!(" \"{}\"", n.name));
    let (kind, columns) = match &constraint.kind {
        TableConstraintKind::PrimaryKey { columns, .. } => ("primary key", columns),
        TableConstraintKind::Unique { columns, .. } => ("unique constraint", columns),
        TableConstraintKind::ForeignKey { columns, .. } => ("foreign key", columns),
        _ => return,
    };
    let columns: Vec<(&str, Span)> = columns.iter().map(|c| (c.name.as_str(), c.span)).collect();
    flag(&columns, &format!("{kind}{name} of table \"{table}\""), out);
}

/// Reports every repetition of a column after its first occurrence.
fn flag(columns: &[(&str, Span)], what: &str, out: &mut Vec<Finding>) {
    for (i, (name, span)) in columns.iter().enumerate() {
        if columns[..i].iter().any(|(earlier, _)| earlier == name) {
            out.push(Finding::new(
                *span,
                format!(
                    "Column \"{name}\" appears more than once in the {what}; list each column once"
                ),
            ));
        }
    }
}
