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
