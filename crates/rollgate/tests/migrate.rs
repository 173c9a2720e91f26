//! Reliability tests of `rollgate migrate` and the other database commands,
//! driving the real binary against the REAL PostgreSQL and MariaDB servers
//! of this machine (and SQLite files): failures leave no trace or resume,
//! concurrent runners apply each file once, a killed runner is recovered,
//! and each refusal says what to do. Exit codes: 0 ok, 1 refused or failed,
//! 2 usage or connection error.
//!
//! Each test gets its own database (see `common`), dropped afterwards.

mod common;

use std::time::Duration;

use common::{Kind, Project, TestDb, finish, wait_until};

fn row(version: &str, kind: &str, status: &str) -> (String, String, String) {
    (version.into(), kind.into(), status.into())
}

fn applied(version: &str) -> (String, String, String) {
    row(version, "MIGRATION", "SUCCEEDED")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The `(state, detail)` that `status --format json` gives `version`.
fn state_of(project: &Project, url: &str, version: &str) -> (String, String) {
    let statuses = project.status(url);
    statuses
        .into_iter()
        .find(|(v, _, _)| v == version)
        .map(|(_, state, detail)| (state, detail))
        .unwrap_or_else(|| panic!("status lists no version {version}"))
}

// 1. A failing file leaves no trace; earlier files stay; a fix re-runs it.

fn failing_file_leaves_no_trace(db: TestDb) {
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write(
        "2_b.sql",
        "CREATE TABLE b (id int);\nINSERT INTO missing_table VALUES (1);\n",
    );

    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&[
            "applied migrations/1_a.sql",
            "migrations/2_b.sql:2",
            "statement 2 failed",
            "missing_table",
        ]);
    assert_eq!(
        db.tables(),
        strings(&["a", "rollgate_history"]),
        "b must not exist"
    );
    assert_eq!(
        db.history_summary(),
        vec![applied("1")],
        "no row for the failed file"
    );
    assert_eq!(state_of(&project, &db.url, "2").0, "pending");

    project.write(
        "2_b.sql",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n",
    );
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0)
        .expect_output(&["applied migrations/2_b.sql (2 statements)"]);
    assert_eq!(db.tables(), strings(&["a", "b", "rollgate_history"]));
    assert_eq!(db.history_summary(), vec![applied("1"), applied("2")]);
}

#[test]
fn postgres_failing_file_leaves_no_trace_and_runs_once_fixed() {
    failing_file_leaves_no_trace(TestDb::postgres());
}

#[test]
fn sqlite_failing_file_leaves_no_trace_and_runs_once_fixed() {
    failing_file_leaves_no_trace(TestDb::sqlite());
}

// 2. MariaDB: DDL commits implicitly, so a failed file resumes where it stopped.

#[test]
fn mysql_failed_file_resumes_at_the_failed_statement_and_refuses_edited_run_statements() {
    let db = TestDb::mysql();
    let project = Project::new();
    // Statement 1 has no IF NOT EXISTS: running it twice would fail.
    let first = "CREATE TABLE a (id int);\n";
    let third = "CREATE TABLE c (id int);\n";
    project.write(
        "1_abc.sql",
        &format!("{first}CREATE TABLE b (id int, id int);\n{third}"),
    );

    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&[
            "migrations/1_abc.sql:2",
            "statement 2 failed",
            "Duplicate column",
        ]);
    assert_eq!(db.tables(), strings(&["a", "rollgate_history"]));
    let (state, detail) = state_of(&project, &db.url, "1");
    assert_eq!(state, "failed");
    assert!(
        detail.starts_with("failed at statement 2 of 3: "),
        "{detail}"
    );
    assert_eq!(
        detail.matches("failed at statement").count(),
        1,
        "said once: {detail}"
    );
    project
        .run(&["status", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&["failed", "failed at statement 2 of 3"]);

    // Editing the statement that already ran: refused, nothing runs.
    project.write(
        "1_abc.sql",
        &format!("CREATE TABLE a (id bigint);\nCREATE TABLE b (id int);\n{third}"),
    );
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&[
            "migrations/1_abc.sql (version 1) stopped after 1 of 3 statements",
            "cannot be resumed safely",
            "rollgate history repair",
        ]);
    assert_eq!(db.tables(), strings(&["a", "rollgate_history"]));

    // Fixing statement 2 only: resumes at statement 2 and completes.
    project.write(
        "1_abc.sql",
        &format!("{first}CREATE TABLE b (id int);\n{third}"),
    );
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0)
        .expect_output(&["applied migrations/1_abc.sql"]);
    assert_eq!(db.tables(), strings(&["a", "b", "c", "rollgate_history"]));
    let history = db.history();
    let last = history.last().expect("a history row");
    assert_eq!(
        (
            last.status.as_str(),
            last.statements_done.as_str(),
            last.statements_total.as_str()
        ),
        ("SUCCEEDED", "3", "3")
    );
    assert_eq!(
        history.iter().filter(|r| r.status == "SUCCEEDED").count(),
        1,
        "{history:?}"
    );
    assert_eq!(state_of(&project, &db.url, "1").0, "applied");
}

// 3. Two runners at once: one applies, the other waits for the lock and
//    finds nothing to do; a third with a short --lock-timeout is told who
//    holds the lock.

fn two_runners_at_once(db: TestDb, sleep: &str, running: &str, holder: &str) {
    let project = Project::new();
    project.write(
        "1_slow.sql",
        &format!("CREATE TABLE a (id int);\n{sleep};\n"),
    );
    project.write("2_b.sql", "CREATE TABLE b (id int);\n");
    project.write("3_c.sql", "CREATE TABLE c (id int);\n");

    let first = project.spawn(&["migrate", "--database-url", &db.url]);
    let second = project.spawn(&["migrate", "--database-url", &db.url]);
    wait_until(
        Duration::from_secs(10),
        "a runner to reach the sleep",
        || db.sessions_running(running) > 0,
    );
    project
        .run(&[
            "migrate",
            "--database-url",
            &db.url,
            "--lock-timeout",
            "300ms",
        ])
        .expect_code(1)
        .expect_output(&["another migration holds the lock", holder, "--lock-timeout"]);

    let runs = [finish(first), finish(second)];
    for run in &runs {
        run.expect_code(0);
    }
    let appliers = runs
        .iter()
        .filter(|r| r.stdout.contains("applied migrations/1_slow.sql"))
        .count();
    let idle = runs
        .iter()
        .filter(|r| r.stdout.contains("up to date (3 applied)"))
        .count();
    assert_eq!(
        (appliers, idle),
        (1, 1),
        "one applies, one waits and finds nothing:\n{}\n{}",
        runs[0].all(),
        runs[1].all()
    );
    assert_eq!(
        db.history_summary(),
        vec![applied("1"), applied("2"), applied("3")]
    );
    assert_eq!(db.tables(), strings(&["a", "b", "c", "rollgate_history"]));
}

#[test]
fn postgres_two_runners_at_once_apply_each_file_once() {
    two_runners_at_once(
        TestDb::postgres(),
        "SELECT pg_sleep(1.5)",
        "pg_sleep(1.5)",
        "held by pid",
    );
}

#[test]
fn mysql_two_runners_at_once_apply_each_file_once() {
    two_runners_at_once(
        TestDb::mysql(),
        "SELECT SLEEP(1.5)",
        "SLEEP(1.5)",
        "held by connection",
    );
}

// 4. SIGKILL in the middle of a long file.

#[test]
fn postgres_runner_killed_mid_file_leaves_it_pending() {
    let db = TestDb::postgres();
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write(
        "2_slow.sql",
        "CREATE TABLE b (id int);\nSELECT pg_sleep(5);\n",
    );

    let mut runner = project.spawn(&["migrate", "--database-url", &db.url]);
    wait_until(
        Duration::from_secs(10),
        "the runner to reach pg_sleep",
        || db.sessions_running("pg_sleep(5)") > 0,
    );
    std::thread::sleep(Duration::from_millis(300));
    runner.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    let killed = finish(runner);
    assert_eq!(killed.code, -1, "killed by a signal:\n{}", killed.all());

    assert_eq!(
        db.history_summary(),
        vec![applied("1")],
        "no row left behind"
    );
    assert_eq!(state_of(&project, &db.url, "2").0, "pending");
    assert_eq!(db.tables(), strings(&["a", "rollgate_history"]));

    // PostgreSQL notices the dead client only when its statement ends; the
    // advisory lock goes with that session.
    project
        .run(&[
            "migrate",
            "--database-url",
            &db.url,
            "--lock-timeout",
            "10s",
        ])
        .expect_code(0)
        .expect_output(&["applied migrations/2_slow.sql"]);
    assert_eq!(db.history_summary(), vec![applied("1"), applied("2")]);
    assert_eq!(db.tables(), strings(&["a", "b", "rollgate_history"]));
}

#[test]
fn mysql_runner_killed_mid_file_resumes_at_the_interrupted_statement() {
    let db = TestDb::mysql();
    let project = Project::new();
    project.write(
        "1_ab.sql",
        "CREATE TABLE a (id int);\nSELECT SLEEP(5);\nCREATE TABLE b (id int);\n",
    );

    let mut runner = project.spawn(&["migrate", "--database-url", &db.url]);
    wait_until(Duration::from_secs(10), "the runner to reach SLEEP", || {
        db.sessions_running("SLEEP(5)") > 0
    });
    std::thread::sleep(Duration::from_millis(300));
    runner.kill().expect("SIGKILL");
    finish(runner);

    let (state, detail) = state_of(&project, &db.url, "1");
    assert!(state == "running" || state == "failed", "{state}: {detail}");
    assert!(detail.contains("statement 2 of 3"), "{detail}");
    assert_eq!(db.tables(), strings(&["a", "rollgate_history"]));

    project
        .run(&[
            "migrate",
            "--database-url",
            &db.url,
            "--lock-timeout",
            "10s",
        ])
        .expect_code(0)
        .expect_output(&["applied migrations/1_ab.sql"]);
    assert_eq!(db.tables(), strings(&["a", "b", "rollgate_history"]));
    let history = db.history();
    let last = history.last().expect("a history row");
    assert_eq!(
        (last.status.as_str(), last.statements_done.as_str()),
        ("SUCCEEDED", "3"),
        "{history:?}"
    );
    assert_eq!(state_of(&project, &db.url, "1").0, "applied");
}

// 5. Integrity and messages.

#[test]
fn changed_applied_file_is_refused_until_history_repair() {
    let db = TestDb::postgres();
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);
    let stored = db.history()[0].checksum.clone();
    assert!(stored.starts_with("sha256-v1:"), "{stored}");

    project.write("1_a.sql", "CREATE TABLE a (id bigint);\n");
    project.write("2_b.sql", "CREATE TABLE b (id int);\n");
    let run = project.run(&["migrate", "--database-url", &db.url]);
    run.expect_code(1).expect_output(&[
        "migrations/1_a.sql (version 1) changed after it was applied",
        &stored,
        &format!(
            "rollgate history repair --database-url {} --version 1",
            db.url
        ),
    ]);
    assert_eq!(
        run.all().matches("sha256-v1:").count(),
        2,
        "stored and new checksum:\n{}",
        run.all()
    );
    assert_eq!(
        db.tables(),
        strings(&["a", "rollgate_history"]),
        "nothing ran"
    );
    assert_eq!(state_of(&project, &db.url, "1").0, "modified");

    project
        .run(&[
            "history",
            "repair",
            "--database-url",
            &db.url,
            "--version",
            "1",
        ])
        .expect_code(0)
        .expect_output(&["accepted the new checksum of migrations/1_a.sql"]);
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0)
        .expect_output(&["applied migrations/2_b.sql"]);
    assert_eq!(
        db.history_summary(),
        vec![applied("1"), row("1", "REPAIR", "SUCCEEDED"), applied("2")]
    );
}

#[test]
fn line_ending_and_bom_changes_are_not_changes() {
    let db = TestDb::postgres();
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n-- a comment\n");
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);

    project.write_bytes(
        "1_a.sql",
        b"\xEF\xBB\xBFCREATE TABLE a (id int);\r\n-- a comment\r\n",
    );
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0)
        .expect_output(&["up to date (1 applied)"]);
    project
        .run(&["status", "--database-url", &db.url])
        .expect_code(0);
    assert_eq!(state_of(&project, &db.url, "1").0, "applied");
}

#[test]
fn out_of_order_file_is_refused_without_the_flag() {
    let db = TestDb::postgres();
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write("3_c.sql", "CREATE TABLE c (id int);\n");
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);

    project.write("2_b.sql", "CREATE TABLE b (id int);\n");
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&[
            "migrations/2_b.sql (version 2)",
            "version 3 is already applied",
            "--allow-out-of-order",
        ]);
    assert_eq!(state_of(&project, &db.url, "2").0, "out-of-order");
    assert!(!db.tables().contains(&"b".to_string()));

    project
        .run(&["migrate", "--database-url", &db.url, "--allow-out-of-order"])
        .expect_code(0)
        .expect_output(&["applied migrations/2_b.sql"]);
    assert_eq!(
        db.history_summary(),
        vec![applied("1"), applied("3"), applied("2")]
    );
}

#[test]
fn concurrently_without_the_directive_is_refused_before_anything_runs() {
    let db = TestDb::postgres();
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write(
        "2_index.sql",
        "-- an index\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
    );

    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&[
            "migrations/2_index.sql:2",
            "CREATE INDEX CONCURRENTLY",
            "add `-- rollgate:no-transaction`",
        ]);
    assert!(
        db.history().is_empty(),
        "no history row: {:?}",
        db.history()
    );
    assert!(
        !db.tables().contains(&"a".to_string()),
        "not even the earlier file ran"
    );

    project.write(
        "2_index.sql",
        "-- rollgate:no-transaction\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
    );
    // A dry run cannot roll a no-transaction file back, and says it skipped it.
    project
        .run(&["migrate", "--database-url", &db.url, "--dry-run"])
        .expect_code(0)
        .expect_output(&[
            "CREATE INDEX CONCURRENTLY a_id ON a (id);",
            "1 `-- rollgate:no-transaction` file(s) were not executed",
        ]);
    assert!(db.history().is_empty());
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);
    assert_eq!(db.history_summary(), vec![applied("1"), applied("2")]);
    assert_eq!(
        db.scalar("SELECT indexname::text FROM pg_indexes WHERE tablename = 'a'"),
        "a_id"
    );
}

#[test]
fn postgres_no_transaction_file_resumes_after_a_failed_statement() {
    let db = TestDb::postgres();
    let project = Project::new();
    let head = "-- rollgate:no-transaction\nCREATE TABLE a (id int);\n";
    project.write(
        "1_a.sql",
        &format!(
            "{head}CREATE INDEX CONCURRENTLY a_i ON a (no_such_column);\nCREATE TABLE b (id int);\n"
        ),
    );
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(1)
        .expect_output(&["migrations/1_a.sql:3", "statement 2 failed"]);
    let (state, detail) = state_of(&project, &db.url, "1");
    assert_eq!(state, "failed");
    assert!(
        detail.starts_with("failed at statement 2 of 3: "),
        "{detail}"
    );
    assert_eq!(
        db.tables(),
        strings(&["a", "rollgate_history"]),
        "statement 1 ran outside a transaction"
    );

    project.write(
        "1_a.sql",
        &format!("{head}CREATE INDEX CONCURRENTLY a_i ON a (id);\nCREATE TABLE b (id int);\n"),
    );
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);
    assert_eq!(db.tables(), strings(&["a", "b", "rollgate_history"]));
    let history = db.history();
    let last = history.last().expect("a history row");
    assert_eq!(
        (last.status.as_str(), last.statements_done.as_str()),
        ("SUCCEEDED", "3"),
        "{history:?}"
    );
}

/// Every database command, with `url`.
fn every_command(url: &str) -> Vec<Vec<String>> {
    [
        vec!["migrate"],
        vec!["status"],
        vec!["baseline", "--version", "1"],
        vec!["history", "repair", "--version", "1"],
        vec!["drift"],
        vec!["schema", "dump"],
    ]
    .into_iter()
    .map(|command| {
        let mut args = strings(&command);
        args.extend(strings(&["--database-url", url]));
        args
    })
    .collect()
}

#[test]
fn connection_problems_are_usage_errors_that_name_the_server_but_never_the_password() {
    let project = Project::new();
    // A file to find, so that every command gets as far as connecting.
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    let cases = [
        ("foo://x", vec!["unknown database URL scheme \"foo\""], None),
        (
            "postgres://postgres:s3cret@127.0.0.1:1/x",
            vec!["cannot connect", "127.0.0.1:1"],
            Some("s3cret"),
        ),
        (
            "mysql://root:wrong@127.0.0.1:3306/test",
            vec!["cannot connect", "127.0.0.1:3306", "access denied"],
            Some("wrong"),
        ),
    ];
    for (url, fragments, secret) in cases {
        for args in every_command(url) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = project.run(&args);
            assert_eq!(run.code, 2, "rollgate {args:?}:\n{}", run.all());
            run.expect_output(&fragments);
            if let Some(secret) = secret {
                assert!(
                    !run.all().contains(secret),
                    "rollgate {args:?} shows the password:\n{}",
                    run.all()
                );
            }
        }
    }
}

// 6. Baseline, dry run, target version, schema dump, drift, fan-out.

#[test]
fn baseline_marks_files_applied_and_migrate_runs_only_later_ones() {
    let db = TestDb::postgres();
    // An existing database, made by hand before rollgate.
    db.execute("CREATE TABLE a (id int); CREATE TABLE b (id int);");
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write("2_b.sql", "CREATE TABLE b (id int);\n");
    project.write("3_c.sql", "CREATE TABLE c (id int);\n");

    project
        .run(&["baseline", "--database-url", &db.url, "--version", "2"])
        .expect_code(0)
        .expect_output(&["2 file(s) marked applied up to version 2"]);
    let run = project.run(&["migrate", "--database-url", &db.url]);
    run.expect_code(0)
        .expect_output(&["applied migrations/3_c.sql", "1 file(s) applied"]);
    assert!(
        !run.stdout.contains("applied migrations/1_a.sql"),
        "{}",
        run.all()
    );
    assert_eq!(
        db.history_summary(),
        vec![
            row("1", "BASELINE", "SUCCEEDED"),
            row("2", "BASELINE", "SUCCEEDED"),
            applied("3")
        ]
    );
    let states: Vec<String> = project
        .status(&db.url)
        .into_iter()
        .map(|(_, state, _)| state)
        .collect();
    assert_eq!(states, strings(&["baseline", "baseline", "applied"]));
}

#[test]
fn postgres_dry_run_prints_the_statements_and_changes_nothing() {
    let db = TestDb::postgres();
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write("2_b_dml.sql", "INSERT INTO a VALUES (1);\n");

    project
        .run(&["migrate", "--database-url", &db.url, "--dry-run"])
        .expect_code(0)
        .expect_output(&[
            "2 file(s) would be applied",
            "-- migrations/1_a.sql (version 1)",
            "CREATE TABLE a (id int);",
            "INSERT INTO a VALUES (1);",
            "rolled back",
        ]);
    assert_eq!(
        db.tables(),
        strings(&["rollgate_history"]),
        "only the history table"
    );
    assert!(db.history().is_empty());

    // A statement that would fail is reported with its file and line.
    project.write(
        "3_bad_dml.sql",
        "INSERT INTO a VALUES (2);\nSELECT 1 / 0;\n",
    );
    project
        .run(&["migrate", "--database-url", &db.url, "--dry-run"])
        .expect_code(1)
        .expect_output(&["migrations/3_bad_dml.sql:2", "division by zero"]);
    assert_eq!(db.tables(), strings(&["rollgate_history"]));
    assert!(db.history().is_empty());
}

#[test]
fn target_version_stops_after_it() {
    let db = TestDb::postgres();
    let project = Project::new();
    for (name, table) in [("1_a.sql", "a"), ("2_b.sql", "b"), ("3_c.sql", "c")] {
        project.write(name, &format!("CREATE TABLE {table} (id int);\n"));
    }
    project
        .run(&[
            "migrate",
            "--database-url",
            &db.url,
            "--target-version",
            "2",
        ])
        .expect_code(0)
        .expect_output(&["2 file(s) applied"]);
    assert_eq!(db.history_summary(), vec![applied("1"), applied("2")]);
    project
        .run(&[
            "migrate",
            "--database-url",
            &db.url,
            "--target-version",
            "2",
        ])
        .expect_code(0)
        .expect_output(&["up to date (2 applied, 1 pending above --target-version 2)"]);
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);
    assert_eq!(
        db.history_summary(),
        vec![applied("1"), applied("2"), applied("3")]
    );
}

fn schema_dump_is_deterministic(db: TestDb, files: &[(&str, &str)]) {
    let project = Project::new();
    for (name, text) in files {
        project.write(name, text);
    }
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);
    let dump = || project.run(&["schema", "dump", "--database-url", &db.url]);
    let (first, second) = (dump(), dump());
    first
        .expect_code(0)
        .expect_output(&["table ", "orders", "status"]);
    assert_eq!(first.stdout, second.stdout);
    let json = project.run(&[
        "schema",
        "dump",
        "--database-url",
        &db.url,
        "--format",
        "json",
    ]);
    json.expect_code(0);
    assert!(
        json.json()["tables"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{}",
        json.stdout
    );
    assert_eq!(
        json.stdout,
        project
            .run(&[
                "schema",
                "dump",
                "--database-url",
                &db.url,
                "--format",
                "json"
            ])
            .stdout
    );
}

#[test]
fn postgres_schema_dump_is_deterministic() {
    schema_dump_is_deterministic(
        TestDb::postgres(),
        &[
            (
                "1_types.sql",
                "CREATE TYPE mood AS ENUM ('ok', 'sad');\nCREATE SEQUENCE ticket_seq;\n",
            ),
            (
                "2_orders.sql",
                "CREATE TABLE orders (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'new', mood mood, \
                 total numeric(10,2) CHECK (total >= 0));\nCREATE INDEX orders_status ON orders (status);\n\
                 CREATE VIEW open_orders AS SELECT id FROM orders WHERE status = 'new';\n",
            ),
        ],
    );
}

#[test]
fn mysql_schema_dump_is_deterministic() {
    schema_dump_is_deterministic(
        TestDb::mysql(),
        &[(
            "1_orders.sql",
            "CREATE TABLE orders (id bigint AUTO_INCREMENT PRIMARY KEY, status varchar(20) NOT NULL DEFAULT 'new', \
             mood enum('ok','sad'));\nCREATE INDEX orders_status ON orders (status);\n\
             CREATE VIEW open_orders AS SELECT id FROM orders WHERE status = 'new';\n",
        )],
    );
}

fn drift_after_a_manual_change(db: TestDb, alter: &str, added: &str) {
    let project = Project::new();
    project.write(
        "1_a.sql",
        "CREATE TABLE a (id int PRIMARY KEY, name varchar(20) NOT NULL);\n",
    );
    project.write("2_b.sql", "CREATE INDEX a_name ON a (name);\n");
    project
        .run(&["migrate", "--database-url", &db.url])
        .expect_code(0);
    project
        .run(&["drift", "--database-url", &db.url])
        .expect_code(0)
        .expect_output(&["no drift", "2 applied file(s)"]);

    db.execute(alter);
    let run = project.run(&["drift", "--database-url", &db.url]);
    run.expect_code(1).expect_output(&[
        "--- expected (replayed history)",
        "+++ live database",
        "drift:",
    ]);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with('+') && line.contains(added)),
        "the diff adds {added:?}:\n{}",
        run.all()
    );
}

#[test]
fn postgres_drift_shows_a_manual_column() {
    drift_after_a_manual_change(
        TestDb::postgres(),
        "ALTER TABLE a ADD COLUMN extra integer",
        "column extra integer",
    );
}

#[test]
fn mysql_drift_shows_a_manual_column() {
    drift_after_a_manual_change(
        TestDb::mysql(),
        "ALTER TABLE a ADD COLUMN extra int",
        "column extra int",
    );
}

#[test]
fn several_database_urls_are_all_migrated() {
    let dbs = [TestDb::postgres(), TestDb::postgres(), TestDb::postgres()];
    assert!(dbs.iter().all(|db| db.kind == Kind::Postgres));
    let project = Project::new();
    project.write("1_a.sql", "CREATE TABLE a (id int);\n");
    project.write("2_b.sql", "CREATE TABLE b (id int);\n");
    // Already up to date on one of them: each database is planned on its own.
    project
        .run(&[
            "migrate",
            "--database-url",
            &dbs[0].url,
            "--target-version",
            "1",
        ])
        .expect_code(0);

    let both = format!("{},{}", dbs[0].url, dbs[1].url);
    project
        .run(&[
            "migrate",
            "--database-url",
            &both,
            "--database-url",
            &dbs[2].url,
            "--concurrency",
            "2",
        ])
        .expect_code(0)
        .expect_output(&[&format!("[{}] applied migrations/2_b.sql", dbs[0].url)]);
    for db in &dbs {
        assert_eq!(
            db.history_summary(),
            vec![applied("1"), applied("2")],
            "{}",
            db.url
        );
        assert_eq!(
            db.tables(),
            strings(&["a", "b", "rollgate_history"]),
            "{}",
            db.url
        );
    }
}
