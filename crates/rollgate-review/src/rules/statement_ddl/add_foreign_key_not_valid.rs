//! `STATEMENT_ADD_FOREIGN_KEY_NOT_VALID`: add foreign keys as `NOT VALID`.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ObjectName, Span, StatementKind,
    TableConstraintKind,
};

use super::created_in_file;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_ADD_FOREIGN_KEY_NOT_VALID",
    legacy_name: Some("statement.add-foreign-key-not-valid"),
    code: 229,
    category: Category::Statement,
    title: "Enforce including \"NOT VALID\" option when adding foreign keys",
    description: "Flags a foreign key added to a table that existed before this file without NOT \
        VALID: ALTER TABLE ... ADD [CONSTRAINT ...] FOREIGN KEY, and ADD COLUMN ... REFERENCES \
        (which cannot be NOT VALID). Validation scans the table while holding SHARE ROW EXCLUSIVE \
        locks on both tables, blocking writes to both until it finishes. Add the constraint NOT \
        VALID, then run ALTER TABLE ... VALIDATE CONSTRAINT, which allows reads and writes. Tables \
        created earlier in the same file are not flagged.",
    levels: levels(OFF, OFF, W),
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
    let table = alter.name.display();
    for action in &alter.actions {
        match &action.kind {
            AlterTableActionKind::AddConstraint(constraint) if !constraint.not_valid => {
                if let TableConstraintKind::ForeignKey { target, .. } = &constraint.kind {
                    let name = constraint
                        .name
                        .as_ref()
                        .map_or_else(String::new, |n| format!(" \"{}\"", n.name));
                    flag(
                        constraint.span,
                        format!("Foreign key{name} is added to table \"{table}\""),
                        &table,
                        &target.table,
                        "add it NOT VALID, then VALIDATE CONSTRAINT in a separate statement",
                        out,
                    );
                }
            }
            AlterTableActionKind::AddColumn { column, .. } => {
                for constraint in &column.constraints {
                    if let ColumnConstraintKind::References(target) = &constraint.kind {
                        flag(
                            constraint.span,
                            format!(
                                "Column \"{}\" is added to table \"{table}\" with a REFERENCES \
                                 foreign key",
                                column.name.name
                            ),
                            &table,
                            &target.table,
                            "add the column first, then ADD CONSTRAINT ... FOREIGN KEY ... NOT \
                             VALID and VALIDATE CONSTRAINT in separate statements",
                            out,
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

fn flag(
    span: Span,
    what: String,
    table: &str,
    referenced: &ObjectName,
    fix: &str,
    out: &mut Vec<Finding>,
) {
    out.push(Finding::new(
        span,
        format!(
            "{what} without NOT VALID: it is validated by scanning \"{table}\" while SHARE ROW \
             EXCLUSIVE locks on \"{table}\" and \"{}\" block writes to both; {fix}",
            referenced.display()
        ),
    ));
}
