//! `SCHEMA_BACKWARD_COMPATIBILITY`: changes that break the application
//! version still running during a deploy, or existing data.

use rollgate_sql::ast::{
    AlterTableActionKind, Ident, ObjectName, StatementKind, TableConstraint, TableConstraintKind,
};
use rollgate_sql::catalog::key;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "SCHEMA_BACKWARD_COMPATIBILITY",
    legacy_name: Some("schema.backward-compatibility"),
    code: 101,
    category: Category::Schema,
    title: "Check application backward compatibility",
    description: "Flags changes that break application code written for the previous schema, which \
        keeps running while a deploy rolls out, or that fail on existing data: DROP DATABASE (101), \
        renaming or moving a table (102), DROP TABLE or VIEW (103), renaming (104) or dropping \
        (105) a column, adding a primary key (106), a unique constraint or unique index (107), a \
        foreign key (108) or a validated CHECK (109), changing a column's type (111) and DROP \
        SCHEMA (112). Ship such changes in steps (expand, migrate the code, then contract). \
        Objects created earlier in the same file, including columns added to an existing table, \
        are exempt; so is an object the complete schema history does not know.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

const DROP_DATABASE: u32 = 101;
const RENAME_TABLE: u32 = 102;
const DROP_TABLE: u32 = 103;
const RENAME_COLUMN: u32 = 104;
const DROP_COLUMN: u32 = 105;
const ADD_PRIMARY_KEY: u32 = 106;
const ADD_UNIQUE_KEY: u32 = 107;
const ADD_FOREIGN_KEY: u32 = 108;
const ADD_CHECK: u32 = 109;
const ALTER_COLUMN: u32 = 111;
const DROP_SCHEMA: u32 = 112;

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::DropDatabase { name, .. } => {
            let created_here = cx.previous().iter().any(|s| {
                matches!(&s.kind, StatementKind::CreateDatabase { name: created, .. } if created.name == name.name)
            });
            if !created_here {
                out.push(
                    Finding::new(
                        name.span,
                        format!(
                            "Dropping database \"{}\" breaks every application that connects to \
                             it, and all its data is lost; make sure nothing uses it any more \
                             before dropping it",
                            name.name
                        ),
                    )
                    .with_code(DROP_DATABASE),
                );
            }
        }
        StatementKind::DropSchema(drop) => {
            for name in &drop.names {
                let created_here = cx
                    .catalog
                    .schemas
                    .get(&name.name)
                    .is_some_and(|s| s.created_in_file);
                if !created_here {
                    out.push(
                        Finding::new(
                            name.span,
                            format!(
                                "Dropping schema \"{}\" breaks application code that uses the \
                                 objects in it; move every use away in an earlier release, then \
                                 drop it",
                                name.name
                            ),
                        )
                        .with_code(DROP_SCHEMA),
                    );
                }
            }
        }
        StatementKind::DropTable(drop) => {
            for name in drop.names.iter().filter(|n| table_existed(cx, n)) {
                out.push(
                    Finding::new(
                        name.span,
                        format!(
                            "Dropping table \"{}\" breaks application code that still reads or \
                             writes it, and its data is lost; remove every use from the \
                             application in an earlier release, then drop it",
                            name.display()
                        ),
                    )
                    .with_code(DROP_TABLE),
                );
            }
        }
        StatementKind::DropView(drop) => {
            for name in drop.names.iter().filter(|n| view_existed(cx, n)) {
                out.push(
                    Finding::new(
                        name.span,
                        format!(
                            "Dropping view \"{}\" breaks application code that still queries it; \
                             remove every use from the application in an earlier release, then \
                             drop it",
                            name.display()
                        ),
                    )
                    .with_code(DROP_TABLE),
                );
            }
        }
        StatementKind::CreateIndex(create) if create.unique && table_existed(cx, &create.table) => {
            let index = create
                .name
                .as_ref()
                .map_or_else(String::new, |n| format!(" \"{}\"", n.name));
            let columns: Vec<String> = create
                .columns
                .iter()
                .map(|c| {
                    c.column
                        .clone()
                        .unwrap_or_else(|| cx.text(c.span).to_string())
                })
                .collect();
            out.push(
                Finding::new(
                    create.name.as_ref().map_or(create.table.span, |n| n.span),
                    format!(
                        "Unique index{index} on ({}) of table \"{}\" fails to build if existing \
                         rows contain duplicates, and then rejects writes that the running \
                         application may still make; check the data for duplicates first",
                        columns.join(", "),
                        create.table.display()
                    ),
                )
                .with_code(ADD_UNIQUE_KEY),
            );
        }
        StatementKind::AlterTable(alter) => {
            if !table_existed(cx, &alter.name) {
                return;
            }
            let table = alter.name.display();
            for action in &alter.actions {
                let finding =
                    |code: u32, message: String| Finding::new(action.span, message).with_code(code);
                match &action.kind {
                    AlterTableActionKind::RenameTable { to } => out.push(finding(
                        RENAME_TABLE,
                        format!(
                            "Renaming table \"{table}\" to \"{}\" breaks application code that \
                             still uses the old name while old and new versions run side by \
                             side; keep the old name working (e.g. a view) until no code uses it",
                            to.name
                        ),
                    )),
                    AlterTableActionKind::SetSchema { schema } => out.push(finding(
                        RENAME_TABLE,
                        format!(
                            "Moving table \"{table}\" to schema \"{}\" breaks application code \
                             that refers to it by its current schema; keep the old name working \
                             (e.g. a view) until no code uses it",
                            schema.name
                        ),
                    )),
                    AlterTableActionKind::RenameColumn { from, to }
                        if !column_added_in_file(cx, &alter.name, &from.name) =>
                    {
                        out.push(finding(
                            RENAME_COLUMN,
                            format!(
                                "Renaming column \"{}\" of table \"{table}\" to \"{}\" breaks \
                                 application code that still uses the old name; add the new \
                                 column, copy the data and move the code over before dropping the \
                                 old one",
                                from.name, to.name
                            ),
                        ));
                    }
                    AlterTableActionKind::DropColumn { name, .. }
                        if !column_added_in_file(cx, &alter.name, &name.name) =>
                    {
                        out.push(finding(
                            DROP_COLUMN,
                            format!(
                                "Dropping column \"{}\" of table \"{table}\" breaks application \
                                 code that still reads or writes it, and its data is lost; stop \
                                 using it in the application in an earlier release, then drop it",
                                name.name
                            ),
                        ));
                    }
                    AlterTableActionKind::AlterColumnType {
                        column, data_type, ..
                    } if !column_added_in_file(cx, &alter.name, &column.name) => {
                        let to = data_type
                            .as_ref()
                            .map_or_else(String::new, |t| format!(" to {}", t.text));
                        out.push(finding(
                            ALTER_COLUMN,
                            format!(
                                "Changing the type of column \"{}\" of table \"{table}\"{to} can \
                                 break application code that reads or writes it, and fails if \
                                 existing values do not convert; add a column of the new type, \
                                 backfill it and move the code over instead",
                                column.name
                            ),
                        ));
                    }
                    AlterTableActionKind::AddConstraint(constraint) => {
                        if let Some((code, message)) = constraint_change(&table, constraint) {
                            out.push(Finding::new(constraint.span, message).with_code(code));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn constraint_change(table: &str, constraint: &TableConstraint) -> Option<(u32, String)> {
    let list = |columns: &[Ident]| {
        columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(match &constraint.kind {
        TableConstraintKind::PrimaryKey {
            columns,
            using_index,
        } => {
            let on = match using_index {
                Some(index) => format!("using index \"{}\"", index.name),
                None => format!("on ({})", list(columns)),
            };
            (
                ADD_PRIMARY_KEY,
                format!(
                    "Adding a primary key {on} to table \"{table}\" fails if existing rows hold \
                     duplicates or NULLs, and then rejects such writes from the running \
                     application; check the data first"
                ),
            )
        }
        TableConstraintKind::Unique {
            columns,
            using_index: None,
        } => (
            ADD_UNIQUE_KEY,
            format!(
                "Adding a unique constraint on ({}) to table \"{table}\" fails if existing rows \
                 contain duplicates, and then rejects such writes from the running application; \
                 check the data for duplicates first",
                list(columns)
            ),
        ),
        TableConstraintKind::ForeignKey { columns, target } => (
            ADD_FOREIGN_KEY,
            format!(
                "Adding a foreign key on ({}) of table \"{table}\" referencing \"{}\" rejects \
                 writes without a matching row that the running application may still make, and \
                 fails if existing rows have none; check the data and the code first",
                list(columns),
                target.table.display()
            ),
        ),
        TableConstraintKind::Check { .. } if !constraint.not_valid => (
            ADD_CHECK,
            format!(
                "Adding a CHECK constraint to table \"{table}\" fails if existing rows violate \
                 it, and then rejects such writes from the running application; add it NOT \
                 VALID, fix the data, then VALIDATE CONSTRAINT"
            ),
        ),
        _ => return None,
    })
}

/// The table existed before this file: it is known and not created here,
/// or unknown to a catalog that does not hold the whole schema.
fn table_existed(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    if name.name.is_empty() {
        return false;
    }
    match cx.catalog.table(name) {
        Some(table) => !table.created_in_file,
        None => !cx.catalog.complete,
    }
}

fn view_existed(cx: &RuleCx<'_>, name: &ObjectName) -> bool {
    if name.name.is_empty() {
        return false;
    }
    match cx.catalog.views.get(&key(name)) {
        Some(view) => !view.created_in_file,
        None => !cx.catalog.complete,
    }
}

/// The column was added to the table earlier in this file (under this name
/// or renamed to it since).
fn column_added_in_file(cx: &RuleCx<'_>, table: &ObjectName, column: &str) -> bool {
    let table = key(table);
    let mut added: Vec<&str> = Vec::new();
    for statement in cx.previous() {
        let StatementKind::AlterTable(alter) = &statement.kind else {
            continue;
        };
        if key(&alter.name) != table {
            continue;
        }
        for action in &alter.actions {
            match &action.kind {
                AlterTableActionKind::AddColumn { column, .. } => added.push(&column.name.name),
                AlterTableActionKind::RenameColumn { from, to } => {
                    for name in added.iter_mut().filter(|n| **n == from.name) {
                        *name = &to.name;
                    }
                }
                AlterTableActionKind::DropColumn { name, .. } => {
                    added.retain(|n| *n != name.name);
                }
                _ => {}
            }
        }
    }
    added.contains(&column)
}
