//! `COLUMN_TYPE_PREFER_TEXT`: `text` with a CHECK rather than `varchar(n)`.

use super::types::typed_columns;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_TYPE_PREFER_TEXT",
    legacy_name: None,
    code: 3104,
    category: Category::Safety,
    title: "Prefer \"text\" with a CHECK over \"varchar(n)\"",
    description: "Flags a column declared `varchar(n)` / `character varying(n)` (by CREATE TABLE, \
        ADD COLUMN or ALTER COLUMN ... TYPE), as squawk's prefer-text-field does; `varchar` \
        without a length is not flagged. Changing n later is an ALTER COLUMN ... TYPE, which \
        takes an ACCESS EXCLUSIVE lock on the table (blocking reads and writes) and rewrites it \
        when the limit shrinks. Use `text` with `CHECK (length(col) <= n)`: the check can be \
        replaced later with `NOT VALID` plus `VALIDATE CONSTRAINT`, without blocking traffic.",
    levels: levels(OFF, OFF, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for column in typed_columns(cx.statement) {
        let data_type = column.data_type;
        let Some(length) = data_type.modifiers.first() else {
            continue;
        };
        if data_type.name != "varchar" {
            continue;
        }
        out.push(Finding::new(
            data_type.span,
            format!(
                "{} is `{}`: changing the limit later takes an ACCESS EXCLUSIVE lock on the table, \
                 blocking reads and writes (and rewrites it when the limit shrinks); declare it \
                 `text` with `CHECK (length({}) <= {length})`, which can be changed without blocking",
                column.subject(),
                data_type.text.trim(),
                column.column.name,
            ),
        ));
    }
}
