//! Drift checks end to end, in-process: a release rolled out by a real
//! worker to a SQLite and a PostgreSQL target, then `drift:check` through the
//! API: in sync, drifted after a hand-made `ALTER TABLE`, an unreachable
//! target, a history row the server does not hold; and the scheduled check
//! on two replicas sharing one PostgreSQL metadata store.

mod support;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use rollgate_auth::{KeyRing, MasterKey};
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{ApplyOptions, Engine, NewRecord, RecordKind, RecordStatus, TargetUrl};
use rollgate_migration::MigrationFile;
use rollgate_server::worker::{WorkerConfig, run_one};
use rollgate_server::{AppState, MetadataStore, app, drift};
use rollgate_store::{ClaimLimits, DatabaseRef, PostgresStore, SqliteStore, Store, drift_status};
use serde_json::{Value, json};
use sqlx::Connection as _;
use support::pg::PgTestDb;
use support::{PASSWORD, create_environment, create_project, create_target, create_user, login};
use tower::ServiceExt as _;

const ADMIN: &str = "admin@example.com";

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        count: 1,
        lease: Duration::from_secs(60),
        limits: ClaimLimits::default(),
        shutdown_grace: Duration::from_secs(1),
    }
}

/// Environment `test` (automatic), project `shop`, the Workspace Admin, and
/// `targets` (instance id, URL, database), each in the project.
async fn setup<S: Store>(store: &S, key_ring: &KeyRing, targets: &[(&str, String, String)]) {
    create_environment(store, "test", "Test", 0, r#"{"rollout":"automatic"}"#).await;
    create_project(store, "shop", "Shop").await;
    for (id, url, database) in targets {
        create_target(store, key_ring, id, url, "test", database, Some("shop")).await;
    }
    create_user(store, ADMIN, "workspaceAdmin").await;
}

struct Harness {
    app: Router,
    state: AppState,
    admin: String,
}

async fn harness(state: AppState) -> Harness {
    let app = app(state.clone());
    let admin = login(&app, ADMIN, PASSWORD).await;
    Harness { app, state, admin }
}

/// The one function that calls the API, as the admin (see [`support::call`]).
async fn call(h: &Harness, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    support::call(&h.app, method, uri, Some(&h.admin), body.as_deref(), None).await
}

fn file(path: &str, statement: &str) -> Value {
    let version = path.split('_').next().unwrap().trim_start_matches('V');
    json!({ "path": format!("migrations/{path}"), "version": version, "statement": statement })
}

/// Releases `files` in `shop` and rolls them out to `targets` (database
/// names), running the `test` stage with a real worker.
async fn roll(h: &Harness, files: Vec<Value>, targets: &[String]) {
    let (status, release) = call(
        h,
        "POST",
        "/api/v1/projects/shop/releases",
        Some(json!({ "files": files })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let (status, plan) = call(
        h,
        "POST",
        "/api/v1/projects/shop/plans",
        Some(json!({ "release": release["name"], "targets": targets })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let (status, rollout) = call(
        h,
        "POST",
        &format!("/api/v1/{}/rollout", plan["name"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    let (status, body) = call(
        h,
        "POST",
        &format!(
            "/api/v1/{}/stages/test/tasks:run",
            rollout["name"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut runs = 0;
    while run_one(&h.state, "worker-a", &worker_config())
        .await
        .unwrap()
    {
        runs += 1;
        assert!(runs < 20, "the queue never emptied");
    }
    assert_eq!(runs, targets.len());
    let (_, current) = call(
        h,
        "GET",
        &format!("/api/v1/{}", rollout["name"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(current["status"], "DONE", "{current}");
}

async fn check(h: &Harness, database: &str) -> (StatusCode, Value) {
    call(h, "POST", &format!("/api/v1/{database}/drift:check"), None).await
}

fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(format!("{name}.db")).display())
}

async fn execute(url: &str, sql: &str) {
    let url = TargetUrl::parse(url).unwrap();
    match url.kind() {
        rollgate_engine::EngineKind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url.expose()).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        _ => {
            let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

/// Applies a file directly, as `rollgate migrate` would, outside the server.
async fn apply_outside(url: &str, path: &str, text: &str) {
    let mut engine = AnyEngine::connect(&TargetUrl::parse(url).unwrap(), None)
        .await
        .unwrap();
    let file = MigrationFile::from_text(path, text);
    let apply = rollgate_engine::prepare::apply_file(engine.kind(), &file, 0);
    engine
        .apply(&apply, &ApplyOptions::default(), &mut |_| {})
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_sqlite_and_postgres_targets() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create("target").await;
    let store = SqliteStore::open(dir.path().join("rollgate.db"))
        .await
        .unwrap();
    let key_ring = KeyRing::new(MasterKey::generate());
    let lite_url = sqlite_url(dir.path(), "lite");
    let gone_url = "postgres://postgres:pw-s3cret@127.0.0.1:1/gone".to_string();
    setup(
        &store,
        &key_ring,
        &[
            ("lite", lite_url.clone(), "main".into()),
            ("pg", pg.url.clone(), pg.name.clone()),
            ("gone", gone_url, "gone".into()),
        ],
    )
    .await;
    let state = AppState::new(MetadataStore::Sqlite(store.clone()), key_ring, 8 << 20);
    let h = harness(state).await;
    let lite = "instances/lite/databases/main".to_string();
    let pgdb = format!("instances/pg/databases/{}", pg.name);

    // Before any check.
    let (status, body) = call(&h, "GET", &format!("/api/v1/{lite}/drift"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "NOT_CHECKED");
    assert_eq!(body["checkTime"], Value::Null);

    roll(
        &h,
        vec![
            file(
                "V1_create_customers.sql",
                "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
            ),
            file(
                "V2_fill_customers_dml.sql",
                "INSERT INTO customers (id, name) VALUES (1, 'ada');\n",
            ),
            file(
                "V3_index_customers.sql",
                "CREATE INDEX customers_name ON customers (name);\n",
            ),
        ],
        &[lite.clone(), pgdb.clone()],
    )
    .await;

    for (database, url) in [(&lite, &lite_url), (&pgdb, &pg.url)] {
        let (status, body) = check(&h, database).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "IN_SYNC", "{database}: {body}");
        assert_eq!(body["checkedBy"], "on_demand");
        assert_eq!(body["diff"], Value::Null);
        assert!(body["checkTime"].is_string(), "{body}");
        let (_, latest) = call(&h, "GET", &format!("/api/v1/{database}/drift"), None).await;
        assert_eq!(latest, body);

        // A column added by hand.
        execute(url, "ALTER TABLE customers ADD COLUMN nickname TEXT").await;
        let (status, body) = check(&h, database).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "DRIFTED", "{database}: {body}");
        let diff = body["diff"].as_str().unwrap();
        assert!(diff.contains("--- expected (replayed history)"), "{diff}");
        assert!(diff.contains("+++ live database"), "{diff}");
        assert!(
            diff.lines()
                .any(|l| l.starts_with('+') && l.contains("nickname")),
            "{diff}"
        );
        assert_eq!(body["error"], Value::Null);
        let (_, latest) = call(&h, "GET", &format!("/api/v1/{database}/drift"), None).await;
        assert_eq!(latest["status"], "DRIFTED");
    }

    // No scratch database is left behind on the PostgreSQL server.
    let mut admin = sqlx::PgConnection::connect(&pg.admin_url).await.unwrap();
    let left: Vec<(String,)> = sqlx::query_as(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'rollgate_scratch_%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let pid = format!("rollgate_scratch_{}_", std::process::id());
    assert!(
        left.iter().all(|(name,)| !name.starts_with(&pid)),
        "{left:?}"
    );

    // Unreachable: an ERROR status, 200, without URL or password.
    let (status, body) = check(&h, "instances/gone/databases/gone").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ERROR", "{body}");
    let text = body.to_string();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("instances/gone/databases/gone"), "{error}");
    assert!(
        !text.contains("s3cret") && !text.contains("postgres://"),
        "{text}"
    );

    // A file applied outside the server: ERROR naming the version ...
    apply_outside(
        &lite_url,
        "migrations/V4_add_orders.sql",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n",
    )
    .await;
    let (status, body) = check(&h, &lite).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ERROR", "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("version 4"), "{error}");
    assert!(error.contains("V4_add_orders.sql"), "{error}");
    assert!(error.contains("outside the server"), "{error}");
    assert!(error.contains("create a release with that file"), "{error}");

    // ... until a release of the project holds a file with that checksum;
    // then the hand-made column is still drift.
    let (status, release) = call(
        &h,
        "POST",
        "/api/v1/projects/shop/releases",
        Some(json!({ "files": [file(
            "V4_add_orders.sql",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n",
        )] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{release}");
    let (status, body) = check(&h, &lite).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "DRIFTED", "{body}");
    let diff = body["diff"].as_str().unwrap();
    assert!(diff.contains("nickname"), "{diff}");
    assert!(
        !diff
            .lines()
            .any(|l| (l.starts_with('+') || l.starts_with('-')) && l.contains("orders")),
        "{diff}"
    );

    // A file that failed on the target: its expected schema is unknown.
    let mut engine = AnyEngine::connect(&TargetUrl::parse(&lite_url).unwrap(), None)
        .await
        .unwrap();
    engine
        .record(&NewRecord {
            version: "5".into(),
            file_name: "migrations/V5_broken.sql".into(),
            change_type: "DDL".into(),
            kind: RecordKind::Migration,
            checksum: "sha256-v1:00".into(),
            status: RecordStatus::Failed,
            applied_by: None,
            note: None,
        })
        .await
        .unwrap();
    drop(engine);
    let (status, body) = check(&h, &lite).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ERROR", "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("version 5 (migrations/V5_broken.sql) is FAILED"),
        "{error}"
    );

    // Unknown database: 404; every check is audited.
    let (status, body) = check(&h, "instances/lite/databases/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, audit) = call(&h, "GET", "/api/v1/auditLogs?pageSize=1000", None).await;
    assert_eq!(status, StatusCode::OK);
    let checks = audit.to_string().matches("rg.databases.checkDrift").count();
    assert_eq!(checks, 9, "{audit}");

    // The gauge.
    let response = h
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&bytes);
    for line in [
        "rollgate_drift_databases{status=\"DRIFTED\"} 1",
        "rollgate_drift_databases{status=\"ERROR\"} 2",
        "rollgate_drift_databases{status=\"IN_SYNC\"} 0",
        "rollgate_drift_databases{status=\"NOT_CHECKED\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    drop(pg);
}

/// Two replicas on one PostgreSQL metadata store run the schedule: each
/// database is checked once per interval, by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_checks_on_two_replicas_check_each_database_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let meta = PgTestDb::create("meta").await;
    let key_ring = KeyRing::new(MasterKey::generate());
    let first = PostgresStore::connect(&meta.url).await.unwrap();
    let second = PostgresStore::connect(&meta.url).await.unwrap();
    let targets: Vec<(&str, String, String)> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|id| (id, sqlite_url(dir.path(), id), "main".to_string()))
        .collect();
    setup(&first, &key_ring, &targets).await;
    let keys: Vec<DatabaseRef> = targets
        .iter()
        .map(|(id, _, _)| DatabaseRef::new(*id, "main"))
        .collect();
    execute(&targets[0].1, "CREATE TABLE hand_made (id INTEGER)").await;

    let replica_a = AppState::new(
        MetadataStore::Postgres(first.clone()),
        key_ring.clone(),
        1 << 20,
    );
    let replica_b = AppState::new(
        MetadataStore::Postgres(second.clone()),
        key_ring.clone(),
        1 << 20,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);

    // The loops: with a 1 s interval both keep checking every database, and
    // they stop on shutdown.
    let loops = [
        tokio::spawn(drift::drift_loop(
            replica_a.clone(),
            Duration::from_secs(1),
            Duration::from_secs(1),
            stopped.clone(),
        )),
        tokio::spawn(drift::drift_loop(
            replica_b.clone(),
            Duration::from_secs(1),
            Duration::from_secs(1),
            stopped.clone(),
        )),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut first_checks: Vec<Option<i64>> = vec![None; keys.len()];
    loop {
        let mut rechecked = 0;
        for (key, first_check) in keys.iter().zip(first_checks.iter_mut()) {
            let status = first.get_drift_status(key).await.unwrap();
            match (status.checked_at, *first_check) {
                (Some(at), None) => *first_check = Some(at),
                (Some(at), Some(before)) if at != before => rechecked += 1,
                _ => {}
            }
        }
        if rechecked == keys.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loops did not check every database twice: {first_checks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.send(true).unwrap();
    for handle in loops {
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("a drift loop did not stop on shutdown")
            .unwrap();
    }

    // One pass per replica at the same moments: each database once per
    // interval. Times are an interval past every earlier check.
    let (_, running) = tokio::sync::watch::channel(false);
    let interval = Duration::from_secs(3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 7200;
    let pass = |at: i64| {
        let (a, b, running) = (replica_a.clone(), replica_b.clone(), running.clone());
        async move {
            let (x, y) = tokio::join!(
                drift::scheduled_pass(&a, interval, at, &running),
                drift::scheduled_pass(&b, interval, at, &running),
            );
            (x.unwrap(), y.unwrap())
        }
    };
    let (x, y) = pass(now).await;
    assert_eq!(x + y, keys.len(), "first interval: {x} + {y}");
    for key in &keys {
        let status = first.get_drift_status(key).await.unwrap();
        assert_eq!(status.checked_by.as_deref(), Some(drift_status::SCHEDULE));
        let expected = if key.instance == "a" {
            drift_status::DRIFTED
        } else {
            drift_status::IN_SYNC
        };
        assert_eq!(status.status, expected, "{key}: {status:?}");
    }
    // Later in the same interval: nothing is due.
    assert_eq!(pass(now + 60).await, (0, 0));
    assert_eq!(pass(now + 3599).await, (0, 0));
    // The next interval: each once again.
    let (x, y) = pass(now + 3600).await;
    assert_eq!(x + y, keys.len(), "second interval: {x} + {y}");
    assert_eq!(pass(now + 3700).await, (0, 0));
    // A replica shutting down stops between databases.
    assert_eq!(
        drift::scheduled_pass(&replica_a, interval, now + 7200, &stopped)
            .await
            .unwrap(),
        0
    );
    first.close().await;
    second.close().await;
    drop(meta);
}
