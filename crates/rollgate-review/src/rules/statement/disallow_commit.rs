//! `STATEMENT_DISALLOW_COMMIT`: no explicit COMMIT.

use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DISALLOW_COMMIT",
    legacy_name: Some("statement.disallow-commit"),
    code: 206,
    category: Category::Statement,
    title: "Prohibit explicit \"COMMIT\" statement",
    description: "Flags an explicit COMMIT (or END). The migrator runs each file in one \
        transaction; a COMMIT in the middle ends it early, so a later failure leaves the file \
        half applied and the migration history out of step with the schema. Remove the COMMIT \
        and split the work into separate migration files instead. A COMMIT that closes an \
        explicit BEGIN in a `-- rollgate:no-transaction` file manages its own transaction and is \
        not flagged.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if !matches!(cx.statement.kind, StatementKind::Commit) {
        return;
    }
    if cx.file.no_transaction && cx.state.in_explicit_transaction {
        return;
    }
    out.push(Finding::new(
        cx.statement.span,
        "COMMIT ends the migration's transaction early, so a later failure leaves the file half applied; remove it and split the work into separate migration files",
    ));
}
