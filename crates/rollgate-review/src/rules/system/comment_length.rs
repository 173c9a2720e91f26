//! `SYSTEM_COMMENT_LENGTH`: comments are at most `number` characters.

use rollgate_sql::ast::{CommentTarget, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "SYSTEM_COMMENT_LENGTH",
    legacy_name: Some("system.comment-length"),
    code: 1301,
    category: Category::System,
    title: "Restrict the length of comments",
    description: "Flags COMMENT ON ... IS '...' whose text is longer than `number` characters \
        (default 64; 0 disables the check), on any kind of object. Comments are shown in schema \
        tools and generated documentation, where long ones are cut off; keep the comment short \
        and move longer explanations to the documentation.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        number: Some(64),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let limit = cx.options.number;
    if limit <= 0 {
        return;
    }
    let StatementKind::Comment(comment) = &cx.statement.kind else {
        return;
    };
    let Some(text) = &comment.text else {
        return;
    };
    let length = text.chars().count();
    if length as i64 <= limit {
        return;
    }
    let target = match &comment.target {
        CommentTarget::Table(name) => format!("table \"{}\"", name.display()),
        CommentTarget::Column { table, column } => {
            format!(
                "column \"{}\" of table \"{}\"",
                column.name,
                table.display()
            )
        }
        CommentTarget::Other { keyword } if !keyword.is_empty() => {
            format!("this {}", keyword.to_lowercase())
        }
        CommentTarget::Other { .. } => "the object".to_string(),
    };
    out.push(Finding::new(
        comment.text_span,
        format!(
            "The comment on {target} is {length} characters long, more than the limit of \
             {limit}; shorten it"
        ),
    ));
}
