//! `INDEX_CONCURRENTLY_IN_TRANSACTION`: `CONCURRENTLY` index operations
//! cannot run inside a transaction block.

use rollgate_sql::ast::StatementKind;

use super::common::keyword_span;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_CONCURRENTLY_IN_TRANSACTION",
    legacy_name: None,
    code: 3002,
    category: Category::Safety,
    title: "Prohibit concurrent index operations inside a transaction",
    description: "Flags CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY \
        that run inside a transaction: after an explicit BEGIN, or anywhere in a file without \
        `-- rollgate:no-transaction`, since the migrator wraps such a file in a transaction \
        (squawk: ban-concurrent-index-creation-in-transaction). PostgreSQL rejects them with \
        \"cannot run inside a transaction block\", so the migration fails. Add \
        `-- rollgate:no-transaction` at the top of the file and remove BEGIN/COMMIT around the \
        statement.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if !cx.state.in_transaction {
        return;
    }
    let what = match &cx.statement.kind {
        StatementKind::CreateIndex(create) if create.concurrently => match &create.name {
            Some(name) => format!(
                "CREATE INDEX CONCURRENTLY of index \"{}\" on table \"{}\"",
                name.display(),
                create.table.display()
            ),
            None => format!(
                "CREATE INDEX CONCURRENTLY on table \"{}\"",
                create.table.display()
            ),
        },
        StatementKind::DropIndex(drop) if drop.concurrently => {
            let names: Vec<String> = drop
                .names
                .iter()
                .map(|n| format!("\"{}\"", n.display()))
                .collect();
            format!("DROP INDEX CONCURRENTLY of index {}", names.join(", "))
        }
        StatementKind::Reindex {
            concurrently: true,
            target_span,
        } => format!(
            "REINDEX CONCURRENTLY of {}",
            cx.text(*target_span)
                .split_whitespace()
                .filter(|word| !word.eq_ignore_ascii_case("concurrently"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        _ => return,
    };
    let fix = match (cx.state.in_explicit_transaction, cx.file.no_transaction) {
        (true, true) => {
            "remove the BEGIN/COMMIT around it (the file is already marked \
                         `-- rollgate:no-transaction`)"
        }
        (true, false) => {
            "add `-- rollgate:no-transaction` at the top of the file and remove the \
                          BEGIN/COMMIT around it"
        }
        (false, _) => {
            "the migrator runs this file in a transaction, so add \
                       `-- rollgate:no-transaction` at the top of the file (and no BEGIN/COMMIT)"
        }
    };
    let span = keyword_span(cx, cx.statement.span, "concurrently").unwrap_or(cx.statement.span);
    out.push(Finding::new(
        span,
        format!(
            "{what} cannot run inside a transaction block: PostgreSQL rejects it and the migration fails; {fix}"
        ),
    ));
}
