//! Tests of the PostgreSQL lowering: SQL in, statement model out.

use super::parse;
use crate::ast::*;

fn one(sql: &str) -> StatementKind {
    let parsed = parse(sql);
    assert!(parsed.errors.is_empty(), "{sql}: {:?}", parsed.errors);
    assert_eq!(parsed.statements.len(), 1, "{sql}");
    parsed.statements.into_iter().next().unwrap().kind
}

#[test]
fn create_table_columns_and_constraints() {
    let StatementKind::CreateTable(table) = one(
        "CREATE TABLE public.\"T1\" (id serial PRIMARY KEY, name varchar(20) NOT NULL DEFAULT 'x', \
         b int REFERENCES t2(id) ON DELETE CASCADE, c timestamp with time zone, d character varying(5)[], \
         CONSTRAINT uk_t1_name UNIQUE (name)) PARTITION BY RANGE (id);",
    ) else {
        panic!()
    };
    assert_eq!(table.name.schema.as_deref(), Some("public"));
    assert_eq!(table.name.name, "T1");
    assert!(table.name.quoted);
    let names: Vec<_> = table.columns.iter().map(|c| c.name.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "b", "c", "d"]);
    let types: Vec<_> = table
        .columns
        .iter()
        .map(|c| c.data_type.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(
        types,
        ["serial", "varchar", "int", "timestamptz", "varchar"]
    );
    assert_eq!(table.columns[1].data_type.as_ref().unwrap().modifiers, [20]);
    assert!(table.columns[4].data_type.as_ref().unwrap().array);
    assert!(table.columns[0].is_primary_key());
    assert!(table.columns[1].is_not_null());
    assert!(
        matches!(table.columns[1].default().unwrap().kind, ExprKind::String(ref s) if s == "x")
    );
    let ColumnConstraintKind::References(fk) = &table.columns[2].constraints[0].kind else {
        panic!()
    };
    assert_eq!(fk.on_delete, Some(ReferentialAction::Cascade));
    assert_eq!(fk.table.name, "t2");
    assert!(table.partition_by.is_some());
    let TableConstraintKind::Unique { columns, .. } = &table.constraints[0].kind else {
        panic!()
    };
    assert_eq!(columns[0].name, "name");
    assert_eq!(
        table.constraints[0].name.as_ref().unwrap().name,
        "uk_t1_name"
    );
}

#[test]
fn alter_table_actions() {
    let StatementKind::AlterTable(alter) = one(
        "ALTER TABLE ONLY t ADD COLUMN c text NOT NULL DEFAULT now(), ALTER COLUMN b TYPE bigint, \
         ADD CONSTRAINT ck CHECK (b > 0) NOT VALID, ALTER COLUMN a SET NOT NULL, DROP COLUMN z, \
         RENAME COLUMN a TO b, ADD PRIMARY KEY USING INDEX idx, VALIDATE CONSTRAINT ck;",
    ) else {
        panic!()
    };
    assert!(alter.only);
    let kinds: Vec<_> = alter
        .actions
        .iter()
        .map(|a| {
            format!("{:?}", a.kind)
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "AddColumn",
            "AlterColumnType",
            "AddConstraint",
            "SetNotNull",
            "DropColumn",
            "RenameColumn",
            "AddConstraint",
            "ValidateConstraint"
        ]
    );
    let AlterTableActionKind::AddConstraint(check) = &alter.actions[2].kind else {
        panic!()
    };
    assert!(check.not_valid);
    let AlterTableActionKind::AddColumn { column, .. } = &alter.actions[0].kind else {
        panic!()
    };
    assert!(
        matches!(&column.default().unwrap().kind, ExprKind::Call { name, .. } if name == "now")
    );
}

#[test]
fn dml_and_misc() {
    let StatementKind::Insert(insert) = one("INSERT INTO t (a, b) VALUES (1, 2), (3, 4);") else {
        panic!()
    };
    assert_eq!(insert.columns.len(), 2);
    assert!(matches!(
        insert.source,
        InsertSource::Values { rows: 2, .. }
    ));
    let StatementKind::Update(update) = one("UPDATE t SET a = 1, a = 2 WHERE b LIKE '%x';") else {
        panic!()
    };
    assert_eq!(update.assignments.len(), 2);
    let Some(Expr {
        kind: ExprKind::Binary { op, .. },
        ..
    }) = &update.where_clause
    else {
        panic!()
    };
    assert_eq!(op, "LIKE");
    let StatementKind::Select(select) = one("SELECT * FROM t WHERE lower(a) = 'x';") else {
        panic!()
    };
    assert_eq!(select.star_targets.len(), 1);
    assert_eq!(select.from[0].name, "t");
    let StatementKind::Set(set) = one("SET lock_timeout = '5s';") else {
        panic!()
    };
    assert_eq!(
        (set.name.as_str(), set.value.as_str()),
        ("lock_timeout", "5s")
    );
    let StatementKind::Set(set) = one("SET ROLE admin;") else {
        panic!()
    };
    assert_eq!((set.name.as_str(), set.value.as_str()), ("role", "admin"));
    let StatementKind::AlterEnumAddValue(add) = one("ALTER TYPE mood ADD VALUE 'x' BEFORE 'y';")
    else {
        panic!()
    };
    assert!(add.positioned);
    let StatementKind::CreateIndex(index) =
        one("CREATE UNIQUE INDEX CONCURRENTLY idx ON s.t USING btree (a, lower(b));")
    else {
        panic!()
    };
    assert!(index.unique && index.concurrently);
    assert_eq!(index.columns[0].column.as_deref(), Some("a"));
    assert_eq!(index.columns[1].column, None);
    let StatementKind::Comment(comment) = one("COMMENT ON COLUMN s.t.c IS 'x';") else {
        panic!()
    };
    let CommentTarget::Column { table, column } = comment.target else {
        panic!()
    };
    assert_eq!(
        (
            table.schema.as_deref(),
            table.name.as_str(),
            column.name.as_str()
        ),
        (Some("s"), "t", "c")
    );
    assert!(matches!(one("BEGIN;"), StatementKind::Begin));
    assert!(matches!(one("COMMIT;"), StatementKind::Commit));
    assert!(
        matches!(one("DROP TABLE a, b CASCADE;"), StatementKind::DropTable(DropObjects { cascade: true, ref names, .. }) if names.len() == 2)
    );
}

#[test]
fn never_panics_and_keeps_statements_after_errors() {
    let parsed = parse("CREATE TABLE (;\nCREATE TABLE ok (a int);\nALTER TABLE;\nSELEC 1;");
    assert!(!parsed.errors.is_empty());
    assert!(
        parsed
            .statements
            .iter()
            .any(|s| matches!(&s.kind, StatementKind::CreateTable(t) if t.name.name == "ok"))
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn sql_like_text_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "CREATE", "TABLE", "ALTER", "ADD", "COLUMN", "INDEX", "ON", "t", "(", ")", ",", ";", "NOT", "NULL",
        "DEFAULT", "'x'", "1", "PRIMARY", "KEY", "REFERENCES", "DROP", "SELECT", "*", "FROM", "WHERE", "=",
        "INSERT", "INTO", "VALUES", "UPDATE", "SET", "CONSTRAINT", "CHECK", "TYPE", "$$", "\"", "--", "/*",
    ]), 0..60)) {
        let _ = parse(&parts.join(" "));
    }
}

#[test]
fn comment_on_unqualified_column() {
    let StatementKind::Comment(comment) = one("COMMENT ON COLUMN t.c IS 'x';") else {
        panic!()
    };
    let CommentTarget::Column { table, column } = comment.target else {
        panic!()
    };
    assert_eq!(
        (table.schema, table.name.as_str(), column.name.as_str()),
        (None, "t", "c")
    );
}

#[test]
fn create_trigger_names_its_table() {
    let StatementKind::CreateTrigger { name, table } =
        one("CREATE TRIGGER trg BEFORE INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION f();")
    else {
        panic!()
    };
    assert_eq!(name.name, "trg");
    assert_eq!(table.map(|t| t.display()), Some("public.users".to_string()));
}

#[test]
fn operators_written_as_words_keep_both_operands() {
    let StatementKind::Select(select) = one(
        "SELECT 1 FROM t WHERE a NOT LIKE '%x' AND b IS NOT NULL AND EXISTS (SELECT 1 FROM u);",
    ) else {
        panic!()
    };
    let mut binaries = Vec::new();
    let mut calls = Vec::new();
    select
        .where_clause
        .as_ref()
        .unwrap()
        .walk(&mut |e| match &e.kind {
            ExprKind::Binary { op, right, .. } => {
                binaries.push((op.clone(), format!("{:?}", right.kind)))
            }
            ExprKind::Call { name, args } => calls.push((name.clone(), args.len())),
            _ => {}
        });
    assert!(
        binaries.contains(&("NOT LIKE".into(), "String(\"%x\")".into())),
        "{binaries:?}"
    );
    assert!(
        binaries.contains(&("IS NOT".into(), "Null".into())),
        "{binaries:?}"
    );
    let StatementKind::Select(concat) = one("SELECT 1 WHERE name LIKE '%' || 'smith';") else {
        panic!()
    };
    let Some(ExprKind::Binary { right, .. }) = concat.where_clause.map(|w| w.kind) else {
        panic!()
    };
    assert!(matches!(&right.kind, ExprKind::Binary { op, .. } if op == "||"));
    assert_eq!(calls, [("exists".to_string(), 1)]);
}

#[test]
fn common_table_expressions_are_not_tables() {
    let StatementKind::Select(select) = one("WITH w AS (SELECT 1) SELECT * FROM w JOIN t ON true;")
    else {
        panic!()
    };
    assert_eq!(
        select
            .from
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["t"]
    );
}
