//! `STATEMENT_NON_TRANSACTIONAL`: statements PostgreSQL refuses to run
//! inside a transaction block.

use rollgate_sql::ast::{AlterTableActionKind, Span, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_NON_TRANSACTIONAL",
    legacy_name: Some("statement.non-transactional"),
    code: 230,
    category: Category::Statement,
    title: "Detect and report non-transactional statements",
    description: "Flags statements that cannot run inside a transaction block when the file runs in \
        one: CREATE/DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, REINDEX DATABASE/SYSTEM, \
        ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY, VACUUM, CREATE/DROP DATABASE, CREATE/DROP \
        TABLESPACE and ALTER SYSTEM. Rollgate wraps each file in a transaction, so PostgreSQL \
        rejects the statement and the migration fails. Add `-- rollgate:no-transaction` to the \
        file and keep the statement alone in it. A file with the directive is not flagged, unless \
        the statement sits inside an explicit BEGIN block.",
    levels: levels(OFF, OFF, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let Some((what, span)) = non_transactional(cx) else {
        return;
    };
    let message = if !cx.file.no_transaction {
        format!(
            "{what} cannot run inside a transaction block, and this file runs in one; add \
             `-- rollgate:no-transaction` to the file and keep this statement alone in it{}",
            if cx.state.in_explicit_transaction {
                ", outside any BEGIN ... COMMIT"
            } else {
                ""
            }
        )
    } else if cx.state.in_explicit_transaction {
        format!(
            "{what} cannot run inside a transaction block, but it follows an explicit BEGIN; move \
             it out of the BEGIN ... COMMIT block"
        )
    } else {
        return;
    };
    out.push(Finding::new(span, message));
}

/// What the statement is, and where to point, when it cannot run in a
/// transaction.
fn non_transactional(cx: &RuleCx<'_>) -> Option<(String, Span)> {
    let span = cx.statement.span;
    let what = match &cx.statement.kind {
        StatementKind::CreateIndex(create) if create.concurrently => "CREATE INDEX CONCURRENTLY",
        StatementKind::DropIndex(drop) if drop.concurrently => "DROP INDEX CONCURRENTLY",
        StatementKind::Reindex {
            concurrently,
            target_span,
        } => {
            let target = cx.text(*target_span).trim_start().to_uppercase();
            if *concurrently {
                "REINDEX ... CONCURRENTLY"
            } else if target.starts_with("DATABASE") {
                "REINDEX DATABASE"
            } else if target.starts_with("SYSTEM") {
                "REINDEX SYSTEM"
            } else {
                return None;
            }
        }
        StatementKind::AlterTable(alter) => {
            return alter.actions.iter().find_map(|action| match &action.kind {
                AlterTableActionKind::DetachPartition {
                    concurrently: true, ..
                } => Some((
                    format!(
                        "ALTER TABLE \"{}\" DETACH PARTITION ... CONCURRENTLY",
                        alter.name.display()
                    ),
                    action.span,
                )),
                _ => None,
            });
        }
        StatementKind::Vacuum { .. } => "VACUUM",
        StatementKind::CreateDatabase { .. } => "CREATE DATABASE",
        StatementKind::DropDatabase { .. } => "DROP DATABASE",
        StatementKind::Other(other) => {
            const KEYWORDS: &[&str] = &["ALTER SYSTEM", "CREATE TABLESPACE", "DROP TABLESPACE"];
            KEYWORDS
                .iter()
                .find(|k| other.keyword == **k || other.keyword.starts_with(&format!("{k} ")))?
        }
        _ => return None,
    };
    Some((what.to_string(), span))
}
