//! `INDEX_DROP_CONCURRENTLY`: `DROP INDEX` should use `CONCURRENTLY`.

use rollgate_sql::ast::StatementKind;

use super::common::{OUTSIDE_TRANSACTION, table_display};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_DROP_CONCURRENTLY",
    legacy_name: None,
    code: 3001,
    category: Category::Safety,
    title: "Require \"CONCURRENTLY\" when dropping indexes",
    description: "Flags DROP INDEX without CONCURRENTLY (squawk: require-concurrent-index-deletion). \
        A plain DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table, blocking reads and \
        writes while it waits for running queries and while it runs. Use DROP INDEX CONCURRENTLY \
        (one index per statement, without CASCADE) in a file marked `-- rollgate:no-transaction`. \
        Indexes of tables created earlier in the same file are not flagged, nor indexes of \
        partitioned tables, which PostgreSQL cannot drop concurrently.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::DropIndex(drop) = &cx.statement.kind else {
        return;
    };
    if drop.concurrently {
        return;
    }
    for name in &drop.names {
        let owner = cx.catalog.index_owner(name);
        // A partitioned table's index cannot be dropped concurrently, so
        // there is nothing better to suggest.
        if owner.is_some_and(|table| table.created_in_file || table.partitioned) {
            continue;
        }
        let table = owner.map_or_else(
            || "its table".to_string(),
            |table| format!("table \"{}\"", table_display(table)),
        );
        let one_each = if drop.names.len() > 1 {
            " (one statement per index)"
        } else {
            ""
        };
        out.push(Finding::new(
            name.span,
            format!(
                "Dropping index \"{}\" without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on {table}, \
                 blocking reads and writes until it finishes; use DROP INDEX CONCURRENTLY{one_each} {OUTSIDE_TRANSACTION}",
                name.display()
            ),
        ));
    }
}
