//! `STATEMENT_CREATE_SPECIFY_SCHEMA`: created objects name their schema.

use rollgate_sql::ast::{ObjectName, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_CREATE_SPECIFY_SCHEMA",
    legacy_name: Some("statement.create-specify-schema"),
    code: 216,
    category: Category::Statement,
    title: "Prohibit creating objects without specifying the schema",
    description: "Flags CREATE TABLE, VIEW, MATERIALIZED VIEW, SEQUENCE, TYPE ... AS ENUM, DOMAIN \
        and FUNCTION with an unqualified name, CREATE INDEX and CREATE TRIGGER on an unqualified \
        table (their own names cannot be qualified), and CREATE EXTENSION without a SCHEMA clause. \
        An unqualified name lands in the first schema of the session's search_path, which differs \
        between roles, tools and environments. Write the schema, e.g. `public.orders`. Temporary \
        tables are not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) if !create.temporary => {
            flag("Table", &create.name, out);
        }
        StatementKind::CreateView(view) => {
            let what = if view.materialized {
                "Materialized view"
            } else {
                "View"
            };
            flag(what, &view.name, out);
        }
        StatementKind::CreateSequence { name, .. } => flag("Sequence", name, out),
        StatementKind::CreateEnum { name, .. } => flag("Type", name, out),
        StatementKind::CreateDomain { name, .. } => flag("Domain", name, out),
        StatementKind::CreateFunction { name, .. } => flag("Function", name, out),
        StatementKind::CreateIndex(create) => {
            let index = create
                .name
                .as_ref()
                .map_or_else(String::new, |n| format!(" \"{}\"", n.name));
            flag_table(&format!("Index{index}"), &create.table, out);
        }
        StatementKind::CreateTrigger {
            name,
            table: Some(table),
        } => flag_table(&format!("Trigger \"{}\"", name.name), table, out),
        StatementKind::Other(other) if other.keyword.starts_with("CREATE EXTENSION") => {
            let text = cx.text(cx.statement.span).to_lowercase();
            let has_schema = text
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "schema");
            if !has_schema {
                out.push(Finding::new(
                    cx.statement.span,
                    "Extension is created without a SCHEMA clause, so its objects land in the \
                     first schema of search_path; add `SCHEMA public` (or the intended schema)",
                ));
            }
        }
        _ => {}
    }
}

fn flag(what: &str, name: &ObjectName, out: &mut Vec<Finding>) {
    if name.schema.is_some() || name.name.is_empty() {
        return;
    }
    out.push(Finding::new(
        name.span,
        format!(
            "{what} \"{}\" is created without a schema, so it lands in the first schema of \
             search_path; write it qualified, e.g. \"public.{}\"",
            name.name, name.name
        ),
    ));
}

/// An index or trigger, whose own name cannot be qualified, on an
/// unqualified table.
fn flag_table(what: &str, table: &ObjectName, out: &mut Vec<Finding>) {
    if table.schema.is_some() || table.name.is_empty() {
        return;
    }
    out.push(Finding::new(
        table.span,
        format!(
            "{what} is created on table \"{}\" without a schema, so the table is looked up \
             through search_path; write it qualified, e.g. \"public.{}\"",
            table.name, table.name
        ),
    ));
}
