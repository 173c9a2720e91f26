//! Rules of this category; one file per rule.

use crate::rule::RuleDef;

mod backward_compatibility;

pub(crate) static RULES: &[&RuleDef] = &[&backward_compatibility::RULE];
