//! `COLUMN_ADD_NOT_NULL_WITHOUT_DEFAULT`: a `NOT NULL` column added to an
//! existing table needs a default.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ColumnDef, ExprKind, StatementKind,
};

use super::common::table_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_ADD_NOT_NULL_WITHOUT_DEFAULT",
    legacy_name: None,
    code: 3005,
    category: Category::Safety,
    title: "Require a default when adding \"NOT NULL\" columns",
    description: "Flags ALTER TABLE ... ADD COLUMN ... NOT NULL (or PRIMARY KEY) without a DEFAULT \
        on an existing table (squawk: adding-required-field). The statement fails as soon as the \
        table has a row, and INSERTs from application code that does not know the column yet fail \
        too. Give the column a DEFAULT, or add it nullable, backfill it and set NOT NULL later. \
        Identity, generated and serial columns have values and are not flagged, nor are tables \
        created earlier in the same file.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if table_is_new(cx, &alter.name) {
        return;
    }
    for action in &alter.actions {
        let AlterTableActionKind::AddColumn { column, .. } = &action.kind else {
            continue;
        };
        if has_value(column) {
            continue;
        }
        let Some(required) = column.constraints.iter().find(|c| {
            matches!(
                c.kind,
                ColumnConstraintKind::NotNull | ColumnConstraintKind::PrimaryKey
            )
        }) else {
            continue;
        };
        out.push(Finding::new(
            required.span,
            format!(
                "Column \"{}\" is added to table \"{}\" as NOT NULL without a DEFAULT: the statement fails if \
                 the table has any rows, and INSERTs from application code that does not know the column \
                 fail; give it a DEFAULT, or add it nullable, backfill it, then set NOT NULL",
                column.name.name,
                alter.name.display()
            ),
        ));
    }
}

/// Whether existing and future rows get a value without the application
/// naming the column: a non-NULL default, an identity or generated column,
/// or a serial type (an implicit `nextval` default).
fn has_value(column: &ColumnDef) -> bool {
    let default_is_value = column
        .default()
        .is_some_and(|expr| !matches!(expr.kind, ExprKind::Null));
    let serial = column.data_type.as_ref().is_some_and(|t| {
        !t.array
            && matches!(
                t.name.as_str(),
                "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"
            )
    });
    default_is_value || column.generated().is_some() || serial
}
