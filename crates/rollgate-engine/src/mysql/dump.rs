//! Reads a MySQL/MariaDB database's schema from `information_schema` into a
//! normalized [`SchemaSnapshot`], leaving out `rollgate_history`.
//!
//! Definitions are spelled so that two databases with the same schema but
//! different names compare equal: references to the database's own name are
//! dropped from view definitions and foreign keys.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use crate::HISTORY_TABLE;
use crate::schema::{
    ColumnSnapshot, ConstraintSnapshot, IndexSnapshot, SchemaSnapshot, TableSnapshot, ViewSnapshot,
};

pub(super) async fn dump(
    connection: &mut MySqlConnection,
    database: &str,
) -> Result<SchemaSnapshot, sqlx::Error> {
    let mut tables: BTreeMap<String, TableSnapshot> = BTreeMap::new();
    let mut sequences = Vec::new();
    // Every text column is cast to CHAR: information_schema spells some of
    // them as binary or unsigned types that do not decode as String/i64.
    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR)
         FROM information_schema.TABLES
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> ?",
    )
    .bind(database)
    .bind(HISTORY_TABLE)
    .fetch_all(&mut *connection)
    .await?;
    for row in rows {
        let name: String = row.try_get(0)?;
        let table_type: String = row.try_get(1)?;
        match table_type.as_str() {
            // MariaDB lists system-versioned tables as a type of their own.
            "BASE TABLE" | "SYSTEM VERSIONED" => {
                tables.insert(
                    name.clone(),
                    TableSnapshot {
                        name,
                        ..TableSnapshot::default()
                    },
                );
            }
            // MariaDB sequences (CREATE SEQUENCE) are tables underneath.
            "SEQUENCE" => sequences.push(name),
            _ => {}
        }
    }

    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR),
                CAST(IS_NULLABLE AS CHAR), CAST(COLUMN_DEFAULT AS CHAR), CAST(EXTRA AS CHAR),
                CAST(GENERATION_EXPRESSION AS CHAR)
         FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = ?
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await?;
    for row in rows {
        let table: String = row.try_get(0)?;
        let Some(snapshot) = tables.get_mut(&table) else {
            continue;
        };
        let name: String = row.try_get(1)?;
        let column_type: String = row.try_get(2)?;
        let nullable: String = row.try_get(3)?;
        let default: Option<String> = row.try_get(4)?;
        let extra: Option<String> = row.try_get(5)?;
        let generation: Option<String> = row.try_get(6)?;
        snapshot.columns.push(ColumnSnapshot {
            name,
            data_type: column_type_with_extra(
                &column_type,
                extra.as_deref(),
                generation.as_deref(),
            ),
            nullable: nullable.eq_ignore_ascii_case("YES"),
            // MariaDB prints a `DEFAULT NULL` as the word NULL (a string
            // default is quoted); MySQL prints SQL NULL. Both mean none.
            default: default.filter(|d| !d.eq_ignore_ascii_case("NULL")),
        });
    }

    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED),
                CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS SIGNED), CAST(INDEX_TYPE AS CHAR),
                CAST(COLLATION AS CHAR)
         FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = ?
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await?;
    let mut indexes: BTreeMap<(String, String), IndexParts> = BTreeMap::new();
    for row in rows {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let non_unique: i64 = row.try_get(2)?;
        let column: Option<String> = row.try_get(3)?;
        let sub_part: Option<i64> = row.try_get(4)?;
        let index_type: Option<String> = row.try_get(5)?;
        let collation: Option<String> = row.try_get(6)?;
        let parts = indexes.entry((table, name)).or_insert_with(|| IndexParts {
            unique: non_unique == 0,
            index_type: index_type.unwrap_or_default(),
            columns: Vec::new(),
        });
        // MySQL 8 functional index parts have no column name.
        let mut part = column.unwrap_or_else(|| "<expression>".to_string());
        if let Some(length) = sub_part {
            part.push_str(&format!("({length})"));
        }
        if collation.as_deref() == Some("D") {
            part.push_str(" DESC");
        }
        parts.columns.push(part);
    }
    for ((table, name), parts) in indexes {
        let Some(snapshot) = tables.get_mut(&table) else {
            continue;
        };
        let mut definition = String::new();
        if parts.unique {
            definition.push_str("UNIQUE ");
        }
        if !parts.index_type.is_empty() && parts.index_type != "BTREE" {
            definition.push_str(&parts.index_type);
            definition.push(' ');
        }
        definition.push_str(&format!("({})", parts.columns.join(", ")));
        snapshot.indexes.push(IndexSnapshot {
            primary: name == "PRIMARY",
            name,
            definition,
            unique: parts.unique,
        });
    }

    let constraints = read_constraints(connection, database).await?;
    for ((table, _), constraint) in constraints {
        if let Some(snapshot) = tables.get_mut(&table) {
            snapshot.constraints.push(constraint);
        }
    }

    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(VIEW_DEFINITION AS CHAR)
         FROM information_schema.VIEWS
         WHERE TABLE_SCHEMA = ?",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await?;
    let own_prefix = format!("`{}`.", database.replace('`', "``"));
    let mut views = Vec::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let definition: Option<String> = row.try_get(1)?;
        views.push(ViewSnapshot {
            name,
            definition: definition
                .unwrap_or_default()
                .replace(&own_prefix, "")
                .trim()
                .to_string(),
            materialized: false,
        });
    }

    Ok(SchemaSnapshot {
        tables: tables.into_values().collect(),
        views,
        sequences,
        enums: Vec::new(),
    }
    .normalize())
}

struct IndexParts {
    unique: bool,
    index_type: String,
    columns: Vec<String>,
}

/// `int(11) auto_increment`, `int(11) AS (a + 1) stored generated`: the
/// column type plus what EXTRA says, without MySQL 8's DEFAULT_GENERATED
/// marker (the default itself is compared separately).
fn column_type_with_extra(
    column_type: &str,
    extra: Option<&str>,
    generation: Option<&str>,
) -> String {
    let mut text = column_type.to_string();
    if let Some(expression) = generation.filter(|g| !g.trim().is_empty()) {
        text.push_str(&format!(" AS ({})", expression.trim()));
    }
    let extra = extra.unwrap_or("").replace("DEFAULT_GENERATED", "");
    let extra = extra
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if !extra.is_empty() {
        text.push(' ');
        text.push_str(&extra);
    }
    text
}

/// Primary keys, unique keys and foreign keys with their columns, and CHECK
/// constraints with their clause, keyed by (table, constraint name).
async fn read_constraints(
    connection: &mut MySqlConnection,
    database: &str,
) -> Result<BTreeMap<(String, String), ConstraintSnapshot>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(CONSTRAINT_TYPE AS CHAR)
         FROM information_schema.TABLE_CONSTRAINTS
         WHERE TABLE_SCHEMA = ?",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await?;
    let mut kinds: BTreeMap<(String, String), String> = BTreeMap::new();
    for row in rows {
        kinds.insert((row.try_get(0)?, row.try_get(1)?), row.try_get(2)?);
    }

    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR),
                CAST(REFERENCED_TABLE_SCHEMA AS CHAR), CAST(REFERENCED_TABLE_NAME AS CHAR),
                CAST(REFERENCED_COLUMN_NAME AS CHAR)
         FROM information_schema.KEY_COLUMN_USAGE
         WHERE TABLE_SCHEMA = ?
         ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await?;
    #[derive(Default)]
    struct KeyColumns {
        columns: Vec<String>,
        referenced_table: Option<String>,
        referenced_columns: Vec<String>,
    }
    let mut keys: BTreeMap<(String, String), KeyColumns> = BTreeMap::new();
    for row in rows {
        let key = (row.try_get(0)?, row.try_get(1)?);
        let column: String = row.try_get(2)?;
        let referenced_schema: Option<String> = row.try_get(3)?;
        let referenced_table: Option<String> = row.try_get(4)?;
        let referenced_column: Option<String> = row.try_get(5)?;
        let entry = keys.entry(key).or_default();
        entry.columns.push(column);
        if let Some(table) = referenced_table {
            entry.referenced_table = Some(match referenced_schema {
                Some(schema) if schema != database => format!("{schema}.{table}"),
                _ => table,
            });
        }
        entry.referenced_columns.extend(referenced_column);
    }

    let rows = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(UPDATE_RULE AS CHAR),
                CAST(DELETE_RULE AS CHAR)
         FROM information_schema.REFERENTIAL_CONSTRAINTS
         WHERE CONSTRAINT_SCHEMA = ?",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await?;
    let mut rules: BTreeMap<(String, String), String> = BTreeMap::new();
    for row in rows {
        let key = (row.try_get(0)?, row.try_get(1)?);
        let on_update: String = row.try_get(2)?;
        let on_delete: String = row.try_get(3)?;
        let mut text = String::new();
        // RESTRICT and NO ACTION behave alike in InnoDB; only name the rest.
        for (event, rule) in [("DELETE", on_delete), ("UPDATE", on_update)] {
            if rule != "RESTRICT" && rule != "NO ACTION" {
                text.push_str(&format!(" ON {event} {rule}"));
            }
        }
        rules.insert(key, text);
    }

    let checks = read_checks(connection, database).await;

    let mut constraints = BTreeMap::new();
    for ((table, name), kind) in kinds {
        let key = (table, name);
        let definition = match kind.as_str() {
            "CHECK" => match checks
                .get(&key)
                .or_else(|| checks.get(&(String::new(), key.1.clone())))
            {
                // Like the other kinds, the definition does not repeat the kind.
                Some(clause) => format!("({clause})"),
                None => String::new(),
            },
            "FOREIGN KEY" => {
                let columns = keys.get(&key);
                format!(
                    "({}) REFERENCES {}({}){}",
                    columns.map(|c| c.columns.join(", ")).unwrap_or_default(),
                    columns
                        .and_then(|c| c.referenced_table.clone())
                        .unwrap_or_default(),
                    columns
                        .map(|c| c.referenced_columns.join(", "))
                        .unwrap_or_default(),
                    rules.get(&key).map(String::as_str).unwrap_or("")
                )
            }
            _ => format!(
                "({})",
                keys.get(&key)
                    .map(|c| c.columns.join(", "))
                    .unwrap_or_default()
            ),
        };
        let name = key.1.clone();
        constraints.insert(
            key,
            ConstraintSnapshot {
                name,
                kind,
                definition,
            },
        );
    }
    Ok(constraints)
}

/// CHECK clauses keyed by (table, name). MariaDB's CHECK_CONSTRAINTS has a
/// TABLE_NAME column; MySQL 8's does not (names are unique per schema
/// there), so its clauses are keyed by ("", name). Servers without the view
/// (MySQL 5.7) simply have no clauses.
async fn read_checks(
    connection: &mut MySqlConnection,
    database: &str,
) -> BTreeMap<(String, String), String> {
    let mut checks = BTreeMap::new();
    let mariadb = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(CHECK_CLAUSE AS CHAR)
         FROM information_schema.CHECK_CONSTRAINTS
         WHERE CONSTRAINT_SCHEMA = ?",
    )
    .bind(database)
    .fetch_all(&mut *connection)
    .await;
    let rows = match mariadb {
        Ok(rows) => rows,
        Err(_) => {
            let mysql = sqlx::query(
                "SELECT '', CAST(CONSTRAINT_NAME AS CHAR), CAST(CHECK_CLAUSE AS CHAR)
                 FROM information_schema.CHECK_CONSTRAINTS
                 WHERE CONSTRAINT_SCHEMA = ?",
            )
            .bind(database)
            .fetch_all(&mut *connection)
            .await;
            mysql.unwrap_or_default()
        }
    };
    for row in rows {
        let (Ok(table), Ok(name), Ok(clause)) = (
            row.try_get::<String, _>(0),
            row.try_get::<String, _>(1),
            row.try_get::<Option<String>, _>(2),
        ) else {
            continue;
        };
        checks.insert((table, name), clause.unwrap_or_default().trim().to_string());
    }
    checks
}
