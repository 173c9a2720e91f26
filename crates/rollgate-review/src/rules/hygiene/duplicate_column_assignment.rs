//! `STATEMENT_DUPLICATE_COLUMN_ASSIGNMENT`: a column named twice where
//! PostgreSQL allows it once.

use rollgate_sql::ast::{AlterTableActionKind, Ident, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DUPLICATE_COLUMN_ASSIGNMENT",
    legacy_name: None,
    code: 3109,
    category: Category::Safety,
    title: "Disallow naming the same column twice in one statement",
    description: "Flags a column that appears twice where PostgreSQL allows it once: two columns \
        of the same name in CREATE TABLE (or two ADD COLUMNs in one ALTER TABLE), `UPDATE ... SET \
        a = 1, a = 2`, a repeated column in an INSERT column list, and a repeated name in a \
        CREATE VIEW column list (squawk's ban-duplicate-column-assignments). PostgreSQL rejects \
        each of these when the migration runs. Assigning different fields or array elements of \
        one column (`SET a.x = 1, a.y = 2`) is allowed and not flagged. Remove the duplicate.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let columns: Vec<&Ident> = create.columns.iter().map(|c| &c.name).collect();
            report(
                &columns,
                |name| {
                    format!(
                        "Column \"{name}\" is defined twice in CREATE TABLE \"{}\"; PostgreSQL \
                         rejects it (column \"{name}\" specified more than once). Remove or \
                         rename one of them",
                        create.name.display()
                    )
                },
                out,
            );
        }
        StatementKind::AlterTable(alter) => {
            let columns: Vec<&Ident> = alter
                .actions
                .iter()
                .filter_map(|a| match &a.kind {
                    AlterTableActionKind::AddColumn { column, .. } => Some(&column.name),
                    _ => None,
                })
                .collect();
            report(
                &columns,
                |name| {
                    format!(
                        "Column \"{name}\" is added twice to table \"{}\" in one ALTER TABLE; \
                         PostgreSQL rejects it (column \"{name}\" already exists). Remove one \
                         ADD COLUMN",
                        alter.name.display()
                    )
                },
                out,
            );
        }
        StatementKind::Update(update) => {
            let columns: Vec<&Ident> = update
                .assignments
                .iter()
                .filter(|a| a.column.span.end <= a.value.span.start && !is_part(cx, &a.column))
                .map(|a| &a.column)
                .collect();
            report(
                &columns,
                |name| {
                    format!(
                        "Column \"{name}\" of table \"{}\" is assigned twice in this UPDATE; \
                         PostgreSQL rejects it (multiple assignments to same column \"{name}\"). \
                         Keep one assignment",
                        update.table.display()
                    )
                },
                out,
            );
        }
        StatementKind::Insert(insert) => {
            let columns: Vec<&Ident> = insert.columns.iter().filter(|c| !is_part(cx, c)).collect();
            report(
                &columns,
                |name| {
                    format!(
                        "Column \"{name}\" appears twice in the column list of this INSERT into \
                         \"{}\"; PostgreSQL rejects it (column \"{name}\" specified more than \
                         once). List each column once",
                        insert.table.display()
                    )
                },
                out,
            );
        }
        StatementKind::CreateView(view) => {
            let columns: Vec<&Ident> = view.columns.iter().collect();
            report(
                &columns,
                |name| {
                    format!(
                        "Column name \"{name}\" appears twice in the column list of view \"{}\"; \
                         PostgreSQL rejects it (column \"{name}\" specified more than once). \
                         Give each column a distinct name",
                        view.name.display()
                    )
                },
                out,
            );
        }
        _ => {}
    }
}

/// Reports every repetition of a name, at the repeated occurrence.
fn report(columns: &[&Ident], message: impl Fn(&str) -> String, out: &mut Vec<Finding>) {
    for (i, column) in columns.iter().enumerate() {
        if column.name.is_empty() {
            continue;
        }
        if columns[..i].iter().any(|c| c.name == column.name) {
            out.push(Finding::new(column.span, message(&column.name)));
        }
    }
}

/// `a.x` or `a[1]`: a field or element of the column, not the whole column.
fn is_part(cx: &RuleCx<'_>, column: &Ident) -> bool {
    cx.file
        .text
        .get(column.span.end as usize..)
        .and_then(|rest| rest.trim_start().chars().next())
        .is_some_and(|c| c == '.' || c == '[')
}
