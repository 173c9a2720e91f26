//! The MySQL/MariaDB engine against the real MariaDB server of this machine
//! (127.0.0.1:3306, see DEVELOPERS.md). Each test gets its own database.

mod support;

use std::time::Duration;

use rollgate_engine::mysql::MysqlEngine;
use rollgate_engine::{
    ApplyFile, ApplyOptions, Engine, EngineError, HistoryRecord, NewRecord, Progress, RecordKind,
    RecordStatus, StatementText, TargetUrl,
};
use rollgate_migration::Checksum;
use sqlx::{Connection, MySqlConnection};
use support::TestDb;

async fn engine(url: &str) -> MysqlEngine {
    MysqlEngine::connect(&TargetUrl::parse(url).unwrap(), None)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A migration file of the given statements, one per line.
fn file(version: &str, statements: &[&str]) -> ApplyFile {
    let text = statements.join("\n");
    ApplyFile {
        version: version.to_string(),
        file_name: format!("migrations/V{version}__test.sql"),
        change_type: "DDL".to_string(),
        checksum: Checksum::of(&text).to_string(),
        statements: statements
            .iter()
            .enumerate()
            .map(|(i, s)| StatementText {
                text: s.to_string(),
                line: i as u32 + 1,
            })
            .collect(),
        no_transaction: false,
        lock_timeout: None,
        resume_from: 0,
    }
}

async fn apply(
    engine: &mut MysqlEngine,
    file: &ApplyFile,
) -> (Result<(), EngineError>, Vec<Progress>) {
    apply_with(engine, file, &ApplyOptions::default()).await
}

async fn apply_with(
    engine: &mut MysqlEngine,
    file: &ApplyFile,
    options: &ApplyOptions,
) -> (Result<(), EngineError>, Vec<Progress>) {
    let mut events = Vec::new();
    let result = engine
        .apply(file, options, &mut |p| events.push(p))
        .await
        .map(|_| ());
    (result, events)
}

async fn tables(url: &str) -> Vec<String> {
    let mut conn = MySqlConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

fn only(history: &[HistoryRecord], version: &str) -> HistoryRecord {
    let rows: Vec<_> = history.iter().filter(|r| r.version == version).collect();
    assert_eq!(rows.len(), 1, "{history:#?}");
    rows[0].clone()
}

#[tokio::test]
async fn two_files_apply_and_are_recorded_as_succeeded() {
    let db = TestDb::mysql().await;
    let mut engine = engine(&db.url).await;
    assert!(engine.history().await.unwrap().is_empty());
    let first = file(
        "1",
        &[
            "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)",
            "CREATE INDEX users_name ON users (name)",
        ],
    );
    let second = file("2", &["INSERT INTO users VALUES (1, 'ada')"]);
    let (result, events) = apply(&mut engine, &first).await;
    result.unwrap();
    assert!(
        matches!(
            events[0],
            Progress::StatementStarted {
                index: 0,
                total: 2,
                line: 1
            }
        ),
        "{events:?}"
    );
    apply(&mut engine, &second).await.0.unwrap();

    let history = engine.history().await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
    let row = &history[0];
    assert_eq!(
        (row.kind, row.status),
        (RecordKind::Migration, RecordStatus::Succeeded)
    );
    assert_eq!((row.statements_done, row.statements_total), (2, 2));
    assert_eq!(row.checksum, first.checksum);
    let expected = Checksum::of(&format!(
        "{}\n{}",
        first.statements[0].text, first.statements[1].text
    ))
    .to_string();
    assert_eq!(row.statements_checksum.as_deref(), Some(expected.as_str()));
    assert!(
        row.started_at.ends_with('Z') && row.started_at.contains('T'),
        "{}",
        row.started_at
    );
    assert!(
        row.finished_at.is_some() && row.duration_ms.is_some(),
        "{row:?}"
    );
    assert!(row.applied_by.starts_with("root@"), "{}", row.applied_by);
    assert_eq!(row.error, None);
    assert_eq!(tables(&db.url).await, ["rollgate_history", "users"]);
}

#[tokio::test]
async fn a_failure_is_recorded_per_statement_and_the_fixed_file_resumes_there() {
    let db = TestDb::mysql().await;
    let mut engine = engine(&db.url).await;
    let broken = file(
        "1",
        &[
            "CREATE TABLE a (id INT PRIMARY KEY)",
            "CREATE TABLE b (id INT, id INT)",
            "CREATE TABLE c (id INT)",
        ],
    );
    let error = apply(&mut engine, &broken).await.0.unwrap_err();
    let EngineError::Statement(failure) = &error else {
        panic!("{error}")
    };
    assert_eq!((failure.index, failure.line), (1, 2));
    let message = error.to_string();
    assert!(
        message.contains("Duplicate column name 'id'") && message.contains("1060"),
        "{message}"
    );
    assert!(
        message.contains("statement 1 ran and stays committed"),
        "{message}"
    );

    // MySQL committed the first statement's DDL; the history says where it stopped.
    assert_eq!(tables(&db.url).await, ["a", "rollgate_history"]);
    let row = only(&engine.history().await.unwrap(), "1");
    assert_eq!(
        (row.status, row.statements_done, row.statements_total),
        (RecordStatus::Failed, 1, 3)
    );
    let text = row.error.as_deref().unwrap();
    assert!(
        text.starts_with("failed at statement 2 of 3: Duplicate column name 'id' (error 1060"),
        "{text}"
    );
    assert_eq!(
        row.statements_checksum,
        Some(Checksum::of("CREATE TABLE a (id INT PRIMARY KEY)").to_string())
    );

    // Editing a statement that already ran is refused, and nothing runs.
    let mut edited = file(
        "1",
        &[
            "CREATE TABLE a (id BIGINT PRIMARY KEY)",
            "CREATE TABLE b (id INT)",
            "CREATE TABLE c (id INT)",
        ],
    );
    edited.resume_from = 1;
    let refused = apply(&mut engine, &edited).await.0.unwrap_err().to_string();
    assert!(
        refused.contains("were edited since") && refused.contains("history repair --version 1"),
        "{refused}"
    );
    assert_eq!(tables(&db.url).await, ["a", "rollgate_history"]);

    let mut fixed = file(
        "1",
        &[
            "CREATE TABLE a (id INT PRIMARY KEY)",
            "CREATE TABLE b (id INT)",
            "CREATE TABLE c (id INT)",
        ],
    );
    fixed.resume_from = 1;
    let (result, events) = apply(&mut engine, &fixed).await;
    result.unwrap();
    assert!(
        matches!(
            events[0],
            Progress::StatementStarted {
                index: 1,
                total: 3,
                line: 2
            }
        ),
        "{events:?}"
    );
    let row = only(&engine.history().await.unwrap(), "1");
    assert_eq!(
        (row.status, row.statements_done, row.statements_total),
        (RecordStatus::Succeeded, 3, 3)
    );
    assert_eq!(
        (row.checksum.as_str(), row.error.as_deref()),
        (fixed.checksum.as_str(), None)
    );
    assert!(row.finished_at.is_some());
    assert_eq!(tables(&db.url).await, ["a", "b", "c", "rollgate_history"]);
}

#[tokio::test]
async fn a_runner_killed_mid_file_leaves_a_running_row_that_resumes() {
    let db = TestDb::mysql().await;
    let long = file(
        "1",
        &[
            "CREATE TABLE a (id INT)",
            "SELECT SLEEP(1)",
            "CREATE TABLE b (id INT)",
        ],
    );
    {
        let mut engine = engine(&db.url).await;
        let run = apply(&mut engine, &long);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), run)
                .await
                .is_err(),
            "should still be sleeping"
        );
    }
    let mut engine = engine(&db.url).await;
    let row = only(&engine.history().await.unwrap(), "1");
    assert_eq!(
        (row.status, row.statements_done),
        (RecordStatus::Running, 1)
    );
    let mut resumed = long.clone();
    resumed.resume_from = 1;
    apply(&mut engine, &resumed).await.0.unwrap();
    let row = only(&engine.history().await.unwrap(), "1");
    assert_eq!(
        (row.status, row.statements_done),
        (RecordStatus::Succeeded, 3)
    );
}

#[tokio::test]
async fn a_statement_blocked_by_a_metadata_lock_is_retried() {
    let db = TestDb::mysql().await;
    let mut engine = engine(&db.url).await;
    apply(&mut engine, &file("1", &["CREATE TABLE t (id INT)"]))
        .await
        .0
        .unwrap();
    // An open transaction that read `t` holds a metadata lock ALTER must wait for.
    let mut blocker = MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("START TRANSACTION")
        .execute(&mut blocker)
        .await
        .unwrap();
    sqlx::raw_sql("SELECT * FROM t")
        .execute(&mut blocker)
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1300)).await;
        sqlx::raw_sql("COMMIT").execute(&mut blocker).await.unwrap();
        blocker
    });
    let options = ApplyOptions {
        lock_timeout: Duration::from_millis(500),
        lock_retries: 3,
        ..ApplyOptions::default()
    };
    let (result, events) = apply_with(
        &mut engine,
        &file("2", &["ALTER TABLE t ADD COLUMN name TEXT"]),
        &options,
    )
    .await;
    result.unwrap();
    let retries: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Progress::LockRetry { .. }))
        .collect();
    assert!(!retries.is_empty(), "{events:?}");
    let Progress::LockRetry {
        index: 0,
        attempt: 1,
        blocked_by,
        ..
    } = retries[0]
    else {
        panic!("{retries:?}")
    };
    assert!(
        blocked_by
            .as_deref()
            .is_some_and(|b| b.contains("connection")),
        "{blocked_by:?}"
    );
    release.await.unwrap();

    // Without retries the lock wait timeout is the failure, with its code.
    let mut blocker = MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("START TRANSACTION")
        .execute(&mut blocker)
        .await
        .unwrap();
    sqlx::raw_sql("SELECT * FROM t")
        .execute(&mut blocker)
        .await
        .unwrap();
    let options = ApplyOptions {
        lock_timeout: Duration::from_millis(100),
        lock_retries: 0,
        ..ApplyOptions::default()
    };
    let error = apply_with(
        &mut engine,
        &file("3", &["ALTER TABLE t ADD COLUMN age INT"]),
        &options,
    )
    .await
    .0
    .unwrap_err();
    assert!(error.to_string().contains("error 1205"), "{error}");
    let row = only(&engine.history().await.unwrap(), "3");
    assert!(
        row.error
            .unwrap()
            .starts_with("failed at statement 1 of 1: Lock wait timeout exceeded")
    );
}

#[tokio::test]
async fn a_second_runner_on_the_same_database_is_told_who_holds_the_lock() {
    let db = TestDb::mysql().await;
    let mut first = engine(&db.url).await;
    let mut second = engine(&db.url).await;
    first.lock(Duration::from_secs(1)).await.unwrap();
    first.lock(Duration::from_secs(1)).await.unwrap();

    let mut observer = MySqlConnection::connect(&db.url).await.unwrap();
    let holder_id: i64 = sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)")
        .bind(first.lock_name())
        .fetch_one(&mut observer)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = second.lock(Duration::from_millis(300)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let EngineError::Locked { holder, waited, .. } = &error else {
        panic!("{error}")
    };
    assert!(*waited >= Duration::from_millis(300));
    let holder = holder.as_deref().unwrap();
    assert!(
        holder.contains(&format!("connection {holder_id} (root@")),
        "{holder}"
    );
    assert!(error.to_string().contains(&db.name), "{error}");

    // One unlock frees it even after two lock calls; then the second gets it.
    first.unlock().await.unwrap();
    second.lock(Duration::from_secs(1)).await.unwrap();
    second.unlock().await.unwrap();
}

#[tokio::test]
async fn runners_on_different_databases_of_one_server_do_not_block_each_other() {
    let (one, two) = (TestDb::mysql().await, TestDb::mysql().await);
    let mut first = engine(&one.url).await;
    let mut second = engine(&two.url).await;
    first.lock(Duration::from_millis(300)).await.unwrap();
    second.lock(Duration::from_millis(300)).await.unwrap();
    assert_ne!(first.lock_name(), second.lock_name());
    assert!(first.lock_name().contains(&one.name));
}

/// A database with a 64-character name, dropped afterwards.
struct LongDb {
    name: String,
}

impl Drop for LongDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut admin) = MySqlConnection::connect(&support::mysql_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS `{name}`");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn the_lock_name_of_a_long_database_name_fits_in_64_characters() {
    let prefix = format!("rg_long_{}_", std::process::id());
    let name = format!("{prefix}{}", "x".repeat(64 - prefix.len()));
    assert_eq!(name.len(), 64);
    let mut admin = MySqlConnection::connect(&support::mysql_admin_url())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
    let _guard = LongDb { name: name.clone() };
    let base = support::mysql_admin_url()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    let url = format!("{base}/{name}");

    let mut first = engine(&url).await;
    let mut second = engine(&url).await;
    assert!(first.lock_name().len() <= 64, "{}", first.lock_name());
    first.lock(Duration::from_millis(300)).await.unwrap();
    assert!(matches!(
        second.lock(Duration::from_millis(100)).await,
        Err(EngineError::Locked { .. })
    ));
}

#[tokio::test]
async fn schema_dumps_are_deterministic_and_leave_out_the_history() {
    let schema = [
        "CREATE TABLE teams (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40) NOT NULL DEFAULT 'none', budget INT CHECK (budget > 0))",
        "CREATE TABLE people (id BIGINT PRIMARY KEY, team_id INT, email VARCHAR(80), nick VARCHAR(20), \
         UNIQUE KEY people_email (email, nick), KEY people_nick (nick(5)), \
         CONSTRAINT people_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE)",
        "CREATE VIEW team_names AS SELECT id, name FROM teams",
    ];
    let (one, two) = (TestDb::mysql().await, TestDb::mysql().await);
    let mut first = engine(&one.url).await;
    let mut second = engine(&two.url).await;
    apply(&mut first, &file("1", &schema)).await.0.unwrap();
    // The same schema, created in another order and without rollgate.
    let mut conn = MySqlConnection::connect(&two.url).await.unwrap();
    for statement in schema {
        sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
    }

    let dump = first.dump_schema().await.unwrap();
    assert_eq!(dump, first.dump_schema().await.unwrap());
    assert_eq!(
        dump,
        second.dump_schema().await.unwrap(),
        "same schema, different database names"
    );
    let text = dump.to_text();
    assert!(!text.contains("rollgate_history"), "{text}");
    assert!(!text.contains(&one.name), "{text}");
    for expected in [
        "table people\n",
        "  column id int(11) auto_increment NOT NULL\n",
        "  column name varchar(40) NOT NULL DEFAULT 'none'\n",
        "  column budget int(11)\n",
        "  index people_email UNIQUE (email, nick)\n",
        "  index people_nick (nick(5))\n",
        "  index PRIMARY UNIQUE (id)\n",
        "  constraint people_team FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE\n",
        "  constraint budget CHECK (`budget` > 0)\n",
        "  constraint PRIMARY PRIMARY KEY (id)\n",
        "view team_names\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[tokio::test]
async fn baseline_and_repair_rows_are_appended_and_dry_run_executes_nothing() {
    let db = TestDb::mysql().await;
    let mut engine = engine(&db.url).await;
    let baseline = NewRecord {
        version: "5".into(),
        file_name: "migrations/V5__base.sql".into(),
        change_type: "DDL".into(),
        kind: RecordKind::Baseline,
        checksum: Checksum::of("x").to_string(),
        status: RecordStatus::Succeeded,
        applied_by: Some("ops@example.com".into()),
        note: None,
    };
    engine.record(&baseline).await.unwrap();
    let repair = NewRecord {
        kind: RecordKind::Repair,
        status: RecordStatus::Cleared,
        applied_by: None,
        note: Some("fixed by hand".into()),
        ..baseline
    };
    engine.record(&repair).await.unwrap();
    engine
        .dry_run(&[file("6", &["CREATE TABLE never (id INT)"])])
        .await
        .unwrap();

    let history = engine.history().await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[0].kind,
            history[0].status,
            history[0].applied_by.as_str()
        ),
        (
            RecordKind::Baseline,
            RecordStatus::Succeeded,
            "ops@example.com"
        )
    );
    assert_eq!(
        (
            history[1].kind,
            history[1].status,
            history[1].note.as_deref()
        ),
        (
            RecordKind::Repair,
            RecordStatus::Cleared,
            Some("fixed by hand")
        )
    );
    assert!(history[1].applied_by.starts_with("root@"));
    assert!(history[0].id < history[1].id);
    assert_eq!(tables(&db.url).await, ["rollgate_history"]);
}

#[tokio::test]
async fn history_can_live_in_another_database() {
    let (target, meta) = (TestDb::mysql().await, TestDb::mysql().await);
    let mut engine =
        MysqlEngine::connect(&TargetUrl::parse(&target.url).unwrap(), Some(&meta.name))
            .await
            .unwrap();
    apply(&mut engine, &file("1", &["CREATE TABLE t (id INT)"]))
        .await
        .0
        .unwrap();
    // A file that switches databases does not move the next file there.
    apply(&mut engine, &file("2", &[&format!("USE `{}`", meta.name)]))
        .await
        .0
        .unwrap();
    apply(&mut engine, &file("3", &["CREATE TABLE u (id INT)"]))
        .await
        .0
        .unwrap();
    assert_eq!(tables(&target.url).await, ["t", "u"]);
    assert_eq!(tables(&meta.url).await, ["rollgate_history"]);
    assert_eq!(engine.history().await.unwrap().len(), 3);
    assert!(
        engine
            .dump_schema()
            .await
            .unwrap()
            .tables
            .iter()
            .any(|t| t.name == "t")
    );
}

async fn connect_error(url: &str) -> String {
    let error = MysqlEngine::connect(&TargetUrl::parse(url).unwrap(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, EngineError::Connect { .. } | EngineError::BadUrl(_)),
        "{error:?}"
    );
    error.to_string()
}

#[tokio::test]
async fn connection_errors_name_host_and_port_but_never_the_password() {
    let closed = connect_error("mysql://root:s3cret@127.0.0.1:1/test").await;
    assert!(
        closed.contains("127.0.0.1:1") && closed.contains("server is running"),
        "{closed}"
    );
    assert!(!closed.contains("s3cret"), "{closed}");

    let denied = connect_error("mysql://root:wrong@127.0.0.1:3306/test").await;
    assert!(
        denied.to_lowercase().contains("access denied") && denied.contains("127.0.0.1:3306"),
        "{denied}"
    );
    assert!(!denied.contains("wrong"), "{denied}");

    let missing = connect_error("mariadb://root@127.0.0.1:3306/rg_no_such_database").await;
    assert!(
        missing.contains("rg_no_such_database") && missing.contains("does not exist"),
        "{missing}"
    );

    let no_database = MysqlEngine::connect(
        &TargetUrl::parse("mysql://root:pw@127.0.0.1:3306").unwrap(),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&no_database, EngineError::BadUrl(m) if m.contains("names no database") && !m.contains("pw")),
        "{no_database}"
    );
}
