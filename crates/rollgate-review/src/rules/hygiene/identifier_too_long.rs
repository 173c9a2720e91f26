//! `NAMING_IDENTIFIER_TOO_LONG`: PostgreSQL truncates names over 63 bytes.

use rollgate_sql::ast::{AlterTableActionKind, Ident, ObjectName, Span, StatementKind};

use crate::rule::*;

/// `NAMEDATALEN - 1`.
const MAX_BYTES: usize = 63;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_IDENTIFIER_TOO_LONG",
    legacy_name: None,
    code: 3108,
    category: Category::Safety,
    title: "Disallow identifiers longer than 63 bytes",
    description: "Flags a name given to a new object that is longer than 63 bytes: a schema, \
        table, column, constraint, index, view, sequence, type, domain, function, trigger or \
        database, including renames (squawk's identifier-too-long). PostgreSQL silently \
        truncates identifiers to 63 bytes (NAMEDATALEN - 1), so the object gets a different \
        name than the migration says, tools that compare names see a mismatch, and two long \
        names sharing their first 63 bytes collide. The length counts bytes, so non-ASCII \
        names hit it sooner. Shorten the name.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn object<'a>(kind: &'static str, name: &'a ObjectName) -> (&'static str, &'a str, Span) {
    (kind, name.name.as_str(), name.span)
}

fn ident<'a>(kind: &'static str, name: &'a Ident) -> (&'static str, &'a str, Span) {
    (kind, name.name.as_str(), name.span)
}

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let mut names: Vec<(&'static str, &str, Span)> = Vec::new();
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            names.push(object("table", &create.name));
            for column in &create.columns {
                names.push(ident("column", &column.name));
                for constraint in &column.constraints {
                    if let Some(name) = &constraint.name {
                        names.push(ident("constraint", name));
                    }
                }
            }
            for constraint in &create.constraints {
                if let Some(name) = &constraint.name {
                    names.push(ident("constraint", name));
                }
            }
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        names.push(ident("column", &column.name));
                        for constraint in &column.constraints {
                            if let Some(name) = &constraint.name {
                                names.push(ident("constraint", name));
                            }
                        }
                    }
                    AlterTableActionKind::AddConstraint(constraint) => {
                        if let Some(name) = &constraint.name {
                            names.push(ident("constraint", name));
                        }
                    }
                    AlterTableActionKind::RenameColumn { to, .. } => {
                        names.push(ident("column", to))
                    }
                    AlterTableActionKind::RenameConstraint { to, .. } => {
                        names.push(ident("constraint", to))
                    }
                    AlterTableActionKind::RenameTable { to } => names.push(ident("table", to)),
                    _ => {}
                }
            }
        }
        StatementKind::CreateIndex(create) => {
            if let Some(name) = &create.name {
                names.push(object("index", name));
            }
        }
        StatementKind::CreateSchema { name, .. } => names.push(ident("schema", name)),
        StatementKind::CreateDatabase { name, .. } => names.push(ident("database", name)),
        StatementKind::CreateEnum { name, .. } => names.push(object("type", name)),
        StatementKind::CreateView(view) => {
            let kind = if view.materialized {
                "materialized view"
            } else {
                "view"
            };
            names.push(object(kind, &view.name));
            for column in &view.columns {
                names.push(ident("column", column));
            }
        }
        StatementKind::CreateSequence { name, .. } => names.push(object("sequence", name)),
        StatementKind::CreateFunction { name, .. } => names.push(object("function", name)),
        StatementKind::CreateTrigger { name, .. } => names.push(ident("trigger", name)),
        StatementKind::CreateDomain { name, .. } => names.push(object("domain", name)),
        _ => {}
    }
    for (kind, name, span) in names {
        if name.len() <= MAX_BYTES {
            continue;
        }
        let mut cut = MAX_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(Finding::new(
            span,
            format!(
                "The {kind} name \"{name}\" is {} bytes; PostgreSQL silently truncates names to \
                 {MAX_BYTES} bytes, so it would be created as \"{}\". Shorten it to at most \
                 {MAX_BYTES} bytes",
                name.len(),
                &name[..cut],
            ),
        ));
    }
}
