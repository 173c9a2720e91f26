//! Releases, plans and rollouts end to end, in-process: the HTTP API
//! (`oneshot`) plus real workers (`run_one`, `worker_loop`) applying to real
//! target databases. SQLite metadata with SQLite targets in a temp dir, and
//! PostgreSQL metadata with PostgreSQL targets on the local server.

mod support;

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use rollgate_auth::token::{self, TokenKind};
use rollgate_auth::{KeyRing, MasterKey};
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{Engine, HistoryRecord, RecordStatus, TargetUrl};
use rollgate_server::worker::{WorkerConfig, instance_url_aad, run_one, worker_loop};
use rollgate_server::{AppState, MetadataStore, app};
use rollgate_store::{
    ClaimLimits, Database, DatabaseRef, Instance, PostgresStore, ServiceAccount, SqliteStore, Store,
};
use serde_json::{Value, json};
use sqlx::Connection as _;
use support::mysql::MyTestDb;
use support::pg::PgTestDb;
use support::{PASSWORD, create_environment, create_project, create_target, create_user, login};
use tower::ServiceExt as _;

const ADMIN: &str = "admin@example.com";
const RELEASER: &str = "releaser@example.com";
const CI: &str = "ci@service.rollgate.local";

fn config(lease: Duration, limits: ClaimLimits) -> WorkerConfig {
    WorkerConfig {
        count: 1,
        lease,
        limits,
        shutdown_grace: Duration::from_secs(1),
    }
}

fn unlimited() -> WorkerConfig {
    config(Duration::from_secs(60), ClaimLimits::default())
}

struct Harness {
    app: Router,
    state: AppState,
    admin: String,
    releaser: String,
    ci: String,
    _dir: tempfile::TempDir,
    _pg: Vec<PgTestDb>,
    _my: Vec<MyTestDb>,
}

/// Environments test (automatic) and prod (manual: project releasers);
/// project `shop`; `targets` are (instance id, environment, target URL),
/// each holding one database in the project: `main` of a SQLite file, the
/// URL's database on PostgreSQL (see [`database_of`]).
async fn setup<S: Store>(store: &S, key_ring: &KeyRing, targets: &[(&str, &str, String)]) {
    create_environment(store, "test", "Test", 0, r#"{"rollout":"automatic"}"#).await;
    let releasers = r#"{"rollout":"manual","roles":["roles/projectReleaser"]}"#;
    create_environment(store, "prod", "Prod", 1, releasers).await;
    create_project(store, "shop", "Shop").await;
    for (id, environment, url) in targets {
        let database = database_of(url);
        create_target(
            store,
            key_ring,
            id,
            url,
            environment,
            &database,
            Some("shop"),
        )
        .await;
    }
    create_user(store, ADMIN, "workspaceAdmin").await;
    create_user(store, RELEASER, "projectReleaser").await;
}

/// Creates the service account and logs everyone in.
async fn finish<S: Store>(
    store: &S,
    state: AppState,
    dir: tempfile::TempDir,
    pg: Vec<PgTestDb>,
) -> Harness {
    let (key, key_hash) = token::generate(TokenKind::ServiceAccount);
    store
        .create_service_account(&ServiceAccount {
            email: CI.into(),
            key_hash: key_hash.as_str().into(),
            roles: vec!["roles/gitopsServiceAgent".into()],
        })
        .await
        .unwrap();
    let app = app(state.clone());
    Harness {
        admin: login(&app, ADMIN, PASSWORD).await,
        releaser: login(&app, RELEASER, PASSWORD).await,
        ci: login(&app, CI, key.expose()).await,
        app,
        state,
        _dir: dir,
        _pg: pg,
        _my: Vec::new(),
    }
}

/// The database a target URL names: `main` for a SQLite file, else the
/// URL's path (the instance URL is re-targeted to it, so it stays the same).
fn database_of(url: &str) -> String {
    if url.starts_with("sqlite:") {
        "main".into()
    } else {
        url.rsplit('/').next().unwrap().to_string()
    }
}

impl Harness {
    /// The database of instance `instance` (`main`, or a PostgreSQL test database).
    fn database(&self, instance: &str) -> String {
        let prefix = format!("rg_test_{instance}_");
        self._pg
            .iter()
            .map(|db| &db.name)
            .chain(self._my.iter().map(|db| &db.name))
            .find(|name| name.starts_with(&prefix))
            .map_or_else(|| "main".to_string(), Clone::clone)
    }
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(format!("{name}.db")).display())
}

/// SQLite metadata; SQLite targets `t1`, `t2`, `t3` (test) and `p1` (prod);
/// plus `outside` (test), a database that is not in the project.
async fn sqlite_harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rollgate.db"))
        .await
        .unwrap();
    let key_ring = KeyRing::new(MasterKey::generate());
    let targets: Vec<(&str, &str, String)> = [
        ("t1", "test"),
        ("t2", "test"),
        ("t3", "test"),
        ("p1", "prod"),
    ]
    .into_iter()
    .map(|(id, env)| (id, env, sqlite_url(dir.path(), id)))
    .collect();
    setup(&store, &key_ring, &targets).await;
    store
        .create_instance(&Instance {
            id: "outside".into(),
            engine: "sqlite".into(),
            url_envelope: key_ring.encrypt(
                &sqlite_url(dir.path(), "outside"),
                &instance_url_aad("outside"),
            ),
            environment: "test".into(),
        })
        .await
        .unwrap();
    store
        .create_database(&Database {
            instance: "outside".into(),
            name: "main".into(),
            environment: "test".into(),
        })
        .await
        .unwrap();
    let state = AppState::new(
        MetadataStore::Sqlite(store.clone()),
        key_ring,
        8 * 1024 * 1024,
    );
    finish(&store, state, dir, Vec::new()).await
}

/// The one function that calls the API (see [`support::call`]).
async fn call(
    h: &Harness,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    support::call(&h.app, method, uri, Some(token), body.as_deref(), None).await
}

fn file(path: &str, statement: &str) -> Value {
    let version = path.split('_').next().unwrap().trim_start_matches('V');
    json!({ "path": format!("migrations/{path}"), "version": version, "statement": statement })
}

/// Release, plan and rollout of `files` to `targets`, created by the service
/// account; returns the rollout.
async fn roll(h: &Harness, files: Vec<Value>, targets: &[&str]) -> Value {
    let (status, release) = call(
        h,
        "POST",
        "/api/v1/projects/shop/releases",
        &h.ci,
        Some(json!({
            "files": files,
            "vcs": {"commitSha": "abc123", "commitUrl": "https://git.example/c/abc123",
                    "mergeRequestUrl": "https://git.example/mr/7", "author": "ada@example.com"},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let targets: Vec<String> = targets
        .iter()
        .map(|t| format!("instances/{t}/databases/{}", h.database(t)))
        .collect();
    let (status, plan) = call(
        h,
        "POST",
        "/api/v1/projects/shop/plans",
        &h.ci,
        Some(json!({ "release": release["name"], "targets": targets })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let (status, rollout) = call(
        h,
        "POST",
        &format!("/api/v1/{}/rollout", plan["name"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    rollout
}

/// Releases `files` to `targets` and starts their `test` stage as the
/// service account; returns the rollout.
async fn roll_and_run_test(h: &Harness, files: Vec<Value>, targets: &[&str]) -> Value {
    let rollout = roll(h, files, targets).await;
    stage_action(h, &rollout, "test", "tasks:run", &h.ci, None).await;
    rollout
}

/// A statement that keeps a SQLite target busy for a while: it fills table
/// `table` with `rows` generated rows.
fn slow_statement(table: &str, rows: u32) -> String {
    format!(
        "CREATE TABLE {table} AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) SELECT x FROM c;\n"
    )
}

async fn stage_action(
    h: &Harness,
    rollout: &Value,
    stage: &str,
    action: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let uri = format!(
        "/api/v1/{}/stages/{stage}/{action}",
        rollout["name"].as_str().unwrap()
    );
    call(h, "POST", &uri, token, body).await
}

async fn get_rollout(h: &Harness, rollout: &Value) -> Value {
    let (status, body) = call(
        h,
        "GET",
        &format!("/api/v1/{}", rollout["name"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn stage<'a>(rollout: &'a Value, id: &str) -> &'a Value {
    rollout["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

/// Runs workers until nothing is claimable.
async fn drain(h: &Harness) -> usize {
    let mut runs = 0;
    while run_one(&h.state, "worker-a", &unlimited()).await.unwrap() {
        runs += 1;
        assert!(runs < 50, "the queue never emptied");
    }
    runs
}

async fn history(url: &str) -> Vec<HistoryRecord> {
    let mut engine = AnyEngine::connect(&TargetUrl::parse(url).unwrap(), None)
        .await
        .unwrap();
    engine.history().await.unwrap()
}

fn succeeded(rows: &[HistoryRecord]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.status == RecordStatus::Succeeded)
        .map(|r| r.version.clone())
        .collect()
}

fn two_files() -> Vec<Value> {
    vec![
        file(
            "V1_create_t.sql",
            "CREATE TABLE t (id INTEGER PRIMARY KEY);\n",
        ),
        file(
            "V2_fill_t_dml.sql",
            "INSERT INTO t (id) VALUES (1);\nINSERT INTO t (id) VALUES (2);\n",
        ),
    ]
}

/// The whole flow on one harness: test first, prod refused until test is
/// done and for the service agent, then run by a releaser.
async fn rollout_over_test_then_prod(h: &Harness, urls: &[String]) {
    let rollout = roll(h, two_files(), &["t1", "p1"]).await;
    let stages: Vec<&str> = rollout["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["test", "prod"]);
    assert_eq!(rollout["status"], "NOT_STARTED");
    assert!(
        rollout["release"]
            .as_str()
            .unwrap()
            .starts_with("projects/shop/releases/release_")
    );

    // Idempotent per plan.
    let (status, again) = call(
        h,
        "POST",
        &format!("/api/v1/{}/rollout", rollout["plan"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["name"], rollout["name"]);

    // Prod: the service agent never runs a manual environment; a releaser
    // must wait for test.
    let (status, body) = stage_action(h, &rollout, "prod", "tasks:run", &h.ci, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("GitOps Service Agent"),
        "{body}"
    );
    let (status, body) = stage_action(h, &rollout, "prod", "tasks:run", &h.releaser, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "FAILED_PRECONDITION");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("stage `prod` cannot run yet"), "{message}");
    assert!(
        message.contains(&format!(
            "instances/t1/databases/{} in `test` is NOT_STARTED",
            h.database("t1")
        )),
        "{message}"
    );

    // Test: the service agent runs it; a worker applies it.
    let (status, body) = stage_action(h, &rollout, "test", "tasks:run", &h.ci, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["taskRuns"].as_array().unwrap().len(), 1);
    let (status, body) = stage_action(h, &rollout, "test", "tasks:run", &h.ci, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to run: {body}");
    assert_eq!(drain(h).await, 1);
    let current = get_rollout(h, &rollout).await;
    assert_eq!(stage(&current, "test")["status"], "DONE");
    assert_eq!(current["status"], "IN_PROGRESS");

    // Prod by a releaser, now in order.
    let (status, body) = stage_action(h, &rollout, "prod", "tasks:run", &h.releaser, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(drain(h).await, 1);
    let current = get_rollout(h, &rollout).await;
    assert_eq!(current["status"], "DONE", "{current}");
    assert!(current["overrides"].as_array().unwrap().is_empty());

    // Each target applied each file once, recording the release.
    let release_id = rollout["release"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    for url in urls {
        let rows = history(url).await;
        assert_eq!(succeeded(&rows), ["1", "2"], "{url}");
        assert!(
            rows.iter()
                .all(|r| r.release_id.as_deref() == Some(release_id.as_str()))
        );
    }

    // Task runs and their log: per file and per statement.
    let task = &stage(&current, "test")["tasks"][0];
    let (status, runs) = call(
        h,
        "GET",
        &format!("/api/v1/{}/taskRuns", task["name"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    let run = &runs["taskRuns"][0];
    assert_eq!(run["status"], "DONE");
    assert!(run["startTime"].is_string() && run["finishTime"].is_string());
    let (status, log) = call(
        h,
        "GET",
        &format!("/api/v1/{}/log", run["name"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let statements: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "statement")
        .collect();
    assert_eq!(statements.len(), 3, "{log}");
    let insert = statements
        .iter()
        .find(|e| e["file"] == "migrations/V2_fill_t_dml.sql" && e["index"] == 1)
        .unwrap();
    assert_eq!(insert["rows_affected"], 1);
    assert_eq!(insert["line"], 2);
    assert!(
        insert["started_at_ms"].is_u64()
            && insert["finished_at_ms"].is_u64()
            && insert["duration_ms"].is_u64()
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["event"] == "file_finished")
            .count(),
        2
    );
    let text = log.to_string();
    assert!(
        !text.contains("sqlite://") && !text.contains("postgres://"),
        "a URL leaked: {text}"
    );

    // Changelog: the project databases with t1's database's name, read from the targets.
    let (status, changelog) = call(
        h,
        "GET",
        "/api/v1/projects/shop/databases/main/changelog?instance=t1",
        &h.ci,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the service agent has no changelog permission: {changelog}"
    );
    let (status, changelog) = call(
        h,
        "GET",
        &format!(
            "/api/v1/projects/shop/databases/{}/changelog?instance=t1",
            h.database("t1")
        ),
        &h.releaser,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changelog}");
    let entries = changelog["changelogs"][0]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{changelog}");
    assert_eq!(entries[0]["release"], rollout["release"]);
    assert_eq!(entries[1]["version"], "2");

    // Metrics: runs by status and their durations.
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let response = h.app.clone().oneshot(request).await.unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("rollgate_task_runs{status=\"DONE\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("rollgate_task_run_duration_seconds_count{status=\"DONE\"} 2"),
        "{text}"
    );

    // The audit log saw the calls, refused ones included.
    let (_, audit) = call(h, "GET", "/api/v1/auditLogs?pageSize=1000", &h.admin, None).await;
    let actions: Vec<(&str, &str)> = audit["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(actions.iter().any(|(a, o)| *a == "rg.taskRuns.create" && o.starts_with("ERROR: FAILED_PRECONDITION")), "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|(a, o)| *a == "rg.releases.create" && o.starts_with("OK")),
        "{actions:?}"
    );
}

#[tokio::test]
async fn sqlite_rollout_over_test_then_prod() {
    let h = sqlite_harness().await;
    let urls = vec![
        sqlite_url(h._dir.path(), "t1"),
        sqlite_url(h._dir.path(), "p1"),
    ];
    rollout_over_test_then_prod(&h, &urls).await;

    // A second release the same day is RC2.
    let (status, list) = call(&h, "GET", "/api/v1/projects/shop/releases", &h.ci, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "releases list is not the agent's: {list}"
    );
    let rollout = roll(
        &h,
        vec![file("V3_more.sql", "CREATE TABLE u (id INTEGER);")],
        &["t1"],
    )
    .await;
    assert!(
        rollout["release"].as_str().unwrap().ends_with("-RC2"),
        "{rollout}"
    );
    let (status, list) = call(
        &h,
        "GET",
        "/api/v1/projects/shop/releases?pageSize=1",
        &h.releaser,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["releases"].as_array().unwrap().len(), 1);
    let release = &list["releases"][0];
    assert!(
        release["files"][0]["checksum"]
            .as_str()
            .unwrap()
            .starts_with("sha256-v1:")
    );
    assert_eq!(release["vcs"]["commitSha"], "abc123");
    assert_eq!(release["files"][1]["changeType"], "DML");
    let (status, rollouts) = call(&h, "GET", "/api/v1/projects/shop/rollouts", &h.ci, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rollouts["rollouts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn admin_override_is_recorded_and_others_cannot_override() {
    let h = sqlite_harness().await;
    let rollout = roll(&h, two_files(), &["t1", "p1"]).await;
    let (status, body) = stage_action(
        &h,
        &rollout,
        "prod",
        "tasks:run",
        &h.releaser,
        Some(json!({"override": true, "reason": "hotfix"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("only a workspace admin"),
        "{body}"
    );
    let (status, body) = stage_action(
        &h,
        &rollout,
        "prod",
        "tasks:run",
        &h.admin,
        Some(json!({"override": true})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a reason is required: {body}"
    );
    let (status, body) = stage_action(
        &h,
        &rollout,
        "prod",
        "tasks:run",
        &h.admin,
        Some(json!({"override": true, "reason": "hotfix INC-42"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current = get_rollout(&h, &rollout).await;
    let overrides = current["overrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 1, "{current}");
    assert_eq!(overrides[0]["actor"], ADMIN);
    assert_eq!(overrides[0]["reason"], "hotfix INC-42");
    assert_eq!(
        overrides[0]["blockingTasks"][0]["target"],
        "instances/t1/databases/main"
    );
    let (_, audit) = call(&h, "GET", "/api/v1/auditLogs?pageSize=1000", &h.admin, None).await;
    assert!(
        audit["auditLogs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "rg.rollouts.overrideStageOrder"
                && e["actor"] == ADMIN
                && e["outcome"] == "OK"),
        "{audit}"
    );
    assert_eq!(drain(&h).await, 1);
    assert_eq!(
        stage(&get_rollout(&h, &rollout).await, "prod")["status"],
        "DONE"
    );
}

#[tokio::test]
async fn a_failing_file_fails_with_file_and_line_then_skip_unblocks_prod() {
    let h = sqlite_harness().await;
    let rollout = roll(
        &h,
        vec![
            file("V1_ok.sql", "CREATE TABLE a (id INTEGER);\n"),
            file(
                "V2_broken.sql",
                "CREATE TABLE b (id INTEGER);\n\nCREATE TABLE a (id INTEGER);\n",
            ),
        ],
        &["t1", "p1"],
    )
    .await;
    let (status, _) = stage_action(&h, &rollout, "test", "tasks:run", &h.ci, None).await;
    assert_eq!(status, StatusCode::OK);
    drain(&h).await;
    let current = get_rollout(&h, &rollout).await;
    let task = &stage(&current, "test")["tasks"][0];
    assert_eq!(task["status"], "FAILED");
    assert_eq!(current["status"], "FAILED");
    let (_, runs) = call(
        &h,
        "GET",
        &format!("/api/v1/{}/taskRuns", task["name"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    let run = &runs["taskRuns"][0];
    assert!(
        run["error"].as_str().unwrap().contains("V2_broken.sql:3"),
        "{run}"
    );
    let (_, log) = call(
        &h,
        "GET",
        &format!("/api/v1/{}/log", run["name"].as_str().unwrap()),
        &h.ci,
        None,
    )
    .await;
    let failed = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "statement" && e["status"] == "FAILED")
        .unwrap();
    assert_eq!(
        (failed["file"].as_str(), failed["line"].as_u64()),
        (Some("migrations/V2_broken.sql"), Some(3))
    );
    assert!(
        failed["error"].as_str().unwrap().contains("already exists"),
        "{failed}"
    );

    // Skipping needs a reason and a skippable task; then prod may run.
    let (status, body) = stage_action(
        &h,
        &rollout,
        "test",
        "tasks:skip",
        &h.releaser,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = stage_action(
        &h,
        &rollout,
        "test",
        "tasks:skip",
        &h.ci,
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the agent cannot skip: {body}"
    );
    let (status, body) = stage_action(
        &h,
        &rollout,
        "test",
        "tasks:skip",
        &h.releaser,
        Some(json!({"reason": "fixed by hand on test"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current = get_rollout(&h, &rollout).await;
    assert_eq!(
        stage(&current, "test")["tasks"][0]["skippedReason"],
        "fixed by hand on test"
    );
    let (status, body) = stage_action(&h, &rollout, "prod", "tasks:run", &h.releaser, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Cancel the queued prod run before a worker takes it.
    let (status, body) =
        stage_action(&h, &rollout, "prod", "taskRuns:cancel", &h.releaser, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(drain(&h).await, 0);
    assert_eq!(
        stage(&get_rollout(&h, &rollout).await, "prod")["tasks"][0]["status"],
        "CANCELED"
    );
}

#[tokio::test]
async fn bad_release_and_plan_input_is_a_4xx_naming_the_problem() {
    let h = sqlite_harness().await;
    let post = |files: Value| {
        let h = &h;
        async move {
            call(
                h,
                "POST",
                "/api/v1/projects/shop/releases",
                &h.ci,
                Some(json!({ "files": files })),
            )
            .await
        }
    };
    let big = "-- x\n".repeat(2 * 1024 * 1024 / 5 + 1);
    let cases = [
        (json!([file("V1_big.sql", &big)]), "2 MiB"),
        (
            json!(
                (0..501)
                    .map(|i| file(&format!("V{i}_f.sql"), "SELECT 1;"))
                    .collect::<Vec<_>>()
            ),
            "at most 500 files",
        ),
        (
            json!([{"path": "migrations/V1_a.sql", "version": "one", "statement": "SELECT 1;"}]),
            "is not a version",
        ),
        (
            json!([{"path": "../V1_a.sql", "version": "1", "statement": "SELECT 1;"}]),
            "relative path",
        ),
        (
            json!([{"path": "migrations/notes.sql", "version": "1", "statement": "SELECT 1;"}]),
            "does not start with its version",
        ),
        (
            json!([{"path": "migrations/V1_a.sql", "version": "2", "statement": "SELECT 1;"}]),
            "make them agree",
        ),
        (
            json!([
                file("V1_a.sql", "SELECT 1;"),
                file("V01_b.sql", "SELECT 2;")
            ]),
            "appears twice",
        ),
        (json!([]), "at least one"),
    ];
    for (files, expected) in cases {
        let (status, body) = post(files).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(expected),
            "{expected}: {body}"
        );
    }
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/projects/shop/releases",
        &h.ci,
        Some(json!({"files": [], "extra": 1})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_ARGUMENT"))
    );
    let (status, _) = call(
        &h,
        "POST",
        "/api/v1/projects/ghost/releases",
        &h.ci,
        Some(json!({"files": [file("V1_a.sql", "SELECT 1;")]})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let rollout = roll(&h, two_files(), &["t1"]).await;
    let release = rollout["release"].clone();
    let plan = |targets: Value| {
        let h = &h;
        let release = release.clone();
        async move {
            call(
                h,
                "POST",
                "/api/v1/projects/shop/plans",
                &h.ci,
                Some(json!({"release": release, "targets": targets})),
            )
            .await
        }
    };
    let (status, body) = plan(json!(["instances/nope/databases/main"])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("instances/nope/databases/main"),
        "{body}"
    );
    let (status, body) = plan(json!(["instances/outside/databases/main"])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a database of project `shop`"),
        "{body}"
    );
    let (status, body) = plan(json!(["outside/main"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = plan(json!([
        "instances/t1/databases/main",
        "instances/t1/databases/main"
    ]))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = plan(json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/projects/shop/plans",
        &h.ci,
        Some(
            json!({"release": "release_19990101-RC1", "targets": ["instances/t1/databases/main"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = call(&h, "GET", "/api/v1/projects/shop/rollouts/abc", &h.ci, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = stage_action(&h, &rollout, "staging", "tasks:run", &h.ci, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = stage_action(
        &h,
        &rollout,
        "test",
        "tasks:run",
        &h.ci,
        Some(json!({"tasks": [999999]})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Another project's rollout is not found through this one.
    let (status, _) = call(
        &h,
        "GET",
        &format!("/api/v1/projects/other/rollouts/{}", rollout["id"]),
        &h.ci,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changelog_reports_an_unreachable_target_as_an_entry() {
    let h = sqlite_harness().await;
    let MetadataStore::Sqlite(store) = h.state.store().clone() else {
        unreachable!()
    };
    store
        .create_instance(&Instance {
            id: "gone".into(),
            engine: "sqlite".into(),
            url_envelope: h.state.key_ring().encrypt(
                "sqlite:///nonexistent-dir/rollgate/x.db",
                &instance_url_aad("gone"),
            ),
            environment: "test".into(),
        })
        .await
        .unwrap();
    store
        .create_database(&Database {
            instance: "gone".into(),
            name: "main".into(),
            environment: "test".into(),
        })
        .await
        .unwrap();
    store
        .add_project_database("shop", &DatabaseRef::new("gone", "main"))
        .await
        .unwrap();
    let rollout = roll(&h, two_files(), &["t1"]).await;
    stage_action(&h, &rollout, "test", "tasks:run", &h.ci, None).await;
    drain(&h).await;
    let (status, body) = call(
        &h,
        "GET",
        "/api/v1/projects/shop/databases/main/changelog",
        &h.releaser,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changelogs = body["changelogs"].as_array().unwrap();
    assert_eq!(changelogs.len(), 5, "{body}");
    let gone = changelogs
        .iter()
        .find(|c| c["target"] == "instances/gone/databases/main")
        .unwrap();
    assert!(
        gone["error"]
            .as_str()
            .unwrap()
            .contains("cannot read the history of instances/gone/databases/main"),
        "{gone}"
    );
    assert_eq!(gone["entries"], json!([]));
    let t1 = changelogs
        .iter()
        .find(|c| c["target"] == "instances/t1/databases/main")
        .unwrap();
    assert_eq!(t1["entries"].as_array().unwrap().len(), 2);
    let (status, _) = call(
        &h,
        "GET",
        "/api/v1/projects/shop/databases/nope/changelog",
        &h.releaser,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A worker dies after file 1 while file 2 (slow) runs; once its lease
/// expires another worker resumes from the target's history: every file is
/// applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_workers_task_is_resumed_and_each_file_applied_once() {
    let h = sqlite_harness().await;
    let rollout = roll_and_run_test(
        &h,
        vec![
            file(
                "V1_first_dml.sql",
                "CREATE TABLE once (id INTEGER);\nINSERT INTO once (id) VALUES (1);\n",
            ),
            file("V2_slow.sql", &slow_statement("big", 3_000_000)),
            file("V3_last.sql", "CREATE TABLE last (id INTEGER);\n"),
        ],
        &["t1"],
    )
    .await;
    let short = config(Duration::from_secs(1), ClaimLimits::default());
    let state = h.state.clone();
    let dying = tokio::spawn(async move { run_one(&state, "worker-dies", &short).await });
    // Wait until file 1 is applied, then kill the worker.
    let MetadataStore::Sqlite(store) = h.state.store().clone() else {
        unreachable!()
    };
    let run_id = loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let current = get_rollout(&h, &rollout).await;
        let task = &stage(&current, "test")["tasks"][0];
        let runs = store
            .list_task_runs(task["id"].as_i64().unwrap())
            .await
            .unwrap();
        if let Some(run) = runs.first() {
            let log = store.list_task_log(run.id).await.unwrap();
            if log.iter().any(|e| {
                e.entry_json.contains("\"file_started\"") && e.entry_json.contains("V2_slow.sql")
            }) {
                break run.id;
            }
        }
    };
    dying.abort();
    let _ = dying.await;
    let run = store.get_task_run(run_id).await.unwrap();
    assert_eq!(
        (run.status.as_str(), run.worker.as_deref()),
        ("RUNNING", Some("worker-dies"))
    );
    // Nothing to claim while the dead worker's lease lives; then it expires.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(run_one(&h.state, "worker-b", &unlimited()).await.unwrap());
    let run = store.get_task_run(run_id).await.unwrap();
    assert_eq!((run.status.as_str(), run.attempts), ("DONE", 2), "{run:?}");
    let rows = history(&sqlite_url(h._dir.path(), "t1")).await;
    assert_eq!(succeeded(&rows), ["1", "2", "3"]);
    for version in ["1", "2", "3"] {
        assert_eq!(
            rows.iter().filter(|r| r.version == version).count(),
            1,
            "{rows:?}"
        );
    }
    let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(h._dir.path(), "t1"))
        .await
        .unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM once")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 1, "file 1 ran once");
    let log = store.list_task_log(run_id).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.entry_json.contains("\"run_started\""))
            .count(),
        2
    );
}

/// Three worker loops, one task run at a time per rollout: runs never overlap;
/// shutdown stops the loops.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_loops_respect_the_per_rollout_limit() {
    let h = sqlite_harness().await;
    let rollout = roll_and_run_test(
        &h,
        vec![file("V1_work.sql", &slow_statement("w", 300_000))],
        &["t1", "t2", "t3"],
    )
    .await;
    let limited = config(
        Duration::from_secs(30),
        ClaimLimits {
            per_rollout: Some(1),
            per_instance: None,
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(worker_loop(
                h.state.clone(),
                format!("loop-{i}"),
                limited,
                stopped.clone(),
            ))
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let current = get_rollout(&h, &rollout).await;
        if stage(&current, "test")["status"] == "DONE" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rollout did not finish: {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    for handle in loops {
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .unwrap()
            .unwrap();
    }
    let MetadataStore::Sqlite(store) = h.state.store().clone() else {
        unreachable!()
    };
    let current = get_rollout(&h, &rollout).await;
    let mut spans = Vec::new();
    for task in stage(&current, "test")["tasks"].as_array().unwrap() {
        let runs = store
            .list_task_runs(task["id"].as_i64().unwrap())
            .await
            .unwrap();
        let log = store.list_task_log(runs[0].id).await.unwrap();
        let at = |event: &str| {
            log.iter()
                .map(|e| serde_json::from_str::<Value>(&e.entry_json).unwrap())
                .find(|e| e["event"] == event)
                .unwrap()["at_ms"]
                .as_u64()
                .unwrap()
        };
        spans.push((at("run_started"), at("run_finished")));
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlapped: {spans:?}");
    }
}

/// Shutdown with a task running: once the grace period is over, the run goes
/// back to AVAILABLE for another worker, which completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_releases_an_unfinished_run() {
    let h = sqlite_harness().await;
    let rollout = roll_and_run_test(
        &h,
        vec![file("V1_slow.sql", &slow_statement("big", 5_000_000))],
        &["t1"],
    )
    .await;
    let mut no_grace = unlimited();
    no_grace.shutdown_grace = Duration::from_millis(0);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(worker_loop(
        h.state.clone(),
        "leaving".into(),
        no_grace,
        stopped,
    ));
    let MetadataStore::Sqlite(store) = h.state.store().clone() else {
        unreachable!()
    };
    let task_id = stage(&rollout, "test")["tasks"][0]["id"].as_i64().unwrap();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let runs = store.list_task_runs(task_id).await.unwrap();
        if runs.first().is_some_and(|r| r.status == "RUNNING") {
            break;
        }
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap();
    let run = &store.list_task_runs(task_id).await.unwrap()[0];
    assert_eq!(
        (run.status.as_str(), run.worker.as_deref()),
        ("AVAILABLE", None),
        "{run:?}"
    );
    assert!(run_one(&h.state, "next", &unlimited()).await.unwrap());
    assert_eq!(
        stage(&get_rollout(&h, &rollout).await, "test")["status"],
        "DONE"
    );
    assert_eq!(
        succeeded(&history(&sqlite_url(h._dir.path(), "t1")).await),
        ["1"]
    );
}

// ---- PostgreSQL metadata and PostgreSQL targets ----

#[tokio::test]
async fn postgres_rollout_over_test_then_prod() {
    let meta = PgTestDb::create("meta").await;
    let t1 = PgTestDb::create("t1").await;
    let p1 = PgTestDb::create("p1").await;
    let store = PostgresStore::connect(&meta.url).await.unwrap();
    let key_ring = KeyRing::new(MasterKey::generate());
    let targets = vec![
        ("t1", "test", t1.url.clone()),
        ("p1", "prod", p1.url.clone()),
    ];
    setup(&store, &key_ring, &targets).await;
    let state = AppState::new(
        MetadataStore::Postgres(store.clone()),
        key_ring,
        8 * 1024 * 1024,
    );
    let urls = vec![t1.url.clone(), p1.url.clone()];
    let dir = tempfile::tempdir().unwrap();
    let h = finish(&store, state, dir, vec![t1, p1]).await;
    rollout_over_test_then_prod(&h, &urls).await;
    store.close().await;
    drop(h);
    drop(meta);
}

// ---- MariaDB targets ----

/// The same flow on MariaDB targets (SQLite metadata), then what the server
/// reads from them: a check that skips the applied files and reviews a new
/// one against the live table, the changelog, and drift after a hand-made
/// change.
#[tokio::test]
async fn mariadb_targets_roll_out_check_changelog_and_drift() {
    let t1 = MyTestDb::create("t1").await;
    let p1 = MyTestDb::create("p1").await;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rollgate.db"))
        .await
        .unwrap();
    let key_ring = KeyRing::new(MasterKey::generate());
    let targets = vec![
        ("t1", "test", t1.url.clone()),
        ("p1", "prod", p1.url.clone()),
    ];
    setup(&store, &key_ring, &targets).await;
    let state = AppState::new(
        MetadataStore::Sqlite(store.clone()),
        key_ring,
        8 * 1024 * 1024,
    );
    let urls = vec![t1.url.clone(), p1.url.clone()];
    let mut h = finish(&store, state, dir, Vec::new()).await;
    h._my = vec![t1, p1];
    rollout_over_test_then_prod(&h, &urls).await;

    // A check: both applied files skipped, the new one reviewed against the
    // live table `t` (adding a NOT NULL column without a default to a table
    // that exists is the walk-through finding).
    let t1_target = format!("instances/t1/databases/{}", h.database("t1"));
    let mut files = two_files();
    files.push(file(
        "V3_add_note.sql",
        "ALTER TABLE t ADD COLUMN note VARCHAR(20) NOT NULL;\n",
    ));
    let (status, body) = call(
        &h,
        "POST",
        "/api/v1/projects/shop/releases:check",
        &h.admin,
        Some(json!({ "files": files, "targets": [t1_target] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["targets"][0]["reachable"], true, "{body:#}");
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["SKIPPED", "SKIPPED", "PENDING"], "{body:#}");
    let rules: Vec<&str> = body["results"][2]["advices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"COLUMN_ADD_NOT_NULL_WITHOUT_DEFAULT"),
        "the live table `t` is seen: {body:#}"
    );

    // Drift: in sync, then a column added by hand shows in the diff.
    let drift_uri = format!("/api/v1/{t1_target}/drift:check");
    let (status, body) = call(&h, "POST", &drift_uri, &h.admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["status"], "IN_SYNC", "{body:#}");
    h._my[0]
        .exec("ALTER TABLE t ADD COLUMN nickname VARCHAR(20)")
        .await;
    let (status, body) = call(&h, "POST", &drift_uri, &h.admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["status"], "DRIFTED", "{body:#}");
    assert!(
        body["diff"].as_str().unwrap().contains("nickname"),
        "{body:#}"
    );
}

/// A file that runs longer than the lease: the worker renews the lease on a
/// timer while the statement runs, so a second worker polling all along never
/// takes the run over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeats_keep_the_lease_during_a_long_statement() {
    let h = sqlite_harness().await;
    let rollout = roll_and_run_test(
        &h,
        vec![file("V1_long.sql", &slow_statement("big", 8_000_000))],
        &["t1"],
    )
    .await;
    let short = config(Duration::from_secs(1), ClaimLimits::default());
    let state = h.state.clone();
    let working = tokio::spawn(async move { run_one(&state, "long-runner", &short).await });
    let mut stolen = 0;
    while !working.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if run_one(&h.state, "thief", &short).await.unwrap() {
            stolen += 1;
        }
    }
    working.await.unwrap().unwrap();
    assert_eq!(stolen, 0, "another worker took over a live run");
    let MetadataStore::Sqlite(store) = h.state.store().clone() else {
        unreachable!()
    };
    let task_id = stage(&rollout, "test")["tasks"][0]["id"].as_i64().unwrap();
    let run = &store.list_task_runs(task_id).await.unwrap()[0];
    assert_eq!((run.status.as_str(), run.attempts), ("DONE", 1), "{run:?}");
    let log = store.list_task_log(run.id).await.unwrap();
    let finished: Value = log
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.entry_json).unwrap())
        .find(|e| e["event"] == "file_finished")
        .unwrap();
    // Longer than two leases, or this test proves nothing.
    assert!(
        finished["duration_ms"].as_u64().unwrap() > 2000,
        "{finished}"
    );
}

/// Waiting for a target's migration lock (another runner holds it) renews
/// the lease too: a worker that waits longer than two leases keeps its run.
#[tokio::test]
async fn heartbeats_keep_the_lease_while_waiting_for_the_target_lock() {
    let h = sqlite_harness().await;
    let rollout = roll_and_run_test(
        &h,
        vec![file("V1_t.sql", "CREATE TABLE t (id int);")],
        &["t1"],
    )
    .await;
    // Another runner holds t1's migration lock for 3 s.
    let url = TargetUrl::parse(&sqlite_url(h._dir.path(), "t1")).unwrap();
    let mut holder = AnyEngine::connect(&url, None).await.unwrap();
    holder.lock(Duration::from_secs(5)).await.unwrap();
    let short = config(Duration::from_secs(1), ClaimLimits::default());
    let state = h.state.clone();
    let working = tokio::spawn(async move { run_one(&state, "waiting-runner", &short).await });
    let started = std::time::Instant::now();
    let (mut stolen, mut held) = (0, true);
    while !working.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if held && started.elapsed() > Duration::from_secs(3) {
            holder.unlock().await.unwrap();
            held = false;
        }
        if run_one(&h.state, "thief", &short).await.unwrap() {
            stolen += 1;
        }
    }
    working.await.unwrap().unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the runner did not wait"
    );
    assert_eq!(
        stolen, 0,
        "another worker took over a run waiting for the lock"
    );
    let MetadataStore::Sqlite(store) = h.state.store().clone() else {
        unreachable!()
    };
    let task_id = stage(&rollout, "test")["tasks"][0]["id"].as_i64().unwrap();
    let run = &store.list_task_runs(task_id).await.unwrap()[0];
    assert_eq!((run.status.as_str(), run.attempts), ("DONE", 1), "{run:?}");
}

/// Stages, tasks and task runs each have their own list and get, with what
/// the rollout shows of them; an unknown stage or task is a 404 that says
/// what exists.
#[tokio::test]
async fn stages_tasks_and_task_runs_are_resources() {
    let h = sqlite_harness().await;
    let rollout = roll_and_run_test(&h, two_files(), &["t1", "p1"]).await;
    assert_eq!(drain(&h).await, 1);
    let name = rollout["name"].as_str().unwrap();
    let get = |uri: String| {
        let h = &h;
        async move { call(h, "GET", &format!("/api/v1/{uri}"), &h.ci, None).await }
    };
    let (status, stages) = get(format!("{name}/stages")).await;
    assert_eq!(status, StatusCode::OK, "{stages}");
    let ids: Vec<&str> = stages["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["test", "prod"]);
    let (status, test) = get(format!("{name}/stages/test")).await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!(test["status"], "DONE", "{test}");
    let (_, tasks) = get(format!("{name}/stages/prod/tasks")).await;
    assert_eq!(tasks["tasks"][0]["status"], "NOT_STARTED", "{tasks}");
    let task = test["tasks"][0]["name"].as_str().unwrap();
    let (status, one) = get(task.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one, test["tasks"][0]);
    let (_, runs) = get(format!("{task}/taskRuns")).await;
    let run = runs["taskRuns"][0]["name"].as_str().unwrap();
    let (status, got) = get(run.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        (got["status"].as_str(), got["attempts"].as_i64()),
        (Some("DONE"), Some(1))
    );
    let (status, missing) = get(format!("{name}/stages/qa")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(
        missing["message"].as_str().unwrap().contains("test, prod"),
        "{missing}"
    );
    let (status, missing) = get(format!("{name}/stages/test/tasks/999")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
}
