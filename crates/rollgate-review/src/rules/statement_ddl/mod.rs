//! Statement rules about DDL: cascades, lock-friendly constraint additions,
//! merged ALTER TABLEs, schema qualification and non-transactional
//! statements. One file per rule.

use rollgate_sql::ast::ObjectName;

use crate::rule::{RuleCx, RuleDef};

mod add_check_not_valid;
mod add_foreign_key_not_valid;
mod create_specify_schema;
mod disallow_add_column_with_default;
mod disallow_add_not_null;
mod disallow_on_del_cascade;
mod disallow_rm_tbl_cascade;
mod merge_alter_table;
mod non_transactional;

pub(crate) static RULES: &[&RuleDef] = &[
    &disallow_on_del_cascade::RULE,
    &disallow_rm_tbl_cascade::RULE,
    &merge_alter_table::RULE,
    &disallow_add_column_with_default::RULE,
    &add_check_not_valid::RULE,
    &add_foreign_key_not_valid::RULE,
    &disallow_add_not_null::RULE,
    &create_specify_schema::RULE,
    &non_transactional::RULE,
];

/// The table was created earlier in the file under review: it holds no
/// rows that matter and no running application uses it yet.
fn created_in_file(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    cx.catalog.table(name).is_some_and(|t| t.created_in_file)
}

/// The 1-based line of a byte offset in the file.
fn line_of(cx: &RuleCx<'_>, offset: u32) -> usize {
    let end = (offset as usize).min(cx.file.text.len());
    cx.file
        .text
        .as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}
