//! `STATEMENT_NESTED_TRANSACTION`: transaction control inside a transaction
//! someone else manages.

use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_NESTED_TRANSACTION",
    legacy_name: None,
    code: 3111,
    category: Category::Safety,
    title: "Disallow nested or migrator-conflicting transaction control",
    description: "Flags `BEGIN` while an explicit transaction is already open, and any `BEGIN`, \
        `COMMIT` or `ROLLBACK` in a file that `rollgate migrate` wraps in its own transaction \
        (every file without `-- rollgate:no-transaction`), as squawk's transaction-nesting does. \
        PostgreSQL ignores a nested BEGIN with only a warning, and the first COMMIT then ends \
        the outer transaction; a COMMIT in the middle of a wrapped file commits the statements \
        before it early, so if a later statement fails the file is left half-applied and cannot \
        simply be rerun. Remove the transaction control and let the migrator manage the \
        transaction, or add `-- rollgate:no-transaction` to manage it yourself.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let managed = !cx.file.no_transaction;
    let message = match cx.statement.kind {
        StatementKind::Begin if cx.state.in_explicit_transaction => {
            "BEGIN inside a transaction that is already open: PostgreSQL ignores it with a \
             warning, and the first COMMIT or ROLLBACK then ends the outer transaction too. \
             Remove this BEGIN"
        }
        StatementKind::Begin if managed => {
            "BEGIN in a file that `rollgate migrate` already runs inside its own transaction: \
             PostgreSQL ignores it with a warning, and a later COMMIT commits the migrator's \
             transaction part-way through the file, so a failure after it leaves the file \
             half-applied. Remove the transaction control, or add `-- rollgate:no-transaction` \
             to manage transactions yourself"
        }
        StatementKind::Commit if managed => {
            "COMMIT in a file that `rollgate migrate` runs inside its own transaction: it commits \
             the statements before it early and the rest run outside any transaction, so if a \
             later statement fails the file is left half-applied. Remove it, or add `-- \
             rollgate:no-transaction` to manage transactions yourself"
        }
        StatementKind::Rollback if managed => {
            "ROLLBACK in a file that `rollgate migrate` runs inside its own transaction: it \
             discards the statements before it and the rest run outside any transaction, leaving \
             the file half-applied. Remove it, or add `-- rollgate:no-transaction` to manage \
             transactions yourself"
        }
        _ => return,
    };
    out.push(Finding::new(cx.statement.span, message));
}
