//! `STATEMENT_REQUIRE_STATEMENT_TIMEOUT`: a statement that scans or rewrites
//! an existing table needs an earlier `SET statement_timeout`.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ColumnDef, Expr, ExprKind, Generated, Span,
    StatementKind, TableConstraintKind,
};

use super::objects::{Cursor, quoted, table_predates_file, tokens, view_predates_file};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_REQUIRE_STATEMENT_TIMEOUT",
    legacy_name: None,
    code: 3102,
    category: Category::Safety,
    title: "Require \"SET statement_timeout\" before slow statements",
    description: "Flags a statement whose run time grows with the size of a table that existed \
        before the file, when no `SET statement_timeout` runs earlier in the file (squawk's \
        require-statement-timeout): table rewrites (ALTER COLUMN ... TYPE, ADD COLUMN with a \
        volatile default, identity or stored generated column, SET TABLESPACE/LOGGED/UNLOGGED, \
        VACUUM FULL, CLUSTER), full scans (SET NOT NULL, ADD CONSTRAINT without NOT VALID, \
        VALIDATE CONSTRAINT), index builds (CREATE INDEX, ADD PRIMARY KEY/UNIQUE, REINDEX), \
        REFRESH MATERIALIZED VIEW, and UPDATE or DELETE without WHERE. Most of these hold a lock \
        that blocks reads or writes for as long as they run, so an unexpectedly large table \
        means an outage with nothing to stop it. Set `statement_timeout` first, sized for the \
        table, so the statement fails instead of running unbounded; note that a CREATE INDEX \
        CONCURRENTLY stopped by the timeout leaves an INVALID index to drop before retrying.",
    levels: levels(OFF, OFF, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if cx.state.statement_timeout_set {
        return;
    }
    let Some((span, what)) = slow_operation(cx) else {
        return;
    };
    out.push(Finding::new(
        span,
        format!(
            "{what}. No `SET statement_timeout` runs earlier in this file, so on a large table it \
             runs as long as it takes, holding its locks all the while; add `SET \
             statement_timeout = '...';` before it, sized for the table, so it fails instead of \
             running unbounded"
        ),
    ));
}

/// The first part of the statement whose run time grows with table size.
fn slow_operation(cx: &RuleCx<'_>) -> Option<(Span, String)> {
    let statement = cx.statement;
    match &statement.kind {
        StatementKind::AlterTable(alter) => {
            let table = quoted(&alter.name);
            let existing = table_predates_file(cx, &alter.name);
            for action in &alter.actions {
                let what = match &action.kind {
                    _ if !existing => match &action.kind {
                        AlterTableActionKind::AttachPartition { partition }
                            if table_predates_file(cx, partition) =>
                        {
                            attach(partition)
                        }
                        _ => None,
                    },
                    AlterTableActionKind::AlterColumnType { column, .. } => Some(format!(
                        "ALTER COLUMN \"{}\" TYPE rewrites table {table} and rebuilds its indexes \
                         under an ACCESS EXCLUSIVE lock (unless the new type is binary-compatible)",
                        column.name
                    )),
                    AlterTableActionKind::AddColumn { column, .. } => add_column(column, &table),
                    AlterTableActionKind::SetNotNull { column } => Some(format!(
                        "SET NOT NULL on column \"{}\" scans all of table {table} for NULLs under \
                         an ACCESS EXCLUSIVE lock",
                        column.name
                    )),
                    AlterTableActionKind::AddConstraint(constraint) if !constraint.not_valid => {
                        match &constraint.kind {
                            TableConstraintKind::Check { .. } => Some(format!(
                                "ADD CONSTRAINT ... CHECK scans all of table {table} to validate \
                                 it under an ACCESS EXCLUSIVE lock (add it NOT VALID, then VALIDATE \
                                 CONSTRAINT)"
                            )),
                            TableConstraintKind::ForeignKey { target, .. } => Some(format!(
                                "ADD CONSTRAINT ... FOREIGN KEY scans all of table {table} to \
                                 validate it, holding SHARE ROW EXCLUSIVE locks on {table} and {} \
                                 (add it NOT VALID, then VALIDATE CONSTRAINT)",
                                quoted(&target.table)
                            )),
                            TableConstraintKind::PrimaryKey {
                                using_index: None, ..
                            }
                            | TableConstraintKind::Unique {
                                using_index: None, ..
                            }
                            | TableConstraintKind::Exclude => Some(format!(
                                "ADD CONSTRAINT builds an index over all of table {table} under an \
                                 ACCESS EXCLUSIVE lock (build a unique index CONCURRENTLY first, \
                                 then add the constraint USING INDEX)"
                            )),
                            _ => None,
                        }
                    }
                    AlterTableActionKind::ValidateConstraint { name } => Some(format!(
                        "VALIDATE CONSTRAINT \"{}\" scans all of table {table} (reads and writes \
                         proceed meanwhile)",
                        name.name
                    )),
                    AlterTableActionKind::AttachPartition { partition } => attach(partition),
                    AlterTableActionKind::Other { keyword }
                        if matches!(
                            keyword.as_str(),
                            "SET TABLESPACE" | "SET LOGGED" | "SET UNLOGGED" | "SET ACCESS METHOD"
                        ) =>
                    {
                        Some(format!(
                            "{keyword} rewrites table {table} under an ACCESS EXCLUSIVE lock"
                        ))
                    }
                    _ => None,
                };
                if let Some(what) = what {
                    return Some((action.span, what));
                }
            }
            None
        }
        StatementKind::CreateIndex(create) if table_predates_file(cx, &create.table) => {
            let lock = if create.concurrently {
                ""
            } else {
                ", holding a SHARE lock that blocks writes"
            };
            Some((
                create.table.span,
                format!(
                    "CREATE INDEX reads every row of table {} to build the index{lock}",
                    quoted(&create.table)
                ),
            ))
        }
        StatementKind::Update(update)
            if update.where_clause.is_none() && table_predates_file(cx, &update.table) =>
        {
            Some((
                update.table.span,
                format!(
                    "UPDATE without WHERE rewrites every row of table {}",
                    quoted(&update.table)
                ),
            ))
        }
        StatementKind::Delete(delete)
            if delete.where_clause.is_none() && table_predates_file(cx, &delete.table) =>
        {
            Some((
                delete.table.span,
                format!(
                    "DELETE without WHERE deletes every row of table {} one by one",
                    quoted(&delete.table)
                ),
            ))
        }
        StatementKind::RefreshMaterializedView { name, .. } if view_predates_file(cx, name) => {
            Some((
                name.span,
                format!(
                    "REFRESH MATERIALIZED VIEW {} reruns its whole query",
                    quoted(name)
                ),
            ))
        }
        StatementKind::Reindex { target_span, .. } => Some((
            *target_span,
            format!(
                "REINDEX {} rebuilds its indexes from every row of the table",
                cx.text(*target_span).trim()
            ),
        )),
        StatementKind::Vacuum { full: true } => maintenance(cx, "VACUUM FULL"),
        StatementKind::Cluster => maintenance(cx, "CLUSTER"),
        _ => None,
    }
}

fn attach(partition: &rollgate_sql::ast::ObjectName) -> Option<String> {
    Some(format!(
        "ATTACH PARTITION scans all of {} to check its rows against the partition bound (unless a \
         validated CHECK constraint already proves it)",
        quoted(partition)
    ))
}

/// `ADD COLUMN` that rewrites, scans or indexes the table.
fn add_column(column: &ColumnDef, table: &str) -> Option<String> {
    let name = &column.name.name;
    let serial = column.data_type.as_ref().is_some_and(|t| {
        matches!(
            t.name.as_str(),
            "serial" | "serial2" | "serial4" | "serial8" | "smallserial" | "bigserial"
        )
    });
    let rewrite = |why: &str| {
        Some(format!(
            "ADD COLUMN \"{name}\" {why}, so it rewrites every row of table {table} under an \
             ACCESS EXCLUSIVE lock"
        ))
    };
    if serial {
        return rewrite("is serial (its default calls nextval())");
    }
    match column.generated() {
        Some(Generated::Identity) => return rewrite("is an identity column"),
        Some(Generated::Stored(_)) => return rewrite("is a stored generated column"),
        None => {}
    }
    if let Some(default) = column.default()
        && is_volatile(default)
    {
        return rewrite("has a volatile default");
    }
    for constraint in &column.constraints {
        let what = match &constraint.kind {
            ColumnConstraintKind::PrimaryKey | ColumnConstraintKind::Unique => {
                "builds an index over all of table"
            }
            ColumnConstraintKind::Check { .. } => "scans all of table",
            ColumnConstraintKind::References(_) => "scans all of table",
            _ => continue,
        };
        return Some(format!(
            "ADD COLUMN \"{name}\" with a {} constraint {what} {table} under an ACCESS EXCLUSIVE \
             lock",
            match constraint.kind {
                ColumnConstraintKind::PrimaryKey => "PRIMARY KEY",
                ColumnConstraintKind::Unique => "UNIQUE",
                ColumnConstraintKind::Check { .. } => "CHECK",
                _ => "REFERENCES",
            }
        ));
    }
    None
}

/// A default that PostgreSQL must evaluate for each row: a sub-query or a
/// call to a function not known to be stable or immutable (functions are
/// volatile unless declared otherwise).
fn is_volatile(expr: &Expr) -> bool {
    const NON_VOLATILE: &[&str] = &[
        "now",
        "current_timestamp",
        "current_date",
        "current_time",
        "localtime",
        "localtimestamp",
        "transaction_timestamp",
        "statement_timestamp",
        "current_user",
        "session_user",
        "current_schema",
        "current_setting",
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "lower",
        "upper",
        "trim",
        "concat",
        "length",
        "abs",
        "to_char",
        "to_date",
        "to_timestamp",
        "make_date",
        "make_interval",
        "array",
        "json_build_object",
        "jsonb_build_object",
        "json_build_array",
        "jsonb_build_array",
        "to_json",
        "to_jsonb",
    ];
    let mut volatile = false;
    expr.walk(&mut |e| match &e.kind {
        ExprKind::Call { name, .. } if !NON_VOLATILE.contains(&name.as_str()) => volatile = true,
        ExprKind::Subquery(_) => volatile = true,
        _ => {}
    });
    volatile
}

/// `VACUUM FULL` / `CLUSTER` on named tables that existed before the file,
/// or on every table when none is named.
fn maintenance(cx: &RuleCx<'_>, statement: &str) -> Option<(Span, String)> {
    let tokens = tokens(cx, cx.statement);
    let mut cursor = Cursor::new(&tokens);
    cursor.bump();
    loop {
        if cursor.skip_parens() {
            continue;
        }
        match cursor.peek_word() {
            Some("full" | "freeze" | "verbose" | "analyze" | "analyse") => {
                cursor.bump();
            }
            _ => break,
        }
    }
    let mut named = false;
    while let Some(name) = cursor.name() {
        named = true;
        if table_predates_file(cx, &name) {
            return Some((
                name.span,
                format!(
                    "{statement} rewrites all of table {} under an ACCESS EXCLUSIVE lock",
                    quoted(&name)
                ),
            ));
        }
        cursor.skip_parens();
        if statement == "CLUSTER" || !cursor.eat_punct(",") {
            break;
        }
    }
    (!named).then(|| {
        (
            cx.statement.span,
            format!("{statement} without a table rewrites every table it processes under ACCESS EXCLUSIVE locks"),
        )
    })
}
