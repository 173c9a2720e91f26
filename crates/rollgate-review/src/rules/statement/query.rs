//! Helpers shared by the statement rules: finding the queries and WHERE
//! clauses of a statement.

use rollgate_sql::ast::{Expr, ExprKind, InsertSource, Select, StatementKind};

/// The queries a statement runs or defines: a `SELECT` statement, the source
/// of `INSERT ... SELECT`, and the query of `CREATE [MATERIALIZED] VIEW`
/// (only when `views` is set).
pub(super) fn statement_queries(kind: &StatementKind, views: bool) -> Vec<&Select> {
    match kind {
        StatementKind::Select(select) => vec![select],
        StatementKind::Insert(insert) => match &insert.source {
            InsertSource::Query(select) => vec![select.as_ref()],
            _ => Vec::new(),
        },
        StatementKind::CreateView(view) if views => view.query.iter().collect(),
        _ => Vec::new(),
    }
}

/// Visits a query and every set-operation arm inside it (`UNION`, ...),
/// parents first.
pub(super) fn for_each_arm<'a>(select: &'a Select, f: &mut dyn FnMut(&'a Select)) {
    f(select);
    for arm in &select.arms {
        for_each_arm(arm, f);
    }
}

/// The sub-queries directly inside an expression (not those nested in the
/// sub-queries themselves).
pub(super) fn subqueries(expr: &Expr) -> Vec<&Select> {
    let mut found = Vec::new();
    expr.walk(&mut |e| {
        if let ExprKind::Subquery(select) = &e.kind {
            found.push(select.as_ref());
        }
    });
    found
}

/// Every `WHERE` clause of a query: of each set-operation arm, and of the
/// sub-queries inside those clauses.
fn query_where_clauses<'a>(select: &'a Select, out: &mut Vec<&'a Expr>) {
    for_each_arm(select, &mut |arm| {
        if let Some(clause) = &arm.where_clause {
            out.push(clause);
            for sub in subqueries(clause) {
                query_where_clauses(sub, out);
            }
        }
    });
}

/// Every `WHERE` clause a statement evaluates: those of `SELECT`,
/// `INSERT ... SELECT`, view queries, `UPDATE` and `DELETE`, including the
/// `WHERE` clauses of sub-queries nested in them.
pub(super) fn where_clauses(kind: &StatementKind) -> Vec<&Expr> {
    let mut out = Vec::new();
    let own = match kind {
        StatementKind::Update(update) => update.where_clause.as_ref(),
        StatementKind::Delete(delete) => delete.where_clause.as_ref(),
        _ => None,
    };
    if let Some(clause) = own {
        out.push(clause);
        for sub in subqueries(clause) {
            query_where_clauses(sub, &mut out);
        }
    }
    for select in statement_queries(kind, true) {
        query_where_clauses(select, &mut out);
    }
    out
}

/// Visits an expression and everything inside it, parents first, without
/// entering sub-queries; `f` returns false to skip a node's children.
pub(super) fn visit<'a>(expr: &'a Expr, f: &mut dyn FnMut(&'a Expr) -> bool) {
    if !f(expr) {
        return;
    }
    match &expr.kind {
        ExprKind::Call { args, .. } => args.iter().for_each(|a| visit(a, f)),
        ExprKind::Binary { left, right, .. } => {
            visit(left, f);
            visit(right, f);
        }
        ExprKind::Unary { operand, .. } => visit(operand, f),
        ExprKind::Cast { expr, .. } => visit(expr, f),
        ExprKind::Other(children) => children.iter().for_each(|c| visit(c, f)),
        ExprKind::Column(_)
        | ExprKind::String(_)
        | ExprKind::Number(_)
        | ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Subquery(_) => {}
    }
}

/// `"t"`, `"a", "b"`: the tables a query reads, for messages.
pub(super) fn table_list(select: &Select) -> String {
    let names: Vec<String> = select
        .from
        .iter()
        .map(|n| format!("\"{}\"", n.display()))
        .collect();
    names.join(", ")
}
