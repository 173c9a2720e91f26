//! `TABLE_DROP_NAMING_CONVENTION`: only tables renamed for deletion may be
//! dropped.

use regex::Regex;
use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_DROP_NAMING_CONVENTION",
    legacy_name: Some("table.drop-naming-convention"),
    code: 603,
    category: Category::Table,
    title: "Restrict the naming format of tables to be deleted",
    description: "Flags a DROP TABLE of a table whose name does not match the regular expression \
        `format` (default `_del$`). Dropping a table in use loses its data for good; the \
        convention makes a drop a two-step change: first rename the table (e.g. to `orders_del`) \
        and watch that nothing breaks, then drop it in a later migration. Tables created earlier \
        in the same file are exempt.",
    levels: levels(E, E, E),
    payload: PayloadDefaults {
        format: Some("_del$"),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::DropTable(drop) = &cx.statement.kind else {
        return;
    };
    // An invalid pattern is reported by configuration validation.
    let Ok(format) = Regex::new(&cx.options.format) else {
        return;
    };
    for name in &drop.names {
        if format.is_match(&name.name) || cx.catalog.table(name).is_some_and(|t| t.created_in_file)
        {
            continue;
        }
        // Suggest a concrete name only for the default suffix convention.
        let example = if cx.options.format == "_del$" {
            format!(
                " (e.g. ALTER TABLE {} RENAME TO {}_del)",
                name.display(),
                name.name
            )
        } else {
            String::new()
        };
        out.push(Finding::new(
            name.span,
            format!(
                "Table \"{}\" is dropped but its name does not match \"{}\"; rename it to a matching name in an earlier migration{example}, then drop it once nothing uses it",
                name.display(),
                cx.options.format,
            ),
        ));
    }
}
