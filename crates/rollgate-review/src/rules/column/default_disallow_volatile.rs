//! `COLUMN_DEFAULT_DISALLOW_VOLATILE`: no volatile DEFAULT when adding a
//! column to an existing table.

use rollgate_sql::ast::{AlterTableActionKind, Expr, ExprKind, StatementKind};

use super::require_default::SERIAL_TYPES;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_DEFAULT_DISALLOW_VOLATILE",
    legacy_name: Some("column.default-disallow-volatile"),
    code: 420,
    category: Category::Column,
    title: "Disallow setting volatile default value on columns",
    description: "Flags ALTER TABLE ... ADD COLUMN whose DEFAULT calls a volatile function \
        (random(), gen_random_uuid(), uuid_generate_v4(), clock_timestamp(), nextval(), \
        timeofday(), txid_current(), ...) or whose serial type implies nextval(). PostgreSQL must \
        then compute a value per existing row, rewriting the whole table under an ACCESS \
        EXCLUSIVE lock that blocks reads and writes until it finishes; a constant or stable \
        default such as now() or current_timestamp is stored once and costs nothing. Add the \
        column without the default (or with a constant), backfill in batches, then SET DEFAULT. \
        CREATE TABLE and tables created earlier in the same file are not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::AlterTable(alter) = &cx.statement.kind else {
        return;
    };
    if cx
        .catalog
        .table(&alter.name)
        .is_some_and(|t| t.created_in_file)
    {
        return;
    }
    let table = alter.name.display();
    for action in &alter.actions {
        let AlterTableActionKind::AddColumn { column, .. } = &action.kind else {
            continue;
        };
        let lock = "so PostgreSQL rewrites the whole table to fill existing rows, holding an ACCESS EXCLUSIVE lock that blocks reads and writes until it finishes";
        if let Some(default) = column.default() {
            if let Some(function) = volatile_call(default) {
                out.push(Finding::new(
                    default.span,
                    format!(
                        "Column \"{}\" added to table \"{table}\" has a volatile DEFAULT calling {function}(), {lock}; add the column without it (or with a constant), backfill in batches, then SET DEFAULT",
                        column.name.name
                    ),
                ));
            }
        } else if let Some(data_type) = column
            .data_type
            .as_ref()
            .filter(|t| !t.array && SERIAL_TYPES.contains(&t.name.as_str()))
        {
            out.push(Finding::new(
                data_type.span,
                format!(
                    "Column \"{}\" added to table \"{table}\" is {}, whose implicit DEFAULT nextval() is volatile, {lock}; add a plain integer column, backfill it in batches, then attach a sequence default",
                    column.name.name,
                    data_type.text.trim()
                ),
            ));
        }
    }
}

/// The first volatile function the expression calls.
fn volatile_call(expr: &Expr) -> Option<&str> {
    let mut found = None;
    expr.walk(&mut |e| {
        if found.is_none()
            && let ExprKind::Call { name, .. } = &e.kind
            && crate::rules::common::is_volatile_function(name)
        {
            found = Some(name.as_str());
        }
    });
    found
}
