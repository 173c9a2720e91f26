//! The statement splitter: one table of cases per dialect, then properties
//! that must hold for any input.

use proptest::prelude::*;
use rollgate_sql::split::{SplitDialect, SplitStatement, split};

use SplitDialect::{Mysql, Postgres, Sqlite};

/// Splits `input` and compares `(line, text)` of every statement with
/// `expect`, after checking the invariants every split must satisfy.
#[track_caller]
fn check(dialect: SplitDialect, input: &str, expect: &[(u32, &str)]) {
    let statements = split(dialect, input);
    assert_invariants(input, &statements);
    let actual: Vec<(u32, &str)> = statements
        .iter()
        .map(|statement| (statement.line, statement.text.as_str()))
        .collect();
    assert_eq!(actual, expect, "{dialect:?} input: {input:?}");
}

/// Each text is the non-empty, whitespace-trimmed slice of the input at its
/// `start`, statements do not overlap and come in file order (so their
/// concatenation is a subsequence of the input), and `line` is 1 plus the
/// number of `\n` before `start`.
#[track_caller]
fn assert_invariants(input: &str, statements: &[SplitStatement]) {
    let mut previous_end = 0;
    for (index, statement) in statements.iter().enumerate() {
        let start = statement.start as usize;
        let end = start + statement.text.len();
        assert!(!statement.text.is_empty(), "statement {index} is empty");
        assert_eq!(
            input.get(start..end),
            Some(statement.text.as_str()),
            "statement {index} is not the input at its start"
        );
        assert!(
            index == 0 || start > previous_end,
            "statement {index} overlaps or touches the previous one"
        );
        let text = statement.text.as_bytes();
        assert!(
            !text[0].is_ascii_whitespace() && !text[text.len() - 1].is_ascii_whitespace(),
            "statement {index} is not trimmed: {:?}",
            statement.text
        );
        let line = 1 + input[..start].bytes().filter(|&b| b == b'\n').count();
        assert_eq!(statement.line as usize, line, "line of statement {index}");
        previous_end = end;
    }
}

#[test]
fn postgres_cases() {
    let cases: &[(&str, &[(u32, &str)])] = &[
        (
            "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
            &[
                (1, "CREATE TABLE a (id int)"),
                (2, "CREATE TABLE b (id int)"),
            ],
        ),
        ("SELECT 1;SELECT 2", &[(1, "SELECT 1"), (1, "SELECT 2")]),
        (
            "SELECT 'a;b''c;'; SELECT 2",
            &[(1, "SELECT 'a;b''c;'"), (1, "SELECT 2")],
        ),
        // Backslashes escape in E'' strings only.
        (
            r"SELECT E'it\';s', e'\\'; SELECT 'a\'; SELECT 2",
            &[
                (1, r"SELECT E'it\';s', e'\\'"),
                (1, r"SELECT 'a\'"),
                (1, "SELECT 2"),
            ],
        ),
        // An identifier ending in E is not an E'' prefix.
        (
            r"SELECT name'\'; SELECT 2",
            &[(1, r"SELECT name'\'"), (1, "SELECT 2")],
        ),
        (
            "CREATE TABLE \"a;\"\"b\" (x int);SELECT 1",
            &[(1, "CREATE TABLE \"a;\"\"b\" (x int)"), (1, "SELECT 1")],
        ),
        (
            "SELECT 1 -- not the end;\n+ 1;\nSELECT 2",
            &[(1, "SELECT 1 -- not the end;\n+ 1"), (3, "SELECT 2")],
        ),
        (
            "SELECT /* a /* b; */ c; */ 1; SELECT 2",
            &[(1, "SELECT /* a /* b; */ c; */ 1"), (1, "SELECT 2")],
        ),
        (
            "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;\nSELECT 2;",
            &[
                (
                    1,
                    "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql",
                ),
                (2, "SELECT 2"),
            ],
        ),
        (
            "DO $body$ BEGIN EXECUTE $$SELECT 1;$$; END $body$;\nSELECT 2",
            &[
                (1, "DO $body$ BEGIN EXECUTE $$SELECT 1;$$; END $body$"),
                (2, "SELECT 2"),
            ],
        ),
        // `$1` is a parameter and `a$b$c` an identifier: neither opens a
        // dollar quote.
        (
            "PREPARE p AS SELECT $1, a$b$c;EXECUTE p(1); SELECT 2",
            &[
                (1, "PREPARE p AS SELECT $1, a$b$c"),
                (1, "EXECUTE p(1)"),
                (1, "SELECT 2"),
            ],
        ),
        (
            "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n\
             BEGIN ATOMIC\n\
             \x20 SELECT CASE WHEN a > 0 THEN a ELSE 0 END;\n\
             \x20 SELECT a + b;\n\
             END;\n\
             CREATE INDEX CONCURRENTLY i ON t (a);",
            &[
                (
                    1,
                    "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n\
                     BEGIN ATOMIC\n\
                     \x20 SELECT CASE WHEN a > 0 THEN a ELSE 0 END;\n\
                     \x20 SELECT a + b;\n\
                     END",
                ),
                (6, "CREATE INDEX CONCURRENTLY i ON t (a)"),
            ],
        ),
        (
            "create or replace procedure p() language sql begin /* ; */ atomic insert into t values (1); end; select 1",
            &[
                (
                    1,
                    "create or replace procedure p() language sql begin /* ; */ atomic insert into t values (1); end",
                ),
                (1, "select 1"),
            ],
        ),
        // Outside a routine, BEGIN is a transaction and ATOMIC a word.
        (
            "BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\nSELECT begin atomic; SELECT 2",
            &[
                (1, "BEGIN"),
                (2, "CREATE TABLE t (a int)"),
                (3, "COMMIT"),
                (4, "SELECT begin atomic"),
                (4, "SELECT 2"),
            ],
        ),
        // A word merely containing BEGIN does not open a body.
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN begin_atomic; SELECT 2",
            &[
                (
                    1,
                    "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN begin_atomic",
                ),
                (1, "SELECT 2"),
            ],
        ),
        // psql does not split inside parentheses: rules have multi-action bodies.
        (
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 1",
            &[
                (
                    1,
                    "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
                ),
                (2, "SELECT 1"),
            ],
        ),
        // Comments around statements are dropped, comments inside are kept,
        // and pieces holding only comments are not statements.
        (
            "-- rollgate: no-transaction\n/* header */\nCREATE INDEX CONCURRENTLY i ON t (a); -- trailing\n-- only a comment;\n;;\nSELECT 1 /* x */ + 2 -- y\n;",
            &[
                (3, "CREATE INDEX CONCURRENTLY i ON t (a)"),
                (6, "SELECT 1 /* x */ + 2"),
            ],
        ),
        (
            "CREATE TABLE a (id int);\r\n\r\nCREATE TABLE b (\r\n  id int\r\n);\r\n",
            &[
                (1, "CREATE TABLE a (id int)"),
                (3, "CREATE TABLE b (\r\n  id int\r\n)"),
            ],
        ),
        // `#` and backticks mean nothing special to PostgreSQL.
        (
            "SELECT 1 # 2; SELECT `a;b`",
            &[(1, "SELECT 1 # 2"), (1, "SELECT `a"), (1, "b`")],
        ),
        ("", &[]),
        (" \n\t\r\n ", &[]),
        ("-- only\n/* comments */", &[]),
    ];
    for &(input, expect) in cases {
        check(Postgres, input, expect);
    }
}

#[test]
fn postgres_unterminated_constructs_keep_the_rest_as_one_statement() {
    let cases: &[(&str, &[(u32, &str)])] = &[
        (
            "SELECT 1;\nSELECT 'abc;\nSELECT 2;",
            &[(1, "SELECT 1"), (2, "SELECT 'abc;\nSELECT 2;")],
        ),
        (
            "SELECT 1; /* oops; SELECT 2;",
            &[(1, "SELECT 1"), (1, "/* oops; SELECT 2;")],
        ),
        // Nested: the first `*/` closes only the inner comment.
        (
            "SELECT /* /* */ 1; SELECT 2",
            &[(1, "SELECT /* /* */ 1; SELECT 2")],
        ),
        ("SELECT $$abc; SELECT 2", &[(1, "SELECT $$abc; SELECT 2")]),
        ("SELECT \"abc; SELECT 2", &[(1, "SELECT \"abc; SELECT 2")]),
        (
            "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2;",
            &[(
                1,
                "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2;",
            )],
        ),
        ("SELECT (1; SELECT 2", &[(1, "SELECT (1; SELECT 2")]),
        // A stray `)` does not make later parentheses unbalanced.
        (
            "SELECT 1); SELECT (2)",
            &[(1, "SELECT 1)"), (1, "SELECT (2)")],
        ),
    ];
    for &(input, expect) in cases {
        check(Postgres, input, expect);
    }
}

#[test]
fn start_is_a_byte_offset() {
    let input = "-- é\nINSERT INTO t VALUES ('é;ü');\r\n SELECT 'ß'";
    let statements = split(Postgres, input);
    assert_invariants(input, &statements);
    let starts: Vec<(u32, u32)> = statements.iter().map(|s| (s.start, s.line)).collect();
    assert_eq!(starts, [(6, 2), (40, 3)]);
}

#[test]
fn mysql_cases() {
    let cases: &[(&str, &[(u32, &str)])] = &[
        (
            "INSERT INTO t VALUES ('it\\'s; fine', 'a''b;');\nSELECT 2;",
            &[
                (1, "INSERT INTO t VALUES ('it\\'s; fine', 'a''b;')"),
                (2, "SELECT 2"),
            ],
        ),
        (
            "SELECT \"a\\\";b\", \"c\"\";\"; SELECT 2",
            &[(1, "SELECT \"a\\\";b\", \"c\"\";\""), (1, "SELECT 2")],
        ),
        (
            "CREATE TABLE `a;``b` (x int);SELECT 1",
            &[(1, "CREATE TABLE `a;``b` (x int)"), (1, "SELECT 1")],
        ),
        (
            "SELECT 1; # comment; not a statement\nSELECT 2 # trailing;\n;",
            &[(1, "SELECT 1"), (2, "SELECT 2")],
        ),
        // `--` starts a comment only before whitespace, a control character
        // or the end of input.
        (
            "SELECT 1--1;\nSELECT 2 -- c;\n;SELECT 3 --\tc;\n;SELECT 4 --",
            &[
                (1, "SELECT 1--1"),
                (2, "SELECT 2"),
                (3, "SELECT 3"),
                (4, "SELECT 4"),
            ],
        ),
        (
            "/* leading */ SELECT /* a; */ 1; /* only a comment; */;",
            &[(1, "SELECT /* a; */ 1")],
        ),
        // Executable comments are statement text; plain ones are not.
        (
            "/*!40101 SET NAMES utf8mb4 */;\n/* plain */;\nSELECT /*+ MAX_EXECUTION_TIME(1000) */ 1;",
            &[
                (1, "/*!40101 SET NAMES utf8mb4 */"),
                (3, "SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1"),
            ],
        ),
        // Dollar quotes, E'' strings and [identifiers] are not MySQL.
        (
            "SELECT $$a;b$$; SELECT E'\\';x'; SELECT [a;b]",
            &[
                (1, "SELECT $$a"),
                (1, "b$$"),
                (1, "SELECT E'\\';x'"),
                (1, "SELECT [a"),
                (1, "b]"),
            ],
        ),
        (
            "CREATE TABLE a (id int);\r\n\r\nCREATE TABLE b (\r\n  id int\r\n);\r\n",
            &[
                (1, "CREATE TABLE a (id int)"),
                (3, "CREATE TABLE b (\r\n  id int\r\n)"),
            ],
        ),
        (
            "SELECT 1; SELECT 'abc\\';",
            &[(1, "SELECT 1"), (1, "SELECT 'abc\\';")],
        ),
        (
            "SELECT 1; /* oops; SELECT 2;",
            &[(1, "SELECT 1"), (1, "/* oops; SELECT 2;")],
        ),
        (
            "SELECT /* /* */ 1; SELECT 2",
            &[(1, "SELECT /* /* */ 1"), (1, "SELECT 2")],
        ),
    ];
    for &(input, expect) in cases {
        check(Mysql, input, expect);
    }
}

#[test]
fn mysql_delimiter_lines_change_the_delimiter() {
    let cases: &[(&str, &[(u32, &str)])] = &[
        (
            "DELIMITER //\n\
             CREATE PROCEDURE p()\n\
             BEGIN\n\
             \x20 SELECT 1;\n\
             \x20 SELECT 2;\n\
             END //\n\
             DELIMITER ;\n\
             CALL p();\n",
            &[
                (
                    2,
                    "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND",
                ),
                (8, "CALL p()"),
            ],
        ),
        (
            "-- rollgate: ignore\r\n  delimiter $$ trailing words\r\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1; END$$\r\nSELECT 1$$SELECT 2$$\r\nDelimiter ;\r\nSELECT 3;",
            &[
                (
                    3,
                    "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1; END",
                ),
                (4, "SELECT 1"),
                (4, "SELECT 2"),
                (6, "SELECT 3"),
            ],
        ),
        // A quoted delimiter is unquoted, as the mysql client does.
        (
            "DELIMITER ';;'\nSELECT 1; SELECT 2;;\nDELIMITER ;\nSELECT 3",
            &[(2, "SELECT 1; SELECT 2"), (4, "SELECT 3")],
        ),
        // A column named `delimiter` on its own line is not the command.
        (
            "CREATE TABLE t (\ndelimiter int\n);\nSELECT 1",
            &[(1, "CREATE TABLE t (\ndelimiter int\n)"), (4, "SELECT 1")],
        ),
        // Without an argument, or not first on its line, it is plain text.
        (
            "DELIMITER\nSELECT 1; /* c */ DELIMITER //\n; SELECT 2",
            &[
                (1, "DELIMITER\nSELECT 1"),
                (2, "DELIMITER //"),
                (3, "SELECT 2"),
            ],
        ),
        // A statement still open at the end of the file is returned whole.
        (
            "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END",
            &[(2, "CREATE PROCEDURE p() BEGIN SELECT 1; END")],
        ),
    ];
    for &(input, expect) in cases {
        check(Mysql, input, expect);
    }
}

/// Documented limitation: like the mysql client, the splitter does not look
/// into stored-program bodies, so they need `DELIMITER`.
#[test]
fn mysql_begin_end_without_delimiter_is_split() {
    check(
        Mysql,
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1; END;",
        &[
            (
                1,
                "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1",
            ),
            (1, "END"),
        ],
    );
}

#[test]
fn sqlite_cases() {
    let cases: &[(&str, &[(u32, &str)])] = &[
        (
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n\
             \x20 INSERT INTO log VALUES (new.id, 'x;y');\n\
             \x20 UPDATE c SET n = CASE WHEN n > 0 THEN n END;\n\
             END;\n\
             SELECT 1;",
            &[
                (
                    1,
                    "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n\
                     \x20 INSERT INTO log VALUES (new.id, 'x;y');\n\
                     \x20 UPDATE c SET n = CASE WHEN n > 0 THEN n END;\n\
                     END",
                ),
                (5, "SELECT 1"),
            ],
        ),
        (
            "create temp trigger if not exists u before delete on a begin delete from b; -- gone;\n /* c; */ end; select 2",
            &[
                (
                    1,
                    "create temp trigger if not exists u before delete on a begin delete from b; -- gone;\n /* c; */ end",
                ),
                (2, "select 2"),
            ],
        ),
        (
            "EXPLAIN CREATE TEMPORARY TRIGGER v AFTER UPDATE ON a BEGIN SELECT 1; END; SELECT 2",
            &[
                (
                    1,
                    "EXPLAIN CREATE TEMPORARY TRIGGER v AFTER UPDATE ON a BEGIN SELECT 1; END",
                ),
                (1, "SELECT 2"),
            ],
        ),
        // Words that merely contain TRIGGER, or CREATE of something else,
        // are ordinary statements.
        (
            "CREATE TABLE trigger_log (trigger int, [end;] text, `a;b` int, \"c;\"\"d\" int);SELECT 1",
            &[
                (
                    1,
                    "CREATE TABLE trigger_log (trigger int, [end;] text, `a;b` int, \"c;\"\"d\" int)",
                ),
                (1, "SELECT 1"),
            ],
        ),
        (
            "BEGIN; SELECT 'a\\'; SELECT 2; END;",
            &[
                (1, "BEGIN"),
                (1, "SELECT 'a\\'"),
                (1, "SELECT 2"),
                (1, "END"),
            ],
        ),
        // Block comments do not nest, `#` is no comment, `$` no quote.
        (
            "SELECT /* /* */ 1; SELECT 2 # 3; SELECT $$a;b$$",
            &[
                (1, "SELECT /* /* */ 1"),
                (1, "SELECT 2 # 3"),
                (1, "SELECT $$a"),
                (1, "b$$"),
            ],
        ),
        (
            "CREATE TABLE a (id int);\r\n\r\nCREATE TABLE b (\r\n  id int\r\n);\r\n",
            &[
                (1, "CREATE TABLE a (id int)"),
                (3, "CREATE TABLE b (\r\n  id int\r\n)"),
            ],
        ),
        (
            "SELECT 1;\nCREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2;",
            &[
                (1, "SELECT 1"),
                (
                    2,
                    "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2;",
                ),
            ],
        ),
        ("SELECT [a; SELECT 2", &[(1, "SELECT [a; SELECT 2")]),
        (
            "SELECT 1; /* oops; SELECT 2;",
            &[(1, "SELECT 1"), (1, "/* oops; SELECT 2;")],
        ),
    ];
    for &(input, expect) in cases {
        check(Sqlite, input, expect);
    }
}

const DIALECTS: [SplitDialect; 3] = [Postgres, Mysql, Sqlite];

/// Pieces of text that exercise every rule of every dialect, so random
/// concatenations reach the interesting states far more often than noise.
const TRICKY_PIECES: &[&str] = &[
    ";",
    "'",
    "\"",
    "`",
    "[",
    "]",
    "(",
    ")",
    "$",
    "$$",
    "$a$",
    "$1",
    "--",
    "-- ",
    "#",
    "/*",
    "*/",
    "/*!",
    "/*+",
    "\\",
    "E'",
    "e",
    "\n",
    "\r\n",
    " ",
    "\t",
    "BEGIN",
    "ATOMIC",
    "END",
    "CASE",
    "CREATE",
    "OR",
    "REPLACE",
    "FUNCTION",
    "PROCEDURE",
    "TRIGGER",
    "TEMP",
    "EXPLAIN",
    "DELIMITER ",
    "delimiter",
    "//",
    "x",
    "1",
    "é",
    "\u{a0}",
    "🦀",
    "\0",
];

fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(TRICKY_PIECES), 0..80)
            .prop_map(|pieces| pieces.concat()),
    ]
}

/// Fragments that are self-contained in every dialect: each keeps any `;`
/// it holds to itself, and none starts a construct that swallows the next
/// fragment. Line comments carry their own newline.
const COMMON_FRAGMENTS: &[&str] = &[
    "SELECT",
    "INSERT",
    "INTO",
    "t",
    "x1",
    "VALUES",
    "FROM",
    "WHERE",
    "42",
    "=",
    "+",
    "(a, b)",
    "'a;b'",
    "'it''s;'",
    "\"q;\"\"x\"",
    "/* c; */",
    "-- c;\n",
    "(SELECT ';')",
];
const POSTGRES_FRAGMENTS: &[&str] = &[
    "$$ a; b $$",
    "$f$ x; $$ $f$",
    "E'\\';'",
    "'\\'",
    "a$b$c",
    "$1",
    "/* a /* ; */ b */",
];
const MYSQL_FRAGMENTS: &[&str] = &[
    "'\\';'",
    "\"\\\";\"",
    "`a;``b`",
    "# c;\n",
    "/*!40101 SET x=1 */",
    "/*+ BKA(t) */",
    "1--1",
];
const SQLITE_FRAGMENTS: &[&str] = &["[a;b]", "`a;``b`", "'\\'"];
const ENDINGS: &[&str] = &["", ";", ";\n", ";\r\n-- end\n"];
const WORDS: &[&str] = &["SELECT", "INSERT", "t", "x1", "42", "VALUES"];

fn statement(dialect: SplitDialect) -> impl Strategy<Value = String> {
    let specific = match dialect {
        Postgres => POSTGRES_FRAGMENTS,
        Mysql => MYSQL_FRAGMENTS,
        Sqlite => SQLITE_FRAGMENTS,
    };
    let fragments: Vec<&'static str> = COMMON_FRAGMENTS.iter().chain(specific).copied().collect();
    (
        proptest::sample::select(WORDS),
        proptest::collection::vec(proptest::sample::select(fragments), 0..6),
        proptest::sample::select(WORDS),
    )
        .prop_map(|(first, middle, last)| {
            let mut parts = vec![first];
            parts.extend(middle);
            parts.push(last);
            parts.join(" ")
        })
}

fn statements_in_any_dialect() -> impl Strategy<Value = (SplitDialect, Vec<String>, &'static str)> {
    proptest::sample::select(DIALECTS.to_vec()).prop_flat_map(|dialect| {
        (
            Just(dialect),
            proptest::collection::vec(statement(dialect), 0..6),
            proptest::sample::select(ENDINGS),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_and_returns_slices_of_the_input(text in tricky_text()) {
        for dialect in DIALECTS {
            let statements = split(dialect, &text);
            assert_invariants(&text, &statements);
        }
    }

    #[test]
    fn joined_statements_split_back((dialect, statements, ending) in statements_in_any_dialect()) {
        let input = format!("{}{}", statements.join(";\n"), if statements.is_empty() { "" } else { ending });
        let split = split(dialect, &input);
        assert_invariants(&input, &split);
        let texts: Vec<&str> = split.iter().map(|statement| statement.text.as_str()).collect();
        prop_assert_eq!(texts, statements, "{:?} input: {:?}", dialect, input);
    }
}
