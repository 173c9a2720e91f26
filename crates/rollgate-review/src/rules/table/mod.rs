//! Rules of this category; one file per rule.

use crate::rule::RuleDef;

pub(crate) static RULES: &[&RuleDef] = &[];
