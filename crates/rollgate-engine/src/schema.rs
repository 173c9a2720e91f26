//! Normalized, deterministic schema snapshots for `rollgate schema dump`
//! and drift detection.

use serde::{Deserialize, Serialize};

/// A live schema, normalized so that two databases with the same schema
/// give equal snapshots: every list is sorted by name, types are spelled
/// the way the database prints them, and the history table is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaSnapshot {
    pub tables: Vec<TableSnapshot>,
    pub views: Vec<ViewSnapshot>,
    pub sequences: Vec<String>,
    /// Enum types (PostgreSQL) with their values in order.
    pub enums: Vec<EnumSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSnapshot {
    /// `schema.table` on PostgreSQL, `table` elsewhere.
    pub name: String,
    /// In column order (ordinal position).
    pub columns: Vec<ColumnSnapshot>,
    pub indexes: Vec<IndexSnapshot>,
    pub constraints: Vec<ConstraintSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSnapshot {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSnapshot {
    pub name: String,
    /// The index definition as the database prints it (normalized).
    pub definition: String,
    pub unique: bool,
    pub primary: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstraintSnapshot {
    pub name: String,
    /// `PRIMARY KEY`, `UNIQUE`, `FOREIGN KEY`, `CHECK`.
    pub kind: String,
    pub definition: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewSnapshot {
    pub name: String,
    pub definition: String,
    pub materialized: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumSnapshot {
    pub name: String,
    pub values: Vec<String>,
}

impl SchemaSnapshot {
    /// Sorts every list so the snapshot is deterministic.
    pub fn normalize(mut self) -> SchemaSnapshot {
        self.tables.sort_by(|a, b| a.name.cmp(&b.name));
        for table in &mut self.tables {
            table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            table.constraints.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self.views.sort_by(|a, b| a.name.cmp(&b.name));
        self.sequences.sort();
        self.enums.sort_by(|a, b| a.name.cmp(&b.name));
        self
    }

    /// The snapshot as stable, diffable text: one line per object.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&format!("table {}\n", table.name));
            for column in &table.columns {
                out.push_str(&format!(
                    "  column {} {}{}{}\n",
                    column.name,
                    column.data_type,
                    if column.nullable { "" } else { " NOT NULL" },
                    column
                        .default
                        .as_ref()
                        .map(|d| format!(" DEFAULT {d}"))
                        .unwrap_or_default()
                ));
            }
            for index in &table.indexes {
                out.push_str(&format!("  index {} {}\n", index.name, index.definition));
            }
            for constraint in &table.constraints {
                // PostgreSQL's definitions already start with the kind.
                let definition = if constraint.definition.starts_with(&constraint.kind) {
                    constraint.definition.clone()
                } else {
                    format!("{} {}", constraint.kind, constraint.definition)
                };
                out.push_str(&format!("  constraint {} {definition}\n", constraint.name));
            }
        }
        for view in &self.views {
            let kind = if view.materialized {
                "materialized view"
            } else {
                "view"
            };
            out.push_str(&format!(
                "{kind} {}\n  {}\n",
                view.name,
                view.definition.trim()
            ));
        }
        for sequence in &self.sequences {
            out.push_str(&format!("sequence {sequence}\n"));
        }
        for enum_type in &self.enums {
            out.push_str(&format!(
                "enum {} ({})\n",
                enum_type.name,
                enum_type.values.join(", ")
            ));
        }
        out
    }
}

/// Where an unqualified snapshot name (MySQL, SQLite) lands in a catalog:
/// the schema unqualified names in migration files resolve to.
const UNQUALIFIED_SCHEMA: &str = rollgate_sql::catalog::DEFAULT_SCHEMA;

impl SchemaSnapshot {
    /// The snapshot as a review catalog, marked complete: the live
    /// database holds every object, so a statement on a missing one really
    /// fails. Pure; the server reviews pending files against it.
    ///
    /// Names: `schema.table` on PostgreSQL; MySQL and SQLite names carry
    /// no schema and go to the default schema that unqualified names in
    /// migration files resolve to. Index and key columns are read from the
    /// definitions the database printed (an expression element keeps its
    /// text).
    pub fn to_catalog(&self) -> rollgate_sql::catalog::Catalog {
        use rollgate_sql::catalog::{
            Catalog, Column, ForeignKey, Index, Key, ObjectInfo, Table, ViewInfo,
        };
        let mut catalog = Catalog {
            complete: true,
            ..Catalog::default()
        };
        for table in &self.tables {
            let (schema, name) = split_name(&table.name);
            catalog.schemas.entry(schema.clone()).or_default();
            let mut entry = Table {
                schema: schema.clone(),
                name: name.clone(),
                columns_known: true,
                ..Table::default()
            };
            entry.columns = table
                .columns
                .iter()
                .map(|column| Column {
                    name: column.name.clone(),
                    data_type: column.data_type.clone(),
                    not_null: !column.nullable,
                    has_default: column.default.is_some(),
                    comment: None,
                })
                .collect();
            entry.indexes = table
                .indexes
                .iter()
                .map(|index| Index {
                    name: index.name.clone(),
                    columns: parenthesized_list(&index.definition),
                    unique: index.unique,
                    primary: index.primary,
                })
                .collect();
            for constraint in &table.constraints {
                let columns = parenthesized_list(&constraint.definition);
                match constraint.kind.as_str() {
                    "PRIMARY KEY" => {
                        entry.primary_key = Some(Key {
                            name: Some(constraint.name.clone()),
                            columns,
                        })
                    }
                    "FOREIGN KEY" => entry.foreign_keys.push(ForeignKey {
                        name: Some(constraint.name.clone()),
                        columns,
                        referenced_table: referenced_table(&constraint.definition),
                    }),
                    "CHECK" => entry.check_constraints.push(constraint.name.clone()),
                    _ => {}
                }
            }
            if entry.primary_key.is_none()
                && let Some(primary) = entry.indexes.iter().find(|i| i.primary)
            {
                entry.primary_key = Some(Key {
                    name: Some(primary.name.clone()),
                    columns: primary.columns.clone(),
                });
            }
            catalog.tables.insert((schema, name), entry);
        }
        for view in &self.views {
            catalog.views.insert(
                split_name(&view.name),
                ViewInfo {
                    materialized: view.materialized,
                    created_in_file: false,
                },
            );
        }
        for sequence in &self.sequences {
            catalog
                .sequences
                .insert(split_name(sequence), ObjectInfo::default());
        }
        for enum_type in &self.enums {
            catalog
                .enums
                .insert(split_name(&enum_type.name), enum_type.values.clone());
        }
        catalog
    }
}

/// The catalog key of a snapshot name (a [`TableSnapshot::name`], a key of
/// [`crate::Engine::table_rows`]): `schema.name` → (schema, name); a bare
/// name → the default schema.
pub fn catalog_key(name: &str) -> (String, String) {
    split_name(name)
}

fn split_name(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((schema, name)) => (unquote(schema), unquote(name)),
        None => (UNQUALIFIED_SCHEMA.to_string(), unquote(name)),
    }
}

fn unquote(name: &str) -> String {
    let name = name.trim();
    for quote in ['"', '`'] {
        if let Some(inner) = name
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner.replace(&format!("{quote}{quote}"), &quote.to_string());
        }
    }
    name.to_string()
}

/// The elements of the first parenthesized list in a definition, split at
/// top-level commas: `CREATE INDEX i ON public.t USING btree (a, lower(b))`
/// → `["a", "lower(b)"]`. Empty when there is none.
fn parenthesized_list(definition: &str) -> Vec<String> {
    let Some(open) = definition.find('(') else {
        return Vec::new();
    };
    let mut depth = 0usize;
    let mut items = Vec::new();
    let mut current = String::new();
    for c in definition[open + 1..].chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' if depth == 0 => break,
            ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .map(|item| {
            // `a DESC`, `a text_pattern_ops`: the column is the first word
            // unless the element is an expression.
            if item.contains('(') {
                item.to_string()
            } else {
                unquote(item.split_whitespace().next().unwrap_or(item))
            }
        })
        .collect()
}

/// `FOREIGN KEY (a) REFERENCES public.u(id)` → `public.u`.
fn referenced_table(definition: &str) -> String {
    let upper = definition.to_ascii_uppercase();
    let Some(at) = upper.find("REFERENCES") else {
        return String::new();
    };
    let rest = definition[at + "REFERENCES".len()..].trim_start();
    let end = rest
        .find(|c: char| c == '(' || c.is_whitespace())
        .unwrap_or(rest.len());
    unquote(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_becomes_a_complete_catalog() {
        let snapshot = SchemaSnapshot {
            tables: vec![TableSnapshot {
                name: "public.orders".into(),
                columns: vec![
                    ColumnSnapshot {
                        name: "id".into(),
                        data_type: "bigint".into(),
                        nullable: false,
                        default: None,
                    },
                    ColumnSnapshot {
                        name: "note".into(),
                        data_type: "text".into(),
                        nullable: true,
                        default: Some("''::text".into()),
                    },
                ],
                indexes: vec![
                    IndexSnapshot {
                        name: "orders_pkey".into(),
                        definition: "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)".into(),
                        unique: true,
                        primary: true,
                    },
                    IndexSnapshot {
                        name: "orders_note".into(),
                        definition: "CREATE INDEX orders_note ON public.orders USING btree (lower(note), id DESC)".into(),
                        unique: false,
                        primary: false,
                    },
                ],
                constraints: vec![ConstraintSnapshot {
                    name: "orders_user_fk".into(),
                    kind: "FOREIGN KEY".into(),
                    definition: "FOREIGN KEY (user_id) REFERENCES public.users(id)".into(),
                }],
            }],
            views: vec![],
            sequences: vec!["public.orders_id_seq".into()],
            enums: vec![EnumSnapshot {
                name: "public.mood".into(),
                values: vec!["ok".into()],
            }],
        };
        let catalog = snapshot.to_catalog();
        assert!(catalog.complete);
        let table = &catalog.tables[&("public".to_string(), "orders".to_string())];
        assert!(table.columns_known);
        assert!(table.column("id").unwrap().not_null);
        assert!(table.column("note").unwrap().has_default);
        assert_eq!(table.primary_key.as_ref().unwrap().columns, ["id"]);
        assert_eq!(table.indexes[1].columns, ["lower(note)", "id"]);
        assert_eq!(table.foreign_keys[0].referenced_table, "public.users");
        assert!(
            catalog
                .sequences
                .contains_key(&("public".into(), "orders_id_seq".into()))
        );
        assert!(
            catalog
                .enums
                .contains_key(&("public".into(), "mood".into()))
        );
        // MySQL and SQLite names land in the default schema.
        let bare = SchemaSnapshot {
            tables: vec![TableSnapshot {
                name: "users".into(),
                ..TableSnapshot::default()
            }],
            ..SchemaSnapshot::default()
        }
        .to_catalog();
        assert!(bare.tables.contains_key(&("public".into(), "users".into())));
    }
}
