//! `TABLE_NO_FOREIGN_KEY`: no foreign key constraints.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ColumnDef, ForeignKeyTarget, Ident, ObjectName,
    Span, StatementKind, TableConstraint, TableConstraintKind,
};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_NO_FOREIGN_KEY",
    legacy_name: Some("table.no-fk"),
    code: 602,
    category: Category::Table,
    title: "Prohibit using foreign key constraints",
    description: "Flags a foreign key: a REFERENCES column constraint or a FOREIGN KEY table \
        constraint in CREATE TABLE, or one added by ALTER TABLE (ADD CONSTRAINT, or ADD COLUMN \
        ... REFERENCES). Foreign keys couple tables: every write checks the referenced table, \
        adding one takes a SHARE ROW EXCLUSIVE lock on both tables (blocking writes), and they \
        get in the way of sharding and online schema changes. Enforce the relationship in the \
        application instead, for teams that choose to.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            for column in &create.columns {
                column_keys(column, &create.name, out);
            }
            for constraint in &create.constraints {
                table_key(constraint, &create.name, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddConstraint(constraint) => {
                        table_key(constraint, &alter.name, out)
                    }
                    AlterTableActionKind::AddColumn { column, .. } => {
                        column_keys(column, &alter.name, out)
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn column_keys(column: &ColumnDef, table: &ObjectName, out: &mut Vec<Finding>) {
    for constraint in &column.constraints {
        if let ColumnConstraintKind::References(target) = &constraint.kind {
            flag(
                constraint.span,
                table,
                std::slice::from_ref(&column.name),
                target,
                out,
            );
        }
    }
}

fn table_key(constraint: &TableConstraint, table: &ObjectName, out: &mut Vec<Finding>) {
    if let TableConstraintKind::ForeignKey { columns, target } = &constraint.kind {
        flag(constraint.span, table, columns, target, out);
    }
}

fn flag(
    span: Span,
    table: &ObjectName,
    columns: &[Ident],
    target: &ForeignKeyTarget,
    out: &mut Vec<Finding>,
) {
    let columns: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    out.push(Finding::new(
        span,
        format!(
            "Foreign key on table \"{}\" ({}) references table \"{}\"; foreign keys are not allowed, enforce the relationship in the application instead",
            table.display(),
            columns.join(", "),
            target.table.display()
        ),
    ));
}
