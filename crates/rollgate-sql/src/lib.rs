//! SQL for Rollgate: our own statement model ([`ast`]), the dialect front
//! ends that lower a parser's tree into it ([`postgres`]), and the schema
//! [`catalog`] that statements are replayed into.
//!
//! This crate is pure: no I/O, no async, and no panic on any input. Parsing
//! never fails; it returns statements plus syntax errors.

pub mod ast;
pub mod catalog;
pub mod postgres;
pub mod split;
pub mod text;

pub use ast::{Span, Statement, StatementKind};

/// Which SQL dialect a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Postgres,
}

/// A syntax error found while parsing, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// The result of parsing one file: every statement that could be lowered,
/// plus the syntax errors. A statement that contains a syntax error is still
/// returned when the parser recovered enough of it.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub statements: Vec<Statement>,
    pub errors: Vec<SyntaxError>,
}

/// Parses `text` in the given dialect.
pub fn parse(dialect: Dialect, text: &str) -> ParsedFile {
    match dialect {
        Dialect::Postgres => postgres::parse(text),
    }
}
