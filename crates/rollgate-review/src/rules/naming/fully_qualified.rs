//! `NAMING_FULLY_QUALIFIED`: object names are schema-qualified.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, CommentTarget, InsertSource, ObjectName, Select,
    StatementKind, TableConstraintKind,
};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "NAMING_FULLY_QUALIFIED",
    legacy_name: Some("naming.fully-qualified"),
    code: 310,
    category: Category::Naming,
    title: "Fully qualified object name",
    description: "Flags a table, view, sequence, index, type, function or domain named without \
        its schema: the object a statement creates, alters or drops, the tables it references \
        (REFERENCES, INHERITS, PARTITION OF, CREATE INDEX ... ON, triggers, comments), and the \
        tables of INSERT, UPDATE, DELETE, TRUNCATE and SELECT ... FROM. An unqualified name \
        resolves through search_path, so the same migration can hit a different schema on \
        another connection or database. Write `schema.name`. Names that cannot be qualified are \
        not flagged: temporary tables, the new name of RENAME, CREATE INDEX's own name, and \
        common table expressions (WITH x AS ...).",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let mut names: Vec<(&str, &ObjectName)> = Vec::new();
    // `COMMENT ON COLUMN`'s table, corrected (see `commented_table`).
    let mut commented: Option<ObjectName> = None;
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            if !create.temporary {
                names.push(("Table", &create.name));
            }
            for column in &create.columns {
                for constraint in &column.constraints {
                    if let ColumnConstraintKind::References(target) = &constraint.kind {
                        names.push(("Table", &target.table));
                    }
                }
            }
            for constraint in &create.constraints {
                if let TableConstraintKind::ForeignKey { target, .. } = &constraint.kind {
                    names.push(("Table", &target.table));
                }
            }
            names.extend(create.inherits.iter().map(|n| ("Table", n)));
            names.extend(create.partition_of.iter().map(|n| ("Table", n)));
        }
        StatementKind::AlterTable(alter) => {
            names.push(("Table", &alter.name));
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        for constraint in &column.constraints {
                            if let ColumnConstraintKind::References(target) = &constraint.kind {
                                names.push(("Table", &target.table));
                            }
                        }
                    }
                    AlterTableActionKind::AddConstraint(constraint) => {
                        if let TableConstraintKind::ForeignKey { target, .. } = &constraint.kind {
                            names.push(("Table", &target.table));
                        }
                    }
                    AlterTableActionKind::AttachPartition { partition }
                    | AlterTableActionKind::DetachPartition { partition, .. } => {
                        names.push(("Table", partition))
                    }
                    _ => {}
                }
            }
        }
        StatementKind::DropTable(drop) => names.extend(drop.names.iter().map(|n| ("Table", n))),
        StatementKind::CreateIndex(create) => names.push(("Table", &create.table)),
        StatementKind::DropIndex(drop) => names.extend(drop.names.iter().map(|n| ("Index", n))),
        StatementKind::Truncate(truncate) => {
            names.extend(truncate.tables.iter().map(|n| ("Table", n)))
        }
        StatementKind::Insert(insert) => {
            names.push(("Table", &insert.table));
            if let InsertSource::Query(select) = &insert.source {
                from_names(select, &mut names);
            }
        }
        StatementKind::Update(update) => names.push(("Table", &update.table)),
        StatementKind::Delete(delete) => names.push(("Table", &delete.table)),
        StatementKind::Select(select) => from_names(select, &mut names),
        StatementKind::CreateEnum { name, .. } => names.push(("Type", name)),
        StatementKind::AlterEnumAddValue(add) => names.push(("Type", &add.name)),
        StatementKind::CreateView(view) => {
            names.push(("View", &view.name));
            if let Some(select) = &view.query {
                from_names(select, &mut names);
            }
        }
        StatementKind::DropView(drop) => names.extend(drop.names.iter().map(|n| ("View", n))),
        StatementKind::CreateSequence { name, .. } => names.push(("Sequence", name)),
        StatementKind::DropSequence(drop) => {
            names.extend(drop.names.iter().map(|n| ("Sequence", n)))
        }
        StatementKind::CreateFunction { name, .. } => names.push(("Function", name)),
        StatementKind::CreateTrigger {
            table: Some(table), ..
        } => names.push(("Table", table)),
        StatementKind::CreateDomain { name, .. }
        | StatementKind::AlterDomainAddConstraint { name, .. } => names.push(("Domain", name)),
        StatementKind::Comment(comment) => match &comment.target {
            CommentTarget::Table(table) => names.push(("Table", table)),
            CommentTarget::Column { table, .. } => {
                commented = Some(super::super::column::comment::commented_table(cx, table));
            }
            CommentTarget::Other { .. } => {}
        },
        StatementKind::RefreshMaterializedView { name, .. } => {
            names.push(("Materialized view", name))
        }
        _ => {}
    }
    if let Some(table) = &commented {
        names.push(("Table", table));
    }
    let ctes = cte_names(cx.text(cx.statement.span));
    let mut seen = Vec::new();
    for (kind, name) in names {
        if name.schema.is_some() || name.name.is_empty() || ctes.contains(&name.name) {
            continue;
        }
        // One advice per written name.
        if seen.contains(&name.span) {
            continue;
        }
        seen.push(name.span);
        out.push(Finding::new(
            name.span,
            format!(
                "{kind} \"{}\" is not schema-qualified, so it resolves through search_path; write it with its schema, e.g. \"public.{}\"",
                name.name, name.name
            ),
        ));
    }
}

/// The relations of a SELECT's FROM clauses, set-operation arms included.
fn from_names<'a>(select: &'a Select, names: &mut Vec<(&'static str, &'a ObjectName)>) {
    names.extend(select.from.iter().map(|n| ("Relation", n)));
    for arm in &select.arms {
        from_names(arm, names);
    }
}

/// Names defined by `WITH name [(cols)] AS [NOT] [MATERIALIZED] (` in the
/// statement text: the statement model does not keep common table
/// expressions, and FROM lists them like tables.
fn cte_names(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("with") {
        return Vec::new();
    }
    static CTE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)(?:\bwith\s+(?:recursive\s+)?|,\s*)("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\s*(?:\([^()]*\)\s*)?as\s+(?:not\s+)?(?:materialized\s+)?\("#,
        )
        .expect("the CTE pattern is valid")
    });
    let regex = &*CTE;
    regex
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| {
            let name = m.as_str();
            match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => name.to_lowercase(),
            }
        })
        .collect()
}
