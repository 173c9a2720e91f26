//! Table rules; one file per rule.

use crate::rule::RuleDef;

mod comment;
mod disallow_partition;
mod drop_naming_convention;
mod no_foreign_key;
mod require_pk;

pub(crate) static RULES: &[&RuleDef] = &[
    &require_pk::RULE,
    &no_foreign_key::RULE,
    &drop_naming_convention::RULE,
    &comment::RULE,
    &disallow_partition::RULE,
];
