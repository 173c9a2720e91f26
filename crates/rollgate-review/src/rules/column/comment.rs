//! `COLUMN_COMMENT`: columns carry a comment, of bounded length.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnDef, CommentTarget, ObjectName, Span, StatementKind,
};
use rollgate_sql::catalog::key;

use crate::rule::*;

/// Code for a comment over `max_length` (Bytebase's "comment too long").
const TOO_LONG: u32 = 1301;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_COMMENT",
    legacy_name: Some("column.comment"),
    code: 408,
    category: Category::Column,
    title: "Column comment convention",
    description: "When `required` is true, flags a column created in the file (CREATE TABLE, \
        ALTER TABLE ... ADD COLUMN) that no later COMMENT ON COLUMN in the same file describes \
        (a comment IS NULL or '' does not count). Independently, flags any COMMENT ON COLUMN \
        longer than `max_length` characters (0 turns the limit off). Comments tell the next \
        reader what a column holds and in which unit. Add `COMMENT ON COLUMN table.column IS \
        '...'` after creating the column, or shorten the comment.",
    levels: levels(OFF, OFF, E),
    payload: PayloadDefaults {
        required: Some(false),
        max_length: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) if cx.options.required => {
            for column in &create.columns {
                require_comment(cx, &create.name, column, out);
            }
        }
        StatementKind::AlterTable(alter) if cx.options.required => {
            for action in &alter.actions {
                if let AlterTableActionKind::AddColumn { column, .. } = &action.kind {
                    require_comment(cx, &alter.name, column, out);
                }
            }
        }
        StatementKind::Comment(comment) => {
            let CommentTarget::Column { table, column } = &comment.target else {
                return;
            };
            let table = commented_table(cx, table);
            let Some(text) = &comment.text else {
                return;
            };
            let length = text.chars().count();
            if cx.options.max_length > 0 && length as i64 > cx.options.max_length {
                out.push(
                    Finding::new(
                        comment.text_span,
                        format!(
                            "The comment on column \"{}\" of table \"{}\" is {length} characters long, over the {} allowed; shorten it",
                            column.name,
                            table.display(),
                            cx.options.max_length
                        ),
                    )
                    .with_code(TOO_LONG),
                );
            }
        }
        _ => {}
    }
}

/// Flags `column` unless a later statement comments on it.
fn require_comment(
    cx: &RuleCx<'_>,
    table: &ObjectName,
    column: &ColumnDef,
    out: &mut Vec<Finding>,
) {
    if column.name.name.is_empty() {
        return;
    }
    let table_key = key(table);
    let commented = cx.following().iter().any(|s| match &s.kind {
        StatementKind::Comment(comment) => match &comment.target {
            CommentTarget::Column {
                table: t,
                column: c,
            } => {
                key(&commented_table(cx, t)) == table_key
                    && c.name == column.name.name
                    && comment.text.as_deref().is_some_and(|t| !t.is_empty())
            }
            _ => false,
        },
        _ => false,
    });
    if !commented {
        out.push(Finding::new(
            column.span,
            format!(
                "Column \"{}\" of table \"{}\" has no comment; add COMMENT ON COLUMN {}.{} IS '...' after creating it",
                column.name.name,
                table.display(),
                table.display(),
                column.name.name
            ),
        ));
    }
}

/// The table of `COMMENT ON COLUMN [schema.]table.column`, corrected for
/// the statement model, which takes the `COLUMN` keyword for a name part:
/// `COMMENT ON COLUMN t.c` arrives with schema "column" and a span that
/// starts at the keyword. Returns the name as written once that is fixed.
pub(crate) fn commented_table(cx: &RuleCx<'_>, table: &ObjectName) -> ObjectName {
    let text = cx.text(table.span);
    let starts_with_keyword = text
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("column"))
        && text[6..].starts_with(|c: char| c.is_whitespace() || c == '/' || c == '-');
    if !starts_with_keyword {
        return table.clone();
    }
    let rest = text[6..].trim_start();
    let offset = (text.len() - rest.len()) as u32;
    // A dot outside double quotes: the table was written with its schema.
    let mut quoted = false;
    let qualified = rest.chars().any(|c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == '.' && !quoted
    });
    ObjectName {
        schema: if qualified {
            table.schema.clone()
        } else {
            None
        },
        span: Span::new(table.span.start + offset, table.span.end),
        ..table.clone()
    }
}
