//! The schema catalog: which schemas, tables, columns, indexes and types
//! exist, and replay of statements into it.
//!
//! The catalog is plain data with public fields. The review engine fills it
//! by replaying migration files in version order; the server will fill it
//! from a live database's introspection instead. Replay never fails: a
//! statement that does not fit the catalog (a table that already exists, a
//! column that does not) yields a [`ReplayProblem`] and the catalog carries
//! on as the database would have, had the statement succeeded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ast::*;

/// The schema an unqualified name resolves to.
pub const DEFAULT_SCHEMA: &str = "public";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// When true, the catalog holds every object of the database (a live
    /// schema, or the replay of the whole migration history), so an object
    /// that is missing really does not exist. When false, statements on
    /// unknown objects are taken on trust.
    pub complete: bool,
    pub schemas: BTreeMap<String, SchemaInfo>,
    /// Keyed by `(schema, table)`.
    pub tables: BTreeMap<(String, String), Table>,
    /// Views and materialized views, keyed by `(schema, name)`.
    pub views: BTreeMap<(String, String), ViewInfo>,
    pub sequences: BTreeMap<(String, String), ObjectInfo>,
    /// Enum types and their values in order.
    pub enums: BTreeMap<(String, String), Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaInfo {
    pub created_in_file: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub created_in_file: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewInfo {
    pub materialized: bool,
    pub created_in_file: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// False when the table's columns are not known (`CREATE TABLE AS`,
    /// `LIKE`, `PARTITION OF`, or a table known only because a statement
    /// used it on an incomplete catalog).
    pub columns_known: bool,
    pub columns: Vec<Column>,
    pub primary_key: Option<Key>,
    /// Every index of the table, including those behind primary key and
    /// unique constraints.
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    pub check_constraints: Vec<String>,
    pub comment: Option<String>,
    pub partitioned: bool,
    /// Created by the file being reviewed: its rows cannot be many, and no
    /// running application can use it yet.
    pub created_in_file: bool,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns.iter_mut().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Canonical type name as in [`DataType::name`], with `[]` for arrays.
    pub data_type: String,
    pub not_null: bool,
    pub has_default: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// Column names; an expression element is kept as its text.
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referenced_table: String,
}

/// A statement that does not fit the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayProblem {
    pub kind: ReplayProblemKind,
    /// What the problem is about, e.g. `table "public.t"`.
    pub object: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProblemKind {
    AlreadyExists,
    DoesNotExist,
}

impl ReplayProblem {
    pub fn message(&self) -> String {
        match self.kind {
            ReplayProblemKind::AlreadyExists => format!(
                "{} already exists, so this statement fails when it runs; use IF NOT EXISTS or drop the duplicate definition",
                self.object
            ),
            ReplayProblemKind::DoesNotExist => format!(
                "{} does not exist at this point of the migration history, so this statement fails when it runs; create it in an earlier migration or fix the name",
                self.object
            ),
        }
    }
}

/// `(schema, name)` with the default schema filled in.
pub fn key(name: &ObjectName) -> (String, String) {
    (
        name.schema
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEMA.to_string()),
        name.name.clone(),
    )
}

impl Catalog {
    /// An empty catalog that trusts statements on objects it does not know.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    pub fn table(&self, name: &ObjectName) -> Option<&Table> {
        self.tables.get(&key(name))
    }

    /// Forgets which objects the previous file created.
    pub fn begin_file(&mut self) {
        self.tables
            .values_mut()
            .for_each(|t| t.created_in_file = false);
        self.views
            .values_mut()
            .for_each(|v| v.created_in_file = false);
        self.sequences
            .values_mut()
            .for_each(|s| s.created_in_file = false);
        self.schemas
            .values_mut()
            .for_each(|s| s.created_in_file = false);
    }

    /// Finds the table an index belongs to.
    pub fn index_owner(&self, index: &ObjectName) -> Option<&Table> {
        let schema = index.schema.as_deref();
        self.tables
            .values()
            .filter(|t| schema.is_none_or(|s| s == t.schema))
            .find(|t| t.indexes.iter().any(|i| i.name == index.name))
    }

    /// Applies one statement, returning what did not fit.
    pub fn apply(&mut self, statement: &Statement) -> Vec<ReplayProblem> {
        let mut problems = Vec::new();
        match &statement.kind {
            StatementKind::CreateTable(create) => self.create_table(create, &mut problems),
            StatementKind::AlterTable(alter) => self.alter_table(alter, &mut problems),
            StatementKind::DropTable(drop) => {
                for name in &drop.names {
                    if self.tables.remove(&key(name)).is_none() && !drop.if_exists {
                        self.missing(
                            format!("table \"{}\"", name.display()),
                            name.span,
                            &mut problems,
                        );
                    }
                }
            }
            StatementKind::CreateIndex(create) => self.create_index(create, &mut problems),
            StatementKind::DropIndex(drop) => {
                for name in &drop.names {
                    let owner = self
                        .index_owner(name)
                        .map(|t| (t.schema.clone(), t.name.clone()));
                    match owner.and_then(|k| self.tables.get_mut(&k)) {
                        Some(table) => table.indexes.retain(|i| i.name != name.name),
                        None if !drop.if_exists => self.missing(
                            format!("index \"{}\"", name.display()),
                            name.span,
                            &mut problems,
                        ),
                        None => {}
                    }
                }
            }
            StatementKind::Truncate(truncate) => {
                for name in &truncate.tables {
                    self.touch_table(name, &mut problems);
                }
            }
            StatementKind::Insert(insert) => self.touch_table(&insert.table, &mut problems),
            StatementKind::Update(update) => self.touch_table(&update.table, &mut problems),
            StatementKind::Delete(delete) => self.touch_table(&delete.table, &mut problems),
            StatementKind::CreateSchema {
                name,
                if_not_exists,
            } => {
                if self.schemas.contains_key(&name.name) && !if_not_exists {
                    problems.push(ReplayProblem {
                        kind: ReplayProblemKind::AlreadyExists,
                        object: format!("schema \"{}\"", name.name),
                        span: name.span,
                    });
                }
                self.schemas.entry(name.name.clone()).or_insert(SchemaInfo {
                    created_in_file: true,
                });
            }
            StatementKind::DropSchema(drop) => {
                for name in &drop.names {
                    self.schemas.remove(&name.name);
                    self.tables.retain(|(schema, _), _| *schema != name.name);
                }
            }
            StatementKind::CreateEnum { name, values }
                if self.enums.insert(key(name), values.clone()).is_some() =>
            {
                problems.push(ReplayProblem {
                    kind: ReplayProblemKind::AlreadyExists,
                    object: format!("type \"{}\"", name.display()),
                    span: name.span,
                });
            }
            StatementKind::AlterEnumAddValue(add) => match self.enums.get_mut(&key(&add.name)) {
                Some(values) => {
                    if !values.contains(&add.value) {
                        values.push(add.value.clone());
                    }
                }
                None => self.missing(
                    format!("type \"{}\"", add.name.display()),
                    add.name.span,
                    &mut problems,
                ),
            },
            StatementKind::CreateView(view) => {
                let exists = self.views.contains_key(&key(&view.name))
                    || self.tables.contains_key(&key(&view.name));
                if exists && !view.or_replace {
                    problems.push(ReplayProblem {
                        kind: ReplayProblemKind::AlreadyExists,
                        object: format!("relation \"{}\"", view.name.display()),
                        span: view.name.span,
                    });
                }
                self.views.insert(
                    key(&view.name),
                    ViewInfo {
                        materialized: view.materialized,
                        created_in_file: true,
                    },
                );
            }
            StatementKind::DropView(drop) => {
                for name in &drop.names {
                    if self.views.remove(&key(name)).is_none() && !drop.if_exists {
                        self.missing(
                            format!("view \"{}\"", name.display()),
                            name.span,
                            &mut problems,
                        );
                    }
                }
            }
            StatementKind::CreateSequence {
                name,
                if_not_exists,
            } => {
                if self.sequences.contains_key(&key(name)) && !if_not_exists {
                    problems.push(ReplayProblem {
                        kind: ReplayProblemKind::AlreadyExists,
                        object: format!("sequence \"{}\"", name.display()),
                        span: name.span,
                    });
                }
                self.sequences.insert(
                    key(name),
                    ObjectInfo {
                        created_in_file: true,
                    },
                );
            }
            StatementKind::DropSequence(drop) => {
                for name in &drop.names {
                    self.sequences.remove(&key(name));
                }
            }
            StatementKind::Comment(comment) => match &comment.target {
                CommentTarget::Table(name) => {
                    if let Some(table) = self.tables.get_mut(&key(name)) {
                        table.comment = comment.text.clone();
                    }
                }
                CommentTarget::Column { table, column } => {
                    if let Some(col) = self
                        .tables
                        .get_mut(&key(table))
                        .and_then(|t| t.column_mut(&column.name))
                    {
                        col.comment = comment.text.clone();
                    }
                }
                CommentTarget::Other { .. } => {}
            },
            _ => {}
        }
        problems
    }

    fn missing(&self, object: String, span: Span, problems: &mut Vec<ReplayProblem>) {
        if self.complete {
            problems.push(ReplayProblem {
                kind: ReplayProblemKind::DoesNotExist,
                object,
                span,
            });
        }
    }

    /// A statement uses a table: report it when missing, and remember it as
    /// known-but-undescribed when the catalog is incomplete.
    fn touch_table(&mut self, name: &ObjectName, problems: &mut Vec<ReplayProblem>) {
        if name.name.is_empty() || self.tables.contains_key(&key(name)) {
            return;
        }
        if self.views.contains_key(&key(name)) {
            return;
        }
        self.missing(format!("table \"{}\"", name.display()), name.span, problems);
        if !self.complete {
            let (schema, table) = key(name);
            self.tables.insert(
                (schema.clone(), table.clone()),
                Table {
                    schema,
                    name: table,
                    ..Table::default()
                },
            );
        }
    }

    fn create_table(&mut self, create: &CreateTable, problems: &mut Vec<ReplayProblem>) {
        let table_key = key(&create.name);
        if self.tables.contains_key(&table_key) || self.views.contains_key(&table_key) {
            if !create.if_not_exists {
                problems.push(ReplayProblem {
                    kind: ReplayProblemKind::AlreadyExists,
                    object: format!("table \"{}\"", create.name.display()),
                    span: create.name.span,
                });
            }
            return;
        }
        let mut table = Table {
            schema: table_key.0.clone(),
            name: table_key.1.clone(),
            columns_known: !create.as_query && create.partition_of.is_none(),
            partitioned: create.partition_by.is_some(),
            created_in_file: true,
            ..Table::default()
        };
        for column in &create.columns {
            add_column(&mut table, column);
        }
        for constraint in &create.constraints {
            add_constraint(&mut table, constraint);
        }
        self.tables.insert(table_key, table);
    }

    fn alter_table(&mut self, alter: &AlterTable, problems: &mut Vec<ReplayProblem>) {
        let mut table_key = key(&alter.name);
        if !self.tables.contains_key(&table_key) {
            if !alter.if_exists {
                self.touch_table(&alter.name, problems);
            }
            if !self.tables.contains_key(&table_key) {
                return;
            }
        }
        for action in &alter.actions {
            let complete = self.complete;
            let Some(table) = self.tables.get_mut(&table_key) else {
                return;
            };
            let column_missing =
                |table: &Table, column: &Ident, problems: &mut Vec<ReplayProblem>| {
                    if complete && table.columns_known && table.column(&column.name).is_none() {
                        problems.push(ReplayProblem {
                            kind: ReplayProblemKind::DoesNotExist,
                            object: format!(
                                "column \"{}\" of table \"{}\"",
                                column.name,
                                alter.name.display()
                            ),
                            span: column.span,
                        });
                    }
                };
            match &action.kind {
                AlterTableActionKind::AddColumn {
                    column,
                    if_not_exists,
                } => {
                    if table.column(&column.name.name).is_some() {
                        if !if_not_exists {
                            problems.push(ReplayProblem {
                                kind: ReplayProblemKind::AlreadyExists,
                                object: format!(
                                    "column \"{}\" of table \"{}\"",
                                    column.name.name,
                                    alter.name.display()
                                ),
                                span: column.name.span,
                            });
                        }
                    } else {
                        add_column(table, column);
                    }
                }
                AlterTableActionKind::DropColumn {
                    name, if_exists, ..
                } => {
                    if !if_exists {
                        column_missing(table, name, problems);
                    }
                    table.columns.retain(|c| c.name != name.name);
                    table.indexes.retain(|i| !i.columns.contains(&name.name));
                }
                AlterTableActionKind::AlterColumnType {
                    column, data_type, ..
                } => {
                    column_missing(table, column, problems);
                    if let (Some(col), Some(data_type)) =
                        (table.column_mut(&column.name), data_type)
                    {
                        col.data_type = type_text(data_type);
                    }
                }
                AlterTableActionKind::SetNotNull { column }
                | AlterTableActionKind::DropNotNull { column } => {
                    column_missing(table, column, problems);
                    let not_null = matches!(action.kind, AlterTableActionKind::SetNotNull { .. });
                    if let Some(col) = table.column_mut(&column.name) {
                        col.not_null = not_null;
                    }
                }
                AlterTableActionKind::SetDefault { column, .. }
                | AlterTableActionKind::DropDefault { column } => {
                    column_missing(table, column, problems);
                    let has_default =
                        matches!(action.kind, AlterTableActionKind::SetDefault { .. });
                    if let Some(col) = table.column_mut(&column.name) {
                        col.has_default = has_default;
                    }
                }
                AlterTableActionKind::AddConstraint(constraint) => {
                    add_constraint(table, constraint)
                }
                AlterTableActionKind::DropConstraint { name, .. } => {
                    if table
                        .primary_key
                        .as_ref()
                        .is_some_and(|pk| pk.name.as_deref() == Some(&name.name))
                    {
                        table.primary_key = None;
                    }
                    table.indexes.retain(|i| i.name != name.name);
                    table
                        .foreign_keys
                        .retain(|fk| fk.name.as_deref() != Some(&name.name));
                    table.check_constraints.retain(|c| *c != name.name);
                }
                AlterTableActionKind::RenameColumn { from, to } => {
                    column_missing(table, from, problems);
                    if let Some(col) = table.column_mut(&from.name) {
                        col.name = to.name.clone();
                    }
                    for index in &mut table.indexes {
                        index
                            .columns
                            .iter_mut()
                            .filter(|c| **c == from.name)
                            .for_each(|c| c.clone_from(&to.name));
                    }
                }
                AlterTableActionKind::RenameTable { to } => {
                    if let Some(mut table) = self.tables.remove(&table_key) {
                        table.name = to.name.clone();
                        table_key = (table.schema.clone(), to.name.clone());
                        self.tables.insert(table_key.clone(), table);
                    }
                }
                AlterTableActionKind::SetSchema { schema } => {
                    if let Some(mut table) = self.tables.remove(&table_key) {
                        table.schema = schema.name.clone();
                        table_key = (schema.name.clone(), table.name.clone());
                        self.tables.insert(table_key.clone(), table);
                    }
                }
                _ => {}
            }
        }
    }

    fn create_index(&mut self, create: &CreateIndex, problems: &mut Vec<ReplayProblem>) {
        let name = create
            .name
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_else(|| {
                // PostgreSQL's own default: table_col1_col2_idx.
                let mut parts = vec![create.table.name.clone()];
                parts.extend(create.columns.iter().filter_map(|c| c.column.clone()));
                parts.push("idx".into());
                parts.join("_")
            });
        let exists = self
            .tables
            .values()
            .any(|t| t.schema == key(&create.table).0 && t.indexes.iter().any(|i| i.name == name));
        if exists {
            if !create.if_not_exists {
                problems.push(ReplayProblem {
                    kind: ReplayProblemKind::AlreadyExists,
                    object: format!("index \"{name}\""),
                    span: create.name.as_ref().map_or(create.table.span, |n| n.span),
                });
            }
            return;
        }
        self.touch_table(&create.table, problems);
        if let Some(table) = self.tables.get_mut(&key(&create.table)) {
            table.indexes.push(Index {
                name,
                columns: create
                    .columns
                    .iter()
                    .map(|c| {
                        c.column
                            .clone()
                            .unwrap_or_else(|| format!("expr@{}", c.span.start))
                    })
                    .collect(),
                unique: create.unique,
                primary: false,
            });
        }
    }
}

/// The type as a catalog string: `varchar`, `int[]`.
pub fn type_text(data_type: &DataType) -> String {
    if data_type.array {
        format!("{}[]", data_type.name)
    } else {
        data_type.name.clone()
    }
}

fn add_column(table: &mut Table, column: &ColumnDef) {
    table.columns.push(Column {
        name: column.name.name.clone(),
        data_type: column.data_type.as_ref().map(type_text).unwrap_or_default(),
        not_null: column.is_not_null() || column.is_primary_key(),
        has_default: column.default().is_some() || column.generated().is_some(),
        comment: None,
    });
    for constraint in &column.constraints {
        let name = constraint.name.as_ref().map(|n| n.name.clone());
        match &constraint.kind {
            ColumnConstraintKind::PrimaryKey => {
                let name = name.unwrap_or_else(|| format!("{}_pkey", table.name));
                table.primary_key = Some(Key {
                    name: Some(name.clone()),
                    columns: vec![column.name.name.clone()],
                });
                table.indexes.push(Index {
                    name,
                    columns: vec![column.name.name.clone()],
                    unique: true,
                    primary: true,
                });
            }
            ColumnConstraintKind::Unique => {
                let name =
                    name.unwrap_or_else(|| format!("{}_{}_key", table.name, column.name.name));
                table.indexes.push(Index {
                    name,
                    columns: vec![column.name.name.clone()],
                    unique: true,
                    primary: false,
                });
            }
            ColumnConstraintKind::References(target) => table.foreign_keys.push(ForeignKey {
                name,
                columns: vec![column.name.name.clone()],
                referenced_table: target.table.name.clone(),
            }),
            _ => {}
        }
    }
}

fn add_constraint(table: &mut Table, constraint: &TableConstraint) {
    let name = constraint.name.as_ref().map(|n| n.name.clone());
    let names = |columns: &[Ident]| columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    match &constraint.kind {
        TableConstraintKind::PrimaryKey {
            columns,
            using_index,
        } => {
            let mut columns = names(columns);
            if let Some(index) = using_index {
                // `USING INDEX` turns an existing unique index into the key.
                if let Some(existing) = table.indexes.iter_mut().find(|i| i.name == index.name) {
                    existing.primary = true;
                    columns.clone_from(&existing.columns);
                }
            } else {
                let index = name
                    .clone()
                    .unwrap_or_else(|| format!("{}_pkey", table.name));
                table.indexes.push(Index {
                    name: index,
                    columns: columns.clone(),
                    unique: true,
                    primary: true,
                });
            }
            for column in &columns {
                if let Some(col) = table.column_mut(column) {
                    col.not_null = true;
                }
            }
            table.primary_key = Some(Key {
                name: name.or_else(|| Some(format!("{}_pkey", table.name))),
                columns,
            });
        }
        TableConstraintKind::Unique {
            columns,
            using_index,
        } => {
            if using_index.is_none() {
                let columns = names(columns);
                let index =
                    name.unwrap_or_else(|| format!("{}_{}_key", table.name, columns.join("_")));
                table.indexes.push(Index {
                    name: index,
                    columns,
                    unique: true,
                    primary: false,
                });
            }
        }
        TableConstraintKind::ForeignKey { columns, target } => {
            table.foreign_keys.push(ForeignKey {
                name,
                columns: names(columns),
                referenced_table: target.table.name.clone(),
            })
        }
        TableConstraintKind::Check { .. } => table.check_constraints.push(name.unwrap_or_default()),
        TableConstraintKind::Exclude => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::parse;

    fn replay(catalog: &mut Catalog, sql: &str) -> Vec<ReplayProblemKind> {
        parse(sql)
            .statements
            .iter()
            .flat_map(|s| catalog.apply(s))
            .map(|p| p.kind)
            .collect()
    }

    #[test]
    fn replay_tracks_tables_columns_and_indexes() {
        let mut catalog = Catalog {
            complete: true,
            ..Catalog::default()
        };
        let problems = replay(
            &mut catalog,
            "CREATE TABLE t (id bigint PRIMARY KEY, name text);
             ALTER TABLE t ADD COLUMN email text NOT NULL, ALTER COLUMN name SET NOT NULL;
             CREATE UNIQUE INDEX t_email ON t (email);
             ALTER TABLE t RENAME COLUMN email TO mail;",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let table = &catalog.tables[&("public".to_string(), "t".to_string())];
        assert_eq!(
            table
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["id", "name", "mail"]
        );
        assert!(table.column("name").unwrap().not_null);
        assert_eq!(table.indexes.len(), 2);
        assert_eq!(table.indexes[1].columns, ["mail"]);
        assert_eq!(table.primary_key.as_ref().unwrap().columns, ["id"]);
    }

    #[test]
    fn replay_reports_duplicates_and_missing_objects() {
        let mut catalog = Catalog {
            complete: true,
            ..Catalog::default()
        };
        let problems = replay(
            &mut catalog,
            "CREATE TABLE t (a int); CREATE TABLE t (a int); CREATE TABLE IF NOT EXISTS t (a int);
             ALTER TABLE missing ADD COLUMN b int; DROP TABLE IF EXISTS gone; DROP TABLE gone;
             ALTER TABLE t DROP COLUMN nope;",
        );
        use ReplayProblemKind::*;
        assert_eq!(
            problems,
            [AlreadyExists, DoesNotExist, DoesNotExist, DoesNotExist]
        );
    }

    #[test]
    fn an_incomplete_catalog_trusts_unknown_tables() {
        let mut catalog = Catalog::new();
        let problems = replay(
            &mut catalog,
            "ALTER TABLE legacy ADD COLUMN b int; ALTER TABLE legacy ADD COLUMN b int;",
        );
        assert_eq!(problems, [ReplayProblemKind::AlreadyExists]);
    }
}
