//! `STATEMENT_WHERE_REQUIRE_UPDATE_DELETE`: UPDATE and DELETE need a WHERE
//! clause.

use rollgate_sql::ast::{ObjectName, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_WHERE_REQUIRE_UPDATE_DELETE",
    legacy_name: Some("statement.where.require-update-delete"),
    code: 202,
    category: Category::Statement,
    title: "Enforce the presence of \"WHERE\" condition in UPDATE/DELETE statements",
    description: "Flags an UPDATE or DELETE without a WHERE clause. It changes every row of the \
        table, holding a row lock on each until the transaction ends (blocking concurrent writers) \
        and writing a new version of every row; a forgotten WHERE is also the classic way to \
        destroy data. Add a WHERE clause, and batch large backfills. Tables created earlier in \
        the same file are exempt: they hold no production rows yet.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let (verb, table, where_clause) = match &cx.statement.kind {
        StatementKind::Update(update) => ("UPDATE", &update.table, &update.where_clause),
        StatementKind::Delete(delete) => ("DELETE", &delete.table, &delete.where_clause),
        _ => return,
    };
    if where_clause.is_some() || created_in_file(cx, table) {
        return;
    }
    let effect = if verb == "UPDATE" {
        "changes"
    } else {
        "deletes"
    };
    out.push(Finding::new(
        cx.statement.span,
        format!(
            "{verb} of table \"{}\" has no WHERE clause, so it {effect} every row and locks each of them until the transaction ends; add a WHERE clause (and batch large changes)",
            table.display()
        ),
    ));
}

fn created_in_file(cx: &RuleCx<'_>, table: &ObjectName) -> bool {
    cx.catalog.table(table).is_some_and(|t| t.created_in_file)
}
