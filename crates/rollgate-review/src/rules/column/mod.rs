//! Column rules; one file per rule.

use crate::rule::RuleDef;

mod no_null;

pub(crate) static RULES: &[&RuleDef] = &[&no_null::RULE];
