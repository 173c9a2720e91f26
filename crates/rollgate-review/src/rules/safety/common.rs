//! Helpers shared by the safety rules: which objects are new in the file
//! (and so cannot be in use yet), and how to name them in messages.

use rollgate_sql::ast::{AlterTableActionKind, ObjectName, Span, StatementKind};
use rollgate_sql::catalog::{DEFAULT_SCHEMA, Table, key};

use crate::rule::RuleCx;

/// True when `table` was created earlier in the file under review: no
/// running application can use it yet and it holds no rows worth a lock
/// queue, so lock and compatibility rules leave it alone.
pub(super) fn table_is_new(cx: &RuleCx<'_>, table: &ObjectName) -> bool {
    cx.catalog.table(table).is_some_and(|t| t.created_in_file)
}

/// True when `column` of `table` was created earlier in the file, by the
/// table's `CREATE TABLE` or by an `ADD COLUMN`.
pub(super) fn column_is_new(cx: &RuleCx<'_>, table: &ObjectName, column: &str) -> bool {
    if table_is_new(cx, table) {
        return true;
    }
    let table_key = key(table);
    cx.previous().iter().any(|statement| match &statement.kind {
        StatementKind::AlterTable(alter) => {
            key(&alter.name) == table_key
                && alter.actions.iter().any(|action| {
                    matches!(
                        &action.kind,
                        AlterTableActionKind::AddColumn { column: added, .. }
                            if added.name.name == column
                    )
                })
        }
        _ => false,
    })
}

/// A catalog table as it is written in messages: `name`, or `schema.name`
/// outside the default schema.
pub(super) fn table_display(table: &Table) -> String {
    if table.schema == DEFAULT_SCHEMA {
        table.name.clone()
    } else {
        format!("{}.{}", table.schema, table.name)
    }
}

/// The span of the first occurrence of keyword `word` (ASCII, any case)
/// as a whole word inside `within`, for pointing at a keyword the statement
/// model does not keep a span for.
pub(super) fn keyword_span(cx: &RuleCx<'_>, within: Span, word: &str) -> Option<Span> {
    let text = cx.text(within).as_bytes();
    let word = word.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    (0..text.len().checked_sub(word.len())? + 1).find_map(|at| {
        let candidate = text.get(at..at + word.len())?;
        let before_ok = at == 0 || text.get(at - 1).is_none_or(|&b| !is_ident(b));
        let after_ok = text.get(at + word.len()).is_none_or(|&b| !is_ident(b));
        (candidate.eq_ignore_ascii_case(word) && before_ok && after_ok).then(|| {
            let start = within.start + at as u32;
            Span::new(start, start + word.len() as u32)
        })
    })
}

/// The advice for making a statement that needs `CONCURRENTLY` runnable:
/// such statements cannot run inside a transaction block.
pub(super) const OUTSIDE_TRANSACTION: &str = "in a file marked `-- rollgate:no-transaction`";
