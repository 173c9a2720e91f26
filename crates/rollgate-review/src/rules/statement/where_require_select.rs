//! `STATEMENT_WHERE_REQUIRE_SELECT`: a SELECT that reads a table needs a
//! WHERE clause.

use rollgate_sql::ast::Select;

use super::query::{for_each_arm, statement_queries, subqueries, table_list};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_WHERE_REQUIRE_SELECT",
    legacy_name: Some("statement.where.require-select"),
    code: 202,
    category: Category::Statement,
    title: "Enforce the presence of \"WHERE\" condition in SELECT statements",
    description: "Flags a SELECT with a FROM clause but no WHERE clause: a SELECT statement, the \
        query of INSERT ... SELECT, each arm of a UNION, and sub-queries in their WHERE clauses. \
        Such a query reads the whole table, which in a migration is slow and holds its snapshot \
        for long. Add a WHERE clause that limits the rows. A SELECT without FROM (`SELECT 1`) is \
        fine; view definitions are not flagged, as the queries that use a view do the filtering.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for query in statement_queries(&cx.statement.kind, false) {
        check_query(query, out);
    }
}

fn check_query(query: &Select, out: &mut Vec<Finding>) {
    for_each_arm(query, &mut |select| {
        if !select.arms.is_empty() || !select.has_from {
            return;
        }
        match &select.where_clause {
            Some(clause) => {
                for sub in subqueries(clause) {
                    check_query(sub, out);
                }
            }
            None => {
                let tables = table_list(select);
                let what = if tables.is_empty() {
                    "its source".to_string()
                } else {
                    tables
                };
                out.push(Finding::new(
                    select.span,
                    format!(
                        "SELECT from {what} has no WHERE clause, so it reads every row; add a WHERE condition that limits the rows it needs"
                    ),
                ));
            }
        }
    });
}
