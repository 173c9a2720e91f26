//! `NAMING_COLUMN`: column names follow a naming format.

use rollgate_sql::ast::{AlterTableActionKind, Ident, StatementKind};

use super::format::{Named, check_name};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_COLUMN",
    legacy_name: Some("naming.column"),
    code: 302,
    category: Category::Naming,
    title: "Enforce column naming format",
    description: "Flags a column created (CREATE TABLE, ALTER TABLE ... ADD COLUMN) or renamed \
        (RENAME COLUMN ... TO) with a name that does not match the regular expression `format` \
        (default: lower-case words joined by underscores) or is longer than `max_length` \
        characters. Consistent column names keep queries and application mappings predictable. \
        Rename the column to match the convention.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        format: Some("^[a-z]+(_[a-z]+)*$"),
        max_length: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let flag = |column: &Ident, table: &str, out: &mut Vec<Finding>| {
        let object = Named {
            kind: "Column",
            name: &column.name,
            owner: format!("of table \"{table}\""),
            span: column.span,
            generated: false,
        };
        check_name(cx.options, &object, &[], out);
    };
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for column in &create.columns {
                flag(&column.name, &table, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        flag(&column.name, &table, out)
                    }
                    AlterTableActionKind::RenameColumn { to, .. } => flag(to, &table, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
