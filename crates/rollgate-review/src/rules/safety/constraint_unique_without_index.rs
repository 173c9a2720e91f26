//! `CONSTRAINT_UNIQUE_WITHOUT_INDEX`: a unique constraint on an existing
//! table should be attached to an index built concurrently.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, StatementKind, TableConstraintKind,
};

use super::common::table_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "CONSTRAINT_UNIQUE_WITHOUT_INDEX",
    legacy_name: None,
    code: 3003,
    category: Category::Safety,
    title: "Require \"USING INDEX\" when adding unique constraints",
    description: "Flags ALTER TABLE ... ADD UNIQUE and ADD COLUMN ... UNIQUE on an existing table \
        (squawk: disallowed-unique-constraint). PostgreSQL builds the unique index while holding an \
        ACCESS EXCLUSIVE lock on the table, blocking reads and writes for the whole build. Build \
        the index first with CREATE UNIQUE INDEX CONCURRENTLY, then attach it with ADD CONSTRAINT \
        ... UNIQUE USING INDEX, which is instant; a partitioned table takes neither, so give it a \
        unique index built partition by partition instead. Tables created earlier in the same file \
        are not flagged.",
    levels: levels(OFF, W, E),
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
    let table = alter.name.display();
    let partitioned = cx.catalog.table(&alter.name).is_some_and(|t| t.partitioned);
    let lock = format!(
        "builds its index while holding an ACCESS EXCLUSIVE lock on table \"{table}\", blocking reads \
         and writes until it finishes"
    );
    for action in &alter.actions {
        match &action.kind {
            AlterTableActionKind::AddConstraint(constraint) => {
                let TableConstraintKind::Unique {
                    columns,
                    using_index: None,
                } = &constraint.kind
                else {
                    continue;
                };
                let columns: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                // PostgreSQL's default name for an unnamed unique constraint.
                let name = constraint.name.as_ref().map_or_else(
                    || format!("{}_{}_key", alter.name.name, columns.join("_")),
                    |n| n.name.clone(),
                );
                let fix = if partitioned {
                    partitioned_fix()
                } else {
                    format!(
                        "build the index first with CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT \
                         {name} UNIQUE USING INDEX index_name"
                    )
                };
                out.push(Finding::new(
                    constraint.span,
                    format!(
                        "Adding unique constraint \"{name}\" on ({}) {lock}; {fix}",
                        columns.join(", ")
                    ),
                ));
            }
            AlterTableActionKind::AddColumn { column, .. } => {
                for constraint in &column.constraints {
                    if !matches!(constraint.kind, ColumnConstraintKind::Unique) {
                        continue;
                    }
                    let fix = if partitioned {
                        format!("add the column without UNIQUE, then {}", partitioned_fix())
                    } else {
                        "add the column without UNIQUE, build the index with CREATE UNIQUE INDEX \
                         CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX"
                            .to_string()
                    };
                    out.push(Finding::new(
                        constraint.span,
                        format!(
                            "Adding column \"{}\" with UNIQUE {lock}; {fix}",
                            column.name.name
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Partitioned tables support neither `CREATE INDEX CONCURRENTLY` nor
/// `USING INDEX`; a unique index assembled from the partitions' indexes
/// enforces the same rule without the long lock.
fn partitioned_fix() -> String {
    "a partitioned table takes neither CREATE INDEX CONCURRENTLY nor USING INDEX, so use a unique \
     index instead: CREATE UNIQUE INDEX ... ON ONLY the parent, CREATE UNIQUE INDEX CONCURRENTLY on \
     each partition, then ALTER INDEX ... ATTACH PARTITION each of them"
        .to_string()
}
