//! Shared by the database tests of the `rollgate` binary: a fresh database
//! per test on the REAL servers of this machine (PostgreSQL 127.0.0.1:5432
//! user postgres, MariaDB 127.0.0.1:3306 root without password; see
//! DEVELOPERS.md) or a SQLite file, dropped afterwards; a temporary project
//! directory with a `migrations/` folder; and a way to run the binary in it.
//!
//! A server that cannot be reached fails the test loudly; nothing is mocked.
//! Same approach as crates/rollgate-engine/tests/support/mod.rs, but
//! synchronous: these tests drive processes, and only inspect the database.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Row};

/// PostgreSQL admin URL; override with `ROLLGATE_TEST_PG_URL`.
pub fn postgres_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// MySQL/MariaDB admin URL; override with `ROLLGATE_TEST_MYSQL_URL`.
pub fn mysql_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "rg_cli_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// Runs one future to completion on a runtime of its own: the tests are
/// synchronous and only touch the database between runs of the binary.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Postgres,
    Mysql,
    Sqlite,
}

/// A database created for one test; dropped on `Drop`.
pub struct TestDb {
    /// What to pass to `--database-url`.
    pub url: String,
    pub name: String,
    pub kind: Kind,
    admin_url: String,
    _dir: Option<tempfile::TempDir>,
}

/// One row of `rollgate_history`, every column as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub version: String,
    pub kind: String,
    pub status: String,
    pub statements_done: String,
    pub statements_total: String,
    pub checksum: String,
}

impl TestDb {
    pub fn postgres() -> TestDb {
        let admin_url = postgres_admin_url();
        let name = unique_name();
        block_on(async {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL test server unreachable at {admin_url}: {e}; start it (see DEVELOPERS.md)")
            });
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create test database");
        });
        TestDb {
            url: sibling(&admin_url, &name),
            name,
            kind: Kind::Postgres,
            admin_url,
            _dir: None,
        }
    }

    pub fn mysql() -> TestDb {
        let admin_url = mysql_admin_url();
        let name = unique_name();
        block_on(async {
            let mut admin = sqlx::MySqlConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("MySQL/MariaDB test server unreachable at {admin_url}: {e}; start it (see DEVELOPERS.md)")
            });
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create test database");
        });
        TestDb {
            url: sibling(&admin_url, &name),
            name,
            kind: Kind::Mysql,
            admin_url,
            _dir: None,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            name: "test.db".into(),
            kind: Kind::Sqlite,
            admin_url: String::new(),
            _dir: Some(dir),
        }
    }

    /// Rows of a query whose columns are all text (or NULL, shown as
    /// `NULL`); the caller casts.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let sql = sql.to_string();
        // Test-only SQL written in this file, never user input.
        macro_rules! rows {
            ($connection:ty, $url:expr) => {{
                let mut connection = <$connection>::connect(&$url)
                    .await
                    .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url));
                let rows = sqlx::query(AssertSqlSafe(sql.clone()))
                    .fetch_all(&mut connection)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                row.try_get::<Option<String>, _>(i)
                                    .unwrap_or_else(|e| panic!("{sql}: column {i}: {e}"))
                                    .unwrap_or_else(|| "NULL".into())
                            })
                            .collect()
                    })
                    .collect()
            }};
        }
        block_on(async {
            match self.kind {
                Kind::Postgres => rows!(sqlx::PgConnection, self.url),
                Kind::Mysql => rows!(sqlx::MySqlConnection, self.url),
                Kind::Sqlite => rows!(sqlx::SqliteConnection, format!("{}?mode=rwc", self.url)),
            }
        })
    }

    /// The single text value of a one-row, one-column query.
    pub fn scalar(&self, sql: &str) -> String {
        let rows = self.query(sql);
        assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
        rows[0][0].clone()
    }

    /// Runs statements directly on the database (an operator's manual change).
    pub fn execute(&self, sql: &str) {
        let sql = sql.to_string();
        block_on(async {
            match self.kind {
                Kind::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&self.url)
                        .await
                        .expect("connect");
                    sqlx::raw_sql(AssertSqlSafe(sql))
                        .execute(&mut c)
                        .await
                        .expect("execute");
                }
                Kind::Mysql => {
                    let mut c = sqlx::MySqlConnection::connect(&self.url)
                        .await
                        .expect("connect");
                    sqlx::raw_sql(AssertSqlSafe(sql))
                        .execute(&mut c)
                        .await
                        .expect("execute");
                }
                Kind::Sqlite => {
                    let url = format!("{}?mode=rwc", self.url);
                    let mut c = sqlx::SqliteConnection::connect(&url)
                        .await
                        .expect("connect");
                    sqlx::raw_sql(AssertSqlSafe(sql))
                        .execute(&mut c)
                        .await
                        .expect("execute");
                }
            }
        });
    }

    /// The user tables, sorted (`rollgate_history` included).
    pub fn tables(&self) -> Vec<String> {
        let sql = match self.kind {
            Kind::Postgres => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            }
            Kind::Mysql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1"
            }
            Kind::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            }
        };
        self.query(sql)
            .into_iter()
            .map(|mut row| row.remove(0))
            .collect()
    }

    /// Every history row in id order; empty when the table does not exist.
    pub fn history(&self) -> Vec<HistoryRow> {
        if !self.tables().iter().any(|t| t == "rollgate_history") {
            return Vec::new();
        }
        let text = |column: &str| match self.kind {
            Kind::Postgres => format!("{column}::text"),
            Kind::Mysql => format!("CAST({column} AS CHAR)"),
            Kind::Sqlite => format!("CAST({column} AS TEXT)"),
        };
        let sql = format!(
            "SELECT {}, {}, {}, {}, {}, {} FROM rollgate_history ORDER BY id",
            text("version"),
            text("kind"),
            text("status"),
            text("statements_done"),
            text("statements_total"),
            text("checksum"),
        );
        self.query(&sql)
            .into_iter()
            .map(|row| HistoryRow {
                version: row[0].clone(),
                kind: row[1].clone(),
                status: row[2].clone(),
                statements_done: row[3].clone(),
                statements_total: row[4].clone(),
                checksum: row[5].clone(),
            })
            .collect()
    }

    /// `(version, kind, status)` of every history row, in id order.
    pub fn history_summary(&self) -> Vec<(String, String, String)> {
        self.history()
            .into_iter()
            .map(|r| (r.version, r.kind, r.status))
            .collect()
    }

    /// How many sessions other than this query's run a statement containing
    /// `fragment` on this database right now (PostgreSQL and MySQL).
    pub fn sessions_running(&self, fragment: &str) -> usize {
        let sql = match self.kind {
            Kind::Postgres => format!(
                "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' \
                 AND state = 'active' AND pid <> pg_backend_pid() AND position('{fragment}' in query) > 0",
                self.name
            ),
            Kind::Mysql => format!(
                "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.PROCESSLIST WHERE DB = '{}' \
                 AND ID <> CONNECTION_ID() AND INSTR(INFO, '{fragment}') > 0",
                self.name
            ),
            Kind::Sqlite => panic!("sessions_running needs a server"),
        };
        self.scalar(&sql).parse().expect("a count")
    }
}

/// The URL of database `name` on the server of `admin_url`.
pub fn sibling(admin_url: &str, name: &str) -> String {
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name, kind) = (self.admin_url.clone(), self.name.clone(), self.kind);
        if kind == Kind::Sqlite {
            return;
        }
        // Drop may run while a test unwinds: a thread of its own keeps the
        // runtime out of whatever state the test left.
        let _ = std::thread::spawn(move || {
            block_on(async move {
                match kind {
                    Kind::Postgres => {
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut admin).await;
                        }
                    }
                    Kind::Mysql => {
                        if let Ok(mut admin) = sqlx::MySqlConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name}");
                            let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut admin).await;
                        }
                    }
                    Kind::Sqlite => {}
                }
            });
        })
        .join();
    }
}

/// What one run of the binary printed, and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout then stderr, for message assertions.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics with the whole output when the exit code is not `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics with the whole output unless it contains every fragment.
    #[track_caller]
    pub fn expect_output(&self, fragments: &[&str]) -> &Run {
        let all = self.all();
        for fragment in fragments {
            assert!(all.contains(fragment), "output lacks {fragment:?}:\n{all}");
        }
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}{}", self.stdout, self.stderr))
    }
}

/// A temporary project directory with migration files in `migrations/`.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `migrations/<name>`.
    pub fn write(&self, name: &str, text: &str) {
        self.write_bytes(name, text.as_bytes());
    }

    pub fn write_bytes(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join("migrations").join(name), bytes)
            .expect("write migration");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("ROLLGATE_DATABASE_URL")
            .env_remove("ROLLGATE_FILE_PATTERN")
            .env_remove("ROLLGATE_HISTORY_SCHEMA")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `rollgate ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        finish(self.spawn(args))
    }

    /// Starts `rollgate ARGS` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("rollgate starts")
    }

    /// `rollgate status --format json` on `url`: each file's `(version, state, detail)`.
    pub fn status(&self, url: &str) -> Vec<(String, String, String)> {
        let run = self.run(&["status", "--database-url", url, "--format", "json"]);
        assert!(
            run.code == 0 || run.code == 1,
            "status failed:\n{}",
            run.all()
        );
        run.json()["files"]
            .as_array()
            .expect("files array")
            .iter()
            .map(|f| {
                let text = |key: &str| f[key].as_str().unwrap_or_default().to_string();
                (text("version"), text("state"), text("detail"))
            })
            .collect()
    }
}

/// Waits for a spawned run and collects its output.
pub fn finish(child: Child) -> Run {
    let output = child.wait_with_output().expect("rollgate ran");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after
/// `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
