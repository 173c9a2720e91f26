//! `INDEX_KEY_NUMBER_LIMIT`: at most `number` columns per index.

use rollgate_sql::ast::{
    AlterTableActionKind, StatementKind, TableConstraint, TableConstraintKind,
};

use super::index_label;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_KEY_NUMBER_LIMIT",
    legacy_name: Some("index.key-number-limit"),
    code: 802,
    category: Category::Index,
    title: "Restrict the number of columns in a single index",
    description: "Flags a CREATE INDEX, PRIMARY KEY or UNIQUE constraint with more than `number` \
        key columns (default 5; 0 disables the check). Wide indexes are large and slow to \
        maintain on every write, and the trailing columns rarely help lookups. Keep the columns \
        the queries filter on, and move columns that are only read into an INCLUDE clause.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        number: Some(5),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let limit = cx.options.number;
    if limit <= 0 {
        return;
    }
    match &cx.statement.kind {
        StatementKind::CreateIndex(create) => {
            let count = create.columns.len();
            if count as i64 > limit {
                out.push(Finding::new(
                    create.name.as_ref().map_or(create.table.span, |n| n.span),
                    format!(
                        "Index{} on table \"{}\" has {count} key columns, more than the limit of \
                         {limit}; keep the columns queries filter on and move the others to \
                         INCLUDE (...) or drop them",
                        index_label(create),
                        create.table.display()
                    ),
                ));
            }
        }
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for constraint in &create.constraints {
                flag(constraint, &table, limit, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                if let AlterTableActionKind::AddConstraint(constraint) = &action.kind {
                    flag(constraint, &table, limit, out);
                }
            }
        }
        _ => {}
    }
}

fn flag(constraint: &TableConstraint, table: &str, limit: i64, out: &mut Vec<Finding>) {
    let (kind, columns) = match &constraint.kind {
        TableConstraintKind::PrimaryKey { columns, .. } => ("Primary key", columns),
        TableConstraintKind::Unique { columns, .. } => ("Unique constraint", columns),
        _ => return,
    };
    if columns.len() as i64 <= limit {
        return;
    }
    let name = constraint
        .name
        .as_ref()
        .map_or_else(String::new, |n| format!(" \"{}\"", n.name));
    out.push(Finding::new(
        constraint.span,
        format!(
            "{kind}{name} of table \"{table}\" has {} key columns, more than the limit of \
             {limit}; use fewer columns (e.g. a surrogate key)",
            columns.len()
        ),
    ));
}
