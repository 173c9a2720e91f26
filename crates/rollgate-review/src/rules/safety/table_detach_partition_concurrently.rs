//! `TABLE_DETACH_PARTITION_CONCURRENTLY`: `DETACH PARTITION` should use
//! `CONCURRENTLY`.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use super::common::{OUTSIDE_TRANSACTION, table_is_new};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_DETACH_PARTITION_CONCURRENTLY",
    legacy_name: None,
    code: 3013,
    category: Category::Safety,
    title: "Require \"CONCURRENTLY\" when detaching partitions",
    description: "Flags ALTER TABLE ... DETACH PARTITION without CONCURRENTLY (squawk: \
        require-concurrent-partition-detach). A plain detach takes an ACCESS EXCLUSIVE lock on the \
        partitioned table, blocking reads and writes on every partition while it waits for running \
        queries and while it runs. Use DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+, not \
        possible while the table has a default partition) in a file marked \
        `-- rollgate:no-transaction`. Tables created earlier in the same file are not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if table_is_new(cx, &alter.name) {
        return;
    }
    for action in &alter.actions {
        let AlterTableActionKind::DetachPartition {
            partition,
            concurrently: false,
        } = &action.kind
        else {
            continue;
        };
        out.push(Finding::new(
            action.span,
            format!(
                "Detaching partition \"{}\" without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on table \
                 \"{}\", blocking reads and writes on every partition until it finishes; use DETACH PARTITION \
                 ... CONCURRENTLY {OUTSIDE_TRANSACTION}",
                partition.display(),
                alter.name.display()
            ),
        ));
    }
}
