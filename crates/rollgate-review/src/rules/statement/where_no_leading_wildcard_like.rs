//! `STATEMENT_WHERE_NO_LEADING_WILDCARD_LIKE`: no `LIKE '%...'` filters.

use rollgate_sql::ast::{Expr, ExprKind, Span};

use super::query::where_clauses;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_WHERE_NO_LEADING_WILDCARD_LIKE",
    legacy_name: Some("statement.where.no-leading-wildcard-like"),
    code: 204,
    category: Category::Statement,
    title: "Prohibit using leading wildcard in filter conditions",
    description: "Flags a LIKE / ILIKE (or NOT LIKE, `~~`) in the WHERE clause of a SELECT, \
        UPDATE or DELETE (including INSERT ... SELECT, view queries and sub-queries) whose pattern \
        literal starts with `%` or `_`. A B-tree index can only serve a pattern with a fixed \
        prefix, so a leading wildcard scans the whole table. Anchor the pattern at its start, or \
        use a trigram (pg_trgm) index or full-text search for substring matches.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for clause in where_clauses(&cx.statement.kind) {
        clause.walk(&mut |expr| {
            let ExprKind::Binary { op, right, .. } = &expr.kind else {
                return;
            };
            if !is_like(op) {
                return;
            }
            let Some((pattern, span)) = pattern(right) else {
                return;
            };
            if pattern.starts_with('%') || pattern.starts_with('_') {
                out.push(Finding::new(
                    span,
                    format!(
                        "{op} pattern '{pattern}' starts with a wildcard, so no index can serve it and the table is scanned in full; anchor the pattern at its start or use a trigram index / full-text search"
                    ),
                ));
            }
        });
    }
}

fn is_like(op: &str) -> bool {
    matches!(
        op,
        "LIKE" | "ILIKE" | "NOT LIKE" | "NOT ILIKE" | "~~" | "~~*" | "!~~" | "!~~*"
    )
}

/// The pattern literal of a LIKE: the right operand, the left side of its
/// `ESCAPE`, or the first part of a `||` concatenation.
fn pattern(right: &Expr) -> Option<(String, Span)> {
    let mut expr = right;
    loop {
        match &expr.kind {
            ExprKind::String(text) => return Some((text.clone(), expr.span)),
            ExprKind::Binary { op, left, .. } if op == "ESCAPE" || op == "||" => expr = left,
            ExprKind::Cast { expr: inner, .. } => expr = inner,
            _ => return None,
        }
    }
}
