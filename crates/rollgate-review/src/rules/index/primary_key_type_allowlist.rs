//! `INDEX_PRIMARY_KEY_TYPE_ALLOWLIST`: primary key columns use allowed
//! types.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnDef, Ident, Span, StatementKind, TableConstraintKind,
};
use rollgate_sql::catalog::{Table, type_text};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "INDEX_PRIMARY_KEY_TYPE_ALLOWLIST",
    legacy_name: Some("index.primary-key-type-allowlist"),
    code: 803,
    category: Category::Index,
    title: "Allowable list of primary key types",
    description: "Flags a primary key column whose type is not in `list` (empty, the default, \
        allows every type), in CREATE TABLE and in ALTER TABLE ... ADD COLUMN ... PRIMARY KEY or \
        ADD PRIMARY KEY, taking the column types from the statement or the schema catalog. Keys \
        of a consistent type keep joins and foreign keys cheap and avoid running out of values \
        (e.g. `integer`). Spellings are compared by meaning: `int`, `int4` and `integer` are the \
        same type; modifiers like `(36)` are ignored. Change the column's type to an allowed one.",
    levels: levels(OFF, E, E),
    payload: PayloadDefaults {
        list: Some(&[]),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let allowed: Vec<String> = cx
        .options
        .list
        .iter()
        .map(|t| canonical(t))
        .filter(|t| !t.is_empty())
        .collect();
    if allowed.is_empty() {
        return;
    }
    let flag = |column: &str, table: &str, data_type: &str, span: Span, out: &mut Vec<Finding>| {
        if data_type.is_empty() || allowed.contains(&canonical(data_type)) {
            return;
        }
        out.push(Finding::new(
            span,
            format!(
                "Primary key column \"{column}\" of table \"{table}\" has type {data_type}, which \
                 is not an allowed primary key type ({}); use one of them",
                cx.options.list.join(", ")
            ),
        ));
    };
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for column in create.columns.iter().filter(|c| c.is_primary_key()) {
                flag(
                    &column.name.name,
                    &table,
                    &declared(column),
                    column.span,
                    out,
                );
            }
            for constraint in &create.constraints {
                if let TableConstraintKind::PrimaryKey { columns, .. } = &constraint.kind {
                    for ident in columns {
                        if let Some(column) =
                            create.columns.iter().find(|c| c.name.name == ident.name)
                        {
                            flag(&ident.name, &table, &declared(column), ident.span, out);
                        }
                    }
                }
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            let known = cx.catalog.table(&alter.name);
            let added: Vec<&ColumnDef> = alter
                .actions
                .iter()
                .filter_map(|a| match &a.kind {
                    AlterTableActionKind::AddColumn { column, .. } => Some(column),
                    _ => None,
                })
                .collect();
            for column in added.iter().filter(|c| c.is_primary_key()) {
                flag(
                    &column.name.name,
                    &table,
                    &declared(column),
                    column.span,
                    out,
                );
            }
            for action in &alter.actions {
                let AlterTableActionKind::AddConstraint(constraint) = &action.kind else {
                    continue;
                };
                let TableConstraintKind::PrimaryKey {
                    columns,
                    using_index,
                } = &constraint.kind
                else {
                    continue;
                };
                let keys: Vec<(String, Span)> = match using_index {
                    Some(index) => index_columns(known, index)
                        .into_iter()
                        .map(|c| (c, constraint.span))
                        .collect(),
                    None => columns.iter().map(|c| (c.name.clone(), c.span)).collect(),
                };
                for (name, span) in keys {
                    let data_type = added
                        .iter()
                        .find(|c| c.name.name == name)
                        .map(|c| declared(c))
                        .or_else(|| {
                            known
                                .and_then(|t| t.column(&name))
                                .map(|c| c.data_type.clone())
                        })
                        .unwrap_or_default();
                    flag(&name, &table, &data_type, span, out);
                }
            }
        }
        _ => {}
    }
}

fn declared(column: &ColumnDef) -> String {
    column.data_type.as_ref().map(type_text).unwrap_or_default()
}

fn index_columns(table: Option<&Table>, index: &Ident) -> Vec<String> {
    table
        .and_then(|t| t.indexes.iter().find(|i| i.name == index.name))
        .map(|i| i.columns.clone())
        .unwrap_or_default()
}

/// One spelling per type: `int4` → `integer`, `character varying(36)` →
/// `varchar`, `int[]` → `integer[]`.
fn canonical(type_name: &str) -> String {
    let lower = type_name.trim().to_lowercase();
    let (base, array) = match lower.strip_suffix("[]") {
        Some(base) => (base.trim_end().to_string(), true),
        None => (lower, false),
    };
    // Drop modifiers: `varchar(36)` → `varchar`.
    let base = base.split('(').next().unwrap_or("").trim();
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    let base = match base.as_str() {
        "int" | "int4" | "integer" => "integer",
        "int8" | "bigint" => "bigint",
        "int2" | "smallint" => "smallint",
        "serial" | "serial4" => "serial",
        "bigserial" | "serial8" => "bigserial",
        "smallserial" | "serial2" => "smallserial",
        "bool" | "boolean" => "boolean",
        "varchar" | "character varying" | "char varying" => "varchar",
        "char" | "character" | "bpchar" => "char",
        "float8" | "double precision" => "double precision",
        "float4" | "real" => "real",
        "decimal" | "numeric" => "numeric",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        other => other,
    };
    if array {
        format!("{base}[]")
    } else {
        base.to_string()
    }
}
