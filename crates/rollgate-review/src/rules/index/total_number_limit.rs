//! `INDEX_TOTAL_NUMBER_LIMIT`: at most `number` indexes per table.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ColumnDef, ObjectName, Span, Statement,
    StatementKind, TableConstraint, TableConstraintKind,
};
use rollgate_sql::catalog::key;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_TOTAL_NUMBER_LIMIT",
    legacy_name: Some("index.total-number-limit"),
    code: 813,
    category: Category::Index,
    title: "Restrict the number of indexes on a single table",
    description: "Flags the statement that brings a table above `number` indexes (default 5; 0 \
        disables the check), counting the indexes behind primary key and unique constraints: a \
        CREATE TABLE, a CREATE INDEX, or an ALTER TABLE adding such a constraint. Every index \
        slows down every write to the table and takes space. Drop unused or redundant indexes, or \
        combine them. When the table was already above the limit before this file, the first \
        statement of the file that adds an index to it is flagged.",
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
    let Some((table, added, span)) = added_indexes(cx.statement) else {
        return;
    };
    let known = cx.catalog.table(table);
    if matches!(cx.statement.kind, StatementKind::CreateTable(_)) && known.is_some() {
        // The table already exists: the statement creates nothing.
        return;
    }
    let before = known.map_or(0, |t| t.indexes.len());
    let after = before + added;
    if after as i64 <= limit {
        return;
    }
    let crossing = before as i64 <= limit;
    let first_in_file = || {
        !cx.previous()
            .iter()
            .any(|s| added_indexes(s).is_some_and(|(t, _, _)| key(t) == key(table)))
    };
    if !crossing && !first_in_file() {
        return;
    }
    out.push(Finding::new(
        span,
        format!(
            "Table \"{}\" has {after} indexes after this statement, more than the limit of \
             {limit}; every index slows down writes to the table, so drop unused or redundant \
             indexes or combine them",
            table.display()
        ),
    ));
}

/// The table a statement adds indexes to, how many, and where to point.
fn added_indexes(statement: &Statement) -> Option<(&ObjectName, usize, Span)> {
    match &statement.kind {
        StatementKind::CreateIndex(create) => Some((
            &create.table,
            1,
            create.name.as_ref().map_or(create.table.span, |n| n.span),
        )),
        StatementKind::CreateTable(create) => {
            let count = create.columns.iter().map(column_indexes).sum::<usize>()
                + create
                    .constraints
                    .iter()
                    .filter(|c| constraint_adds_index(c))
                    .count();
            (count > 0).then_some((&create.name, count, create.name.span))
        }
        StatementKind::AlterTable(alter) => {
            let mut count = 0;
            let mut span = None;
            for action in &alter.actions {
                let n = match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => column_indexes(column),
                    AlterTableActionKind::AddConstraint(c) => usize::from(constraint_adds_index(c)),
                    _ => 0,
                };
                if n > 0 {
                    count += n;
                    span.get_or_insert(action.span);
                }
            }
            span.map(|span| (&alter.name, count, span))
        }
        _ => None,
    }
}

fn column_indexes(column: &ColumnDef) -> usize {
    column
        .constraints
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                ColumnConstraintKind::PrimaryKey | ColumnConstraintKind::Unique
            )
        })
        .count()
}

/// PRIMARY KEY and UNIQUE build an index, unless they adopt an existing one.
fn constraint_adds_index(constraint: &TableConstraint) -> bool {
    matches!(
        constraint.kind,
        TableConstraintKind::PrimaryKey {
            using_index: None,
            ..
        } | TableConstraintKind::Unique {
            using_index: None,
            ..
        }
    )
}
