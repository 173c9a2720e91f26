//! Shared helpers: whether an object existed before the file under review,
//! and a small tokenizer for statements the statement model keeps only as
//! keywords (`VACUUM`, `CLUSTER`, `LOCK`, `ALTER TYPE`, `REINDEX`).

use rollgate_sql::ast::{ObjectName, Span, Statement, StatementKind};
use rollgate_sql::catalog::key;

use crate::rule::RuleCx;

/// The table existed before this file ran: the catalog knows it and this
/// file did not create it, or the catalog is incomplete and does not know it
/// (so it is taken to exist). A table missing from a complete catalog does
/// not exist, so no lock is taken on it.
pub(super) fn table_predates_file(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    match cx.catalog.table(name) {
        Some(table) => !table.created_in_file,
        None => !cx.catalog.complete,
    }
}

/// Like [`table_predates_file`], for views and materialized views.
pub(super) fn view_predates_file(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    match cx.catalog.views.get(&key(name)) {
        Some(view) => !view.created_in_file,
        None => !cx.catalog.complete,
    }
}

/// The table an index belongs to, and whether that table existed before
/// this file. An index unknown to the catalog belongs to an unknown table,
/// which predates the file unless the catalog is complete.
pub(super) fn index_table(cx: &RuleCx<'_>, index: &ObjectName) -> (Option<String>, bool) {
    match cx.catalog.index_owner(index) {
        Some(table) => (Some(table.name.clone()), !table.created_in_file),
        None => (None, !cx.catalog.complete),
    }
}

/// A type created by an earlier `CREATE TYPE` of this file.
pub(super) fn type_created_in_file(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    cx.previous().iter().any(|s| match &s.kind {
        StatementKind::CreateEnum { name: created, .. } => key(created) == key(name),
        StatementKind::Other(other) if other.keyword.starts_with("CREATE TYPE") => {
            let tokens = tokens(cx, s);
            let mut cursor = Cursor::new(&tokens);
            cursor.eat_word("create")
                && cursor.eat_word("type")
                && cursor
                    .name()
                    .is_some_and(|created| key(&created) == key(name))
        }
        _ => false,
    })
}

/// Display form of an object name for messages.
pub(super) fn quoted(name: &ObjectName) -> String {
    format!("\"{}\"", name.display())
}

// ------------------------------------------------------------- tokenizer

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// An unquoted word, lower-cased.
    Word,
    /// A double-quoted identifier, unquoted.
    Quoted,
    /// A string literal or anything else: punctuation, numbers.
    Other,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub kind: TokenKind,
    pub text: String,
    pub span: Span,
}

/// The tokens of a statement, without whitespace and comments.
pub(super) fn tokens(cx: &RuleCx<'_>, statement: &Statement) -> Vec<Token> {
    tokenize(cx.text(statement.span), statement.span.start)
}

fn tokenize(text: &str, base: u32) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'-' && at(i + 1) == b'-' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == b'/' && at(i + 1) == b'*' {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && at(i + 1) == b'/') {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
            continue;
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < bytes.len() {
                if bytes[i] == c {
                    if at(i + 1) == c {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            kind = if c == b'"' {
                TokenKind::Quoted
            } else {
                TokenKind::Other
            };
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            kind = TokenKind::Word;
        } else {
            i += 1;
            kind = TokenKind::Other;
        }
        let raw = text.get(start..i).unwrap_or("");
        let token_text = match kind {
            TokenKind::Word => raw.to_lowercase(),
            TokenKind::Quoted => raw
                .strip_prefix('"')
                .map(|r| r.strip_suffix('"').unwrap_or(r))
                .unwrap_or(raw)
                .replace("\"\"", "\""),
            TokenKind::Other => raw.to_string(),
        };
        out.push(Token {
            kind,
            text: token_text,
            span: Span::new(base + start as u32, base + i as u32),
        });
    }
    out
}

/// Walks a token list.
pub(super) struct Cursor<'t> {
    tokens: &'t [Token],
    pos: usize,
}

impl<'t> Cursor<'t> {
    pub fn new(tokens: &'t [Token]) -> Cursor<'t> {
        Cursor { tokens, pos: 0 }
    }

    pub fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos)
    }

    pub fn peek_word(&self) -> Option<&'t str> {
        self.peek()
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| t.text.as_str())
    }

    pub fn bump(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.pos);
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    /// Consumes the unquoted word `word` if it is next.
    pub fn eat_word(&mut self, word: &str) -> bool {
        if self.peek_word() == Some(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes the punctuation `text` if it is next.
    pub fn eat_punct(&mut self, text: &str) -> bool {
        if self
            .peek()
            .is_some_and(|t| t.kind == TokenKind::Other && t.text == text)
        {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips a parenthesized group, nested groups included, if one is next.
    pub fn skip_parens(&mut self) -> bool {
        if !self.eat_punct("(") {
            return false;
        }
        let mut depth = 1;
        while let Some(token) = self.bump() {
            if token.kind == TokenKind::Other {
                match token.text.as_str() {
                    "(" => depth += 1,
                    ")" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        true
    }

    /// Reads `name` or `schema.name`.
    pub fn name(&mut self) -> Option<ObjectName> {
        let first = self.ident()?;
        let mut parts = vec![first];
        while self.eat_punct(".") {
            match self.ident() {
                Some(part) => parts.push(part),
                None => break,
            }
        }
        let last = parts.pop()?;
        let schema = parts.pop();
        Some(ObjectName {
            span: schema
                .as_ref()
                .map_or(last.span, |s| s.span.cover(last.span)),
            schema: schema.map(|s| s.text.clone()),
            name: last.text.clone(),
            quoted: last.kind == TokenKind::Quoted,
        })
    }

    fn ident(&mut self) -> Option<&'t Token> {
        let token = self
            .peek()
            .filter(|t| matches!(t.kind, TokenKind::Word | TokenKind::Quoted))?;
        self.pos += 1;
        Some(token)
    }

    /// The remaining tokens.
    pub fn rest(&self) -> &'t [Token] {
        self.tokens.get(self.pos..).unwrap_or(&[])
    }
}
