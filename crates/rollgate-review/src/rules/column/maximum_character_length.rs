//! `COLUMN_MAXIMUM_CHARACTER_LENGTH`: CHAR(n) stays short.

use rollgate_sql::ast::{AlterTableActionKind, DataType, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_MAXIMUM_CHARACTER_LENGTH",
    legacy_name: Some("column.maximum-character-length"),
    code: 415,
    category: Category::Column,
    title: "Restrict the length of \"CHAR\" data type",
    description: "Flags a column created (CREATE TABLE, ADD COLUMN) or retyped (ALTER COLUMN ... \
        TYPE) as CHAR(n) / CHARACTER(n) with n greater than `number`. CHAR pads every value with \
        blanks to its full length, wasting space and surprising comparisons; it only suits short \
        fixed-width codes. Use varchar(n) or text for longer values. As in Bytebase, only CHAR is \
        checked, not varchar.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults {
        number: Some(20),
        ..PayloadDefaults::NONE
    },
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let limit = cx.options.number;
    if limit <= 0 {
        return;
    }
    let flag = |column: &str, table: &str, data_type: &Option<DataType>, out: &mut Vec<Finding>| {
        let Some(data_type) = data_type else {
            return;
        };
        if !matches!(data_type.name.as_str(), "char" | "bpchar") {
            return;
        }
        let Some(&length) = data_type.modifiers.first() else {
            return;
        };
        if length > limit {
            out.push(Finding::new(
                data_type.span,
                format!(
                    "Column \"{column}\" of table \"{table}\" is {}, longer than the {limit} characters allowed for CHAR, which pads every value with blanks to its full length; use varchar({length}) or text",
                    data_type.text.trim()
                ),
            ));
        }
    };
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for column in &create.columns {
                flag(&column.name.name, &table, &column.data_type, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        flag(&column.name.name, &table, &column.data_type, out)
                    }
                    AlterTableActionKind::AlterColumnType {
                        column, data_type, ..
                    } => flag(&column.name, &table, data_type, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
