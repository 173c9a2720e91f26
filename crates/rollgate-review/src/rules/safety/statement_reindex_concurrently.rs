//! `STATEMENT_REINDEX_CONCURRENTLY`: `REINDEX` should use `CONCURRENTLY`.

use rollgate_sql::ast::{ObjectName, Span, StatementKind};

use super::common::OUTSIDE_TRANSACTION;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_REINDEX_CONCURRENTLY",
    legacy_name: None,
    code: 3014,
    category: Category::Safety,
    title: "Require \"CONCURRENTLY\" in \"REINDEX\" statements",
    description: "Flags REINDEX without CONCURRENTLY (squawk: require-concurrent-reindex). A plain \
        REINDEX blocks writes to the table and takes an ACCESS EXCLUSIVE lock on each index it \
        rebuilds, blocking the queries that use it, until it finishes. Use REINDEX ... CONCURRENTLY \
        (PostgreSQL 12+) in a file marked `-- rollgate:no-transaction`. REINDEX SYSTEM, which cannot \
        run concurrently, and tables or indexes created earlier in the same file are not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::Reindex {
        concurrently: false,
        target_span,
    } = &cx.statement.kind
    else {
        return;
    };
    let target = cx.text(*target_span);
    let words: Vec<&str> = target.split_whitespace().collect();
    let kind = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    if kind == "SYSTEM" || target_is_new(cx, &kind, &words, *target_span) {
        return;
    }
    let mut suggestion = vec![kind.as_str(), "CONCURRENTLY"];
    suggestion.extend(words.iter().skip(1));
    let tables = if matches!(kind.as_str(), "TABLE" | "INDEX") {
        "the table"
    } else {
        "each table"
    };
    out.push(Finding::new(
        *target_span,
        format!(
            "REINDEX {} without CONCURRENTLY blocks writes to {tables} and takes an ACCESS EXCLUSIVE lock on \
             each index it rebuilds, blocking the queries that use it, until it finishes; use REINDEX \
             {} {OUTSIDE_TRANSACTION}",
            words.join(" "),
            suggestion.join(" "),
        ),
    ));
}

/// Whether a `REINDEX TABLE t` or `REINDEX INDEX i` target belongs to a table
/// created earlier in the file. The statement model keeps the target only as
/// text, so the name is read from it; anything not understood counts as
/// existing.
fn target_is_new(cx: &RuleCx<'_>, kind: &str, words: &[&str], span: Span) -> bool {
    let [_, name] = words else {
        return false;
    };
    let Some(name) = simple_name(name, span) else {
        return false;
    };
    let table = match kind {
        "TABLE" => cx.catalog.table(&name),
        "INDEX" => cx.catalog.index_owner(&name),
        _ => None,
    };
    table.is_some_and(|t| t.created_in_file)
}

/// `name` or `schema.name` made of plain identifiers, folded to lower case
/// as PostgreSQL does; `None` for quoted or otherwise unusual names.
fn simple_name(text: &str, span: Span) -> Option<ObjectName> {
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let mut parts = text.split('.');
    let (schema, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => (None, name),
        (Some(schema), Some(name), None) => (Some(schema), name),
        _ => return None,
    };
    if !plain(name) || !schema.is_none_or(plain) {
        return None;
    }
    Some(ObjectName {
        schema: schema.map(str::to_ascii_lowercase),
        name: name.to_ascii_lowercase(),
        quoted: false,
        span,
    })
}
