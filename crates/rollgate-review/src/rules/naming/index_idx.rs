//! `NAMING_INDEX_IDX`: plain (non-unique) indexes follow a naming format.

use super::keys::check_index;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_INDEX_IDX",
    legacy_name: Some("naming.index.idx"),
    code: 303,
    category: Category::Naming,
    title: "Enforce index naming format",
    description: "Flags a non-unique CREATE INDEX whose name does not match `format` or is longer \
        than `max_length`. In `format`, `{{table}}` and `{{column_list}}` (the indexed columns \
        joined with `_`) stand for the actual names, so the default asks for \
        `idx_<table>_<columns>`; an expression element matches any text there. An index created \
        without a name is checked under the name PostgreSQL generates (`<table>_<columns>_idx`), \
        which rarely matches: name the index as the advice shows.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        format: Some("^idx_{{table}}_{{column_list}}$"),
        max_length: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    check_index(cx, false, out);
}
