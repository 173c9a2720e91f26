//! `COLUMN_NO_NULL`: every column should be `NOT NULL`.

use rollgate_sql::ast::{AlterTableActionKind, ColumnDef, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_NO_NULL",
    legacy_name: Some("column.no-null"),
    code: 402,
    category: Category::Column,
    title: "Enforce \"NOT NULL\" constraints on columns",
    description: "Flags a column created without NOT NULL (by CREATE TABLE or ALTER TABLE ... ADD \
        COLUMN). NULL is a second \"no value\" that every query must handle; declare the column NOT \
        NULL, with a DEFAULT when existing rows need a value. Primary key columns are NOT NULL \
        implicitly and are not flagged.",
    levels: levels(W, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let key_columns: Vec<&str> = create
                .constraints
                .iter()
                .flat_map(|c| match &c.kind {
                    rollgate_sql::ast::TableConstraintKind::PrimaryKey { columns, .. } => {
                        columns.as_slice()
                    }
                    _ => &[],
                })
                .map(|c| c.name.as_str())
                .collect();
            for column in &create.columns {
                if !key_columns.contains(&column.name.name.as_str()) {
                    flag(column, &create.name.display(), out);
                }
            }
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                if let AlterTableActionKind::AddColumn { column, .. } = &action.kind {
                    flag(column, &alter.name.display(), out);
                }
            }
        }
        _ => {}
    }
}

fn flag(column: &ColumnDef, table: &str, out: &mut Vec<Finding>) {
    if column.is_not_null() || column.is_primary_key() {
        return;
    }
    out.push(Finding::new(
        column.span,
        format!("Column \"{}\" of table \"{table}\" can be NULL; declare it NOT NULL (with a DEFAULT if existing rows need a value)", column.name.name),
    ));
}
