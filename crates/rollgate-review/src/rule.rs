//! What a rule is: its stable identity, defaults, payload schema and check
//! function, and the context a check sees.

use rollgate_sql::ast::{Span, Statement};
use rollgate_sql::catalog::Catalog;

use crate::advice::Level;

/// The groups of Bytebase's catalog, plus our lock-safety group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Table,
    Statement,
    Naming,
    Column,
    Schema,
    Index,
    System,
    Builtin,
    /// Lock and runtime safety (what squawk checks).
    Safety,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Table => "TABLE",
            Category::Statement => "STATEMENT",
            Category::Naming => "NAMING",
            Category::Column => "COLUMN",
            Category::Schema => "SCHEMA",
            Category::Index => "INDEX",
            Category::System => "SYSTEM",
            Category::Builtin => "BUILTIN",
            Category::Safety => "SAFETY",
        }
    }
}

/// The level of a rule in each shipped template; `None` means the template
/// does not enable it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLevels {
    pub sample: Option<Level>,
    pub basic: Option<Level>,
    pub advanced: Option<Level>,
}

/// Shorthands for rule tables: `levels(None, W, E)`.
pub const E: Option<Level> = Some(Level::Error);
pub const W: Option<Level> = Some(Level::Warning);
pub const OFF: Option<Level> = None;

pub const fn levels(
    sample: Option<Level>,
    basic: Option<Level>,
    advanced: Option<Level>,
) -> TemplateLevels {
    TemplateLevels {
        sample,
        basic,
        advanced,
    }
}

/// A rule's payload defaults. A key that is `None` is not accepted by the
/// rule: configuring it is an error that lists the keys the rule takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayloadDefaults {
    pub format: Option<&'static str>,
    pub max_length: Option<i64>,
    pub number: Option<i64>,
    pub list: Option<&'static [&'static str]>,
    pub required: Option<bool>,
    pub value: Option<&'static str>,
}

impl PayloadDefaults {
    pub const NONE: PayloadDefaults = PayloadDefaults {
        format: None,
        max_length: None,
        number: None,
        list: None,
        required: None,
        value: None,
    };

    /// The payload keys this rule accepts, in documentation order.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.format.is_some() {
            keys.push("format");
        }
        if self.max_length.is_some() {
            keys.push("max_length");
        }
        if self.number.is_some() {
            keys.push("number");
        }
        if self.list.is_some() {
            keys.push("list");
        }
        if self.required.is_some() {
            keys.push("required");
        }
        if self.value.is_some() {
            keys.push("value");
        }
        keys
    }
}

/// The effective payload of an enabled rule: defaults overlaid with the
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    pub format: String,
    pub max_length: i64,
    pub number: i64,
    pub list: Vec<String>,
    pub required: bool,
    pub value: String,
}

impl Options {
    pub fn from_defaults(defaults: &PayloadDefaults) -> Options {
        Options {
            format: defaults.format.unwrap_or_default().to_string(),
            max_length: defaults.max_length.unwrap_or_default(),
            number: defaults.number.unwrap_or_default(),
            list: defaults
                .list
                .unwrap_or_default()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            required: defaults.required.unwrap_or_default(),
            value: defaults.value.unwrap_or_default().to_string(),
        }
    }
}

/// One rule. Rules are statics registered in `crate::rules`.
pub struct RuleDef {
    /// Stable enum-style name, e.g. `COLUMN_NO_NULL`.
    pub name: &'static str,
    /// Bytebase's dotted name before 3.13, e.g. `column.no-null`; accepted
    /// in configuration.
    pub legacy_name: Option<&'static str>,
    pub code: u32,
    pub category: Category,
    /// One line, as shown in the rule list.
    pub title: &'static str,
    /// What the rule flags, why, and how to fix it; shown by
    /// `rollgate rules NAME`.
    pub description: &'static str,
    pub levels: TemplateLevels,
    pub payload: PayloadDefaults,
    pub check: fn(&RuleCx<'_>, &mut Vec<Finding>),
}

impl std::fmt::Debug for RuleDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleDef")
            .field("name", &self.name)
            .field("code", &self.code)
            .finish()
    }
}

/// One violation found by a rule. Level, title and rule name are added by
/// the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The offending node: a column definition, a clause, a constraint.
    pub span: Span,
    /// Names the object, says what is wrong and how to fix it.
    pub message: String,
    /// Overrides the rule's code, for rules that report several kinds of
    /// problem under one name (e.g. backward compatibility).
    pub code: Option<u32>,
}

impl Finding {
    pub fn new(span: Span, message: impl Into<String>) -> Finding {
        Finding {
            span,
            message: message.into(),
            code: None,
        }
    }

    pub fn with_code(mut self, code: u32) -> Finding {
        self.code = Some(code);
        self
    }
}

/// Facts about the file under review that several rules need.
#[derive(Debug, Clone)]
pub struct FileCx<'a> {
    pub path: &'a str,
    pub text: &'a str,
    /// `DML` files are data changes; `DDL` schema changes.
    pub is_dml: bool,
    /// The file carries `-- rollgate:no-transaction`: it runs statement by
    /// statement, outside a transaction.
    pub no_transaction: bool,
    pub statements: &'a [Statement],
}

/// What a check sees for one statement.
#[derive(Debug, Clone, Copy)]
pub struct RuleCx<'a> {
    pub file: &'a FileCx<'a>,
    /// Index of `statement` in `file.statements`.
    pub index: usize,
    pub statement: &'a Statement,
    /// The schema as it is just before this statement runs.
    pub catalog: &'a Catalog,
    pub options: &'a Options,
    pub state: &'a FileState,
}

impl<'a> RuleCx<'a> {
    /// The statements before this one in the same file.
    pub fn previous(&self) -> &'a [Statement] {
        &self.file.statements[..self.index]
    }

    /// The statements after this one in the same file.
    pub fn following(&self) -> &'a [Statement] {
        &self.file.statements[self.index + 1..]
    }

    /// The source text of a span.
    pub fn text(&self, span: Span) -> &'a str {
        span.slice(self.file.text)
    }
}

/// State accumulated over the statements of a file before the current one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileState {
    /// A `SET lock_timeout` to a non-zero value ran earlier in the file.
    pub lock_timeout_set: bool,
    /// A `SET statement_timeout` to a non-zero value ran earlier.
    pub statement_timeout_set: bool,
    /// An explicit `BEGIN` is open.
    pub in_explicit_transaction: bool,
    /// The statement runs inside a transaction: an explicit one, or the one
    /// the migrator wraps each file in (unless `no-transaction`).
    pub in_transaction: bool,
}
