//! `TABLE_REQUIRE_PK`: every table has a primary key.

use rollgate_sql::ast::{
    AlterTableActionKind, CreateTable, ObjectName, StatementKind, TableConstraintKind,
};
use rollgate_sql::catalog::key;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_REQUIRE_PK",
    legacy_name: Some("table.require-pk"),
    code: 601,
    category: Category::Table,
    title: "Enforce inclusion of primary key in a table",
    description: "Flags a CREATE TABLE without a primary key, and an ALTER TABLE that removes a \
        table's primary key (DROP CONSTRAINT of the key, or DROP COLUMN of a key column) without \
        adding a new one. Without a primary key rows cannot be addressed reliably, logical \
        replication cannot replicate UPDATE and DELETE, and duplicates creep in. Declare a \
        PRIMARY KEY. Not flagged: a key added by a later ALTER TABLE in the same file, partitions \
        (PARTITION OF: they inherit the parent's key), temporary tables, and CREATE TABLE ... \
        (LIKE ... INCLUDING INDEXES/ALL); CREATE TABLE AS is flagged unless a key is added later.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            if create.temporary
                || create.partition_of.is_some()
                || has_primary_key(create)
                || (create.as_query && copies_indexes(cx.text(cx.statement.span)))
                || key_added_later(cx, &create.name)
            {
                return;
            }
            let name = create.name.display();
            let fix = if create.as_query {
                format!("add one with ALTER TABLE {name} ADD PRIMARY KEY (...) in the same file")
            } else {
                "declare a PRIMARY KEY (e.g. id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY)"
                    .to_string()
            };
            out.push(Finding::new(
                create.name.span,
                format!(
                    "Table \"{name}\" has no primary key; {fix} so rows can be identified and replicated"
                ),
            ));
        }
        StatementKind::AlterTable(alter) => {
            let Some(pk) = cx
                .catalog
                .table(&alter.name)
                .and_then(|t| t.primary_key.as_ref())
            else {
                return;
            };
            let adds_key = alter.actions.iter().any(|a| adds_primary_key(&a.kind));
            if adds_key || key_added_later(cx, &alter.name) {
                return;
            }
            for action in &alter.actions {
                let how = match &action.kind {
                    AlterTableActionKind::DropConstraint { name, .. }
                        if pk.name.as_deref() == Some(name.name.as_str()) =>
                    {
                        format!("dropping constraint \"{}\"", name.name)
                    }
                    AlterTableActionKind::DropColumn { name, .. }
                        if pk.columns.contains(&name.name) =>
                    {
                        format!("dropping key column \"{}\"", name.name)
                    }
                    _ => continue,
                };
                out.push(Finding::new(
                    action.span,
                    format!(
                        "Table \"{}\" loses its primary key by {how}; add a new PRIMARY KEY in the same migration",
                        alter.name.display()
                    ),
                ));
            }
        }
        _ => {}
    }
}

fn has_primary_key(create: &CreateTable) -> bool {
    create.columns.iter().any(|c| c.is_primary_key())
        || create
            .constraints
            .iter()
            .any(|c| matches!(c.kind, TableConstraintKind::PrimaryKey { .. }))
}

fn adds_primary_key(action: &AlterTableActionKind) -> bool {
    match action {
        AlterTableActionKind::AddConstraint(constraint) => {
            matches!(constraint.kind, TableConstraintKind::PrimaryKey { .. })
        }
        AlterTableActionKind::AddColumn { column, .. } => column.is_primary_key(),
        _ => false,
    }
}

/// A later statement of the file adds a primary key to `table`.
fn key_added_later(cx: &RuleCx<'_>, table: &ObjectName) -> bool {
    let wanted = key(table);
    cx.following().iter().any(|s| match &s.kind {
        StatementKind::AlterTable(alter) => {
            key(&alter.name) == wanted && alter.actions.iter().any(|a| adds_primary_key(&a.kind))
        }
        _ => false,
    })
}

/// `CREATE TABLE t (LIKE s INCLUDING INDEXES)` / `INCLUDING ALL` copies the
/// source's primary key. The statement model does not keep the LIKE
/// options, so read them from the text.
fn copies_indexes(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_uppercase())
        .collect();
    words
        .windows(2)
        .any(|w| w[0] == "INCLUDING" && (w[1] == "ALL" || w[1] == "INDEXES"))
        && words.iter().any(|w| w == "LIKE")
}
