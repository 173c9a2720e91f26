//! `STATEMENT_DISALLOW_ON_DEL_CASCADE`: no `ON DELETE CASCADE` foreign keys.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ForeignKeyTarget, ReferentialAction, StatementKind,
    TableConstraint, TableConstraintKind,
};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DISALLOW_ON_DEL_CASCADE",
    legacy_name: Some("statement.disallow-on-del-cascade"),
    code: 213,
    category: Category::Statement,
    title: "Prohibit using CASCADE option for ON DELETE clauses",
    description: "Flags a foreign key declared with ON DELETE CASCADE, in CREATE TABLE or ALTER \
        TABLE (inline REFERENCES or a FOREIGN KEY constraint). With it, one DELETE on the \
        referenced table silently deletes every referencing row, possibly across many tables and \
        under row locks held for the whole cascade. Use ON DELETE RESTRICT or NO ACTION and delete \
        the dependent rows explicitly.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for column in &create.columns {
                for constraint in &column.constraints {
                    if let ColumnConstraintKind::References(target) = &constraint.kind {
                        flag(&table, &column.name.name, target, out);
                    }
                }
            }
            for constraint in &create.constraints {
                table_constraint(&table, constraint, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        for constraint in &column.constraints {
                            if let ColumnConstraintKind::References(target) = &constraint.kind {
                                flag(&table, &column.name.name, target, out);
                            }
                        }
                    }
                    AlterTableActionKind::AddConstraint(constraint) => {
                        table_constraint(&table, constraint, out);
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn table_constraint(table: &str, constraint: &TableConstraint, out: &mut Vec<Finding>) {
    if let TableConstraintKind::ForeignKey { columns, target } = &constraint.kind {
        let columns: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        flag(table, &columns.join(", "), target, out);
    }
}

fn flag(table: &str, columns: &str, target: &ForeignKeyTarget, out: &mut Vec<Finding>) {
    if target.on_delete != Some(ReferentialAction::Cascade) {
        return;
    }
    let Some(span) = target.on_delete_span else {
        return;
    };
    out.push(Finding::new(
        span,
        format!(
            "Foreign key ({columns}) of table \"{table}\" references \"{}\" with ON DELETE CASCADE: \
             deleting a row of \"{}\" silently deletes the matching rows of \"{table}\"; use ON \
             DELETE RESTRICT (or NO ACTION) and delete dependent rows explicitly",
            target.table.display(),
            target.table.display()
        ),
    ));
}
