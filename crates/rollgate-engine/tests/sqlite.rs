//! The SQLite engine against real database files.

mod support;

use std::time::Duration;

use rollgate_engine::sqlite::SqliteEngine;
use rollgate_engine::{
    ApplyFile, ApplyOptions, Engine, EngineError, HistoryRecord, NewRecord, Progress, RecordKind,
    RecordStatus, StatementText, TargetUrl,
};
use rollgate_migration::{
    AppliedKind, AppliedRecord, AppliedStatus, Checksum, MigrationFile, PlanOptions, Version,
};
use sqlx::Connection;
use support::TestDb;

async fn connect(url: &str) -> SqliteEngine {
    SqliteEngine::connect(&TargetUrl::parse(url).unwrap(), None)
        .await
        .unwrap()
}

/// A file whose statements sit one per line; the version is the name's
/// prefix up to `_`.
fn file(name: &str, statements: &[&str]) -> ApplyFile {
    let text = statements.join("\n");
    ApplyFile {
        version: name.split('_').next().unwrap().to_string(),
        file_name: name.to_string(),
        change_type: "DDL".to_string(),
        checksum: Checksum::of(&text).to_string(),
        statements: statements
            .iter()
            .zip(1..)
            .map(|(text, line)| StatementText {
                text: text.to_string(),
                line,
            })
            .collect(),
        no_transaction: false,
        lock_timeout: None,
        resume_from: 0,
    }
}

fn no_transaction(mut file: ApplyFile) -> ApplyFile {
    file.no_transaction = true;
    file
}

async fn apply(engine: &mut SqliteEngine, file: &ApplyFile) -> Result<Vec<Progress>, EngineError> {
    let mut events = Vec::new();
    engine
        .apply(file, &ApplyOptions::default(), &mut |event| {
            events.push(event)
        })
        .await?;
    Ok(events)
}

/// `version kind status done/total`, one per row.
fn summary(history: &[HistoryRecord]) -> Vec<String> {
    history
        .iter()
        .map(|row| {
            format!(
                "{} {} {} {}/{}",
                row.version,
                row.kind.as_str(),
                row.status.as_str(),
                row.statements_done,
                row.statements_total
            )
        })
        .collect()
}

async fn table_names(engine: &mut SqliteEngine) -> Vec<String> {
    engine
        .dump_schema()
        .await
        .unwrap()
        .tables
        .into_iter()
        .map(|table| table.name)
        .collect()
}

async fn count(url: &str, sql: &'static str) -> i64 {
    let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql)
        .fetch_one(&mut connection)
        .await
        .unwrap()
}

fn is_utc_timestamp(text: &str) -> bool {
    text.len() == 24 && text.as_bytes()[10] == b'T' && text.ends_with('Z')
}

#[tokio::test]
async fn apply_records_history_and_never_applies_a_version_twice() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    assert!(engine.history().await.unwrap().is_empty());
    let first = file(
        "1_users",
        &[
            "CREATE TABLE users (id INTEGER PRIMARY KEY)",
            "INSERT INTO users VALUES (1)",
        ],
    );
    let events = apply(&mut engine, &first).await.unwrap();
    assert!(matches!(
        events[..],
        [
            Progress::StatementStarted {
                index: 0,
                total: 2,
                line: 1
            },
            Progress::StatementFinished { index: 0, .. },
            Progress::StatementStarted {
                index: 1,
                total: 2,
                line: 2
            },
            Progress::StatementFinished {
                index: 1,
                rows_affected: 1,
                ..
            },
        ]
    ));
    apply(
        &mut engine,
        &file("2_posts", &["CREATE TABLE posts (id INTEGER PRIMARY KEY)"]),
    )
    .await
    .unwrap();

    let history = engine.history().await.unwrap();
    assert_eq!(
        summary(&history),
        ["1 MIGRATION SUCCEEDED 2/2", "2 MIGRATION SUCCEEDED 1/1"]
    );
    let row = &history[0];
    assert_eq!(
        (
            row.file_name.as_str(),
            row.change_type.as_str(),
            row.checksum.as_str()
        ),
        ("1_users", "DDL", first.checksum.as_str())
    );
    assert!(
        is_utc_timestamp(&row.started_at)
            && row.finished_at.as_deref().is_some_and(is_utc_timestamp),
        "{row:?}"
    );
    assert!(row.duration_ms.is_some() && !row.applied_by.is_empty());
    let done = rollgate_migration::statements_checksum(&[
        "CREATE TABLE users (id INTEGER PRIMARY KEY)",
        "INSERT INTO users VALUES (1)",
    ]);
    assert_eq!(row.statements_checksum.as_deref(), Some(done.as_str()));

    // Applying it again (a runner that planned before this one finished) is
    // refused under the write lock, and nothing runs.
    let error = apply(&mut engine, &first).await.unwrap_err().to_string();
    assert!(
        error.contains("version 1 is already recorded as applied (rollgate_history row 1)"),
        "{error}"
    );
    assert_eq!(count(&db.url, "SELECT count(*) FROM users").await, 1);
    assert_eq!(engine.history().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_failing_file_leaves_no_trace_and_applies_once_fixed() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    apply(&mut engine, &file("1_a", &["CREATE TABLE a (x int)"]))
        .await
        .unwrap();
    let broken = file(
        "2_b",
        &[
            "CREATE TABLE b (x int)",
            "INSERT INTO b VALUES (1)",
            "INSERT INTO missing VALUES (1)",
        ],
    );
    let EngineError::Statement(failure) = apply(&mut engine, &broken).await.unwrap_err() else {
        panic!("expected a statement failure")
    };
    assert_eq!(
        (failure.file_name.as_str(), failure.index, failure.line),
        ("2_b", 2, 3)
    );
    assert_eq!(
        failure.to_string(),
        "2_b:3: statement 3 failed: no such table: missing (SQLite code 1)"
    );

    assert_eq!(table_names(&mut engine).await, ["a"]);
    assert_eq!(
        summary(&engine.history().await.unwrap()),
        ["1 MIGRATION SUCCEEDED 1/1"]
    );

    let fixed = file(
        "2_b",
        &[
            "CREATE TABLE b (x int)",
            "INSERT INTO b VALUES (1)",
            "INSERT INTO b VALUES (2)",
        ],
    );
    apply(&mut engine, &fixed).await.unwrap();
    assert_eq!(table_names(&mut engine).await, ["a", "b"]);
    assert_eq!(count(&db.url, "SELECT count(*) FROM b").await, 2);
    assert_eq!(
        summary(&engine.history().await.unwrap()),
        ["1 MIGRATION SUCCEEDED 1/1", "2 MIGRATION SUCCEEDED 3/3"]
    );
}

#[tokio::test]
async fn no_transaction_files_record_progress_and_resume_after_the_planner_checks_them() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    let statements = [
        "CREATE TABLE n (a int)",
        "INSERT INTO n VALUES (1)",
        "INSERT INTO missing VALUES (2)",
        "VACUUM",
    ];
    let broken = no_transaction(file("1_n", &statements));
    let error = apply(&mut engine, &broken).await.unwrap_err().to_string();
    assert_eq!(
        error,
        "1_n:3: statement 3 failed: no such table: missing (SQLite code 1)"
    );
    let history = engine.history().await.unwrap();
    assert_eq!(summary(&history), ["1 MIGRATION FAILED 2/4"]);
    assert_eq!(
        history[0].error.as_deref(),
        Some("failed at statement 3 of 4 (line 3): no such table: missing (SQLite code 1)")
    );
    let done = rollgate_migration::statements_checksum(&statements[..2]);
    assert_eq!(
        history[0].statements_checksum.as_deref(),
        Some(done.as_str())
    );

    // The planner accepts the fix because the two statements that ran are
    // unchanged, and resumes at the third.
    let fixed_text =
        "CREATE TABLE n (a int);\nINSERT INTO n VALUES (1);\nINSERT INTO n VALUES (2);\nVACUUM;";
    let migration = MigrationFile::from_text("1_n.sql", fixed_text);
    let split = |file: &MigrationFile| {
        file.text
            .split(";\n")
            .map(|s| s.trim_end_matches(';').to_string())
            .collect::<Vec<_>>()
    };
    let plan = rollgate_migration::plan(
        &[migration],
        &applied_records(&history),
        &split,
        &PlanOptions::default(),
    )
    .unwrap();
    assert_eq!(plan.steps[0].resume_from, 2);

    let mut fixed = no_transaction(file(
        "1_n",
        &[
            "CREATE TABLE n (a int)",
            "INSERT INTO n VALUES (1)",
            "INSERT INTO n VALUES (2)",
            "VACUUM",
        ],
    ));
    fixed.resume_from = plan.steps[0].resume_from;
    let events = apply(&mut engine, &fixed).await.unwrap();
    assert!(
        matches!(
            events[0],
            Progress::StatementStarted {
                index: 2,
                total: 4,
                line: 3
            }
        ),
        "{events:?}"
    );
    assert_eq!(count(&db.url, "SELECT count(*) FROM n").await, 2);
    assert_eq!(
        summary(&engine.history().await.unwrap()),
        ["1 MIGRATION FAILED 2/4", "1 MIGRATION SUCCEEDED 4/4"]
    );
}

/// The conversion the CLI makes from engine history to planner input.
fn applied_records(history: &[HistoryRecord]) -> Vec<AppliedRecord> {
    history
        .iter()
        .map(|row| AppliedRecord {
            version: Version::parse(&row.version).unwrap(),
            file_name: row.file_name.clone(),
            kind: match row.kind {
                RecordKind::Migration => AppliedKind::Migration,
                RecordKind::Baseline => AppliedKind::Baseline,
                RecordKind::Repair => AppliedKind::Repair,
            },
            checksum: row.checksum.clone(),
            status: match row.status {
                RecordStatus::Running => AppliedStatus::Running,
                RecordStatus::Succeeded => AppliedStatus::Succeeded,
                RecordStatus::Failed => AppliedStatus::Failed,
                RecordStatus::Cleared => AppliedStatus::Cleared,
            },
            statements_done: u32::try_from(row.statements_done).unwrap(),
            statements_total: u32::try_from(row.statements_total).unwrap(),
            statements_checksum: row.statements_checksum.clone(),
            error: row.error.clone(),
        })
        .collect()
}

#[tokio::test]
async fn statements_that_need_no_transaction_are_refused_before_anything_runs() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    let vacuum = file("1_v", &["CREATE TABLE v (a int)", "VACUUM"]);
    let error = apply(&mut engine, &vacuum).await.unwrap_err().to_string();
    assert_eq!(
        error,
        "1_v:2: statement 2 failed: refused before running anything: VACUUM cannot run inside a transaction; \
         add `-- rollgate:no-transaction` to the file so it runs statement by statement outside a transaction"
    );
    let commit = file("1_v", &["CREATE TABLE v (a int)", "COMMIT"]);
    let error = apply(&mut engine, &commit).await.unwrap_err().to_string();
    assert!(
        error.contains("COMMIT would end or nest the transaction rollgate runs the file in"),
        "{error}"
    );
    let pragma = file(
        "1_v",
        &["PRAGMA foreign_keys = OFF", "CREATE TABLE v (a int)"],
    );
    let error = apply(&mut engine, &pragma).await.unwrap_err().to_string();
    assert!(
        error.starts_with("1_v:1: statement 1 failed: refused before running anything: PRAGMA foreign_keys is silently ignored"),
        "{error}"
    );
    assert!(table_names(&mut engine).await.is_empty());
    assert!(engine.history().await.unwrap().is_empty());
    // With the directive they run.
    apply(&mut engine, &no_transaction(vacuum)).await.unwrap();
    assert_eq!(table_names(&mut engine).await, ["v"]);
}

#[tokio::test]
async fn dry_run_rolls_everything_back_and_names_the_first_error() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    apply(&mut engine, &file("1_a", &["CREATE TABLE a (x int)"]))
        .await
        .unwrap();
    let good = [
        file(
            "2_b",
            &["CREATE TABLE b (x int)", "INSERT INTO b SELECT x FROM a"],
        ),
        no_transaction(file(
            "3_c",
            &[
                "CREATE TABLE c (x int)",
                "VACUUM",
                "INSERT INTO c SELECT x FROM b",
            ],
        )),
    ];
    engine.dry_run(&good).await.unwrap();
    assert_eq!(table_names(&mut engine).await, ["a"]);

    let bad = [
        good[0].clone(),
        file(
            "3_c",
            &[
                "CREATE TABLE c (x int)",
                "INSERT INTO c SELECT y FROM b",
                "SELECT 1",
            ],
        ),
    ];
    let EngineError::Statement(failure) = engine.dry_run(&bad).await.unwrap_err() else {
        panic!("expected a statement failure")
    };
    assert_eq!(
        failure.to_string(),
        "3_c:2: statement 2 failed: no such column: y (SQLite code 1)"
    );
    assert_eq!(table_names(&mut engine).await, ["a"]);
    assert_eq!(
        summary(&engine.history().await.unwrap()),
        ["1 MIGRATION SUCCEEDED 1/1"]
    );
}

const SCHEMA: [&str; 5] = [
    "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'anon', email varchar(200), UNIQUE (name, email))",
    "CREATE TABLE books (\n  id integer NOT NULL,\n  author_id INTEGER REFERENCES authors (id) ON DELETE CASCADE,\n  \
     pages int CONSTRAINT positive_pages CHECK (pages > 0),\n  PRIMARY KEY (id)\n)",
    "CREATE INDEX books_by_author ON books (author_id) WHERE pages > 10",
    "CREATE UNIQUE INDEX authors_email ON authors (lower(email))",
    "CREATE VIEW long_books AS SELECT id FROM books WHERE pages > 500",
];

#[tokio::test]
async fn schema_dump_is_deterministic_and_leaves_out_the_history() {
    let first = TestDb::sqlite();
    let mut engine = connect(&first.url).await;
    apply(&mut engine, &file("1_schema", &SCHEMA))
        .await
        .unwrap();
    let dump = engine.dump_schema().await.unwrap();
    assert_eq!(dump, engine.dump_schema().await.unwrap());
    assert_eq!(
        dump.to_text(),
        "\
table authors
  column id INTEGER
  column name TEXT NOT NULL DEFAULT 'anon'
  column email VARCHAR(200)
  index authors_email CREATE UNIQUE INDEX authors_email ON authors (lower (email))
  constraint authors_name_email_key UNIQUE (name, email)
  constraint authors_pkey PRIMARY KEY (id)
table books
  column id INTEGER NOT NULL
  column author_id INTEGER
  column pages INT
  index books_by_author CREATE INDEX books_by_author ON books (author_id) WHERE pages > 10
  constraint books_author_id_fkey FOREIGN KEY (author_id) REFERENCES authors (id) ON UPDATE NO ACTION ON DELETE CASCADE
  constraint books_pkey PRIMARY KEY (id)
  constraint positive_pages CHECK (pages > 0)
view long_books
  CREATE VIEW long_books AS SELECT id FROM books WHERE pages > 500
"
    );

    // The same schema reached in another order, with other whitespace,
    // without history: the same snapshot.
    let second = TestDb::sqlite();
    let mut other = connect(&second.url).await;
    let mut connection = sqlx::SqliteConnection::connect(&second.url).await.unwrap();
    for sql in [
        SCHEMA[0],
        SCHEMA[3],
        SCHEMA[1],
        SCHEMA[4],
        "CREATE  INDEX books_by_author\n ON books(author_id)\n WHERE pages > 10",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    assert_eq!(other.dump_schema().await.unwrap(), dump);
}

#[tokio::test]
async fn history_lists_every_row_in_insertion_order() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    let record = |version: &str, kind, status, note: Option<&str>| NewRecord {
        version: version.to_string(),
        file_name: format!("{version}_x.sql"),
        change_type: "DDL".to_string(),
        kind,
        checksum: Checksum::of(version).to_string(),
        status,
        applied_by: Some("ops@example.com".to_string()),
        note: note.map(str::to_string),
    };
    engine
        .record(&record(
            "5",
            RecordKind::Baseline,
            RecordStatus::Succeeded,
            None,
        ))
        .await
        .unwrap();
    apply(&mut engine, &file("7_a", &["CREATE TABLE a (x int)"]))
        .await
        .unwrap();
    engine
        .record(&record(
            "2",
            RecordKind::Baseline,
            RecordStatus::Succeeded,
            None,
        ))
        .await
        .unwrap();
    engine
        .record(&record(
            "7",
            RecordKind::Repair,
            RecordStatus::Succeeded,
            Some("reformatted"),
        ))
        .await
        .unwrap();
    engine
        .record(&record(
            "6",
            RecordKind::Repair,
            RecordStatus::Cleared,
            Some("fixed by hand"),
        ))
        .await
        .unwrap();
    let history = engine.history().await.unwrap();
    assert_eq!(
        summary(&history),
        [
            "5 BASELINE SUCCEEDED 0/0",
            "7 MIGRATION SUCCEEDED 1/1",
            "2 BASELINE SUCCEEDED 0/0",
            "7 REPAIR SUCCEEDED 0/0",
            "6 REPAIR CLEARED 0/0"
        ]
    );
    assert_eq!(
        history.iter().map(|row| row.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        (history[3].applied_by.as_str(), history[3].note.as_deref()),
        ("ops@example.com", Some("reformatted"))
    );
    assert!(history.iter().all(|row| is_utc_timestamp(&row.started_at)));

    // A fresh connection reads the same rows.
    assert_eq!(connect(&db.url).await.history().await.unwrap(), history);
}

#[tokio::test]
async fn the_database_file_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let mut engine = connect(&url).await;
    assert!(path.exists());
    assert!(engine.history().await.unwrap().is_empty());
    assert_eq!(
        engine.lock_file_path(),
        Some(
            std::fs::canonicalize(&path)
                .unwrap()
                .with_file_name("new.db-rollgate-lock")
                .as_path()
        )
    );

    let nowhere = format!("sqlite://{}/no/such/dir/x.db", dir.path().display());
    let error = SqliteEngine::connect(&TargetUrl::parse(&nowhere).unwrap(), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, EngineError::Connect { .. }));
    let message = error.to_string();
    assert!(
        message.contains("no/such/dir/x.db")
            && message.contains("check that its directory exists and is writable"),
        "{message}"
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        "this is not a database, just some text that is long enough to have a header",
    )
    .unwrap();
    let error = SqliteEngine::connect(
        &TargetUrl::parse(&format!("sqlite://{}", garbage.display())).unwrap(),
        None,
    )
    .await
    .err()
    .unwrap();
    assert!(
        error
            .to_string()
            .contains("garbage.db is not a SQLite database"),
        "{error}"
    );

    let error = SqliteEngine::connect(&TargetUrl::parse(&url).unwrap(), Some("public"))
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("SQLite has no schemas"),
        "{error}"
    );
    assert!(
        SqliteEngine::connect(&TargetUrl::parse(&url).unwrap(), Some("main"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_second_runner_waits_for_the_lock_and_is_told_who_holds_it() {
    let db = TestDb::sqlite();
    let mut first = connect(&db.url).await;
    let mut second = connect(&db.url).await;
    first.lock(Duration::from_secs(1)).await.unwrap();

    let started = std::time::Instant::now();
    let error = second.lock(Duration::from_millis(300)).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let EngineError::Locked {
        holder: Some(holder),
        waited,
        ..
    } = &error
    else {
        panic!("expected Locked, got {error}")
    };
    assert_eq!(*waited, Duration::from_millis(300));
    assert!(
        holder.starts_with(&format!("rollgate pid {} (user ", std::process::id())),
        "{holder}"
    );
    assert!(
        error
            .to_string()
            .contains("retry later or raise --lock-timeout"),
        "{error}"
    );

    // Released by unlock, and by dropping the engine (as by a killed process).
    first.unlock().await.unwrap();
    second.lock(Duration::from_secs(1)).await.unwrap();
    drop(second);
    first.lock(Duration::from_secs(1)).await.unwrap();
    first.unlock().await.unwrap();
}

#[tokio::test]
async fn concurrent_runners_apply_every_file_exactly_once() {
    let db = TestDb::sqlite();
    let files: Vec<ApplyFile> = (1..=6)
        .map(|n| {
            file(
                &format!("{n}_t"),
                &[
                    &format!("CREATE TABLE t{n} (x int)"),
                    &format!("INSERT INTO t{n} VALUES ({n})"),
                ],
            )
        })
        .collect();
    let mut runners = Vec::new();
    for _ in 0..3 {
        let (url, files) = (db.url.clone(), files.clone());
        runners.push(tokio::spawn(async move {
            let mut engine = connect(&url).await;
            engine.lock(Duration::from_secs(10)).await.unwrap();
            let applied: Vec<String> = engine
                .history()
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.version)
                .collect();
            for file in files.iter().filter(|file| !applied.contains(&file.version)) {
                apply(&mut engine, file).await.unwrap();
            }
            engine.unlock().await.unwrap();
        }));
    }
    for runner in runners {
        runner.await.unwrap();
    }
    let history = connect(&db.url).await.history().await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|row| row.version.as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3", "4", "5", "6"]
    );
}

#[tokio::test]
async fn lock_waits_for_a_writer_that_is_not_rollgate() {
    let db = TestDb::sqlite();
    let mut engine = connect(&db.url).await;
    let mut writer = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let transaction = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let error = engine.lock(Duration::from_millis(200)).await.unwrap_err();
    assert!(
        matches!(&error, EngineError::Locked { holder: Some(holder), .. } if holder.contains("open write transaction")),
        "{error}"
    );
    transaction.rollback().await.unwrap();
    engine.lock(Duration::from_millis(200)).await.unwrap();
}

#[tokio::test]
async fn in_memory_databases_work_without_a_lock_file() {
    let mut engine = connect("sqlite://:memory:").await;
    assert_eq!(engine.lock_file_path(), None);
    engine.lock(Duration::from_millis(100)).await.unwrap();
    apply(&mut engine, &file("1_a", &["CREATE TABLE a (x int)"]))
        .await
        .unwrap();
    assert_eq!(table_names(&mut engine).await, ["a"]);
    engine.unlock().await.unwrap();
}

#[tokio::test]
async fn a_read_only_database_shows_an_empty_history_and_refuses_the_lock() {
    let db = TestDb::sqlite();
    drop(connect(&db.url).await);
    let mut engine = connect(&format!("{}?mode=ro", db.url)).await;
    assert!(engine.history().await.unwrap().is_empty());
    let error = engine
        .lock(Duration::from_millis(100))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("the database is read-only"), "{error}");
}
