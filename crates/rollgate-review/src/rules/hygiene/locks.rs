//! PostgreSQL's table-level lock modes, as far as the timeout rules need
//! them.

use rollgate_sql::ast::{AlterTableActionKind, TableConstraintKind};

/// Table lock modes that matter for migrations, weakest first. The weaker
/// modes (ACCESS SHARE, ROW SHARE, ROW EXCLUSIVE) are what ordinary queries
/// take, and a migration taking them blocks nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Lock {
    /// Allows reads and writes; conflicts with other schema changes,
    /// VACUUM and index builds.
    ShareUpdateExclusive,
    /// Blocks writes.
    Share,
    /// Blocks writes.
    ShareRowExclusive,
    /// Blocks writes and `SELECT ... FOR UPDATE`; plain reads proceed.
    Exclusive,
    /// Blocks everything, plain reads included.
    AccessExclusive,
}

impl Lock {
    pub fn name(self) -> &'static str {
        match self {
            Lock::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Lock::Share => "SHARE",
            Lock::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Lock::Exclusive => "EXCLUSIVE",
            Lock::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// "an ACCESS EXCLUSIVE lock", "a SHARE lock".
    pub fn with_article(self) -> String {
        let article = match self {
            Lock::Exclusive | Lock::AccessExclusive => "an",
            _ => "a",
        };
        format!("{article} {} lock", self.name())
    }

    /// Whether ordinary reads or writes wait for this lock.
    pub fn blocks_traffic(self) -> bool {
        self >= Lock::Share
    }

    /// What the lock blocks, for messages.
    pub fn blocks(self) -> &'static str {
        match self {
            Lock::ShareUpdateExclusive => {
                "other schema changes and VACUUM (reads and writes proceed)"
            }
            Lock::Share | Lock::ShareRowExclusive => "writes (reads proceed)",
            Lock::Exclusive => "writes and row-locking reads (plain reads proceed)",
            Lock::AccessExclusive => "reads and writes",
        }
    }
}

/// The lock one `ALTER TABLE` action takes on the altered table
/// (PostgreSQL's `AlterTableGetLockLevel`, simplified).
pub(crate) fn alter_action_lock(kind: &AlterTableActionKind) -> Lock {
    match kind {
        AlterTableActionKind::ValidateConstraint { .. }
        | AlterTableActionKind::AttachPartition { .. } => Lock::ShareUpdateExclusive,
        AlterTableActionKind::DetachPartition { concurrently, .. } => {
            if *concurrently {
                Lock::ShareUpdateExclusive
            } else {
                Lock::AccessExclusive
            }
        }
        AlterTableActionKind::AddConstraint(constraint) => match constraint.kind {
            TableConstraintKind::ForeignKey { .. } => Lock::ShareRowExclusive,
            _ => Lock::AccessExclusive,
        },
        AlterTableActionKind::Other { keyword } => {
            let keyword = keyword.as_str();
            if keyword.contains("TRIGGER") {
                Lock::ShareRowExclusive
            } else if matches!(
                keyword,
                "SET"
                    | "RESET"
                    | "CLUSTER ON"
                    | "SET WITHOUT CLUSTER"
                    | "ALTER COLUMN SET"
                    | "ALTER COLUMN RESET"
                    | "ALTER COLUMN SET STATISTICS"
            ) {
                Lock::ShareUpdateExclusive
            } else {
                Lock::AccessExclusive
            }
        }
        _ => Lock::AccessExclusive,
    }
}
