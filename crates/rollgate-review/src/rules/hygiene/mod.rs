//! Rollgate's own rules for what squawk checks beyond lock safety: timeouts,
//! column types, enum ordering, identifier length and transaction control.
//! One file per rule; `objects`, `locks` and `types` hold what several of
//! them share.

use crate::rule::RuleDef;

pub(crate) mod locks;
mod objects;
mod types;

mod disallow_char;
mod duplicate_column_assignment;
mod enum_add_value_order;
mod identifier_too_long;
mod lock_timeout;
mod nested_transaction;
mod prefer_bigint;
mod prefer_text;
mod prefer_timestamptz;
mod statement_timeout;
mod uncommitted_transaction;

pub(crate) static RULES: &[&RuleDef] = &[
    &lock_timeout::RULE,
    &statement_timeout::RULE,
    &disallow_char::RULE,
    &prefer_text::RULE,
    &prefer_bigint::RULE,
    &prefer_timestamptz::RULE,
    &enum_add_value_order::RULE,
    &identifier_too_long::RULE,
    &duplicate_column_assignment::RULE,
    &uncommitted_transaction::RULE,
    &nested_transaction::RULE,
];
