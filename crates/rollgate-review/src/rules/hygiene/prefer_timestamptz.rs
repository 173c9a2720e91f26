//! `COLUMN_TYPE_PREFER_TIMESTAMPTZ`: `timestamptz` rather than `timestamp`.

use super::types::typed_columns;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_TYPE_PREFER_TIMESTAMPTZ",
    legacy_name: None,
    code: 3106,
    category: Category::Safety,
    title: "Prefer \"timestamptz\" over \"timestamp\"",
    description: "Flags a column declared `timestamp` / `timestamp without time zone` (by CREATE \
        TABLE, ADD COLUMN or ALTER COLUMN ... TYPE), as squawk's prefer-timestamp-tz does. \
        `timestamp` stores a wall-clock reading with no UTC offset, so values written by \
        sessions or servers in different time zones cannot be compared, and daylight-saving \
        changes make them ambiguous. Use `timestamptz`, which stores an absolute instant and \
        converts to the session's time zone on output.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    for column in typed_columns(cx.statement) {
        let data_type = column.data_type;
        if data_type.name != "timestamp" {
            continue;
        }
        out.push(Finding::new(
            data_type.span,
            format!(
                "{} is `{}`{}: it drops the UTC offset, so values written from different time \
                 zones cannot be compared; declare it `timestamptz`",
                column.subject(),
                data_type.text.trim(),
                if data_type.text.to_lowercase().contains("without") {
                    ""
                } else {
                    " (without time zone)"
                },
            ),
        ));
    }
}
