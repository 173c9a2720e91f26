//! `STATEMENT_DISALLOW_ADD_COLUMN_WITH_DEFAULT`: no `ADD COLUMN ... DEFAULT`
//! on an existing table.

use rollgate_sql::ast::{AlterTableActionKind, ColumnDef, Expr, ExprKind, StatementKind};

use super::created_in_file;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_DISALLOW_ADD_COLUMN_WITH_DEFAULT",
    legacy_name: Some("statement.disallow-add-column-with-default"),
    code: 210,
    category: Category::Statement,
    title: "Restrict adding columns with default values to a table",
    description: "Flags ALTER TABLE ... ADD COLUMN with a DEFAULT (or a serial type, whose default \
        is nextval()) on a table that existed before this file. A volatile default (random(), \
        gen_random_uuid(), clock_timestamp(), nextval()) makes PostgreSQL rewrite every row under \
        an ACCESS EXCLUSIVE lock, blocking reads and writes; before PostgreSQL 11 any default did. \
        Add the column without a default, then SET DEFAULT for new rows and backfill existing rows \
        in batches. Tables created earlier in the same file are not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

const SERIAL: &[&str] = &[
    "serial",
    "serial4",
    "bigserial",
    "serial8",
    "smallserial",
    "serial2",
];

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if created_in_file(cx, &alter.name) {
        return;
    }
    let table = alter.name.display();
    for action in &alter.actions {
        if let AlterTableActionKind::AddColumn { column, .. } = &action.kind {
            flag(column, &table, out);
        }
    }
}

fn flag(column: &ColumnDef, table: &str, out: &mut Vec<Finding>) {
    let name = &column.name.name;
    let serial = column
        .data_type
        .as_ref()
        .filter(|t| !t.array && SERIAL.contains(&t.name.as_str()));
    let message = if let Some(data_type) = serial {
        format!(
            "Column \"{name}\" is added to table \"{table}\" as {}, whose default nextval() is \
             volatile: PostgreSQL rewrites every row under an ACCESS EXCLUSIVE lock, blocking \
             reads and writes until it finishes; add a plain integer column, attach a sequence \
             with SET DEFAULT and backfill existing rows in batches",
            data_type.name
        )
    } else if let Some(default) = column.default() {
        if is_volatile(default) {
            format!(
                "Column \"{name}\" is added to table \"{table}\" with a volatile DEFAULT: \
                 PostgreSQL rewrites every row under an ACCESS EXCLUSIVE lock, blocking reads \
                 and writes until it finishes; add the column without a default, then SET \
                 DEFAULT and backfill existing rows in batches"
            )
        } else {
            format!(
                "Column \"{name}\" is added to table \"{table}\" with a DEFAULT, which fills \
                 every existing row (before PostgreSQL 11 by rewriting the table under an ACCESS \
                 EXCLUSIVE lock); add the column without a default, then SET DEFAULT and backfill \
                 existing rows in batches"
            )
        }
    } else {
        return;
    };
    out.push(Finding::new(column.span, message));
}

fn is_volatile(expr: &Expr) -> bool {
    let mut volatile = false;
    expr.walk(&mut |e| {
        if let ExprKind::Call { name, .. } = &e.kind {
            volatile |= crate::rules::common::is_volatile_function(name);
        }
    });
    volatile
}
