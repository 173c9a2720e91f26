//! `CONSTRAINT_PRIMARY_KEY_WITHOUT_INDEX`: a primary key on an existing
//! table should be attached to an index built concurrently.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, StatementKind, TableConstraintKind,
};

use super::common::table_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "CONSTRAINT_PRIMARY_KEY_WITHOUT_INDEX",
    legacy_name: None,
    code: 3004,
    category: Category::Safety,
    title: "Require \"USING INDEX\" when adding primary keys",
    description: "Flags ALTER TABLE ... ADD PRIMARY KEY and ADD COLUMN ... PRIMARY KEY on an existing \
        table (squawk: adding-serial-primary-key-field). PostgreSQL builds the key's index while \
        holding an ACCESS EXCLUSIVE lock on the table, blocking reads and writes for the whole build. \
        Build a unique index first with CREATE UNIQUE INDEX CONCURRENTLY, make the key columns NOT \
        NULL (a validated CHECK (col IS NOT NULL) lets SET NOT NULL skip its scan), then ADD \
        CONSTRAINT ... PRIMARY KEY USING INDEX. Partitioned tables do not support USING INDEX; add \
        their key while they are small. Tables created earlier in the same file are not flagged.",
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
    let known = cx.catalog.table(&alter.name);
    let partitioned = known.is_some_and(|t| t.partitioned);
    let lock = format!(
        "builds the key's index while holding an ACCESS EXCLUSIVE lock on table \"{table}\", blocking \
         reads and writes until it finishes"
    );
    let partitioned_fix = "a partitioned table cannot take PRIMARY KEY USING INDEX, so add the key \
                           while the table is small or in a maintenance window";
    for action in &alter.actions {
        match &action.kind {
            AlterTableActionKind::AddConstraint(constraint) => {
                let TableConstraintKind::PrimaryKey {
                    columns,
                    using_index: None,
                } = &constraint.kind
                else {
                    continue;
                };
                let columns: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                // PostgreSQL's default name for an unnamed primary key.
                let name = constraint
                    .name
                    .as_ref()
                    .map_or_else(|| format!("{}_pkey", alter.name.name), |n| n.name.clone());
                let fix = if partitioned {
                    partitioned_fix.to_string()
                } else {
                    // Key columns the catalog knows to be nullable: the key
                    // also sets them NOT NULL, which scans the table under
                    // the same lock.
                    let nullable: Vec<String> = known
                        .map(|t| {
                            columns
                                .iter()
                                .filter(|c| t.column(c).is_some_and(|col| !col.not_null))
                                .map(|c| format!("\"{c}\""))
                                .collect()
                        })
                        .unwrap_or_default();
                    let scan = "or the key scans the table for NULLs under the same lock";
                    let not_null = match nullable.as_slice() {
                        [] => String::new(),
                        [one] => {
                            format!("; column {one} is nullable, so first make it NOT NULL, {scan}")
                        }
                        many => format!(
                            "; columns {} are nullable, so first make them NOT NULL, {scan}",
                            many.join(", ")
                        ),
                    };
                    format!(
                        "build a unique index first with CREATE UNIQUE INDEX CONCURRENTLY, then ADD \
                         CONSTRAINT {name} PRIMARY KEY USING INDEX index_name{not_null}"
                    )
                };
                out.push(Finding::new(
                    constraint.span,
                    format!(
                        "Adding primary key \"{name}\" on ({}) {lock}; {fix}",
                        columns.join(", ")
                    ),
                ));
            }
            AlterTableActionKind::AddColumn { column, .. } => {
                for constraint in &column.constraints {
                    if !matches!(constraint.kind, ColumnConstraintKind::PrimaryKey) {
                        continue;
                    }
                    let fix = if partitioned {
                        partitioned_fix
                    } else {
                        "add and fill the column first, build a unique index with CREATE UNIQUE INDEX \
                         CONCURRENTLY, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX"
                    };
                    out.push(Finding::new(
                        constraint.span,
                        format!(
                            "Adding column \"{}\" as PRIMARY KEY {lock}; {fix}",
                            column.name.name
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}
