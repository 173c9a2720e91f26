//! `TABLE_DISALLOW_PARTITION`: no partitioned tables.

use rollgate_sql::ast::{AlterTableActionKind, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_DISALLOW_PARTITION",
    legacy_name: Some("table.disallow-partition"),
    code: 608,
    category: Category::Table,
    title: "Prohibit using partition table",
    description: "Flags declarative partitioning: CREATE TABLE ... PARTITION BY, CREATE TABLE ... \
        PARTITION OF, and ALTER TABLE ... ATTACH PARTITION. Partitioned tables restrict primary \
        keys and unique constraints to include the partition key, complicate foreign keys and \
        need partitions to be managed over time; for teams that choose to avoid them, use a \
        plain table with suitable indexes instead. DETACH PARTITION is not flagged.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            if let Some(span) = create.partition_by {
                out.push(Finding::new(
                    span,
                    format!(
                        "Table \"{}\" is created as a partitioned table ({}); partitioned tables are not allowed, create a plain table",
                        create.name.display(),
                        cx.text(span).trim()
                    ),
                ));
            }
            if let Some(parent) = &create.partition_of {
                out.push(Finding::new(
                    parent.span,
                    format!(
                        "Table \"{}\" is created as a partition of \"{}\"; partitioned tables are not allowed, keep the rows in one plain table",
                        create.name.display(),
                        parent.display()
                    ),
                ));
            }
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                if let AlterTableActionKind::AttachPartition { partition } = &action.kind {
                    out.push(Finding::new(
                        action.span,
                        format!(
                            "Table \"{}\" is attached as a partition of \"{}\"; partitioned tables are not allowed, keep the rows in one plain table",
                            partition.display(),
                            alter.name.display()
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
}
