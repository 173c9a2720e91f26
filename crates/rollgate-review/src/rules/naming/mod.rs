//! Naming rules; one file per rule. `format` holds the template expansion
//! and matching they share, `keys` the constraints and indexes the key and
//! index rules look at.

use crate::rule::RuleDef;

mod column;
mod format;
mod fully_qualified;
mod index_fk;
mod index_idx;
mod index_pk;
mod index_uk;
mod keys;
mod table;

pub(crate) static RULES: &[&RuleDef] = &[
    &fully_qualified::RULE,
    &table::RULE,
    &column::RULE,
    &index_uk::RULE,
    &index_idx::RULE,
    &index_fk::RULE,
    &index_pk::RULE,
];
