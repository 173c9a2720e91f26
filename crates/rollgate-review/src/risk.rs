//! Risk of running one migration file on a live database: LOW, MODERATE or
//! HIGH, from what its statements lock, for how long (a metadata change, or
//! a full scan or rewrite of the table while the lock is held), and how big
//! the tables are. Pure: the caller supplies row estimates (from the
//! database's statistics) and the planner's affected-rows estimate.
//!
//! The lock facts are PostgreSQL's (the same table as the lock-safety
//! rules, `rules::hygiene::locks`):
//!
//! - work under a lock that blocks reads or writes (`CREATE INDEX` without
//!   `CONCURRENTLY`, a column type change, a volatile default, `SET NOT
//!   NULL`, a validated constraint): HIGH on a table of at least
//!   [`LARGE_TABLE_ROWS`] rows; MODERATE on a table of unknown size, on one
//!   of at least [`SMALL_TABLE_ROWS`], and for a rewrite under ACCESS
//!   EXCLUSIVE of any non-empty table; LOW on an empty table.
//! - a brief metadata change under ACCESS EXCLUSIVE (add a nullable column,
//!   drop a column, rename): MODERATE on a large table (the lock waits
//!   behind long transactions and queues all traffic behind it), else LOW.
//! - destroying rows (`DROP TABLE`, `TRUNCATE`): HIGH unless the table is
//!   known to be empty.
//! - changing rows (`UPDATE`, `DELETE`, `INSERT … SELECT`): by the planner's
//!   estimate, else the table's size for a statement without `WHERE`:
//!   HIGH from [`LARGE_TABLE_ROWS`], MODERATE from [`SMALL_TABLE_ROWS`].
//! - anything on a table the file itself creates: LOW.

use std::collections::{BTreeMap, BTreeSet};

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnDef, ExprKind, InsertSource, ObjectName, Statement, StatementKind,
    TableConstraintKind,
};
use rollgate_sql::catalog::key;
use serde::{Deserialize, Serialize};

use crate::rules::hygiene::locks::{Lock, alter_action_lock};

/// From this many rows a table is large: holding a blocking lock over a
/// scan of it takes long enough to stall an application.
pub const LARGE_TABLE_ROWS: u64 = 50_000;

/// Below this many rows a scan under lock is over in milliseconds.
pub const SMALL_TABLE_ROWS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RiskLevel {
    Low,
    Moderate,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "LOW",
            RiskLevel::Moderate => "MODERATE",
            RiskLevel::High => "HIGH",
        }
    }
}

/// The level and, for MODERATE and HIGH, why (one sentence per cause).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub level: RiskLevel,
    pub reasons: Vec<String>,
}

/// Rows of existing tables by `(schema, table)`; a table that is absent has
/// an unknown size.
pub type TableRows = BTreeMap<(String, String), u64>;

/// The risk of running `statements` (one file, in order). `affected_rows`
/// is the planner's estimate of the rows its data changes touch, when the
/// caller has one.
pub fn assess(
    statements: &[Statement],
    table_rows: &TableRows,
    affected_rows: Option<u64>,
) -> Risk {
    let mut assessment = Assessment {
        table_rows,
        created: BTreeSet::new(),
        level: RiskLevel::Low,
        reasons: Vec::new(),
    };
    for statement in statements {
        assessment.statement(statement, affected_rows);
    }
    Risk {
        level: assessment.level,
        reasons: assessment.reasons,
    }
}

/// What a statement does to a table while it holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Catalog-only: done at once once the lock is granted.
    Metadata,
    /// Reads every row (index build, constraint validation).
    Scan,
    /// Writes every row anew.
    Rewrite,
}

struct Assessment<'a> {
    table_rows: &'a TableRows,
    created: BTreeSet<(String, String)>,
    level: RiskLevel,
    reasons: Vec<String>,
}

/// The size of a table as the assessment sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    New,
    Unknown,
    Rows(u64),
}

impl Assessment<'_> {
    fn raise(&mut self, level: RiskLevel, reason: String) {
        if level > RiskLevel::Low {
            self.reasons.push(reason);
        }
        self.level = self.level.max(level);
    }

    fn size(&self, table: &ObjectName) -> Size {
        let table_key = key(table);
        if self.created.contains(&table_key) {
            return Size::New;
        }
        match self.table_rows.get(&table_key) {
            Some(&rows) => Size::Rows(rows),
            None => Size::Unknown,
        }
    }

    fn statement(&mut self, statement: &Statement, affected_rows: Option<u64>) {
        match &statement.kind {
            StatementKind::CreateTable(create) => {
                self.created.insert(key(&create.name));
            }
            StatementKind::CreateIndex(create) => {
                let lock = if create.concurrently {
                    Lock::ShareUpdateExclusive
                } else {
                    Lock::Share
                };
                let what = format!(
                    "CREATE INDEX{} on",
                    if create.concurrently {
                        " CONCURRENTLY"
                    } else {
                        ""
                    }
                );
                self.locked_work(&create.table, lock, Work::Scan, &what);
            }
            StatementKind::AlterTable(alter) => {
                for action in &alter.actions {
                    let lock = alter_action_lock(&action.kind);
                    let (work, what) = alter_work(&action.kind);
                    self.locked_work(&alter.name, lock, work, what);
                }
            }
            StatementKind::DropTable(drop) => {
                for name in &drop.names {
                    self.destroy(name, "DROP TABLE");
                }
            }
            StatementKind::Truncate(truncate) => {
                for name in &truncate.tables {
                    self.destroy(name, "TRUNCATE");
                }
            }
            StatementKind::Update(update) => self.change_rows(
                &update.table,
                update.where_clause.is_some(),
                affected_rows,
                "UPDATE",
            ),
            StatementKind::Delete(delete) => self.change_rows(
                &delete.table,
                delete.where_clause.is_some(),
                affected_rows,
                "DELETE",
            ),
            StatementKind::Insert(insert)
                if !matches!(insert.source, InsertSource::Values { .. }) =>
            {
                self.change_rows(&insert.table, true, affected_rows, "INSERT ... SELECT");
            }
            _ => {}
        }
    }

    fn locked_work(&mut self, table: &ObjectName, lock: Lock, work: Work, what: &str) {
        let size = self.size(table);
        let name = table.display();
        let level = match (size, work) {
            (Size::New, _) | (Size::Rows(0), _) => RiskLevel::Low,
            (_, Work::Metadata) => match size {
                Size::Rows(rows) if rows >= LARGE_TABLE_ROWS && lock == Lock::AccessExclusive => {
                    RiskLevel::Moderate
                }
                _ => RiskLevel::Low,
            },
            (_, Work::Scan | Work::Rewrite) if !lock.blocks_traffic() => RiskLevel::Low,
            (Size::Rows(rows), _) if rows >= LARGE_TABLE_ROWS => RiskLevel::High,
            (Size::Unknown, _) => RiskLevel::Moderate,
            (Size::Rows(rows), _) if rows >= SMALL_TABLE_ROWS => RiskLevel::Moderate,
            (_, Work::Rewrite) if lock == Lock::AccessExclusive => RiskLevel::Moderate,
            _ => RiskLevel::Low,
        };
        let rows = match size {
            Size::Rows(rows) => format!("about {rows} rows"),
            _ => "an unknown number of rows".to_string(),
        };
        let doing = match work {
            Work::Metadata => "briefly, but it queues all traffic behind any long transaction",
            Work::Scan => "for a full scan of the table",
            Work::Rewrite => "while it rewrites the whole table",
        };
        self.raise(
            level,
            format!(
                "{what} \"{name}\" ({rows}) holds {} {doing}, blocking {}",
                lock.with_article(),
                lock.blocks()
            ),
        );
    }

    fn destroy(&mut self, table: &ObjectName, what: &str) {
        let level = match self.size(table) {
            Size::New | Size::Rows(0) => RiskLevel::Low,
            _ => RiskLevel::High,
        };
        self.raise(
            level,
            format!("{what} \"{}\" destroys its rows for good", table.display()),
        );
    }

    fn change_rows(
        &mut self,
        table: &ObjectName,
        filtered: bool,
        affected: Option<u64>,
        what: &str,
    ) {
        let size = self.size(table);
        let estimate = affected.or(match size {
            Size::Rows(rows) if !filtered => Some(rows),
            _ => None,
        });
        let level = match (size, estimate) {
            (Size::New, _) => RiskLevel::Low,
            (_, Some(rows)) if rows >= LARGE_TABLE_ROWS => RiskLevel::High,
            (_, Some(rows)) if rows >= SMALL_TABLE_ROWS => RiskLevel::Moderate,
            _ => RiskLevel::Low,
        };
        self.raise(
            level,
            format!(
                "{what} on \"{}\" changes about {} rows in one transaction, locking each of them until it commits",
                table.display(),
                estimate.unwrap_or(0)
            ),
        );
    }
}

/// What an `ALTER TABLE` action does under its lock.
fn alter_work(kind: &AlterTableActionKind) -> (Work, &'static str) {
    match kind {
        AlterTableActionKind::AddColumn { column, .. } if volatile_default(column) => {
            (Work::Rewrite, "ADD COLUMN with a volatile default on")
        }
        AlterTableActionKind::AddColumn { column, .. }
            if column.generated().is_some() && column.default().is_none() =>
        {
            (Work::Rewrite, "ADD COLUMN GENERATED on")
        }
        AlterTableActionKind::AlterColumnType { .. } => (Work::Rewrite, "ALTER COLUMN TYPE on"),
        AlterTableActionKind::SetNotNull { .. } => (Work::Scan, "SET NOT NULL on"),
        AlterTableActionKind::AddConstraint(constraint) if !constraint.not_valid => {
            match &constraint.kind {
                TableConstraintKind::PrimaryKey {
                    using_index: None, ..
                }
                | TableConstraintKind::Unique {
                    using_index: None, ..
                } => (Work::Scan, "ADD CONSTRAINT (building its index) on"),
                TableConstraintKind::PrimaryKey { .. } | TableConstraintKind::Unique { .. } => {
                    (Work::Metadata, "ADD CONSTRAINT USING INDEX on")
                }
                _ => (Work::Scan, "ADD CONSTRAINT (validating every row) on"),
            }
        }
        AlterTableActionKind::ValidateConstraint { .. } => (Work::Scan, "VALIDATE CONSTRAINT on"),
        AlterTableActionKind::AttachPartition { .. } => (Work::Scan, "ATTACH PARTITION on"),
        _ => (Work::Metadata, "ALTER TABLE"),
    }
}

/// A default whose value differs per row: PostgreSQL must write it into
/// every existing row.
fn volatile_default(column: &ColumnDef) -> bool {
    let mut volatile = false;
    if let Some(expr) = column.default() {
        expr.walk(&mut |e| {
            if let ExprKind::Call { name, .. } = &e.kind
                && crate::rules::common::is_volatile_function(name)
            {
                volatile = true;
            }
        });
    }
    volatile
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one helper that calls the API: `sql` on tables of the given sizes.
    fn check(sql: &str, tables: &[(&str, u64)], affected: Option<u64>) -> Risk {
        let parsed = rollgate_sql::parse(rollgate_sql::Dialect::Postgres, sql);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let rows = tables
            .iter()
            .map(|(name, rows)| (("public".to_string(), name.to_string()), *rows))
            .collect();
        assess(&parsed.statements, &rows, affected)
    }

    #[test]
    fn small_table_volatile_default_is_moderate() {
        let risk = check(
            "ALTER TABLE t ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();",
            &[("t", 200)],
            None,
        );
        assert_eq!(risk.level, RiskLevel::Moderate, "{risk:?}");
        assert!(risk.reasons[0].contains("ACCESS EXCLUSIVE"), "{risk:?}");
        assert!(risk.reasons[0].contains("rewrites"), "{risk:?}");
        // The same on a large table is HIGH; a constant default is metadata only.
        let big = check(
            "ALTER TABLE t ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();",
            &[("t", 2_000_000)],
            None,
        );
        assert_eq!(big.level, RiskLevel::High);
        let constant = check(
            "ALTER TABLE t ADD COLUMN flag boolean NOT NULL DEFAULT false;",
            &[("t", 20_000)],
            None,
        );
        assert_eq!(constant.level, RiskLevel::Low, "{constant:?}");
    }

    #[test]
    fn big_table_index_without_concurrently_is_high() {
        let risk = check("CREATE INDEX t_a ON t (a);", &[("t", 1_000_000)], None);
        assert_eq!(risk.level, RiskLevel::High);
        assert!(risk.reasons[0].contains("SHARE lock"), "{risk:?}");
        assert!(risk.reasons[0].contains("1000000"), "{risk:?}");
        let concurrently = check(
            "CREATE INDEX CONCURRENTLY t_a ON t (a);",
            &[("t", 1_000_000)],
            None,
        );
        assert_eq!(concurrently.level, RiskLevel::Low);
        let empty = check("CREATE INDEX t_a ON t (a);", &[("t", 0)], None);
        assert_eq!(empty.level, RiskLevel::Low);
        let unknown = check("CREATE INDEX t_a ON t (a);", &[], None);
        assert_eq!(unknown.level, RiskLevel::Moderate);
    }

    #[test]
    fn plain_select_and_insert_on_small_tables_are_low() {
        let risk = check(
            "SELECT * FROM t WHERE a = 1; INSERT INTO t (a) VALUES (1), (2);",
            &[("t", 100)],
            Some(2),
        );
        assert_eq!(
            risk,
            Risk {
                level: RiskLevel::Low,
                reasons: vec![]
            }
        );
    }

    #[test]
    fn data_changes_follow_the_estimate_and_table_size() {
        let update = check(
            "UPDATE t SET a = 1 WHERE b = 2;",
            &[("t", 1_000_000)],
            Some(20_000),
        );
        assert_eq!(update.level, RiskLevel::Moderate);
        let whole = check("DELETE FROM t;", &[("t", 1_000_000)], None);
        assert_eq!(whole.level, RiskLevel::High);
        let drop = check("DROP TABLE t;", &[("t", 5)], None);
        assert_eq!(drop.level, RiskLevel::High);
        let drop_empty = check("DROP TABLE t;", &[("t", 0)], None);
        assert_eq!(drop_empty.level, RiskLevel::Low);
    }

    #[test]
    fn tables_created_in_the_file_are_low() {
        let risk = check(
            "CREATE TABLE n (a int); CREATE INDEX n_a ON n (a); ALTER TABLE n ALTER COLUMN a TYPE bigint;",
            &[],
            None,
        );
        assert_eq!(risk.level, RiskLevel::Low, "{risk:?}");
    }
}
