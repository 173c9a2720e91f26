//! Shared by the naming rules: expanding template formats such as
//! `^idx_{{table}}_{{column_list}}$` into a regular expression for one
//! object, matching a name against it, and wording the advice.
//!
//! A template token is replaced by the regex-escaped actual name, so
//! `{{table}}` for table `a.b` matches only `a\.b`. A value that cannot be
//! known (an index element that is an expression, a foreign key whose
//! referenced columns are implicit and not in the catalog) matches any
//! non-empty text instead. Unknown tokens are left as written. A format that
//! is not a valid regular expression after expansion is skipped silently:
//! configuration validation reports it.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;
use rollgate_sql::ast::Span;

use crate::rule::{Finding, Options};

/// The value of one template token for the object being checked.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// The actual name, matched literally.
    Name(String),
    /// Not known: matches any non-empty text.
    Unknown,
}

impl Value {
    /// Joins column names with `_`, as `{{column_list}}` expects; `None`
    /// for an element that is not a plain column makes the whole list
    /// partly unknown.
    pub(crate) fn columns<'a>(columns: impl IntoIterator<Item = Option<&'a str>>) -> Value {
        let parts: Vec<Option<&str>> = columns.into_iter().collect();
        if parts.is_empty() || parts.iter().any(Option::is_none) {
            return Value::Unknown;
        }
        Value::Name(parts.into_iter().flatten().collect::<Vec<_>>().join("_"))
    }
}

/// The values of a template's tokens, e.g. `[("table", ..), ("column_list", ..)]`.
pub(crate) type Values<'a> = [(&'a str, Value)];

/// Whether the format uses `{{token}}` templates.
pub(crate) fn is_template(format: &str) -> bool {
    format.contains("{{")
}

/// The format with every known token replaced by its regex-escaped value.
pub(crate) fn expand(format: &str, values: &Values<'_>) -> String {
    let mut pattern = format.to_string();
    for (token, value) in values {
        let replacement = match value {
            Value::Name(name) => regex::escape(name),
            Value::Unknown => ".+".to_string(),
        };
        pattern = pattern.replace(&format!("{{{{{token}}}}}"), &replacement);
    }
    pattern
}

/// The one name an anchored, otherwise literal template format accepts, e.g.
/// `idx_users_email` for `^idx_{{table}}_{{column_list}}$`; `None` when the
/// format has regex syntax outside its tokens or a token is unknown.
pub(crate) fn expected_name(format: &str, values: &Values<'_>) -> Option<String> {
    let body = format.strip_prefix('^')?.strip_suffix('$')?;
    let mut name = String::new();
    let mut rest = body;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            let end = after.find("}}")?;
            let token = &after[..end];
            let (_, value) = values.iter().find(|(t, _)| *t == token)?;
            match value {
                Value::Name(value) => name.push_str(value),
                Value::Unknown => return None,
            }
            rest = &after[end + 2..];
        } else {
            let c = rest.chars().next()?;
            if !(c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            name.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(name)
}

/// Whether `text` matches `pattern`; `None` for an invalid pattern.
/// Compiled patterns are cached per thread and used in place: a cloned
/// `Regex` would build its matching cache anew on every call.
pub(crate) fn is_match(pattern: &str, text: &str) -> Option<bool> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            // Template patterns differ per object; keep the cache bounded.
            if cache.len() > 4096 {
                cache.clear();
            }
            cache.insert(pattern.to_string(), Regex::new(pattern).ok());
        }
        cache
            .get(pattern)
            .and_then(|compiled| compiled.as_ref())
            .map(|regex| regex.is_match(text))
    })
}

/// The object whose name is checked, for the advice text.
pub(crate) struct Named<'a> {
    /// `Table`, `Column`, `Index`, `Unique key`, `Foreign key`, `Primary key`.
    pub kind: &'a str,
    pub name: &'a str,
    /// `of table "t"`, `on table "t"`, or empty for a table itself.
    pub owner: String,
    pub span: Span,
    /// The name was not written: PostgreSQL generates it.
    pub generated: bool,
}

/// Checks one name against the rule's `format` (expanded with `values`)
/// and `max_length`.
pub(crate) fn check_name(
    options: &Options,
    object: &Named<'_>,
    values: &Values<'_>,
    out: &mut Vec<Finding>,
) {
    if object.name.is_empty() {
        return;
    }
    let format = options.format.as_str();
    let subject = || {
        if object.generated {
            format!(
                "{} {} has no name, so PostgreSQL names it \"{}\", which",
                object.kind, object.owner, object.name
            )
        } else {
            let owner = if object.owner.is_empty() {
                String::new()
            } else {
                format!(" {}", object.owner)
            };
            format!("{} \"{}\"{owner}", object.kind, object.name)
        }
    };
    if !format.is_empty() {
        // A template that expands to a plain name needs no regex.
        let expected = if is_template(format) {
            expected_name(format, values)
        } else {
            None
        };
        let pattern = if expected.is_some() {
            String::new()
        } else {
            expand(format, values)
        };
        let matches = match &expected {
            Some(expected) => Some(object.name == expected),
            None => is_match(&pattern, object.name),
        };
        if matches == Some(false) {
            let pattern = if pattern.is_empty() {
                expand(format, values)
            } else {
                pattern
            };
            let subject = subject();
            let fix = match (is_template(format), expected_name(format, values)) {
                (true, Some(expected)) if object.generated => format!("name it \"{expected}\""),
                (true, Some(expected)) => format!("rename it to \"{expected}\""),
                (true, None) => format!("use a name matching \"{pattern}\""),
                (false, _) if object.generated => "name it explicitly".to_string(),
                (false, _) => "rename it".to_string(),
            };
            out.push(Finding::new(
                object.span,
                format!("{subject} does not match the naming convention \"{format}\"; {fix}"),
            ));
        }
    }
    let length = object.name.chars().count();
    if options.max_length > 0 && length as i64 > options.max_length {
        let subject = subject();
        out.push(Finding::new(
            object.span,
            format!(
                "{subject} is {length} characters long, over the {} the naming convention allows; use a shorter name",
                options.max_length
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(table: &str, columns: Value) -> Vec<(&'static str, Value)> {
        vec![
            ("table", Value::Name(table.into())),
            ("column_list", columns),
        ]
    }

    #[test]
    fn templates_expand_to_escaped_names() {
        let v = values("a.b", Value::Name("x_y".into()));
        assert_eq!(
            expand("^idx_{{table}}_{{column_list}}$", &v),
            "^idx_a\\.b_x_y$"
        );
        assert_eq!(
            expected_name("^idx_{{table}}_{{column_list}}$", &v).as_deref(),
            Some("idx_a.b_x_y")
        );
        assert_eq!(expected_name("^idx_.*$", &v), None);
        let unknown = values("t", Value::Unknown);
        assert_eq!(
            expand("^uk_{{table}}_{{column_list}}$", &unknown),
            "^uk_t_.+$"
        );
        assert_eq!(
            expected_name("^uk_{{table}}_{{column_list}}$", &unknown),
            None
        );
        assert!(is_match("(unclosed", "x").is_none());
        assert_eq!(
            Value::columns([Some("a"), Some("b")]).clone_name(),
            Some("a_b".into())
        );
        assert!(matches!(Value::columns([Some("a"), None]), Value::Unknown));
    }

    impl Value {
        fn clone_name(&self) -> Option<String> {
            match self {
                Value::Name(n) => Some(n.clone()),
                Value::Unknown => None,
            }
        }
    }
}
