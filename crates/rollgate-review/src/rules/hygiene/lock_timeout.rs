//! `STATEMENT_REQUIRE_LOCK_TIMEOUT`: a statement that takes a lock blocking
//! reads or writes on an existing table needs an earlier `SET lock_timeout`.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, ObjectName, Span, StatementKind,
    TableConstraintKind,
};
use rollgate_sql::catalog::key;

use super::locks::{Lock, alter_action_lock};
use super::objects::{
    Cursor, index_table, quoted, table_predates_file, tokens, type_created_in_file,
    view_predates_file,
};
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_REQUIRE_LOCK_TIMEOUT",
    legacy_name: None,
    code: 3101,
    category: Category::Safety,
    title: "Require \"SET lock_timeout\" before statements that take blocking locks",
    description: "Flags a statement that takes a lock blocking reads or writes on a table that \
        existed before the file (ALTER TABLE, CREATE INDEX without CONCURRENTLY, DROP INDEX/TABLE, \
        TRUNCATE, CREATE TRIGGER, REINDEX, VACUUM FULL, CLUSTER, REFRESH MATERIALIZED VIEW, LOCK, \
        ALTER TYPE, foreign keys to existing tables) when no `SET lock_timeout` runs earlier in \
        the file (squawk's require-lock-timeout). Such a statement waits for as long as any \
        other transaction holds a conflicting lock, and while it waits every later query on the \
        table queues behind it, so one slow query turns into an outage; set `lock_timeout` first \
        (e.g. `SET lock_timeout = '5s';`) and retry on timeout. `rollgate migrate` already sets \
        lock_timeout itself before each DDL statement (5s by default, `-- rollgate:lock-timeout` \
        to change it), so this rule matters for files run by other tools (psql, another \
        migrator).",
    levels: levels(OFF, OFF, W),
    payload: PayloadDefaults::NONE,
    check,
};

/// One lock the statement takes on an existing object.
struct LockUse {
    statement: String,
    lock: Lock,
    /// `table "users"`.
    object: String,
    /// What waits for the lock while it is held.
    blocks: String,
    /// Who queues behind the statement while it waits.
    queue: String,
    /// Who may hold a conflicting lock.
    holders: &'static str,
    span: Span,
}

impl LockUse {
    fn on_table(statement: &str, lock: Lock, table: &ObjectName, span: Span) -> LockUse {
        LockUse::on(statement, lock, format!("table {}", quoted(table)), span)
    }

    fn on(statement: &str, lock: Lock, object: String, span: Span) -> LockUse {
        let queue = if lock == Lock::AccessExclusive {
            format!("every later query on {object}, plain SELECTs included, queues behind it")
        } else {
            format!("every later write to {object} queues behind it")
        };
        LockUse {
            statement: statement.to_string(),
            lock,
            blocks: lock.blocks().to_string(),
            object,
            queue,
            holders: "a long query, an open transaction",
            span,
        }
    }
}

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if cx.state.lock_timeout_set {
        return;
    }
    let Some(found) = strongest_lock(cx) else {
        return;
    };
    out.push(Finding::new(
        found.span,
        format!(
            "{} takes {} on {} until its transaction ends, blocking {}. With no `SET \
             lock_timeout` earlier in this file, it first waits as long as any other session \
             holds a conflicting lock ({}), and while it waits {}. \
             Add `SET lock_timeout = '5s';` before it and retry when it times out",
            found.statement,
            found.lock.with_article(),
            found.object,
            found.blocks,
            found.holders,
            found.queue,
        ),
    ));
}

/// The strongest traffic-blocking lock the statement takes on an object
/// that existed before this file.
fn strongest_lock(cx: &RuleCx<'_>) -> Option<LockUse> {
    let mut uses = Vec::new();
    collect(cx, &mut uses);
    let mut best: Option<LockUse> = None;
    for candidate in uses {
        if !candidate.lock.blocks_traffic() && candidate.statement != TYPE_STATEMENT {
            continue;
        }
        if best.as_ref().is_none_or(|b| candidate.lock > b.lock) {
            best = Some(candidate);
        }
    }
    best
}

fn collect(cx: &RuleCx<'_>, uses: &mut Vec<LockUse>) {
    let statement = cx.statement;
    match &statement.kind {
        StatementKind::CreateTable(create) => {
            let own = key(&create.name);
            let mut reference = |table: &ObjectName, span: Span| {
                if key(table) != own && table_predates_file(cx, table) {
                    uses.push(LockUse::on_table(
                        "CREATE TABLE with a foreign key",
                        Lock::ShareRowExclusive,
                        table,
                        span,
                    ));
                }
            };
            for column in &create.columns {
                for constraint in &column.constraints {
                    if let ColumnConstraintKind::References(target) = &constraint.kind {
                        reference(&target.table, constraint.span);
                    }
                }
            }
            for constraint in &create.constraints {
                if let TableConstraintKind::ForeignKey { target, .. } = &constraint.kind {
                    reference(&target.table, constraint.span);
                }
            }
            if let Some(parent) = &create.partition_of
                && table_predates_file(cx, parent)
            {
                uses.push(LockUse::on_table(
                    "CREATE TABLE ... PARTITION OF",
                    Lock::AccessExclusive,
                    parent,
                    parent.span,
                ));
            }
        }
        StatementKind::AlterTable(alter) => {
            let own = key(&alter.name);
            let existing = table_predates_file(cx, &alter.name);
            for action in &alter.actions {
                let mut referenced = Vec::new();
                match &action.kind {
                    // NOT VALID shortens the lock but does not avoid it.
                    AlterTableActionKind::AddConstraint(constraint) => {
                        if let TableConstraintKind::ForeignKey { target, .. } = &constraint.kind {
                            referenced.push(&target.table);
                        }
                    }
                    AlterTableActionKind::AddColumn { column, .. } => {
                        for constraint in &column.constraints {
                            if let ColumnConstraintKind::References(target) = &constraint.kind {
                                referenced.push(&target.table);
                            }
                        }
                    }
                    AlterTableActionKind::AttachPartition { partition }
                    | AlterTableActionKind::DetachPartition { partition, .. }
                        if table_predates_file(cx, partition) =>
                    {
                        uses.push(LockUse::on_table(
                            "ALTER TABLE",
                            Lock::AccessExclusive,
                            partition,
                            action.span,
                        ));
                    }
                    _ => {}
                }
                let referenced: Vec<String> = referenced
                    .into_iter()
                    .filter(|t| key(t) != own && table_predates_file(cx, t))
                    .map(|t| format!("table {}", quoted(t)))
                    .collect();
                let own_lock = alter_action_lock(&action.kind);
                if existing {
                    let mut objects = vec![format!("table {}", quoted(&alter.name))];
                    // The referenced table gets SHARE ROW EXCLUSIVE too.
                    if own_lock == Lock::ShareRowExclusive {
                        objects.extend(referenced.iter().cloned());
                    }
                    uses.push(LockUse::on(
                        "ALTER TABLE",
                        own_lock,
                        objects.join(" and "),
                        action.span,
                    ));
                }
                for table in referenced {
                    uses.push(LockUse::on(
                        "ALTER TABLE adding a foreign key",
                        Lock::ShareRowExclusive,
                        table,
                        action.span,
                    ));
                }
            }
        }
        StatementKind::CreateIndex(create)
            if !create.concurrently && table_predates_file(cx, &create.table) =>
        {
            uses.push(LockUse::on_table(
                "CREATE INDEX without CONCURRENTLY",
                Lock::Share,
                &create.table,
                create.table.span,
            ));
        }
        StatementKind::DropIndex(drop) => {
            if drop.concurrently {
                return;
            }
            for name in &drop.names {
                let (owner, existing) = index_table(cx, name);
                if existing {
                    let object = match owner {
                        Some(table) => format!("table \"{table}\""),
                        None => "its table".to_string(),
                    };
                    uses.push(LockUse::on(
                        &format!("DROP INDEX {} without CONCURRENTLY", quoted(name)),
                        Lock::AccessExclusive,
                        object,
                        name.span,
                    ));
                }
            }
        }
        StatementKind::DropTable(drop) => {
            for name in &drop.names {
                if table_predates_file(cx, name) {
                    uses.push(LockUse::on_table(
                        "DROP TABLE",
                        Lock::AccessExclusive,
                        name,
                        name.span,
                    ));
                }
            }
        }
        StatementKind::DropView(drop) => {
            for name in &drop.names {
                if view_predates_file(cx, name) {
                    uses.push(LockUse::on(
                        "DROP VIEW",
                        Lock::AccessExclusive,
                        format!("view {}", quoted(name)),
                        name.span,
                    ));
                }
            }
        }
        StatementKind::CreateView(view) => {
            let replaces = view.or_replace
                && cx
                    .catalog
                    .views
                    .get(&key(&view.name))
                    .is_some_and(|v| !v.created_in_file);
            if replaces {
                uses.push(LockUse::on(
                    "CREATE OR REPLACE VIEW",
                    Lock::AccessExclusive,
                    format!("view {}", quoted(&view.name)),
                    view.name.span,
                ));
            }
        }
        StatementKind::Truncate(truncate) => {
            for name in &truncate.tables {
                if table_predates_file(cx, name) {
                    uses.push(LockUse::on_table(
                        "TRUNCATE",
                        Lock::AccessExclusive,
                        name,
                        name.span,
                    ));
                }
            }
        }
        StatementKind::CreateTrigger { table, .. } => {
            // The statement model may miss the table; read it after `ON`.
            let table = table.clone().or_else(|| {
                let tokens = tokens(cx, statement);
                let mut cursor = Cursor::new(&tokens);
                while cursor.bump().is_some() {
                    if cursor.eat_word("on") {
                        return cursor.name();
                    }
                }
                None
            });
            if let Some(table) = table
                && table_predates_file(cx, &table)
            {
                uses.push(LockUse::on_table(
                    "CREATE TRIGGER",
                    Lock::ShareRowExclusive,
                    &table,
                    table.span,
                ));
            }
        }
        StatementKind::RefreshMaterializedView { name, concurrently }
            if !concurrently && view_predates_file(cx, name) =>
        {
            uses.push(LockUse::on(
                "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
                Lock::AccessExclusive,
                format!("materialized view {}", quoted(name)),
                name.span,
            ));
        }
        StatementKind::AlterEnumAddValue(add) if !type_created_in_file(cx, &add.name) => {
            uses.push(type_lock(Lock::Exclusive, &add.name, add.name.span));
        }
        StatementKind::Other(other) if other.keyword.starts_with("ALTER TYPE") => {
            let tokens = tokens(cx, statement);
            let mut cursor = Cursor::new(&tokens);
            if cursor.eat_word("alter")
                && cursor.eat_word("type")
                && let Some(name) = cursor.name()
                && !type_created_in_file(cx, &name)
            {
                // Enum label changes lock the type EXCLUSIVE; the rest of
                // ALTER TYPE takes ACCESS EXCLUSIVE on it.
                let lock = if cursor.peek_word() == Some("rename") && {
                    let rest = cursor.rest();
                    rest.get(1).is_some_and(|t| t.text == "value")
                } {
                    Lock::Exclusive
                } else {
                    Lock::AccessExclusive
                };
                uses.push(type_lock(lock, &name, name.span));
            }
        }
        StatementKind::Reindex {
            concurrently: false,
            ..
        } => reindex(cx, uses),
        StatementKind::Vacuum { full: true } => {
            maintenance(cx, "VACUUM FULL", "every table in the database", uses)
        }
        StatementKind::Cluster => maintenance(cx, "CLUSTER", "every table clustered before", uses),
        StatementKind::Other(other) if other.keyword.starts_with("LOCK") => lock_table(cx, uses),
        _ => {}
    }
}

const TYPE_STATEMENT: &str = "ALTER TYPE";

fn type_lock(lock: Lock, name: &ObjectName, span: Span) -> LockUse {
    let object = format!("type {}", quoted(name));
    LockUse {
        statement: TYPE_STATEMENT.to_string(),
        lock,
        blocks: format!("other statements that change or lock {object}"),
        queue: format!("every later statement that needs a lock on {object} queues behind it"),
        holders: "another transaction changing the type",
        object,
        span,
    }
}

/// `REINDEX [ (options) ] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } name`.
fn reindex(cx: &RuleCx<'_>, uses: &mut Vec<LockUse>) {
    let statement = cx.statement;
    let tokens = tokens(cx, statement);
    let mut cursor = Cursor::new(&tokens);
    cursor.eat_word("reindex");
    cursor.skip_parens();
    let kind = cursor.peek_word().unwrap_or("").to_string();
    cursor.bump();
    cursor.eat_word("concurrently");
    let name = cursor.name();
    let span = name.as_ref().map_or(statement.span, |n| n.span);
    let use_ = match (kind.as_str(), name) {
        ("index", Some(index)) => {
            let (owner, existing) = index_table(cx, &index);
            if !existing {
                return;
            }
            let table = owner.map_or_else(|| "its table".to_string(), |t| format!("table \"{t}\""));
            LockUse {
                statement: "REINDEX without CONCURRENTLY".to_string(),
                lock: Lock::AccessExclusive,
                object: format!("index {}", quoted(&index)),
                blocks: format!(
                    "writes to {table} (SHARE lock) and every query that would use the index"
                ),
                queue: format!("every later write to {table} queues behind it"),
                holders: "a long query, an open transaction",
                span,
            }
        }
        ("table", Some(table)) => {
            if !table_predates_file(cx, &table) {
                return;
            }
            let mut use_ =
                LockUse::on_table("REINDEX without CONCURRENTLY", Lock::Share, &table, span);
            use_.blocks = "writes, and queries that use one of its indexes while that index is \
                rebuilt under an ACCESS EXCLUSIVE lock"
                .into();
            use_
        }
        (_, name) => {
            let object = match name {
                Some(name) => format!("every table in {kind} {}", quoted(&name)),
                None => "every table in the database".to_string(),
            };
            let mut use_ = LockUse::on("REINDEX without CONCURRENTLY", Lock::Share, object, span);
            use_.blocks = "writes to each table while its indexes are rebuilt".into();
            use_
        }
    };
    uses.push(use_);
}

/// `VACUUM FULL [tables]` and `CLUSTER [table]`: ACCESS EXCLUSIVE on each
/// table processed, or on every table when none is named.
fn maintenance(
    cx: &RuleCx<'_>,
    statement: &'static str,
    everything: &str,
    uses: &mut Vec<LockUse>,
) {
    let tokens = tokens(cx, cx.statement);
    let mut cursor = Cursor::new(&tokens);
    cursor.bump(); // VACUUM or CLUSTER
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
            uses.push(LockUse::on_table(
                statement,
                Lock::AccessExclusive,
                &name,
                name.span,
            ));
        }
        cursor.skip_parens();
        if statement == "CLUSTER" || !cursor.eat_punct(",") {
            break;
        }
    }
    if !named {
        uses.push(LockUse::on(
            statement,
            Lock::AccessExclusive,
            everything.to_string(),
            cx.statement.span,
        ));
    }
}

/// `LOCK [TABLE] [ONLY] name [*] [, ...] [IN mode MODE] [NOWAIT]`.
fn lock_table(cx: &RuleCx<'_>, uses: &mut Vec<LockUse>) {
    let tokens = tokens(cx, cx.statement);
    if tokens
        .iter()
        .any(|t| t.text == "nowait" && t.kind == super::objects::TokenKind::Word)
    {
        return;
    }
    let mut cursor = Cursor::new(&tokens);
    cursor.eat_word("lock");
    cursor.eat_word("table");
    let mut names = Vec::new();
    loop {
        cursor.eat_word("only");
        if cursor.peek_word() == Some("in") {
            break;
        }
        let Some(name) = cursor.name() else { break };
        names.push(name);
        cursor.eat_punct("*");
        if !cursor.eat_punct(",") {
            break;
        }
    }
    let mut mode = Vec::new();
    if cursor.eat_word("in") {
        while let Some(word) = cursor.peek_word() {
            cursor.bump();
            if word == "mode" {
                break;
            }
            mode.push(word);
        }
    }
    let lock = match mode.join(" ").as_str() {
        "" | "access exclusive" => Lock::AccessExclusive,
        "exclusive" => Lock::Exclusive,
        "share row exclusive" => Lock::ShareRowExclusive,
        "share" => Lock::Share,
        _ => return,
    };
    for name in names {
        if table_predates_file(cx, &name) {
            uses.push(LockUse::on_table("LOCK TABLE", lock, &name, name.span));
        }
    }
}
