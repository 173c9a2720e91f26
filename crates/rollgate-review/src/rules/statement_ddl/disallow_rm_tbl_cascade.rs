//! `STATEMENT_DISALLOW_RM_TBL_CASCADE`: no `DROP TABLE ... CASCADE` or
//! `TRUNCATE ... CASCADE`.

use rollgate_sql::ast::{ObjectName, StatementKind};

use super::created_in_file;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DISALLOW_RM_TBL_CASCADE",
    legacy_name: Some("statement.disallow-rm-tbl-cascade"),
    code: 213,
    category: Category::Statement,
    title: "Prohibit using CASCADE when removing a table",
    description: "Flags DROP TABLE ... CASCADE and TRUNCATE ... CASCADE. CASCADE silently extends \
        the statement to other objects: DROP drops the views and foreign keys that depend on the \
        table, TRUNCATE empties every table that references it through a foreign key, all under \
        ACCESS EXCLUSIVE locks. Drop or truncate the dependent objects explicitly and omit CASCADE. \
        Removing only tables created earlier in the same file is not flagged.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let (verb, names, span, effect) = match &cx.statement.kind {
        StatementKind::DropTable(drop) if drop.cascade => (
            "DROP TABLE",
            &drop.names,
            drop.cascade_span,
            "also drops every view and foreign key that depends on",
        ),
        StatementKind::Truncate(truncate) if truncate.cascade => (
            "TRUNCATE",
            &truncate.tables,
            truncate.cascade_span,
            "also empties every table that references",
        ),
        _ => return,
    };
    if !names.is_empty() && names.iter().all(|n| created_in_file(cx, n)) {
        return;
    }
    out.push(Finding::new(
        span.unwrap_or(cx.statement.span),
        format!(
            "{verb} {} uses CASCADE, which {effect} {}; remove the dependents explicitly and drop \
             CASCADE",
            list(names),
            if names.len() == 1 { "it" } else { "them" }
        ),
    ));
}

fn list(names: &[ObjectName]) -> String {
    names
        .iter()
        .map(|n| format!("\"{}\"", n.display()))
        .collect::<Vec<_>>()
        .join(", ")
}
