//! Rules of this group; one file per rule.

use crate::rule::RuleDef;

pub(crate) static RULES: &[&RuleDef] = &[];
