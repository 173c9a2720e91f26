//! `COLUMN_TYPE_DISALLOW_CHAR`: no `char(n)` / `character` columns.

use super::types::typed_columns;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_TYPE_DISALLOW_CHAR",
    legacy_name: None,
    code: 3103,
    category: Category::Safety,
    title: "Disallow \"char(n)\" columns",
    description: "Flags a column declared `char(n)`, `character(n)` or `character` (by CREATE \
        TABLE, ADD COLUMN or ALTER COLUMN ... TYPE), as squawk's ban-char-field does. PostgreSQL \
        pads char values with spaces to the full length and strips them again on comparison, \
        which surprises applications, and char is no faster or smaller than text. Use `text` (or \
        `varchar`), with a `CHECK (length(col) = n)` when the length matters. The internal \
        one-byte type `\"char\"` is not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for column in typed_columns(cx.statement) {
        let data_type = column.data_type;
        // `"char"` (quoted) is PostgreSQL's internal one-byte type.
        if !matches!(data_type.name.as_str(), "char" | "bpchar")
            || data_type.text.trim_start().starts_with('"')
        {
            continue;
        }
        let length = data_type.modifiers.first().copied().unwrap_or(1);
        out.push(Finding::new(
            data_type.span,
            format!(
                "{} is `{}`, which pads every value with spaces to {length} character{} and is no \
                 faster or smaller than text; declare it `text` (with `CHECK (length({}) = \
                 {length})` if the length matters)",
                column.subject(),
                data_type.text.trim(),
                if length == 1 { "" } else { "s" },
                column.column.name,
            ),
        ));
    }
}
