//! The rule registry. Each rule is one file holding one `pub(crate) static
//! RULE: RuleDef` and its check function, grouped by category; each group's
//! `mod.rs` lists its rules in `RULES`.

use crate::rule::RuleDef;

mod builtin;
mod column;
pub(crate) mod common;
pub(crate) mod hygiene;
mod index;
mod naming;
mod safety;
mod schema;
mod statement;
mod statement_ddl;
mod system;
mod table;

pub use builtin::{INVALID_DIRECTIVE, STATEMENT_MAXIMUM_SQL_SIZE, WALK_THROUGH_CHECK};

/// Every rule, in documentation order.
pub fn all() -> &'static [&'static RuleDef] {
    static ALL: std::sync::OnceLock<Vec<&'static RuleDef>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        [
            table::RULES,
            statement::RULES,
            statement_ddl::RULES,
            naming::RULES,
            column::RULES,
            schema::RULES,
            index::RULES,
            system::RULES,
            builtin::RULES,
            safety::RULES,
            hygiene::RULES,
        ]
        .concat()
    })
}

/// Finds a rule by its name or its legacy dotted name, ignoring case.
pub fn find(name: &str) -> Option<&'static RuleDef> {
    all().iter().copied().find(|r| {
        r.name.eq_ignore_ascii_case(name)
            || r.legacy_name
                .is_some_and(|legacy| legacy.eq_ignore_ascii_case(name))
    })
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|r| r.name).collect()
}

/// Built-in rules run under every template, `none` included.
pub fn is_builtin(rule: &RuleDef) -> bool {
    rule.category == crate::rule::Category::Builtin
}
