//! Column rules; one file per rule.

use crate::rule::RuleDef;

pub(crate) mod comment;
mod default_disallow_volatile;
mod disallow_change_type;
mod maximum_character_length;
mod no_null;
mod require_default;
mod required;
mod type_disallow_list;

pub(crate) static RULES: &[&RuleDef] = &[
    &no_null::RULE,
    &required::RULE,
    &disallow_change_type::RULE,
    &comment::RULE,
    &type_disallow_list::RULE,
    &maximum_character_length::RULE,
    &require_default::RULE,
    &default_disallow_volatile::RULE,
];
