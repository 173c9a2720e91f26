//! `COLUMN_REQUIRE_DEFAULT`: columns declare a DEFAULT.

use rollgate_sql::ast::{AlterTableActionKind, ColumnDef, StatementKind, TableConstraintKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_REQUIRE_DEFAULT",
    legacy_name: Some("column.require-default"),
    code: 420,
    category: Category::Column,
    title: "Enforce setting default value on columns",
    description: "Flags a column created (CREATE TABLE, ALTER TABLE ... ADD COLUMN) without a \
        DEFAULT. A default gives inserts that omit the column, and existing rows, a defined \
        value. Declare `DEFAULT ...`. Columns whose value is generated are not flagged: primary \
        key columns, serial types, identity and generated columns.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

/// Types that come with a sequence default.
pub(crate) const SERIAL_TYPES: &[&str] = &[
    "serial",
    "serial2",
    "serial4",
    "serial8",
    "smallserial",
    "bigserial",
];

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let key_columns: Vec<&str> = create
                .constraints
                .iter()
                .flat_map(|c| match &c.kind {
                    TableConstraintKind::PrimaryKey { columns, .. } => columns.as_slice(),
                    _ => &[],
                })
                .map(|c| c.name.as_str())
                .collect();
            let table = create.name.display();
            for column in &create.columns {
                if !key_columns.contains(&column.name.name.as_str()) {
                    flag(column, &table, out);
                }
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                if let AlterTableActionKind::AddColumn { column, .. } = &action.kind {
                    flag(column, &table, out);
                }
            }
        }
        _ => {}
    }
}

fn flag(column: &ColumnDef, table: &str, out: &mut Vec<Finding>) {
    let serial = column
        .data_type
        .as_ref()
        .is_some_and(|t| !t.array && SERIAL_TYPES.contains(&t.name.as_str()));
    if column.name.name.is_empty()
        || column.default().is_some()
        || column.generated().is_some()
        || column.is_primary_key()
        || serial
    {
        return;
    }
    out.push(Finding::new(
        column.span,
        format!(
            "Column \"{}\" of table \"{table}\" has no DEFAULT; declare one so inserts that omit it get a defined value",
            column.name.name
        ),
    ));
}
