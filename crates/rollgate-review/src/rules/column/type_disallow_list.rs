//! `COLUMN_TYPE_DISALLOW_LIST`: columns do not use the listed types.

use rollgate_sql::ast::{AlterTableActionKind, ColumnDef, DataType, StatementKind};

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "COLUMN_TYPE_DISALLOW_LIST",
    legacy_name: Some("column.type-disallow-list"),
    code: 411,
    category: Category::Column,
    title: "Prohibit the use of certain column data types",
    description: "Flags a column created (CREATE TABLE, ADD COLUMN) or retyped (ALTER COLUMN ... \
        TYPE) with a type in `list`. Types compare case-insensitively, without modifiers and by \
        meaning: `int`, `integer` and `int4` are one type, as are `varchar` and `character \
        varying`, `timestamptz` and `timestamp with time zone`, and so on. An entry also matches \
        arrays of its type; an entry written `type[]` matches only arrays. Use an allowed type \
        instead.",
    levels: levels(OFF, W, E),
    payload: PayloadDefaults {
        list: Some(&[]),
        ..PayloadDefaults::NONE
    },
    check,
};

/// Spellings of one type, canonical one first.
const ALIASES: &[&[&str]] = &[
    &["int4", "int", "integer"],
    &["int2", "smallint"],
    &["int8", "bigint"],
    &["serial4", "serial"],
    &["serial2", "smallserial"],
    &["serial8", "bigserial"],
    &["float4", "real"],
    &["float8", "double precision", "float"],
    &["numeric", "decimal"],
    &["bool", "boolean"],
    &["varchar", "character varying", "char varying"],
    &["bpchar", "char", "character"],
    &["varbit", "bit varying"],
    &["timestamp", "timestamp without time zone"],
    &["timestamptz", "timestamp with time zone"],
    &["time", "time without time zone"],
    &["timetz", "time with time zone"],
];

/// A type name reduced for comparison: lower case, single spaces, no
/// modifiers or schema, aliases folded. Returns the name and whether it is
/// an array.
fn canonical(written: &str) -> (String, bool) {
    let (name, array) = bare(written);
    (fold(&name), array)
}

/// The canonical spelling of a bare type name.
fn fold(name: &str) -> String {
    ALIASES
        .iter()
        .find(|group| group.contains(&name))
        .map_or(name.to_string(), |group| group[0].to_string())
}

/// A type as written, lower-cased, without modifiers, schema or array
/// suffix; and whether it was an array.
fn bare(written: &str) -> (String, bool) {
    let mut text = written.trim().to_lowercase();
    let mut array = false;
    // `[]`, `[3]`, `[][]`.
    while text.ends_with(']') {
        let Some(open) = text.rfind('[') else {
            break;
        };
        array = true;
        text = text[..open].trim_end().to_string();
    }
    if let Some(stripped) = text.strip_suffix(" array") {
        array = true;
        text = stripped.to_string();
    }
    // Drop `(n)` / `(p, s)` modifiers wherever they are written
    // (`timestamp(3) with time zone`).
    let mut without = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => without.push(c),
            _ => {}
        }
    }
    let mut name = without.split_whitespace().collect::<Vec<_>>().join(" ");
    // `pg_catalog.int4` → `int4`.
    if let Some((_, last)) = name.rsplit_once('.') {
        name = last.trim_matches('"').to_string();
    }
    (name, array)
}

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if cx.options.list.is_empty() {
        return;
    }
    // (canonical name, arrays only, entry as configured)
    let disallowed: Vec<(String, bool, &str)> = cx
        .options
        .list
        .iter()
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (name, array_only) = canonical(e);
            (name, array_only, e.trim())
        })
        .collect();
    let flag = |column: &str, table: &str, data_type: &DataType, out: &mut Vec<Finding>| {
        let name = fold(&data_type.name);
        let hit = disallowed
            .iter()
            .find(|(entry, array_only, _)| *entry == name && (!array_only || data_type.array));
        if let Some((_, _, entry)) = hit {
            let written = data_type.text.trim();
            let listed = if bare(written).0 == bare(entry).0 {
                String::new()
            } else {
                format!(" (listed as \"{entry}\")")
            };
            out.push(Finding::new(
                data_type.span,
                format!(
                    "Column \"{column}\" of table \"{table}\" uses the disallowed type {written}{listed}; choose a type the policy allows"
                ),
            ));
        }
    };
    let column_def = |column: &ColumnDef, table: &str, out: &mut Vec<Finding>| {
        if let Some(data_type) = &column.data_type {
            flag(&column.name.name, table, data_type, out);
        }
    };
    match &cx.statement.kind {
        StatementKind::CreateTable(create) => {
            let table = create.name.display();
            for column in &create.columns {
                column_def(column, &table, out);
            }
        }
        StatementKind::AlterTable(alter) => {
            let table = alter.name.display();
            for action in &alter.actions {
                match &action.kind {
                    AlterTableActionKind::AddColumn { column, .. } => {
                        column_def(column, &table, out)
                    }
                    AlterTableActionKind::AlterColumnType {
                        column,
                        data_type: Some(data_type),
                        ..
                    } => flag(&column.name, &table, data_type, out),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn aliases_fold() {
        assert_eq!(canonical("INTEGER"), ("int4".into(), false));
        assert_eq!(
            canonical("character varying(20)"),
            ("varchar".into(), false)
        );
        assert_eq!(
            canonical("timestamp(3) with time zone"),
            ("timestamptz".into(), false)
        );
        assert_eq!(canonical("json[]"), ("json".into(), true));
        assert_eq!(canonical("int[3][]"), ("int4".into(), true));
        assert_eq!(canonical("pg_catalog.int8"), ("int8".into(), false));
    }
}
