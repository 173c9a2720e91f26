//! `TYPE_ENUM_ADD_VALUE_ORDER`: `ALTER TYPE ... ADD VALUE` should say where
//! the value goes.

use rollgate_sql::ast::{Span, StatementKind};
use rollgate_sql::catalog::key;

use super::objects::{Cursor, TokenKind, tokens};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TYPE_ENUM_ADD_VALUE_ORDER",
    legacy_name: None,
    code: 3107,
    category: Category::Safety,
    title: "Require BEFORE or AFTER when adding an enum value",
    description: "Flags `ALTER TYPE ... ADD VALUE` without `BEFORE` or `AFTER` (squawk's \
        require-enum-value-ordering). The value is appended after every existing one, and enum \
        values compare and sort in declaration order, so `ORDER BY status` and conditions like \
        `status < 'approved'` silently change meaning when the new value belongs elsewhere. \
        Write `BEFORE 'x'` or `AFTER 'y'`, even `AFTER` the current last value, so the position \
        is a reviewed decision.",
    levels: levels(OFF, OFF, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterEnumAddValue(add) = &cx.statement.kind else {
        return;
    };
    if add.positioned {
        return;
    }
    let last = cx
        .catalog
        .enums
        .get(&key(&add.name))
        .and_then(|values| values.last())
        .map(|v| format!(" (after '{v}', the current last value)"))
        .unwrap_or_default();
    out.push(Finding::new(
        add_value_span(cx).unwrap_or(cx.statement.span),
        format!(
            "ADD VALUE '{}' appends the value to the end of enum \"{}\"{last}; enum values sort \
             and compare in declaration order, so ORDER BY and comparisons like `<` on this type \
             depend on where it goes. State the position with BEFORE '...' or AFTER '...'",
            add.value,
            add.name.display(),
        ),
    ));
}

/// From `ADD` to the end of the statement, without the semicolon.
fn add_value_span(cx: &RuleCx<'_>) -> Option<Span> {
    let tokens = tokens(cx, cx.statement);
    let mut cursor = Cursor::new(&tokens);
    while let Some(token) = cursor.bump() {
        if token.kind == TokenKind::Word
            && token.text == "add"
            && cursor.peek_word() == Some("value")
        {
            let end = tokens.iter().rev().find(|t| t.text != ";")?;
            return Some(token.span.cover(end.span));
        }
    }
    None
}
