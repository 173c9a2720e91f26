//! `NAMING_INDEX_PK`: primary keys follow a naming format.

use super::keys::{KeyKind, check_keys};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_INDEX_PK",
    legacy_name: Some("naming.index.pk"),
    code: 306,
    category: Category::Naming,
    title: "Enforce primary key naming format",
    description: "Flags a named PRIMARY KEY constraint (CREATE TABLE, ALTER TABLE ... ADD \
        CONSTRAINT, RENAME CONSTRAINT) whose name does not match `format` or is longer than \
        `max_length`. In `format`, `{{table}}` and `{{column_list}}` (the key columns joined \
        with `_`) stand for the actual names, so the default asks for `pk_<table>_<columns>`. \
        An unnamed primary key is not flagged: PostgreSQL names it `<table>_pkey`. Rename the \
        constraint to the expected name the advice shows.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        format: Some("^pk_{{table}}_{{column_list}}$"),
        max_length: Some(63),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    check_keys(cx, KeyKind::Primary, out);
}
