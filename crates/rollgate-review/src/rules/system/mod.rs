//! Rules of this category; one file per rule.

use rollgate_sql::ast::Span;

use crate::rule::{RuleCx, RuleDef};

mod charset_allowlist;
mod collation_allowlist;
mod comment_length;

pub(crate) static RULES: &[&RuleDef] = &[
    &charset_allowlist::RULE,
    &collation_allowlist::RULE,
    &comment_length::RULE,
];

/// Finds `KEYWORD [=] value` inside `within` (ignoring case) and returns
/// the span of the whole clause and the value as written.
fn clause(cx: &RuleCx<'_>, within: Span, keyword: &str) -> Option<(Span, String)> {
    let text = cx.text(within);
    let lower = text.to_ascii_lowercase();
    let keyword = keyword.to_ascii_lowercase();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    let bytes = lower.as_bytes();
    let start = lower
        .match_indices(&keyword)
        .map(|(at, _)| at)
        .find(|&at| {
            let before = at.checked_sub(1).and_then(|i| bytes.get(i));
            let after = bytes.get(at + keyword.len());
            !before.is_some_and(|&c| is_word(c)) && !after.is_some_and(|&c| is_word(c))
        })?;
    let mut pos = start + keyword.len();
    let skip_space = |pos: &mut usize| {
        while bytes.get(*pos).is_some_and(|c| c.is_ascii_whitespace()) {
            *pos += 1;
        }
    };
    skip_space(&mut pos);
    if bytes.get(pos) == Some(&b'=') {
        pos += 1;
        skip_space(&mut pos);
    }
    let value_start = pos;
    match bytes.get(pos) {
        Some(&quote @ (b'\'' | b'"')) => {
            pos += 1;
            while let Some(&c) = bytes.get(pos) {
                pos += 1;
                if c == quote {
                    if bytes.get(pos) == Some(&quote) {
                        pos += 1;
                    } else {
                        break;
                    }
                }
            }
        }
        _ => {
            while bytes
                .get(pos)
                .is_some_and(|&c| is_word(c) || c == b'.' || c == b'-')
            {
                pos += 1;
            }
        }
    }
    if pos == value_start {
        return None;
    }
    let value = text.get(value_start..pos)?.to_string();
    let span = Span::new(within.start + start as u32, within.start + pos as u32);
    Some((span, value))
}

/// The object name in a possibly qualified, possibly quoted name:
/// `pg_catalog."C"` → `C`, `'en_US'` → `en_US`.
fn last_name(value: &str) -> String {
    let value = value.trim();
    let mut quote = None;
    let mut last_dot = None;
    for (i, c) in value.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => last_dot = Some(i),
            _ => {}
        }
    }
    let last = last_dot.map_or(value, |i| &value[i + 1..]);
    for quote in ['\'', '"'] {
        if last.len() >= 2 && last.starts_with(quote) && last.ends_with(quote) {
            let doubled = format!("{quote}{quote}");
            return last[1..last.len() - 1].replace(&doubled, &quote.to_string());
        }
    }
    last.to_string()
}
