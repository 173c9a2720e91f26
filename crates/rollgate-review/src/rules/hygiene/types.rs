//! The column types a statement declares, for the column type rules.

use rollgate_sql::ast::{
    AlterTableActionKind, ColumnDef, DataType, Ident, ObjectName, Statement, StatementKind,
};

/// A column type written by `CREATE TABLE`, `ADD COLUMN` or
/// `ALTER COLUMN ... TYPE`.
pub(super) struct TypedColumn<'a> {
    pub table: &'a ObjectName,
    pub column: &'a Ident,
    pub data_type: &'a DataType,
    /// The definition, for `CREATE TABLE` and `ADD COLUMN`.
    pub def: Option<&'a ColumnDef>,
}

impl TypedColumn<'_> {
    /// `Column "name" of table "t"`.
    pub fn subject(&self) -> String {
        format!(
            "Column \"{}\" of table \"{}\"",
            self.column.name,
            self.table.display()
        )
    }
}

pub(super) fn typed_columns(statement: &Statement) -> Vec<TypedColumn<'_>> {
    let mut out = Vec::new();
    match &statement.kind {
        StatementKind::CreateTable(create) => {
            for column in &create.columns {
                push_def(&mut out, &create.name, column);
            }
        }
        StatementKind::AlterTable(alter) => {
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        push_def(&mut out, &alter.name, column)
                    }
                    AlterTableActionKind::AlterColumnType {
                        column,
                        data_type: Some(data_type),
                        ..
                    } => out.push(TypedColumn {
                        table: &alter.name,
                        column,
                        data_type,
                        def: None,
                    }),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

fn push_def<'a>(out: &mut Vec<TypedColumn<'a>>, table: &'a ObjectName, def: &'a ColumnDef) {
    if let Some(data_type) = &def.data_type {
        out.push(TypedColumn {
            table,
            column: &def.name,
            data_type,
            def: Some(def),
        });
    }
}
