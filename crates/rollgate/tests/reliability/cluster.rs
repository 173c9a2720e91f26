//! The machinery of the reliability tests: `rollgate server` processes that
//! can be SIGKILLed, SIGTERMed and restarted on the same metadata store, an
//! admin API client, target databases (SQLite files or fresh PostgreSQL
//! databases, dropped afterwards), rollouts over the real API, and the
//! checks that every file was applied exactly once.
//!
//! Nothing here is mocked: the servers are the real binary, the targets are
//! real databases, and the checks read the targets' own `rollgate_history`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

pub const ADMIN: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const PROJECT: &str = "shop";

/// reqwest is built without a TLS crypto provider; install ring as the
/// binary does (these tests speak plain HTTP, but the client wants one).
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A small seeded generator (splitmix64), so a failing run can be replayed
/// with `ROLLGATE_RELIABILITY_SEED`.
pub struct Rng(u64);

impl Rng {
    /// The seed from `ROLLGATE_RELIABILITY_SEED`, else from the clock; printed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("ROLLGATE_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("{test}: seed {seed} (replay with ROLLGATE_RELIABILITY_SEED={seed})");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high` milliseconds.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low + 1))
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How a server (replica) is started; every start uses a new port.
pub struct ServerSpec {
    pub data_dir: PathBuf,
    pub metadata_url: Option<String>,
    pub env: Vec<(String, String)>,
    pub name: String,
    starts: u32,
}

/// One running `rollgate server` process.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl ServerSpec {
    pub fn new(name: &str, data_dir: &Path, metadata_url: Option<String>) -> ServerSpec {
        ServerSpec {
            data_dir: data_dir.to_path_buf(),
            metadata_url,
            env: Vec::new(),
            name: name.into(),
            starts: 0,
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> ServerSpec {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Starts the server and waits until `/healthz` answers.
    pub async fn start(&mut self) -> Server {
        init();
        self.starts += 1;
        let port = free_port();
        let log = self
            .data_dir
            .join(format!("{}-{}.log", self.name, self.starts));
        let file = std::fs::File::create(&log).expect("server log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
        command
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("ROLLGATE_ADMIN_EMAIL", ADMIN)
            .env("ROLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn,rollgate_server=info")
            // Not under test here, and a server killed mid-check would leave
            // its scratch database on the test server for an hour.
            .env("ROLLGATE_DRIFT_INTERVAL_SECONDS", "0")
            .env_remove("ROLLGATE_MASTER_KEY")
            .env_remove("ROLLGATE_METADATA_URL")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        if let Some(url) = &self.metadata_url {
            command.args(["--metadata-url", url]);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let child = command.spawn().expect("rollgate server starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(format!("{}/healthz", server.base)).send().await
                && response.status().is_success()
            {
                return server;
            }
            if let Some(status) = server.child.try_wait().expect("wait") {
                panic!(
                    "server {} exited with {status} before serving:\n{}",
                    self.name,
                    server.log_tail(40)
                );
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not answer /healthz within 30 s:\n{}",
                self.name,
                server.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Server {
    /// SIGKILL: no grace, no cleanup.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// SIGTERM, then waits for the exit; the status and how long it took.
    pub async fn terminate(mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, sent.elapsed());
            }
            if sent.elapsed() > limit {
                let tail = self.log_tail(40);
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not exit within {limit:?} of SIGTERM:\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    format!("--- {}\n{}", path.display(), all[start..].join("\n"))
}

/// Every server log of a data dir, tails only, for failure messages.
pub fn all_logs(dir: &Path) -> String {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    let mut out = String::new();
    for path in paths {
        let _ = writeln!(out, "{}", log_tail(&path, 15));
    }
    out
}

/// How many lines of the server logs under `dir` contain `needle`.
pub fn count_in_logs(dir: &Path, needle: &str) -> usize {
    let mut n = 0;
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "log") {
            n += std::fs::read_to_string(&entry)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(needle))
                .count();
        }
    }
    n
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh base64 master key, shared by replicas of one store.
pub fn master_key() -> String {
    rollgate_auth::MasterKey::generate().to_base64().to_string()
}

/// The admin's session; the token lives in the metadata store, so it stays
/// valid across restarts and on every replica.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    token: String,
}

impl Api {
    pub async fn login(base: &str) -> Api {
        init();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let response = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "email": ADMIN, "password": ADMIN_PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert!(response.status().is_success(), "login failed");
        let body: Value = response.json().await.expect("login JSON");
        Api {
            http,
            token: body["token"].as_str().expect("a token").to_string(),
        }
    }

    /// `METHOD base/api/v1/path`; panics on a non-2xx answer (a 500 is
    /// exactly what these tests look for).
    pub async fn call(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Value {
        let url = format!("{base}/api/v1/{}", path.trim_start_matches('/'));
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {url} answered {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `POST`, returning the status and body whatever they are; panics only
    /// when the server cannot be reached or answers 5xx.
    pub async fn try_post(&self, base: &str, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{base}/api/v1/{}", path.trim_start_matches('/'));
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "POST {url} answered {status}: {text}"
        );
        (
            status.as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, base: &str, path: &str) -> Value {
        self.call(base, reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, base: &str, path: &str, body: &Value) -> Value {
        self.call(base, reqwest::Method::POST, path, Some(body))
            .await
    }
}

/// Where the rollouts apply their files.
pub enum Targets {
    /// A directory; database `NAME` is `DIR/NAME.db`.
    Sqlite(tempfile::TempDir),
    /// Databases created on the local PostgreSQL server for this test.
    Postgres(Vec<PgDatabase>),
}

impl Targets {
    pub fn sqlite() -> Targets {
        Targets::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    pub async fn postgres(count: usize) -> Targets {
        let creates: Vec<_> = (0..count)
            .map(|_| tokio::spawn(PgDatabase::create()))
            .collect();
        let mut dbs = Vec::with_capacity(count);
        for create in creates {
            dbs.push(create.await.expect("creating a test database panicked"));
        }
        Targets::Postgres(dbs)
    }

    /// The database names the workspace registers, `count` of them.
    pub fn names(&self, count: usize) -> Vec<String> {
        match self {
            Targets::Sqlite(_) => (0..count).map(|i| format!("db{i}")).collect(),
            Targets::Postgres(dbs) => dbs.iter().take(count).map(|d| d.name.clone()).collect(),
        }
    }

    fn instance(&self) -> (&'static str, String) {
        match self {
            Targets::Sqlite(dir) => ("sqlite", format!("sqlite://{}", dir.path().display())),
            Targets::Postgres(_) => ("postgres", postgres_admin_url()),
        }
    }

    /// A statement that keeps the worker busy for roughly `ms`, so kills
    /// land in the middle of files.
    pub fn slow_statement(&self, ms: u64) -> String {
        match self {
            Targets::Sqlite(_) => format!(
                "WITH RECURSIVE burn(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM burn WHERE x < {}) \
                 SELECT count(*) FROM burn;",
                ms * 4000
            ),
            Targets::Postgres(_) => format!("SELECT pg_sleep({});", ms as f64 / 1000.0),
        }
    }

    /// File `version`: creates the effect table (the first one) or inserts
    /// its own row into it, then works for `ms`.
    pub fn file(&self, version: u32, first: bool, ms: u64) -> Value {
        let mut statement = String::new();
        if first {
            statement.push_str("CREATE TABLE applied (version INTEGER NOT NULL);\n");
        }
        let _ = writeln!(
            statement,
            "INSERT INTO applied (version) VALUES ({version});"
        );
        statement.push_str(&self.slow_statement(ms));
        statement.push('\n');
        json!({
            "path": format!("migrations/{version}_step.sql"),
            "version": version.to_string(),
            "statement": statement,
        })
    }

    /// `(version, status)` of every history row of `database`, in id order,
    /// and how many effect rows each version left.
    pub async fn inspect(&self, database: &str) -> (Vec<(String, String)>, Vec<(i64, i64)>) {
        let history_sql = "SELECT CAST(version AS TEXT) AS v, CAST(status AS TEXT) AS s FROM rollgate_history ORDER BY id";
        let applied_sql = "SELECT CAST(version AS BIGINT) AS v, CAST(COUNT(*) AS BIGINT) AS n FROM applied GROUP BY version ORDER BY version";
        macro_rules! read {
            ($connection:expr) => {{
                let mut c = $connection;
                let history = sqlx::query(history_sql)
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("history of {database}: {e}"))
                    .iter()
                    .map(|r| (r.get::<String, _>("v"), r.get::<String, _>("s")))
                    .collect();
                let applied = sqlx::query(applied_sql)
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("applied rows of {database}: {e}"))
                    .iter()
                    .map(|r| (r.get::<i64, _>("v"), r.get::<i64, _>("n")))
                    .collect();
                (history, applied)
            }};
        }
        match self {
            Targets::Sqlite(dir) => {
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{database}.db")).display()
                );
                read!(
                    sqlx::SqliteConnection::connect(&url)
                        .await
                        .expect("open target")
                )
            }
            Targets::Postgres(_) => {
                let url = sibling(&postgres_admin_url(), database);
                read!(
                    sqlx::PgConnection::connect(&url)
                        .await
                        .expect("connect target")
                )
            }
        }
    }

    /// How many sessions on these PostgreSQL targets are running a
    /// statement containing `fragment` right now.
    pub async fn sessions_running(&self, fragment: &str) -> i64 {
        let Targets::Postgres(dbs) = self else {
            panic!("sessions_running needs PostgreSQL targets");
        };
        let names: Vec<String> = dbs.iter().map(|d| d.name.clone()).collect();
        let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
            .await
            .expect("connect to PostgreSQL");
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = ANY($1) AND state = 'active' \
             AND pid <> pg_backend_pid() AND position($2 in query) > 0",
        )
        .bind(&names)
        .bind(fragment)
        .fetch_one(&mut admin)
        .await
        .expect("read pg_stat_activity")
    }

    /// Asserts that `database` holds versions `first..=last`, each applied
    /// exactly once: one `SUCCEEDED` history row and one effect row each,
    /// and nothing else.
    pub async fn assert_applied_once(&self, database: &str, first: u32, last: u32) {
        let (history, applied) = self.inspect(database).await;
        let expected_history: Vec<(String, String)> = (first..=last)
            .map(|v| (v.to_string(), "SUCCEEDED".to_string()))
            .collect();
        assert_eq!(
            history, expected_history,
            "{database}: the history must hold one SUCCEEDED row per file, in order"
        );
        let expected_applied: Vec<(i64, i64)> = (first..=last).map(|v| (i64::from(v), 1)).collect();
        assert_eq!(
            applied, expected_applied,
            "{database}: each file's INSERT must have run exactly once"
        );
    }
}

/// PostgreSQL admin URL; override with `ROLLGATE_TEST_PG_URL`.
pub fn postgres_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of database `name` on the server of `admin_url`.
pub fn sibling(admin_url: &str, name: &str) -> String {
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

/// A database created for one test on the local PostgreSQL server; dropped
/// (with its sessions) on `Drop`.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let admin_url = postgres_admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "rg_rel_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            nanos % 100_000
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL test server unreachable at {admin_url}: {e}; start it (see DEVELOPERS.md)")
            });
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        PgDatabase {
            url: sibling(&admin_url, &name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        drop_databases(vec![std::mem::take(&mut self.name)]);
    }
}

/// Drops `names` (with their sessions), all at once, on a thread of its own:
/// Drop may run inside the test's runtime.
fn drop_databases(names: Vec<String>) {
    let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return;
    }
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut drops = Vec::new();
            for name in names {
                drops.push(tokio::spawn(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_admin_url()).await
                    {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut admin).await;
                    }
                }));
            }
            for handle in drops {
                let _ = handle.await;
            }
        });
    })
    .join();
}

impl Drop for Targets {
    fn drop(&mut self) {
        if let Targets::Postgres(dbs) = self {
            drop_databases(
                dbs.iter_mut()
                    .map(|d| std::mem::take(&mut d.name))
                    .collect(),
            );
        }
    }
}

/// Applies a workspace through `rollgate workspace apply`: environments
/// `test` (automatic) and `prod`, one instance holding `databases` in
/// `test`, and project `shop` with all of them.
pub async fn apply_workspace(base: &str, targets: &Targets, databases: &[String], dir: &Path) {
    let (engine, url) = targets.instance();
    let mut toml = String::from(
        r#"
[[environments]]
id = "test"
title = "Test"
rollout = "automatic"

[[environments]]
id = "prod"
title = "Prod"
rollout = { manual = ["roles/projectReleaser"] }

[[instances]]
id = "targets"
engine = "ENGINE"
url = "${TARGETS_URL}"
environment = "test"
"#,
    )
    .replace("ENGINE", engine);
    for name in databases {
        let _ = write!(
            toml,
            "\n[[databases]]\ninstance = \"targets\"\nname = \"{name}\"\n"
        );
    }
    let list: Vec<String> = databases
        .iter()
        .map(|n| format!("\"instances/targets/databases/{n}\""))
        .collect();
    let _ = write!(
        toml,
        "\n[[projects]]\nid = \"{PROJECT}\"\ntitle = \"Shop\"\ndatabases = [{}]\n",
        list.join(", ")
    );
    let file = dir.join("workspace.toml");
    std::fs::write(&file, toml).expect("write workspace.toml");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["workspace", "apply", "--file"])
        .arg(&file)
        .args(["--url", base, "--service-account", ADMIN])
        .env("ROLLGATE_SERVICE_ACCOUNT_SECRET", ADMIN_PASSWORD)
        .env("TARGETS_URL", url)
        .output()
        .await
        .expect("rollgate workspace apply runs");
    assert!(
        output.status.success(),
        "workspace apply failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The cumulative release `n` (1-based): files `1001 ..= 1000 + n *
/// per_release`, as a repository's `migrations/` would hold after the
/// `n`-th merge.
pub fn release_files(targets: &Targets, n: u32, per_release: u32, ms: u64) -> Vec<Value> {
    (1..=n * per_release)
        .map(|i| targets.file(1000 + i, i == 1, ms))
        .collect()
}

/// Release → plan → rollout → run stage `test`; the rollout's name.
pub async fn submit_rollout(
    api: &Api,
    base: &str,
    files: &[Value],
    databases: &[String],
) -> String {
    let release = api
        .post(
            base,
            &format!("projects/{PROJECT}/releases"),
            &json!({ "files": files, "vcs": { "commitSha": "0123456789abcdef", "author": "reliability" } }),
        )
        .await;
    let targets: Vec<String> = databases
        .iter()
        .map(|n| format!("instances/targets/databases/{n}"))
        .collect();
    let plan = api
        .post(
            base,
            &format!("projects/{PROJECT}/plans"),
            &json!({ "release": release["name"], "targets": targets }),
        )
        .await;
    let plan_name = plan["name"].as_str().expect("plan name");
    let rollout = api
        .post(base, &format!("{plan_name}/rollout"), &json!({}))
        .await;
    let rollout_name = rollout["name"].as_str().expect("rollout name").to_string();
    api.post(
        base,
        &format!("{rollout_name}/stages/test/tasks:run"),
        &json!({}),
    )
    .await;
    rollout_name
}

/// Like [`submit_rollout`], but as a CI job that retries its last two
/// steps against the other replica at the same moment: `POST …/rollout` and
/// `tasks:run` go to both replicas at once. Both rollout calls must name
/// the same rollout; between them the two `tasks:run` calls queue every
/// task exactly once (the later one may find nothing left to run: 409).
pub async fn submit_rollout_twice(
    api: &Api,
    bases: [&str; 2],
    files: &[Value],
    databases: &[String],
) -> String {
    let release = api
        .post(
            bases[0],
            &format!("projects/{PROJECT}/releases"),
            &json!({ "files": files }),
        )
        .await;
    let targets: Vec<String> = databases
        .iter()
        .map(|n| format!("instances/targets/databases/{n}"))
        .collect();
    let plan = api
        .post(
            bases[1],
            &format!("projects/{PROJECT}/plans"),
            &json!({ "release": release["name"], "targets": targets }),
        )
        .await;
    let plan_name = plan["name"].as_str().expect("plan name");
    let path = format!("{plan_name}/rollout");
    let empty = json!({});
    let (a, b) = tokio::join!(
        api.post(bases[0], &path, &empty),
        api.post(bases[1], &path, &empty)
    );
    assert_eq!(a["name"], b["name"], "one plan, one rollout");
    let rollout = a["name"].as_str().expect("rollout name").to_string();
    let path = format!("{rollout}/stages/test/tasks:run");
    let (a, b) = tokio::join!(
        api.try_post(bases[0], &path, &empty),
        api.try_post(bases[1], &path, &empty)
    );
    let mut queued = Vec::new();
    for (status, body) in [a, b] {
        match status {
            200 => queued.extend(
                body["taskRuns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r["task"].clone()),
            ),
            409 => assert_eq!(body["code"], "FAILED_PRECONDITION", "{body}"),
            other => panic!("tasks:run answered {other}: {body}"),
        }
    }
    queued.sort_by_key(|t| t.as_i64());
    let before = queued.len();
    queued.dedup();
    assert_eq!(
        (before, queued.len()),
        (databases.len(), databases.len()),
        "{rollout}: the two tasks:run calls together queue each task once"
    );
    rollout
}

/// `(task name, status)` of every task of the rollout.
pub async fn tasks(api: &Api, base: &str, rollout: &str) -> Vec<(String, String)> {
    let body = api.get(base, rollout).await;
    body["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["tasks"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// How many tasks of these rollouts are RUNNING right now.
pub async fn running(api: &Api, base: &str, rollouts: &[String]) -> usize {
    let mut n = 0;
    for rollout in rollouts {
        n += tasks(api, base, rollout)
            .await
            .iter()
            .filter(|(_, s)| s == "RUNNING")
            .count();
    }
    n
}

/// Waits until every task of every rollout is DONE; panics on a FAILED task
/// (with its log) or after `timeout` (with the statuses and `logs`).
pub async fn wait_all_done(
    api: &Api,
    base: &str,
    rollouts: &[String],
    timeout: Duration,
    logs: &dyn Fn() -> String,
) {
    let started = Instant::now();
    loop {
        let mut pending = Vec::new();
        for rollout in rollouts {
            for (task, status) in tasks(api, base, rollout).await {
                if status == "FAILED" {
                    let runs = api.get(base, &format!("{task}/taskRuns")).await;
                    let mut text = String::new();
                    for run in runs["taskRuns"].as_array().into_iter().flatten() {
                        let name = run["name"].as_str().unwrap_or_default();
                        let log = api.get(base, &format!("{name}/log")).await;
                        let _ = writeln!(text, "{run}\n{:#}", log["entries"]);
                    }
                    panic!("task {task} FAILED:\n{text}\n{}", logs());
                }
                if status != "DONE" {
                    pending.push(format!("{task} {status}"));
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "not every task was DONE after {timeout:?}; still: {pending:#?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One task run as the API shows it, with its log.
pub struct RunReport {
    pub task: String,
    pub status: String,
    pub attempts: i64,
    pub log: Vec<Value>,
}

/// Every run of every task of `rollout`, with logs (the tasks fetched
/// concurrently).
pub async fn runs(api: &Api, base: &str, rollout: &str) -> Vec<RunReport> {
    let mut handles = Vec::new();
    for (task, _) in tasks(api, base, rollout).await {
        let (api, base) = (api.clone(), base.to_string());
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let runs = api.get(&base, &format!("{task}/taskRuns")).await;
            for run in runs["taskRuns"].as_array().into_iter().flatten() {
                let name = run["name"].as_str().unwrap_or_default();
                let log = api.get(&base, &format!("{name}/log")).await;
                out.push(RunReport {
                    task: task.clone(),
                    status: run["status"].as_str().unwrap_or_default().to_string(),
                    attempts: run["attempts"].as_i64().unwrap_or(-1),
                    log: log["entries"].as_array().cloned().unwrap_or_default(),
                });
            }
            out
        }));
    }
    let mut out = Vec::new();
    for handle in handles {
        out.extend(handle.await.expect("fetching task runs panicked"));
    }
    out
}

/// After a rollout completed: each task has exactly one run, `DONE`, and no
/// run of it is left `RUNNING` or `AVAILABLE`.
pub fn assert_one_done_run_per_task(rollout: &str, runs: &[RunReport]) {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.task.as_str()).collect();
    tasks.dedup();
    for task in tasks {
        let of_task: Vec<&RunReport> = runs.iter().filter(|r| r.task == task).collect();
        let statuses: Vec<&str> = of_task.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["DONE"],
            "{rollout}: task {task} must have exactly one run, DONE"
        );
    }
}

/// `event` entries of a run's log.
pub fn events<'a>(run: &'a RunReport, event: &str) -> Vec<&'a Value> {
    run.log.iter().filter(|e| e["event"] == event).collect()
}
