//! `TABLE_COMMENT`: table comments are present (when required) and short.

use rollgate_sql::ast::{CommentTarget, StatementKind};
use rollgate_sql::catalog::key;

use crate::rule::*;

/// Bytebase's `CommentEmpty` code (sic: 1032, not 1302).
const COMMENT_EMPTY: u32 = 1032;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_COMMENT",
    legacy_name: Some("table.comment"),
    code: 1301,
    category: Category::Table,
    title: "Table comment convention",
    description: "With `required`, flags a CREATE TABLE that no later `COMMENT ON TABLE` in the \
        same file gives a non-empty comment (code 1032); partitions and temporary tables are \
        exempt. Flags any `COMMENT ON TABLE` whose text is longer than `max_length` characters \
        (default 64; 0 or less turns the check off; code 1301). Comments document what a table \
        holds for the next reader of the schema; keep them short enough to show in tools.",
    levels: levels(OFF, OFF, E),
    payload: PayloadDefaults {
        max_length: Some(64),
        required: Some(false),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            if !cx.options.required || create.temporary || create.partition_of.is_some() {
                return;
            }
            let wanted = key(&create.name);
            // The last comment wins, as it does in the database.
            let comment = cx.following().iter().rev().find_map(|s| match &s.kind {
                StatementKind::Comment(comment) => match &comment.target {
                    CommentTarget::Table(name) if key(name) == wanted => Some(comment),
                    _ => None,
                },
                _ => None,
            });
            let has_text = comment
                .and_then(|c| c.text.as_deref())
                .is_some_and(|t| !t.trim().is_empty());
            if !has_text {
                out.push(
                    Finding::new(
                        create.name.span,
                        format!(
                            "Table \"{}\" has no comment; add COMMENT ON TABLE {} IS '...' after creating it, saying what the table holds",
                            create.name.display(),
                            create.name.display()
                        ),
                    )
                    .with_code(COMMENT_EMPTY),
                );
            }
        }
        StatementKind::Comment(comment) => {
            let CommentTarget::Table(name) = &comment.target else {
                return;
            };
            let Some(text) = &comment.text else {
                return;
            };
            let max = cx.options.max_length;
            let length = text.chars().count();
            if max <= 0 || i64::try_from(length).unwrap_or(i64::MAX) <= max {
                return;
            }
            out.push(Finding::new(
                comment.text_span,
                format!(
                    "Comment on table \"{}\" is {length} characters long, more than the limit of {max}; shorten it",
                    name.display()
                ),
            ));
        }
        _ => {}
    }
}
