//! Statement rules (queries, DML and transaction control); one file per
//! rule.

use crate::rule::RuleDef;

mod check_set_role_variable;
mod disallow_commit;
mod disallow_truncate;
mod insert_disallow_order_by_rand;
mod insert_must_specify_column;
mod insert_row_limit;
mod query;
mod select_no_select_all;
mod where_disallow_functions_and_calculations;
mod where_no_leading_wildcard_like;
mod where_require_select;
mod where_require_update_delete;

pub(crate) static RULES: &[&RuleDef] = &[
    &select_no_select_all::RULE,
    &where_require_select::RULE,
    &where_require_update_delete::RULE,
    &where_no_leading_wildcard_like::RULE,
    &disallow_truncate::RULE,
    &disallow_commit::RULE,
    &insert_row_limit::RULE,
    &insert_must_specify_column::RULE,
    &insert_disallow_order_by_rand::RULE,
    &check_set_role_variable::RULE,
    &where_disallow_functions_and_calculations::RULE,
];
