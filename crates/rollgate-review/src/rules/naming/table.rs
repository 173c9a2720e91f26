//! `NAMING_TABLE`: table names follow a naming format.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use super::format::{Named, check_name};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_TABLE",
    legacy_name: Some("naming.table"),
    code: 301,
    category: Category::Naming,
    title: "Enforce table naming format",
    description: "Flags a table created (CREATE TABLE) or renamed (ALTER TABLE ... RENAME TO) \
        with a name that does not match the regular expression `format` (default: lower-case \
        words joined by underscores) or is longer than `max_length` characters. Consistent names \
        spare everyone from guessing how a table is spelled, and quoted mixed-case names force \
        quoting in every query. Rename the table to match the convention.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        format: Some("^[a-z]+(_[a-z]+)*$"),
        max_length: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let object = Named {
                kind: "Table",
                name: &create.name.name,
                owner: String::new(),
                span: create.name.span,
                generated: false,
            };
            check_name(cx.options, &object, &[], out);
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                if let AlterTableActionKind::RenameTable { to } = &action.kind {
                    let object = Named {
                        kind: "Table",
                        name: &to.name,
                        owner: format!("(renamed from \"{}\")", alter.name.display()),
                        span: to.span,
                        generated: false,
                    };
                    check_name(cx.options, &object, &[], out);
                }
            }
        }
        _ => {}
    }
}
