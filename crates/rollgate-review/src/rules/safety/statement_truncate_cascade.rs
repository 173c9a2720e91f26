//! `STATEMENT_TRUNCATE_CASCADE`: `TRUNCATE ... CASCADE` empties tables
//! nobody named.

use std::collections::BTreeSet;

use rollgate_sql::ast::StatementKind;
use rollgate_sql::catalog::key;

use super::common::table_display;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_TRUNCATE_CASCADE",
    legacy_name: None,
    code: 3012,
    category: Category::Safety,
    title: "Prohibit \"CASCADE\" in \"TRUNCATE\" statements",
    description: "Flags TRUNCATE ... CASCADE (squawk: ban-truncate-cascade). CASCADE also empties \
        every table with a foreign key to a truncated table, and the tables referencing those, \
        without naming them, each under an ACCESS EXCLUSIVE lock. List every table to empty in one \
        TRUNCATE without CASCADE. Not flagged when every truncated table, and every table \
        referencing them, was created earlier in the same file.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::Truncate(truncate) = &cx.statement.kind else {
        return;
    };
    if !truncate.cascade {
        return;
    }
    let truncated: BTreeSet<(String, String)> = truncate.tables.iter().map(key).collect();
    let truncated_names: BTreeSet<&str> = truncate.tables.iter().map(|t| t.name.as_str()).collect();
    // Foreign keys record the referenced table by name only.
    let referencing: Vec<_> = cx
        .catalog
        .tables
        .iter()
        .filter(|(table_key, _)| !truncated.contains(*table_key))
        .filter(|(_, table)| {
            table
                .foreign_keys
                .iter()
                .any(|fk| truncated_names.contains(fk.referenced_table.as_str()))
        })
        .map(|(_, table)| table)
        .collect();
    let all_new = truncate
        .tables
        .iter()
        .all(|t| cx.catalog.table(t).is_some_and(|t| t.created_in_file))
        && referencing.iter().all(|t| t.created_in_file);
    if all_new {
        return;
    }
    let names: Vec<String> = truncate
        .tables
        .iter()
        .map(|t| format!("\"{}\"", t.display()))
        .collect();
    let known = if referencing.is_empty() {
        String::new()
    } else {
        let referencing: Vec<String> = referencing
            .iter()
            .map(|t| format!("\"{}\"", table_display(t)))
            .collect();
        format!(" (here: {})", referencing.join(", "))
    };
    out.push(Finding::new(
        truncate.cascade_span.unwrap_or(cx.statement.span),
        format!(
            "TRUNCATE ... CASCADE of {} also empties every table with a foreign key to it{known}, and the \
             tables referencing those, without naming them; list every table to empty in the TRUNCATE and \
             drop CASCADE",
            names.join(", ")
        ),
    ));
}
