//! The PostgreSQL engine against the real server of this machine: each test
//! gets a fresh database (see `support`).

mod support;

use std::time::Duration;

use rollgate_engine::postgres::PostgresEngine;
use rollgate_engine::{
    ApplyFile, ApplyOptions, Engine, EngineError, HistoryRecord, NewRecord, Progress, RecordKind,
    RecordStatus, StatementText, TargetUrl,
};
use sqlx::{Connection, PgConnection};
use support::TestDb;

async fn engine(db: &TestDb) -> PostgresEngine {
    let url = TargetUrl::parse(&db.url).expect("test URL parses");
    PostgresEngine::connect(&url, None)
        .await
        .expect("connect to the test database")
}

async fn admin(db: &TestDb) -> PgConnection {
    PgConnection::connect(&db.url)
        .await
        .expect("second connection to the test database")
}

/// A migration file from `(line, statement)` pairs.
fn file(version: &str, statements: &[(u32, &str)]) -> ApplyFile {
    ApplyFile {
        version: version.into(),
        file_name: format!("migrations/{version}_test.sql"),
        change_type: "DDL".into(),
        checksum: format!("sha256-v1:{}", "0".repeat(63) + &version.len().to_string()),
        statements: statements
            .iter()
            .map(|(line, text)| StatementText {
                text: text.to_string(),
                line: *line,
            })
            .collect(),
        no_transaction: false,
        lock_timeout: None,
        resume_from: 0,
    }
}

async fn apply(
    engine: &mut PostgresEngine,
    file: &ApplyFile,
) -> Result<Vec<Progress>, EngineError> {
    apply_with(engine, file, &ApplyOptions::default()).await
}

async fn apply_with(
    engine: &mut PostgresEngine,
    file: &ApplyFile,
    options: &ApplyOptions,
) -> Result<Vec<Progress>, EngineError> {
    let mut events = Vec::new();
    engine
        .apply(file, options, &mut |event| events.push(event))
        .await?;
    Ok(events)
}

async fn relation_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

fn statement_failure(error: EngineError) -> rollgate_engine::StatementFailure {
    match error {
        EngineError::Statement(failure) => failure,
        other => panic!("expected a statement failure, got {other:?}"),
    }
}

fn versions_and_statuses(history: &[HistoryRecord]) -> Vec<(String, RecordStatus)> {
    history
        .iter()
        .map(|record| (record.version.clone(), record.status))
        .collect()
}

#[tokio::test]
async fn applied_files_are_recorded_as_succeeded_with_durations() {
    let db = TestDb::postgres().await;
    let mut engine = engine(&db).await;
    assert!(engine.history().await.unwrap().is_empty());
    let first = file(
        "001",
        &[
            (1, "CREATE TABLE accounts (id bigint PRIMARY KEY)"),
            (2, "INSERT INTO accounts VALUES (1)"),
        ],
    );
    let events = apply(&mut engine, &first).await.unwrap();
    assert!(
        events.contains(&Progress::StatementStarted {
            index: 1,
            total: 2,
            line: 2
        }),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Progress::StatementFinished {
            index: 1,
            rows_affected: 1,
            ..
        }
    )));
    let options = ApplyOptions {
        applied_by: Some("alice".into()),
        release_id: Some("r1".into()),
        ..ApplyOptions::default()
    };
    apply_with(
        &mut engine,
        &file("002", &[(1, "ALTER TABLE accounts ADD COLUMN name text")]),
        &options,
    )
    .await
    .unwrap();

    let history = engine.history().await.unwrap();
    assert_eq!(
        versions_and_statuses(&history),
        [
            ("001".into(), RecordStatus::Succeeded),
            ("002".into(), RecordStatus::Succeeded)
        ]
    );
    for record in &history {
        assert_eq!(record.kind, RecordKind::Migration);
        assert!(record.duration_ms.is_some_and(|ms| ms >= 0), "{record:?}");
        assert!(
            record.started_at.ends_with('Z') && record.started_at.contains('T'),
            "{record:?}"
        );
        assert!(
            record
                .finished_at
                .as_ref()
                .is_some_and(|at| *at >= record.started_at),
            "{record:?}"
        );
        assert_eq!(record.statements_done, record.statements_total);
        assert!(
            record
                .statements_checksum
                .as_ref()
                .is_some_and(|c| c.starts_with("sha256-v1:"))
        );
    }
    assert_eq!(history[0].statements_total, 2);
    assert_eq!(history[0].applied_by, "postgres");
    assert_eq!(history[1].applied_by, "alice");
    assert_eq!(history[1].release_id.as_deref(), Some("r1"));
    assert!(history[0].id < history[1].id);
}

#[tokio::test]
async fn a_failing_file_leaves_no_trace_and_applies_once_fixed() {
    let db = TestDb::postgres().await;
    let mut engine = engine(&db).await;
    apply(&mut engine, &file("001", &[(1, "CREATE TABLE a (id int)")]))
        .await
        .unwrap();
    let broken = file(
        "002",
        &[
            (1, "CREATE TABLE b (id int)"),
            (3, "INSERT INTO missing VALUES (1)"),
        ],
    );
    let failure = statement_failure(apply(&mut engine, &broken).await.unwrap_err());
    assert_eq!(
        (failure.file_name.as_str(), failure.index, failure.line),
        ("migrations/002_test.sql", 1, 3)
    );
    assert!(failure.message.contains("SQLSTATE 42P01"), "{failure}");

    let mut conn = admin(&db).await;
    assert!(
        !relation_exists(&mut conn, "b").await,
        "the failed file's table must not exist"
    );
    assert!(relation_exists(&mut conn, "a").await);
    let history = engine.history().await.unwrap();
    assert_eq!(
        versions_and_statuses(&history),
        [("001".into(), RecordStatus::Succeeded)]
    );

    let fixed = file(
        "002",
        &[
            (1, "CREATE TABLE b (id int)"),
            (3, "INSERT INTO a VALUES (1)"),
        ],
    );
    apply(&mut engine, &fixed).await.unwrap();
    assert!(relation_exists(&mut conn, "b").await);
    let history = engine.history().await.unwrap();
    assert_eq!(
        versions_and_statuses(&history),
        [
            ("001".into(), RecordStatus::Succeeded),
            ("002".into(), RecordStatus::Succeeded)
        ]
    );
}

#[tokio::test]
async fn create_index_concurrently_runs_in_a_no_transaction_file_only() {
    let db = TestDb::postgres().await;
    let mut engine = engine(&db).await;
    apply(
        &mut engine,
        &file("001", &[(1, "CREATE TABLE t (id int, email text)")]),
    )
    .await
    .unwrap();
    let concurrently = [(2, "CREATE INDEX CONCURRENTLY t_email ON t (email)")];

    let failure = statement_failure(
        apply(&mut engine, &file("002", &concurrently))
            .await
            .unwrap_err(),
    );
    assert!(
        failure.message.contains("rollgate:no-transaction"),
        "{failure}"
    );

    let mut no_transaction = file("002", &concurrently);
    no_transaction.no_transaction = true;
    apply(&mut engine, &no_transaction).await.unwrap();
    let mut conn = admin(&db).await;
    let valid: bool = sqlx::query_scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_email'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(valid);
    let history = engine.history().await.unwrap();
    assert_eq!(history[1].status, RecordStatus::Succeeded);
    assert_eq!(
        (history[1].statements_done, history[1].statements_total),
        (1, 1)
    );
    assert!(history[1].finished_at.is_some() && history[1].duration_ms.is_some());
    // A concurrent build waits for open transactions on the table; a short
    // lock_timeout would cancel it and leave an INVALID index behind, so it
    // runs without one.
    let mut writer = admin(&db).await;
    sqlx::raw_sql("BEGIN; INSERT INTO t VALUES (1, 'a')")
        .execute(&mut writer)
        .await
        .unwrap();
    let commit = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
    });
    let mut waits = file(
        "003",
        &[(1, "CREATE UNIQUE INDEX CONCURRENTLY t_id ON t (id)")],
    );
    waits.no_transaction = true;
    waits.lock_timeout = Some(Duration::from_millis(100));
    let events = apply(&mut engine, &waits).await.unwrap();
    commit.await.unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Progress::LockRetry { .. })),
        "{events:?}"
    );
    let valid: bool =
        sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(valid);
    // The session-level lock_timeout was put back.
    let timeout: String = sqlx::query_scalar("SHOW lock_timeout")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(timeout, "0");
}

#[tokio::test]
async fn a_no_transaction_file_records_where_it_failed_and_resumes_there() {
    let db = TestDb::postgres().await;
    let mut engine = engine(&db).await;
    let mut broken = file(
        "001",
        &[
            (1, "CREATE TABLE t (id int)"),
            (2, "INSERT INTO t VALUES ('not a number')"),
            (3, "CREATE INDEX t_id ON t (id)"),
        ],
    );
    broken.no_transaction = true;
    let failure = statement_failure(apply(&mut engine, &broken).await.unwrap_err());
    assert_eq!((failure.index, failure.line), (1, 2));

    let history = engine.history().await.unwrap();
    assert_eq!(history.len(), 1);
    let failed = &history[0];
    assert_eq!(failed.status, RecordStatus::Failed);
    assert_eq!((failed.statements_done, failed.statements_total), (1, 3));
    let error = failed.error.as_deref().unwrap_or("");
    assert!(
        error.starts_with("failed at statement 2 of 3: ") && error.contains("22P02"),
        "{error}"
    );
    // What the planner compares on resume.
    let done_part = rollgate_migration::statements_checksum(&["CREATE TABLE t (id int)"]);
    assert_eq!(failed.statements_checksum, Some(done_part.to_string()));
    let mut conn = admin(&db).await;
    assert!(
        relation_exists(&mut conn, "t").await,
        "statement 1 committed on its own"
    );

    let mut fixed = file(
        "001",
        &[
            (1, "CREATE TABLE t (id int)"),
            (2, "INSERT INTO t VALUES (1)"),
            (3, "CREATE INDEX t_id ON t (id)"),
        ],
    );
    fixed.no_transaction = true;
    fixed.resume_from = 1;
    let events = apply(&mut engine, &fixed).await.unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Progress::StatementStarted { index: 0, .. })),
        "{events:?}"
    );
    let history = engine.history().await.unwrap();
    assert_eq!(history.len(), 1, "the resumed run continues the same row");
    assert_eq!(
        (history[0].id, history[0].status),
        (failed.id, RecordStatus::Succeeded)
    );
    assert_eq!(
        (history[0].statements_done, history[0].error.as_deref()),
        (3, None)
    );
    assert!(relation_exists(&mut conn, "t_id").await);
}

#[tokio::test]
async fn a_second_runner_times_out_on_the_lock_and_is_told_who_holds_it() {
    let db = TestDb::postgres().await;
    let mut first = engine(&db).await;
    let mut second = engine(&db).await;
    first.lock(Duration::from_secs(1)).await.unwrap();
    first.lock(Duration::from_secs(1)).await.unwrap();

    let started = std::time::Instant::now();
    let error = second.lock(Duration::from_millis(300)).await.unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(300)
            && started.elapsed() < Duration::from_secs(2)
    );
    match &error {
        EngineError::Locked {
            target,
            holder: Some(holder),
            ..
        } => {
            assert!(
                holder.contains("application_name \"rollgate\"") && holder.contains("pid "),
                "{holder}"
            );
            assert!(target.contains(&db.name), "{target}");
        }
        other => panic!("expected Locked with a holder, got {other:?}"),
    }
    assert!(error.to_string().contains("--lock-timeout"), "{error}");

    first.unlock().await.unwrap();
    second.lock(Duration::from_millis(300)).await.unwrap();
    // A different history schema is a different lock.
    let mut conn = admin(&db).await;
    sqlx::raw_sql("CREATE SCHEMA audit")
        .execute(&mut conn)
        .await
        .unwrap();
    let url = TargetUrl::parse(&db.url).unwrap();
    let mut audit = PostgresEngine::connect(&url, Some("audit")).await.unwrap();
    audit.lock(Duration::ZERO).await.unwrap();
    second.unlock().await.unwrap();
}

#[tokio::test]
async fn a_statement_blocked_by_another_session_is_retried_until_it_gets_its_lock() {
    let db = TestDb::postgres().await;
    let mut engine = engine(&db).await;
    apply(&mut engine, &file("001", &[(1, "CREATE TABLE t (id int)")]))
        .await
        .unwrap();

    let mut blocker = admin(&db).await;
    sqlx::raw_sql("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::raw_sql("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sqlx::raw_sql("COMMIT").execute(&mut blocker).await.unwrap();
    });

    let mut alter = file(
        "002",
        &[
            (1, "CREATE TABLE u (id int)"),
            (2, "ALTER TABLE t ADD COLUMN c int"),
        ],
    );
    alter.lock_timeout = Some(Duration::from_millis(200));
    let options = ApplyOptions {
        lock_retries: 10,
        ..ApplyOptions::default()
    };
    let events = apply_with(&mut engine, &alter, &options).await.unwrap();
    release.await.unwrap();

    let retries: Vec<&Progress> = events
        .iter()
        .filter(|e| matches!(e, Progress::LockRetry { .. }))
        .collect();
    assert!(!retries.is_empty(), "{events:?}");
    match retries[0] {
        Progress::LockRetry {
            index: 1,
            attempt: 1,
            blocked_by: Some(blocked_by),
            ..
        } => {
            assert!(
                blocked_by.contains("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
                "{blocked_by}"
            );
        }
        other => panic!("unexpected first retry {other:?}"),
    }
    let mut conn = admin(&db).await;
    assert!(
        relation_exists(&mut conn, "u").await,
        "the statement before the retried one survived the retries"
    );
    let history = engine.history().await.unwrap();
    assert_eq!(
        versions_and_statuses(&history)[1],
        ("002".into(), RecordStatus::Succeeded)
    );

    // With no retries left the lock timeout is the file's failure.
    let mut blocker = admin(&db).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let options = ApplyOptions {
        lock_retries: 0,
        ..ApplyOptions::default()
    };
    let mut again = file("003", &[(4, "ALTER TABLE t ADD COLUMN d int")]);
    again.lock_timeout = Some(Duration::from_millis(50));
    let failure = statement_failure(apply_with(&mut engine, &again, &options).await.unwrap_err());
    assert!(
        failure.message.contains("55P03") && failure.message.contains("lock-timeout"),
        "{failure}"
    );
    assert_eq!(failure.line, 4);
}

#[tokio::test]
async fn dry_run_reports_the_first_error_with_file_and_line_and_leaves_nothing() {
    let db = TestDb::postgres().await;
    let mut engine = engine(&db).await;
    let good = file(
        "001",
        &[
            (1, "CREATE TABLE a (id int)"),
            (2, "INSERT INTO a VALUES (1)"),
        ],
    );
    let mut skipped = file("002", &[(1, "CREATE INDEX CONCURRENTLY a_id ON a (id)")]);
    skipped.no_transaction = true;
    let bad = file(
        "003",
        &[
            (1, "ALTER TABLE a ADD COLUMN b int"),
            (7, "ALTER TABLE nope ADD COLUMN c int"),
        ],
    );

    engine
        .dry_run(&[good.clone(), skipped.clone()])
        .await
        .unwrap();
    let failure = statement_failure(engine.dry_run(&[good, skipped, bad]).await.unwrap_err());
    assert_eq!(
        (failure.file_name.as_str(), failure.line, failure.index),
        ("migrations/003_test.sql", 7, 1)
    );
    assert!(
        failure
            .to_string()
            .starts_with("migrations/003_test.sql:7: statement 2 failed: "),
        "{failure}"
    );

    let mut conn = admin(&db).await;
    assert!(!relation_exists(&mut conn, "a").await);
    assert!(
        !relation_exists(&mut conn, "rollgate_history").await,
        "a dry run writes no history"
    );
    // The engine's connection is usable afterwards, outside any transaction.
    apply(&mut engine, &file("001", &[(1, "CREATE TABLE a (id int)")]))
        .await
        .unwrap();
    assert!(relation_exists(&mut conn, "a").await);

    let committing = file(
        "004",
        &[(1, "CREATE TABLE c (id int)"), (2, "-- done\nCOMMIT")],
    );
    let failure = statement_failure(engine.dry_run(&[committing]).await.unwrap_err());
    assert!(failure.message.contains("no-transaction"), "{failure}");
    assert!(!relation_exists(&mut conn, "c").await);
}

const SCHEMA_FILE: &[(u32, &str)] = &[
    (1, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"),
    (
        2,
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, mood mood DEFAULT 'ok', \
         score int CHECK (score > 0), created timestamptz NOT NULL DEFAULT now())",
    ),
    (
        3,
        "CREATE TABLE posts (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         user_id bigint REFERENCES users (id) ON DELETE CASCADE, title text, \
         slug text GENERATED ALWAYS AS (lower(title)) STORED)",
    ),
    (
        4,
        "CREATE INDEX posts_user ON posts (user_id) WHERE title IS NOT NULL",
    ),
    (
        5,
        "CREATE VIEW happy_users AS SELECT id, email FROM users WHERE mood = 'happy'",
    ),
    (
        6,
        "CREATE MATERIALIZED VIEW post_counts AS SELECT user_id, count(*) AS n FROM posts GROUP BY user_id",
    ),
    (7, "CREATE SEQUENCE invoice_numbers START 1000 INCREMENT 10"),
    (8, "CREATE SCHEMA billing"),
    (
        9,
        "CREATE TABLE billing.invoices (number int DEFAULT nextval('invoice_numbers'))",
    ),
];

#[tokio::test]
async fn schema_dumps_are_deterministic_and_leave_out_the_history_table() {
    let live = TestDb::postgres().await;
    let replay = TestDb::postgres().await;
    let mut live_engine = engine(&live).await;
    let mut replay_engine = engine(&replay).await;
    apply(&mut live_engine, &file("001", SCHEMA_FILE))
        .await
        .unwrap();
    apply(&mut replay_engine, &file("001", SCHEMA_FILE))
        .await
        .unwrap();
    replay_engine.history().await.unwrap();

    let snapshot = live_engine.dump_schema().await.unwrap();
    assert_eq!(snapshot, live_engine.dump_schema().await.unwrap());
    assert_eq!(
        snapshot,
        replay_engine.dump_schema().await.unwrap(),
        "same statements, same snapshot"
    );
    let text = snapshot.to_text();
    assert!(!text.contains("rollgate_history"), "{text}");
    let expected_lines = [
        "table billing.invoices",
        "  column number integer DEFAULT nextval('invoice_numbers'::regclass)",
        "table public.posts",
        "  column id integer NOT NULL DEFAULT GENERATED ALWAYS AS IDENTITY",
        "  column slug text DEFAULT GENERATED ALWAYS AS (lower(title)) STORED",
        "  index posts_user CREATE INDEX posts_user ON public.posts USING btree (user_id) WHERE (title IS NOT NULL)",
        "  constraint posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
        "table public.users",
        "  column id bigint NOT NULL DEFAULT nextval('users_id_seq'::regclass)",
        "  column mood mood DEFAULT 'ok'::mood",
        "  constraint users_email_key UNIQUE (email)",
        "  constraint users_score_check CHECK (score > 0)",
        "view public.happy_users",
        "materialized view public.post_counts",
        "sequence public.invoice_numbers bigint START 1000 INCREMENT 10 MINVALUE 1 MAXVALUE 9223372036854775807",
        "sequence public.users_id_seq bigint START 1 INCREMENT 1",
        "enum public.mood (sad, ok, happy)",
    ];
    for line in expected_lines {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    // A change shows up.
    let mut conn = admin(&replay).await;
    sqlx::raw_sql("ALTER TABLE users ALTER COLUMN score SET NOT NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_ne!(snapshot, replay_engine.dump_schema().await.unwrap());
}

#[tokio::test]
async fn history_lives_in_the_configured_schema_which_must_exist() {
    let db = TestDb::postgres().await;
    let url = TargetUrl::parse(&db.url).unwrap();
    let mut missing = PostgresEngine::connect(&url, Some("ops")).await.unwrap();
    let error = missing.history().await.unwrap_err().to_string();
    assert!(
        error.contains("schema \"ops\" does not exist") && error.contains("CREATE SCHEMA"),
        "{error}"
    );

    let mut conn = admin(&db).await;
    sqlx::raw_sql("CREATE SCHEMA ops")
        .execute(&mut conn)
        .await
        .unwrap();
    // Two runners creating the table at once both succeed.
    let mut other = PostgresEngine::connect(&url, Some("ops")).await.unwrap();
    let (a, b) = tokio::join!(missing.history(), other.history());
    assert!(a.unwrap().is_empty() && b.unwrap().is_empty());
    assert!(relation_exists(&mut conn, "ops.rollgate_history").await);
    assert!(!relation_exists(&mut conn, "public.rollgate_history").await);

    let baseline = NewRecord {
        version: "005".into(),
        file_name: "migrations/005_base.sql".into(),
        change_type: "DDL".into(),
        kind: RecordKind::Baseline,
        checksum: "sha256-v1:abc".into(),
        status: RecordStatus::Succeeded,
        applied_by: None,
        note: Some("existing database".into()),
    };
    other.record(&baseline).await.unwrap();
    let history = missing.history().await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].kind,
            history[0].status,
            history[0].note.as_deref()
        ),
        (
            RecordKind::Baseline,
            RecordStatus::Succeeded,
            Some("existing database")
        )
    );
    assert!(history[0].finished_at.is_some());

    // One RUNNING row per version is a database invariant.
    let insert = "INSERT INTO ops.rollgate_history (version, file_name, change_type, kind, checksum, status, applied_by) \
                  VALUES ('9', 'f', 'DDL', 'MIGRATION', 'c', 'RUNNING', 'x')";
    sqlx::raw_sql(insert).execute(&mut conn).await.unwrap();
    assert!(sqlx::raw_sql(insert).execute(&mut conn).await.is_err());
}

#[tokio::test]
async fn connection_errors_name_host_and_port_but_never_the_password() {
    let closed = TargetUrl::parse("postgres://postgres:s3cret@127.0.0.1:1/postgres").unwrap();
    let error = PostgresEngine::connect(&closed, None).await.unwrap_err();
    assert!(matches!(error, EngineError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("127.0.0.1:1")
            && text.contains("server is running")
            && !text.contains("s3cret"),
        "{text}"
    );

    let admin_url = support::postgres_admin_url();
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base.to_string())
        .unwrap();
    let base = base.replacen("postgres://postgres@", "postgres://postgres:s3cret@", 1);
    let absent = TargetUrl::parse(&format!("{base}/rollgate_no_such_database")).unwrap();
    let error = PostgresEngine::connect(&absent, None).await.unwrap_err();
    assert!(matches!(error, EngineError::Connect { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("does not exist") && text.contains("3D000") && !text.contains("s3cret"),
        "{text}"
    );
}

#[tokio::test]
async fn a_runner_that_dies_mid_statement_frees_the_lock_within_seconds() {
    let db = TestDb::postgres().await;
    let mut first = engine(&db).await;
    first.lock(Duration::from_secs(1)).await.unwrap();
    let long = file(
        "001",
        &[(1, "CREATE TABLE t (id int)"), (2, "SELECT pg_sleep(30)")],
    );
    let runner = tokio::spawn(async move {
        let _ = first
            .apply(&long, &ApplyOptions::default(), &mut |_| {})
            .await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Dropping the runner closes its socket mid-statement, like SIGKILL.
    runner.abort();
    let _ = runner.await;

    let started = std::time::Instant::now();
    let mut second = engine(&db).await;
    second.lock(Duration::from_secs(10)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        second.history().await.unwrap().is_empty(),
        "the killed file is simply pending"
    );
    let mut conn = admin(&db).await;
    assert!(!relation_exists(&mut conn, "t").await);
}

#[tokio::test]
async fn two_runners_started_at_once_apply_every_file_exactly_once() {
    let db = TestDb::postgres().await;
    let files: Vec<ApplyFile> = (1..=5)
        .map(|n| {
            file(
                &format!("00{n}"),
                &[(1, &format!("CREATE TABLE t{n} (id int)"))],
            )
        })
        .collect();
    async fn run(mut engine: PostgresEngine, files: &[ApplyFile]) -> usize {
        engine.lock(Duration::from_secs(10)).await.unwrap();
        let history = engine.history().await.unwrap();
        let mut applied = 0;
        for file in files
            .iter()
            .filter(|file| !history.iter().any(|record| record.version == file.version))
        {
            apply(&mut engine, file).await.unwrap();
            applied += 1;
        }
        engine.unlock().await.unwrap();
        applied
    }
    let (first, second) = tokio::join!(
        run(engine(&db).await, &files),
        run(engine(&db).await, &files)
    );
    assert_eq!(first + second, 5, "{first} + {second}");
    let mut engine = engine(&db).await;
    let versions: Vec<String> = engine
        .history()
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.version)
        .collect();
    assert_eq!(versions, ["001", "002", "003", "004", "005"]);
}
