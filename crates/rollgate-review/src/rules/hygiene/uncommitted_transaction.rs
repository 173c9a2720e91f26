//! `STATEMENT_UNCOMMITTED_TRANSACTION`: a `BEGIN` the file never ends.

use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_UNCOMMITTED_TRANSACTION",
    legacy_name: None,
    code: 3110,
    category: Category::Safety,
    title: "Disallow transactions left open at the end of the file",
    description: "Flags a `BEGIN` (or `START TRANSACTION`) with no `COMMIT` or `ROLLBACK` after \
        it in the file (squawk's ban-uncommitted-transaction). When the script ends inside the \
        transaction, the session closes and PostgreSQL rolls everything back, so the migration \
        looks successful but nothing was applied. End the transaction with `COMMIT`, or, for \
        files run by `rollgate migrate`, drop the BEGIN and let the migrator's own transaction \
        wrap the file.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    // A BEGIN inside an open transaction opens nothing (the nesting rule
    // reports it); only the one that opens the transaction counts.
    if !matches!(cx.statement.kind, StatementKind::Begin) || cx.state.in_explicit_transaction {
        return;
    }
    let ended = cx.following().iter().any(|s| match &s.kind {
        StatementKind::Commit | StatementKind::Rollback => true,
        StatementKind::Other(other) => other.keyword.starts_with("PREPARE TRANSACTION"),
        _ => false,
    });
    if ended {
        return;
    }
    out.push(Finding::new(
        cx.statement.span,
        "This BEGIN opens a transaction that no COMMIT or ROLLBACK ends before the end of the \
         file, so when the session closes PostgreSQL rolls back everything after it and the \
         migration applies nothing; add COMMIT at the end",
    ));
}
