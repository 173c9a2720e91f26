//! `STATEMENT_WHERE_DISALLOW_FUNCTIONS_AND_CALCULATIONS`: no function calls
//! or arithmetic on columns in WHERE.

use rollgate_sql::ast::{Expr, ExprKind};

use super::query::{visit, where_clauses};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_WHERE_DISALLOW_FUNCTIONS_AND_CALCULATIONS",
    legacy_name: Some("statement.where-disallow-functions-and-calculations"),
    code: 234,
    category: Category::Statement,
    title: "Do not apply functions or perform calculations on indexed fields in the WHERE clause",
    description: "Flags a function call, cast or arithmetic applied to a column in the WHERE \
        clause of a SELECT, UPDATE or DELETE (including INSERT ... SELECT, view queries and \
        sub-queries), e.g. `lower(email) = 'x'`, `price + 1 > 2`, `created_at::date = '...'`. A \
        plain index on the column cannot serve such a condition, so the table is scanned. Compare \
        the bare column instead (`created_at >= '2024-01-01' AND created_at < '2024-01-02'`), or \
        create an expression index. Bytebase only flags indexed columns when it knows the \
        indexes; Rollgate flags every column, since the index may be added later. Comparing a bare \
        column with a function value (`created_at > now()`) is fine.",
    levels: levels(OFF, OFF, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for clause in where_clauses(&cx.statement.kind) {
        visit(clause, &mut |expr| {
            let Some(what) = applied(expr) else {
                return true;
            };
            let Some(column) = first_column(expr) else {
                return true;
            };
            out.push(Finding::new(
                expr.span,
                format!(
                    "WHERE applies {what} to column \"{column}\" (\"{}\"), so a plain index on the column cannot be used and the table is scanned; compare the bare column with a computed value, or add an expression index",
                    cx.text(expr.span).trim()
                ),
            ));
            // Report the outermost expression only.
            false
        });
    }
}

/// What `expr` does to its operands when that defeats an index on them.
fn applied(expr: &Expr) -> Option<&'static str> {
    match &expr.kind {
        // `x = ANY(...)` compares `x` itself.
        ExprKind::Call { name, .. } if matches!(name.as_str(), "any" | "all" | "some") => None,
        ExprKind::Call { .. } => Some("a function"),
        ExprKind::Cast { .. } => Some("a cast"),
        ExprKind::Binary { op, .. } if is_arithmetic(op) => Some("a calculation"),
        ExprKind::Unary { op, .. } if op == "-" => Some("a calculation"),
        _ => None,
    }
}

fn is_arithmetic(op: &str) -> bool {
    matches!(
        op,
        "+" | "-" | "*" | "/" | "%" | "^" | "||" | "&" | "|" | "#" | "<<" | ">>"
    )
}

/// The first column referenced inside `expr`.
fn first_column(expr: &Expr) -> Option<&str> {
    let mut found = None;
    expr.walk(&mut |e| {
        if found.is_none()
            && let ExprKind::Column(name) = &e.kind
        {
            found = Some(name.as_str());
        }
    });
    found
}
