//! `STATEMENT_ADD_CHECK_NOT_VALID`: add CHECK constraints as `NOT VALID`.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind, TableConstraintKind};

use super::created_in_file;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_ADD_CHECK_NOT_VALID",
    legacy_name: Some("statement.add-check-not-valid"),
    code: 211,
    category: Category::Statement,
    title: "Enforce including \"NOT VALID\" option when adding \"CHECK\" constraints",
    description: "Flags ALTER TABLE ... ADD CONSTRAINT ... CHECK without NOT VALID on a table that \
        existed before this file. PostgreSQL then checks every existing row while holding an \
        ACCESS EXCLUSIVE lock, blocking reads and writes for the whole scan. Add the constraint \
        NOT VALID (new rows are checked at once), then run ALTER TABLE ... VALIDATE CONSTRAINT, \
        which takes only a SHARE UPDATE EXCLUSIVE lock. Tables created earlier in the same file \
        are not flagged.",
    levels: levels(OFF, W, W),
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
    for action in &alter.actions {
        let AlterTableActionKind::AddConstraint(constraint) = &action.kind else {
            continue;
        };
        if !matches!(constraint.kind, TableConstraintKind::Check { .. }) || constraint.not_valid {
            continue;
        }
        let name = constraint
            .name
            .as_ref()
            .map_or_else(String::new, |n| format!(" \"{}\"", n.name));
        out.push(Finding::new(
            constraint.span,
            format!(
                "CHECK constraint{name} is added to table \"{}\" without NOT VALID: every \
                 existing row is checked under an ACCESS EXCLUSIVE lock, blocking reads and \
                 writes until it finishes; add it NOT VALID, then VALIDATE CONSTRAINT in a \
                 separate statement (SHARE UPDATE EXCLUSIVE, which allows reads and writes)",
                alter.name.display()
            ),
        ));
    }
}
