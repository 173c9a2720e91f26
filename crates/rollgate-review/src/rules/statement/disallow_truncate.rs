//! `STATEMENT_DISALLOW_TRUNCATE`: no TRUNCATE.

use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DISALLOW_TRUNCATE",
    legacy_name: None,
    code: 257,
    category: Category::Statement,
    title: "Prohibit \"TRUNCATE\" statement",
    description: "Flags each table emptied by TRUNCATE. TRUNCATE deletes every row at once, \
        cannot be filtered, fires no DELETE triggers, and takes an ACCESS EXCLUSIVE lock on the \
        table, blocking reads and writes until the transaction ends. Use a DELETE with a WHERE \
        clause, or drop the table if it is no longer needed. Tables created earlier in the same \
        file are exempt.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::Truncate(truncate) = &cx.statement.kind else {
        return;
    };
    for table in &truncate.tables {
        if cx.catalog.table(table).is_some_and(|t| t.created_in_file) {
            continue;
        }
        out.push(Finding::new(
            table.span,
            format!(
                "TRUNCATE deletes every row of table \"{}\" and takes an ACCESS EXCLUSIVE lock on it, blocking reads and writes until the transaction ends; delete the rows you mean to remove with DELETE ... WHERE instead",
                table.display()
            ),
        ));
    }
}
