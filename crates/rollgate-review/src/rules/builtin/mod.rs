//! Built-in checks that the engine runs itself: file size, schema
//! walk-through and directive validation. Their check functions do nothing;
//! `crate::engine` produces their findings.

use crate::rule::*;

pub(crate) static RULES: &[&RuleDef] = &[
    &STATEMENT_MAXIMUM_SQL_SIZE,
    &WALK_THROUGH_CHECK,
    &INVALID_DIRECTIVE,
];

fn engine_checked(_: &RuleCx<'_>, _: &mut Vec<Finding>) {}

pub static STATEMENT_MAXIMUM_SQL_SIZE: RuleDef = RuleDef {
    name: "BUILTIN_STATEMENT_MAXIMUM_SQL_SIZE",
    legacy_name: None,
    code: 258,
    category: Category::Builtin,
    title: "Restrict the SQL file size",
    description: "A file larger than `number` MiB (default 2) is not parsed or reviewed: the review \
        reports this one advice instead. Split large data loads into several files, or load them \
        with COPY outside the migration.",
    levels: levels(W, W, W),
    payload: PayloadDefaults {
        number: Some(2),
        ..PayloadDefaults::NONE
    },
    check: engine_checked,
};

pub static WALK_THROUGH_CHECK: RuleDef = RuleDef {
    name: "BUILTIN_WALK_THROUGH_CHECK",
    legacy_name: None,
    code: 260,
    category: Category::Builtin,
    title: "Schema walk-through validation",
    description: "Replays every file in version order into a schema catalog and reports a statement \
        that would fail: creating an object that already exists, or altering, dropping or writing \
        to one that does not. Objects the history never created are reported missing only when the \
        whole history is reviewed (discovery by file pattern) or the schema comes from a live \
        database; a lint of individual files trusts tables it has not seen.",
    levels: levels(W, W, E),
    payload: PayloadDefaults::NONE,
    check: engine_checked,
};

pub static INVALID_DIRECTIVE: RuleDef = RuleDef {
    name: "BUILTIN_INVALID_DIRECTIVE",
    legacy_name: None,
    code: 3901,
    category: Category::Builtin,
    title: "Invalid rollgate directive",
    description: "A `-- rollgate:` comment that rollgate cannot use: an unknown directive, an \
        `ignore` naming a rule that does not exist (a typo would otherwise silently suppress \
        nothing), or a malformed value. Fix the comment; `rollgate rules` lists the rule names.",
    levels: levels(W, W, W),
    payload: PayloadDefaults::NONE,
    check: engine_checked,
};
