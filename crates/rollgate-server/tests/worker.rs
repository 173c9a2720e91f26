//! Workers against two SQLite target databases, over a SQLite metadata store.

use std::path::Path;
use std::time::Duration;

use rollgate_auth::{KeyRing, MasterKey};
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{Engine, HistoryRecord, RecordStatus, TargetUrl};
use rollgate_server::worker::{WorkerConfig, instance_url_aad, run_one};
use rollgate_server::{AppState, MetadataStore};
use rollgate_store::{
    Database, DatabaseRef, Environment, Instance, Project, ReleaseFile, SqliteStore, Store, Vcs,
    status,
};
use serde_json::Value;

const CONFIG: WorkerConfig = WorkerConfig {
    count: 1,
    lease: Duration::from_secs(60),
    limits: rollgate_store::ClaimLimits {
        per_rollout: None,
        per_instance: None,
    },
    shutdown_grace: Duration::from_secs(1),
};

struct Harness {
    state: AppState,
    store: SqliteStore,
    dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rollgate.db"))
        .await
        .unwrap();
    let key_ring = KeyRing::new(MasterKey::generate());
    store
        .create_environment(&Environment {
            id: "test".into(),
            title: "Test".into(),
            order: 0,
            policy_json: "{}".into(),
        })
        .await
        .unwrap();
    store
        .create_project(&Project {
            id: "shop".into(),
            title: "Shop".into(),
        })
        .await
        .unwrap();
    for name in ["one", "two"] {
        let url = format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        );
        store
            .create_instance(&Instance {
                id: name.into(),
                engine: "sqlite".into(),
                url_envelope: key_ring.encrypt(&url, &instance_url_aad(name)),
                environment: "test".into(),
            })
            .await
            .unwrap();
        store
            .create_database(&Database {
                instance: name.into(),
                name: "main".into(),
                environment: "test".into(),
            })
            .await
            .unwrap();
        store
            .add_project_database("shop", &DatabaseRef::new(name, "main"))
            .await
            .unwrap();
    }
    let state = AppState::new(MetadataStore::Sqlite(store.clone()), key_ring, 64 * 1024);
    Harness { state, store, dir }
}

fn file(path: &str, statement: &str) -> ReleaseFile {
    ReleaseFile {
        path: path.into(),
        version: path
            .split('_')
            .next()
            .unwrap()
            .trim_start_matches('V')
            .into(),
        change_type: "DDL".into(),
        checksum: rollgate_migration::Checksum::of(statement)
            .as_str()
            .to_string(),
        statement: statement.into(),
    }
}

/// Creates a release and its rollout (one stage of `dbs`), enqueues every
/// task; returns the task ids.
async fn rollout(h: &Harness, release: &str, files: &[ReleaseFile], dbs: &[&str]) -> Vec<i64> {
    h.store
        .create_release("shop", release, files, &Vcs::default())
        .await
        .unwrap();
    let stage = (
        "test".to_string(),
        dbs.iter()
            .map(|d| DatabaseRef::new(*d, "main"))
            .collect::<Vec<_>>(),
    );
    let plan = h
        .store
        .create_plan("shop", release, &stage.1, "ada@example.com", 1)
        .await
        .unwrap();
    let id = h
        .store
        .create_rollout("shop", plan.id, &[stage], 1)
        .await
        .unwrap();
    let rollout = h.store.get_rollout(id).await.unwrap();
    let tasks: Vec<i64> = rollout.stages[0].tasks.iter().map(|t| t.id).collect();
    for task in &tasks {
        h.store.enqueue_task_run(*task, 1).await.unwrap();
    }
    tasks
}

async fn drain(h: &Harness) -> usize {
    let mut runs = 0;
    while run_one(&h.state, "worker-1", &CONFIG).await.unwrap() {
        runs += 1;
        assert!(runs < 20, "run_one never ran out of work");
    }
    runs
}

async fn history(dir: &Path, name: &str) -> Vec<HistoryRecord> {
    let url = TargetUrl::parse(&format!(
        "sqlite://{}",
        dir.join(format!("{name}.db")).display()
    ))
    .unwrap();
    let mut engine = AnyEngine::connect(&url, None).await.unwrap();
    engine.history().await.unwrap()
}

fn succeeded(history: &[HistoryRecord]) -> Vec<String> {
    history
        .iter()
        .filter(|r| r.status == RecordStatus::Succeeded)
        .map(|r| r.version.clone())
        .collect()
}

async fn task_status(h: &Harness, rollout_release: &str, task: i64) -> String {
    let rollouts = h
        .store
        .list_rollouts("shop", &rollgate_store::PageRequest::first(100))
        .await
        .unwrap()
        .items;
    let rollout = rollouts
        .iter()
        .find(|r| r.release == rollout_release)
        .unwrap();
    rollout
        .stages
        .iter()
        .flat_map(|s| &s.tasks)
        .find(|t| t.id == task)
        .unwrap()
        .status
        .clone()
}

async fn log_of(h: &Harness, run_id: i64) -> Vec<Value> {
    h.store
        .list_task_log(run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.entry_json).unwrap())
        .collect()
}

#[tokio::test]
async fn applies_a_release_to_both_databases_once() {
    let h = harness().await;
    let files = [
        file(
            "V1_create_t1.sql",
            "CREATE TABLE t1 (id INTEGER PRIMARY KEY);\n",
        ),
        file(
            "V2_add_t2.sql",
            "CREATE TABLE t2 (id INTEGER PRIMARY KEY);\nINSERT INTO t2 (id) VALUES (1), (2);\n",
        ),
    ];
    let tasks = rollout(&h, "rel-1", &files, &["one", "two"]).await;
    assert_eq!(tasks.len(), 2);
    assert_eq!(drain(&h).await, 2);
    for task in &tasks {
        assert_eq!(task_status(&h, "rel-1", *task).await, status::DONE);
    }
    for name in ["one", "two"] {
        let rows = history(h.dir.path(), name).await;
        assert_eq!(succeeded(&rows), ["1", "2"], "{name}");
        assert!(
            rows.iter()
                .all(|r| r.release_id.as_deref() == Some("rel-1"))
        );
    }
    // Run ids start at 1 in a fresh store, one per enqueue.
    for run_id in [1, 2] {
        let run = h.store.get_task_run(run_id).await.unwrap();
        assert_eq!(run.status, status::DONE);
        let log = log_of(&h, run_id).await;
        let events: Vec<&str> = log.iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(events.first(), Some(&"run_started"));
        assert_eq!(events.last(), Some(&"run_finished"));
        assert_eq!(events.iter().filter(|e| **e == "file_finished").count(), 2);
        assert_eq!(events.iter().filter(|e| **e == "statement").count(), 3);
        let insert = log
            .iter()
            .find(|e| e["event"] == "statement" && e["file"] == "V2_add_t2.sql" && e["index"] == 1)
            .unwrap();
        assert_eq!(insert["rows_affected"], 2);
        assert_eq!(insert["line"], 2);
        let text: String = log.iter().map(|e| e.to_string()).collect();
        assert!(!text.contains("sqlite://"), "a URL leaked into the log");
    }

    // Running again applies nothing: the target's history says what ran.
    let before = history(h.dir.path(), "one").await;
    for task in &tasks {
        h.store.enqueue_task_run(*task, 1).await.unwrap();
    }
    assert_eq!(drain(&h).await, 2);
    for task in &tasks {
        assert_eq!(task_status(&h, "rel-1", *task).await, status::DONE);
    }
    assert_eq!(history(h.dir.path(), "one").await, before);
    assert_eq!(succeeded(&history(h.dir.path(), "two").await), ["1", "2"]);
}

#[tokio::test]
async fn a_failing_file_fails_the_task_with_its_error() {
    let h = harness().await;
    let files = [
        file(
            "V1_create_t1.sql",
            "CREATE TABLE t1 (id INTEGER PRIMARY KEY);\n",
        ),
        file(
            "V2_broken.sql",
            "CREATE TABLE t2 (id INTEGER);\n\nCREATE TABLE t1 (id INTEGER);\n",
        ),
    ];
    let tasks = rollout(&h, "rel-bad", &files, &["one"]).await;
    assert_eq!(drain(&h).await, 1);
    assert_eq!(task_status(&h, "rel-bad", tasks[0]).await, status::FAILED);
    let run = h.store.get_task_run(1).await.unwrap();
    assert_eq!(run.status, status::FAILED);
    let error = run.error.unwrap();
    assert!(error.contains("V2_broken.sql:3"), "{error}");
    assert!(error.contains("already exists"), "{error}");
    let rows = history(h.dir.path(), "one").await;
    assert_eq!(succeeded(&rows), ["1"]);
    let log = log_of(&h, 1).await;
    let failed = log
        .iter()
        .find(|e| e["event"] == "statement" && e["status"] == "FAILED")
        .unwrap();
    assert_eq!(failed["line"], 3);
    assert_eq!(failed["file"], "V2_broken.sql");
    // The other database was untouched.
    assert!(succeeded(&history(h.dir.path(), "two").await).is_empty());
}

#[tokio::test]
async fn nothing_to_claim() {
    let h = harness().await;
    assert!(!run_one(&h.state, "worker-1", &CONFIG).await.unwrap());
}
