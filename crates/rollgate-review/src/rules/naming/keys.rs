//! Shared by the key and index naming rules: the named constraints and the
//! indexes a statement creates or renames, with their template values.
//!
//! Constraints are checked only when they carry an explicit name
//! (`CONSTRAINT name ...`, or a rename): an unnamed constraint gets a name
//! PostgreSQL generates, and a reviewer does not ask for names nobody wrote
//! (Bytebase checks named constraints only). `CREATE INDEX` without a name
//! is different: the statement exists to create that index, so its
//! generated name (`table_col_idx`) is checked like a written one.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnConstraintKind, CreateIndex, ExprKind, ForeignKeyTarget, Ident,
    ObjectName, StatementKind, TableConstraint, TableConstraintKind,
};
use rollgate_sql::catalog::Catalog;

use super::format::{Named, Value, check_name};
use crate::rule::{Finding, RuleCx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Primary,
    Unique,
    Foreign,
}

impl KeyKind {
    fn label(self) -> &'static str {
        match self {
            KeyKind::Primary => "Primary key",
            KeyKind::Unique => "Unique key",
            KeyKind::Foreign => "Foreign key",
        }
    }
}

/// A constraint with a written name.
pub(crate) struct NamedKey<'a> {
    pub kind: KeyKind,
    pub name: &'a Ident,
    pub table: &'a ObjectName,
    /// Its columns, joined with `_`.
    pub columns: Value,
    /// Foreign keys only: the referenced table and columns.
    pub referenced_table: Value,
    pub referenced_columns: Value,
}

/// Every constraint of `kind` the statement names: in CREATE TABLE, in
/// ALTER TABLE ... ADD [COLUMN|CONSTRAINT], and the new name of RENAME
/// CONSTRAINT (its kind and columns come from the catalog).
pub(crate) fn named_keys<'a>(cx: &RuleCx<'a>, kind: KeyKind) -> Vec<NamedKey<'a>> {
    let mut keys = Vec::new();
    let catalog = cx.catalog;
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            for column in &create.columns {
                column_keys(
                    catalog,
                    &create.name,
                    &column.name,
                    &column.constraints,
                    &mut keys,
                );
            }
            for constraint in &create.constraints {
                table_key(catalog, &create.name, constraint, &mut keys);
            }
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => column_keys(
                        catalog,
                        &alter.name,
                        &column.name,
                        &column.constraints,
                        &mut keys,
                    ),
                    AlterTableActionKind::AddConstraint(constraint) => {
                        table_key(catalog, &alter.name, constraint, &mut keys)
                    }
                    AlterTableActionKind::RenameConstraint { from, to } => {
                        if let Some(key) = renamed_key(catalog, &alter.name, from, to) {
                            keys.push(key);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    keys.retain(|k| k.kind == kind && !k.name.name.is_empty());
    keys
}

fn column_keys<'a>(
    catalog: &Catalog,
    table: &'a ObjectName,
    column: &Ident,
    constraints: &'a [rollgate_sql::ast::ColumnConstraint],
    keys: &mut Vec<NamedKey<'a>>,
) {
    for constraint in constraints {
        let Some(name) = &constraint.name else {
            continue;
        };
        let columns = Value::Name(column.name.clone());
        let (kind, referenced_table, referenced_columns) = match &constraint.kind {
            ColumnConstraintKind::PrimaryKey => (KeyKind::Primary, Value::Unknown, Value::Unknown),
            ColumnConstraintKind::Unique => (KeyKind::Unique, Value::Unknown, Value::Unknown),
            ColumnConstraintKind::References(target) => {
                let (t, c) = referenced(catalog, target);
                (KeyKind::Foreign, t, c)
            }
            _ => continue,
        };
        keys.push(NamedKey {
            kind,
            name,
            table,
            columns,
            referenced_table,
            referenced_columns,
        });
    }
}

fn table_key<'a>(
    catalog: &Catalog,
    table: &'a ObjectName,
    constraint: &'a TableConstraint,
    keys: &mut Vec<NamedKey<'a>>,
) {
    let Some(name) = &constraint.name else {
        return;
    };
    let idents = |columns: &[Ident]| Value::columns(columns.iter().map(|c| Some(c.name.as_str())));
    // `USING INDEX i`: the key takes the index's columns.
    let index_columns = |index: &Ident| {
        catalog
            .table(table)
            .and_then(|t| t.indexes.iter().find(|i| i.name == index.name))
            .map_or(Value::Unknown, |i| {
                Value::columns(i.columns.iter().map(|c| Some(c.as_str())))
            })
    };
    let (kind, columns, referenced_table, referenced_columns) = match &constraint.kind {
        TableConstraintKind::PrimaryKey {
            columns,
            using_index,
        } => (
            KeyKind::Primary,
            using_index
                .as_ref()
                .map_or_else(|| idents(columns), index_columns),
            Value::Unknown,
            Value::Unknown,
        ),
        TableConstraintKind::Unique {
            columns,
            using_index,
        } => (
            KeyKind::Unique,
            using_index
                .as_ref()
                .map_or_else(|| idents(columns), index_columns),
            Value::Unknown,
            Value::Unknown,
        ),
        TableConstraintKind::ForeignKey { columns, target } => {
            let (t, c) = referenced(catalog, target);
            (KeyKind::Foreign, idents(columns), t, c)
        }
        TableConstraintKind::Check { .. } | TableConstraintKind::Exclude => return,
    };
    keys.push(NamedKey {
        kind,
        name,
        table,
        columns,
        referenced_table,
        referenced_columns,
    });
}

/// The referenced table and columns of a foreign key; implicit columns
/// (`REFERENCES t`) are the referenced table's primary key when known.
fn referenced(catalog: &Catalog, target: &ForeignKeyTarget) -> (Value, Value) {
    let table = Value::Name(target.table.name.clone());
    let columns = if target.columns.is_empty() {
        catalog
            .table(&target.table)
            .and_then(|t| t.primary_key.as_ref())
            .map_or(Value::Unknown, |pk| {
                Value::columns(pk.columns.iter().map(|c| Some(c.as_str())))
            })
    } else {
        Value::columns(target.columns.iter().map(|c| Some(c.name.as_str())))
    };
    (table, columns)
}

/// `RENAME CONSTRAINT from TO to`: what `from` is, from the catalog.
fn renamed_key<'a>(
    catalog: &Catalog,
    table: &'a ObjectName,
    from: &Ident,
    to: &'a Ident,
) -> Option<NamedKey<'a>> {
    let info = catalog.table(table)?;
    let names = |columns: &[String]| Value::columns(columns.iter().map(|c| Some(c.as_str())));
    if let Some(pk) = info
        .primary_key
        .as_ref()
        .filter(|pk| pk.name.as_deref() == Some(from.name.as_str()))
    {
        return Some(NamedKey {
            kind: KeyKind::Primary,
            name: to,
            table,
            columns: names(&pk.columns),
            referenced_table: Value::Unknown,
            referenced_columns: Value::Unknown,
        });
    }
    if let Some(fk) = info
        .foreign_keys
        .iter()
        .find(|fk| fk.name.as_deref() == Some(from.name.as_str()))
    {
        return Some(NamedKey {
            kind: KeyKind::Foreign,
            name: to,
            table,
            columns: names(&fk.columns),
            referenced_table: Value::Name(fk.referenced_table.clone()),
            // The catalog does not keep the referenced columns.
            referenced_columns: Value::Unknown,
        });
    }
    let index = info
        .indexes
        .iter()
        .find(|i| i.name == from.name && i.unique && !i.primary)?;
    Some(NamedKey {
        kind: KeyKind::Unique,
        name: to,
        table,
        columns: names(&index.columns),
        referenced_table: Value::Unknown,
        referenced_columns: Value::Unknown,
    })
}

/// Checks the named keys of `kind` with `{{table}}` and `{{column_list}}`
/// (primary and unique keys).
pub(crate) fn check_keys(cx: &RuleCx<'_>, kind: KeyKind, out: &mut Vec<Finding>) {
    for key in named_keys(cx, kind) {
        let object = Named {
            kind: kind.label(),
            name: &key.name.name,
            owner: format!("on table \"{}\"", key.table.display()),
            span: key.name.span,
            generated: false,
        };
        let values = [
            ("table", Value::Name(key.table.name.clone())),
            ("column_list", key.columns),
        ];
        check_name(cx.options, &object, &values, out);
    }
}

/// Checks the index a CREATE INDEX statement creates, when `unique` matches.
/// An unnamed index is checked under the name PostgreSQL generates.
pub(crate) fn check_index(cx: &RuleCx<'_>, unique: bool, out: &mut Vec<Finding>) {
    let StatementKind::CreateIndex(create) = &cx.statement.kind else {
        return;
    };
    if create.unique != unique || create.table.name.is_empty() {
        return;
    }
    let (name, span, generated) = match &create.name {
        Some(name) => (name.name.clone(), name.span, false),
        None => (
            generated_name(create),
            // `CREATE INDEX ... ON table`: where the name would be.
            rollgate_sql::ast::Span::new(cx.statement.span.start, create.table.span.end),
            true,
        ),
    };
    let object = Named {
        kind: if unique { "Unique index" } else { "Index" },
        name: &name,
        owner: format!("on table \"{}\"", create.table.display()),
        span,
        generated,
    };
    let values = [
        ("table", Value::Name(create.table.name.clone())),
        (
            "column_list",
            Value::columns(create.columns.iter().map(|c| c.column.as_deref())),
        ),
    ];
    check_name(cx.options, &object, &values, out);
}

/// PostgreSQL's name for an unnamed index: `table_col1_col2_idx`, with the
/// function name (or `expr`) for expression elements. (PostgreSQL also
/// truncates it to 63 bytes; names that long fail `max_length` anyway.)
fn generated_name(create: &CreateIndex) -> String {
    let columns: Vec<String> = create
        .columns
        .iter()
        .map(|c| match (&c.column, &c.expr.kind) {
            (Some(column), _) => column.clone(),
            (None, ExprKind::Call { name, .. }) => name.clone(),
            (None, _) => "expr".to_string(),
        })
        .collect();
    let mut name = create.table.name.clone();
    if !columns.is_empty() {
        name.push('_');
        name.push_str(&columns.join("_"));
    }
    name.push_str("_idx");
    name
}
