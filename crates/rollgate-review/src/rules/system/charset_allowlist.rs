//! `SYSTEM_CHARSET_ALLOWLIST`: databases use an allowed encoding.

use rollgate_sql::ast::StatementKind;

use super::clause;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "SYSTEM_CHARSET_ALLOWLIST",
    legacy_name: Some("system.charset-allowlist"),
    code: 1001,
    category: Category::System,
    title: "Allowable list of Charset",
    description: "Flags CREATE DATABASE ... ENCODING with an encoding that is not in `list` (empty, \
        the default, allows every encoding). PostgreSQL fixes a database's encoding at creation, \
        so a stray one means a dump and restore later. Names are compared ignoring case, `-` and \
        `_` (`UTF8` = `utf-8`). Use an allowed encoding.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults {
        list: Some(&[]),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if cx.options.list.is_empty() {
        return;
    }
    let StatementKind::CreateDatabase { name, options } = &cx.statement.kind else {
        return;
    };
    for (key, value) in options {
        if key != "ENCODING" || value.is_empty() {
            continue;
        }
        let allowed = cx
            .options
            .list
            .iter()
            .any(|a| normalize(a) == normalize(value));
        if allowed {
            continue;
        }
        let span = clause(cx, cx.statement.span, "encoding").map_or(name.span, |(span, _)| span);
        out.push(Finding::new(
            span,
            format!(
                "Database \"{}\" is created with encoding {value}, which is not in the allowed \
                 list ({}); use one of them",
                name.name,
                cx.options.list.join(", ")
            ),
        ));
    }
}

/// `UTF-8`, `utf8` and `Unicode` name the same encoding.
fn normalize(encoding: &str) -> String {
    let name: String = encoding
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    if name == "unicode" {
        "utf8".to_string()
    } else {
        name
    }
}
