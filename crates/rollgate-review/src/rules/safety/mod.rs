//! Lock- and runtime-safety rules: what squawk checks, as Rollgate rules
//! over the statement model. One file per rule; `common` holds what several
//! of them share.

use crate::rule::RuleDef;

mod column_add_not_null_without_default;
mod column_drop;
mod column_drop_not_null;
mod column_rename;
mod common;
mod constraint_primary_key_without_index;
mod constraint_unique_without_index;
mod database_drop;
mod domain_disallow_check;
mod index_concurrently_in_transaction;
mod index_drop_concurrently;
mod statement_reindex_concurrently;
mod statement_truncate_cascade;
mod table_detach_partition_concurrently;
mod table_drop;
mod table_rename;

pub(crate) static RULES: &[&RuleDef] = &[
    &index_drop_concurrently::RULE,
    &index_concurrently_in_transaction::RULE,
    &constraint_unique_without_index::RULE,
    &constraint_primary_key_without_index::RULE,
    &column_add_not_null_without_default::RULE,
    &column_rename::RULE,
    &table_rename::RULE,
    &column_drop::RULE,
    &table_drop::RULE,
    &database_drop::RULE,
    &column_drop_not_null::RULE,
    &statement_truncate_cascade::RULE,
    &table_detach_partition_concurrently::RULE,
    &statement_reindex_concurrently::RULE,
    &domain_disallow_check::RULE,
];
