//! `NAMING_INDEX_UK`: unique keys and unique indexes follow a naming format.

use super::keys::{KeyKind, check_index, check_keys};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_INDEX_UK",
    legacy_name: Some("naming.index.uk"),
    code: 304,
    category: Category::Naming,
    title: "Enforce unique key naming format",
    description: "Flags a unique key whose name does not match `format` or is longer than \
        `max_length`: a named UNIQUE constraint (CREATE TABLE, ALTER TABLE ... ADD CONSTRAINT, \
        RENAME CONSTRAINT) and CREATE UNIQUE INDEX. In `format`, `{{table}}` and \
        `{{column_list}}` (the columns joined with `_`) stand for the actual names, so the \
        default asks for `uk_<table>_<columns>`. An unnamed UNIQUE constraint is not flagged \
        (PostgreSQL names it), but an unnamed CREATE UNIQUE INDEX is checked under the name \
        PostgreSQL generates for it (`<table>_<columns>_idx`). Rename the key to the expected \
        name the advice shows.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        format: Some("^uk_{{table}}_{{column_list}}$"),
        max_length: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    check_keys(cx, KeyKind::Unique, out);
    check_index(cx, true, out);
}
