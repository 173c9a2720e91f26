//! Rules of this category; one file per rule.

use rollgate_sql::ast::{CreateIndex, ObjectName};

use crate::rule::{RuleCx, RuleDef};

mod create_concurrently;
mod key_number_limit;
mod no_duplicate_column;
mod primary_key_type_allowlist;
mod total_number_limit;

pub(crate) static RULES: &[&RuleDef] = &[
    &no_duplicate_column::RULE,
    &key_number_limit::RULE,
    &total_number_limit::RULE,
    &primary_key_type_allowlist::RULE,
    &create_concurrently::RULE,
];

/// The table was created earlier in the file under review.
fn created_in_file(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    cx.catalog.table(name).is_some_and(|t| t.created_in_file)
}

/// ` "name"` of an index, or nothing for an unnamed one.
fn index_label(create: &CreateIndex) -> String {
    create
        .name
        .as_ref()
        .map_or_else(String::new, |n| format!(" \"{}\"", n.name))
}
