//! One conformance suite, run against SQLite (always) and against a fresh
//! PostgreSQL database on this machine (fails loudly when unreachable).

use std::sync::atomic::{AtomicU32, Ordering};

use std::time::Duration;

use rollgate_store::{
    Backend, Database, DatabaseRef, Environment, Instance, NewAuditEntry, PageRequest,
    PolicyAttach, PostgresStore, Project, ReleaseFile, ReviewPolicy, Rollout, RunOutcome,
    ServiceAccount, Session, SqliteStore, Store, StoreError, User, Vcs, status,
};
use sqlx::Connection as _;

fn env(id: &str, order: i64) -> Environment {
    Environment {
        id: id.into(),
        title: id.to_uppercase(),
        order,
        policy_json: r#"{"automatic":true}"#.into(),
    }
}

fn instance(id: &str) -> Instance {
    Instance {
        id: id.into(),
        engine: "postgres".into(),
        url_envelope: format!("rgenc1:key1:SECRET-ENVELOPE-{id}"),
    }
}

fn user(email: &str) -> User {
    User {
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        roles: vec!["workspaceMember".into()],
    }
}

fn expect_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, kind: &str, name: &str) {
    match r {
        Err(e @ StoreError::NotFound { .. }) => {
            let message = e.to_string();
            assert_eq!(message, format!("{kind} `{name}` not found"));
        }
        other => panic!("expected NotFound {kind} {name}, got {other:?}"),
    }
}

fn expect_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, kind: &str, name: &str) {
    match r {
        Err(e @ StoreError::Conflict { .. }) => {
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("{kind} `{name}`")),
                "{message}"
            );
        }
        other => panic!("expected Conflict {kind} {name}, got {other:?}"),
    }
}

/// Pages through everything `list` returns with `page_size`, collecting keys.
macro_rules! page_all {
    ($store:expr, $method:ident $(, $arg:expr)*; $size:expr, $key:expr) => {{
        let mut keys = Vec::new();
        let mut pages = 0;
        let mut request = PageRequest::first($size);
        loop {
            let page = $store.$method($($arg,)* &request).await.unwrap();
            assert!(page.items.len() <= $size as usize);
            pages += 1;
            keys.extend(page.items.iter().map($key));
            match page.next_page_token {
                Some(token) => request.page_token = Some(token),
                None => break,
            }
        }
        (keys, pages)
    }};
}

async fn conformance<S: Store>(store: S) {
    assert!(store.is_empty().await.unwrap());

    // Environments.
    store.create_environment(&env("test", 1)).await.unwrap();
    store.create_environment(&env("prod", 2)).await.unwrap();
    assert!(!store.is_empty().await.unwrap());
    assert_eq!(store.get_environment("prod").await.unwrap(), env("prod", 2));
    expect_conflict(
        store.create_environment(&env("prod", 9)).await,
        "environment",
        "prod",
    );
    expect_not_found(
        store.get_environment("staging").await,
        "environment",
        "staging",
    );
    let mut changed = env("prod", 3);
    changed.policy_json = r#"{"manual":{"roles":["workspaceDba"]}}"#.into();
    store.update_environment(&changed).await.unwrap();
    assert_eq!(store.get_environment("prod").await.unwrap(), changed);
    expect_not_found(
        store.update_environment(&env("nope", 1)).await,
        "environment",
        "nope",
    );
    let all = store
        .list_environments(&PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        all.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["prod", "test"]
    );
    assert_eq!(all.next_page_token, None);

    // Instances, and Debug never shows the envelope.
    store.create_instance(&instance("main")).await.unwrap();
    expect_conflict(
        store.create_instance(&instance("main")).await,
        "instance",
        "main",
    );
    let got = store.get_instance("main").await.unwrap();
    assert_eq!(got, instance("main"));
    let debug = format!(
        "{got:?} {:?}",
        store.list_instances(&PageRequest::default()).await.unwrap()
    );
    assert!(!debug.contains("SECRET-ENVELOPE"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    let mut moved = instance("main");
    moved.url_envelope = "rgenc1:key2:SECRET-ENVELOPE-rotated".into();
    store.update_instance(&moved).await.unwrap();
    assert_eq!(store.get_instance("main").await.unwrap(), moved);
    expect_not_found(
        store.update_instance(&instance("ghost")).await,
        "instance",
        "ghost",
    );
    expect_not_found(store.delete_instance("ghost").await, "instance", "ghost");

    // Databases.
    let db = |name: &str, environment: &str| Database {
        instance: "main".into(),
        name: name.into(),
        environment: environment.into(),
    };
    store.create_database(&db("app", "test")).await.unwrap();
    expect_conflict(
        store.create_database(&db("app", "test")).await,
        "database",
        "instances/main/databases/app",
    );
    expect_not_found(
        store
            .create_database(&Database {
                instance: "ghost".into(),
                ..db("x", "test")
            })
            .await,
        "instance",
        "ghost",
    );
    expect_not_found(
        store.create_database(&db("x", "staging")).await,
        "environment",
        "staging",
    );
    let app = DatabaseRef::new("main", "app");
    assert_eq!(store.get_database(&app).await.unwrap(), db("app", "test"));
    store.update_database(&db("app", "prod")).await.unwrap();
    assert_eq!(store.get_database(&app).await.unwrap().environment, "prod");
    expect_not_found(
        store.update_database(&db("app", "staging")).await,
        "environment",
        "staging",
    );
    expect_not_found(
        store.get_database(&DatabaseRef::new("main", "nope")).await,
        "database",
        "instances/main/databases/nope",
    );
    // An environment in use cannot be deleted.
    expect_conflict(
        store.delete_environment("prod").await,
        "environment",
        "prod",
    );
    store.delete_environment("test").await.unwrap();
    expect_not_found(
        store.delete_environment("test").await,
        "environment",
        "test",
    );

    // Projects and membership.
    let project = Project {
        id: "shop".into(),
        title: "Shop".into(),
    };
    store.create_project(&project).await.unwrap();
    expect_conflict(store.create_project(&project).await, "project", "shop");
    store
        .update_project(&Project {
            id: "shop".into(),
            title: "The Shop".into(),
        })
        .await
        .unwrap();
    assert_eq!(store.get_project("shop").await.unwrap().title, "The Shop");
    expect_not_found(
        store
            .update_project(&Project {
                id: "no".into(),
                title: "x".into(),
            })
            .await,
        "project",
        "no",
    );
    store.add_project_database("shop", &app).await.unwrap();
    expect_conflict(
        store.add_project_database("shop", &app).await,
        "project database",
        "projects/shop/instances/main/databases/app",
    );
    expect_not_found(
        store.add_project_database("nope", &app).await,
        "project",
        "nope",
    );
    expect_not_found(
        store
            .add_project_database("shop", &DatabaseRef::new("main", "zz"))
            .await,
        "database",
        "instances/main/databases/zz",
    );
    let members = store
        .list_project_databases("shop", &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(members.items, vec![app.clone()]);
    store.remove_project_database("shop", &app).await.unwrap();
    expect_not_found(
        store.remove_project_database("shop", &app).await,
        "project database",
        "projects/shop/instances/main/databases/app",
    );
    store.add_project_database("shop", &app).await.unwrap();
    // Deleting the database removes its membership.
    store.delete_database(&app).await.unwrap();
    assert!(
        store
            .list_project_databases("shop", &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    expect_not_found(
        store.delete_database(&app).await,
        "database",
        "instances/main/databases/app",
    );

    // Pagination: 25 databases (over two instances) and 25 projects, pages of 10.
    store.create_instance(&instance("aux")).await.unwrap();
    for i in 0..25 {
        let instance = if i % 2 == 0 { "main" } else { "aux" };
        let d = Database {
            instance: instance.into(),
            name: format!("db{i:02}"),
            environment: "prod".into(),
        };
        store.create_database(&d).await.unwrap();
        store
            .add_project_database("shop", &DatabaseRef::new(instance, format!("db{i:02}")))
            .await
            .unwrap();
        store
            .create_project(&Project {
                id: format!("p{i:02}"),
                title: format!("P{i}"),
            })
            .await
            .unwrap();
    }
    let (keys, pages) =
        page_all!(store, list_databases; 10, |d: &Database| format!("{}/{}", d.instance, d.name));
    assert_eq!(pages, 3);
    assert_eq!(keys.len(), 25);
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "sorted, no duplicates");
    let (members, pages) =
        page_all!(store, list_project_databases, "shop"; 10, |d: &DatabaseRef| d.to_string());
    assert_eq!((members.len(), pages), (25, 3));
    let (projects, pages) = page_all!(store, list_projects; 10, |p: &Project| p.id.clone());
    assert_eq!(pages, 3);
    assert_eq!(projects.len(), 26);
    assert_eq!(projects.first().map(String::as_str), Some("p00"));
    assert_eq!(projects.last().map(String::as_str), Some("shop"));
    // A page size of exactly the remainder has no next page.
    let exact = store.list_instances(&PageRequest::first(2)).await.unwrap();
    assert_eq!((exact.items.len(), exact.next_page_token), (2, None));
    // A bad token is rejected, not misread.
    let bad = PageRequest {
        page_size: 10,
        page_token: Some("no-slash".into()),
    };
    assert!(matches!(
        store.list_databases(&bad).await,
        Err(StoreError::Invalid { .. })
    ));
    // Deleting an instance deletes its databases.
    store.delete_instance("aux").await.unwrap();
    let (keys, _) = page_all!(store, list_databases; 10, |d: &Database| d.instance.clone());
    assert_eq!(keys.len(), 13);
    assert!(keys.iter().all(|i| i == "main"));
    store.delete_project("p00").await.unwrap();
    expect_not_found(store.get_project("p00").await, "project", "p00");
    expect_not_found(
        store
            .list_project_databases("p00", &PageRequest::default())
            .await,
        "project",
        "p00",
    );

    // Users.
    store.create_user(&user("ada@example.com")).await.unwrap();
    expect_conflict(
        store.create_user(&user("ada@example.com")).await,
        "user",
        "ada@example.com",
    );
    let mut ada = user("ada@example.com");
    ada.roles = vec!["workspaceAdmin".into(), "workspaceDba".into()];
    ada.password_hash = "$argon2id$new".into();
    store.update_user(&ada).await.unwrap();
    let got = store.get_user("ada@example.com").await.unwrap();
    assert_eq!(got, ada);
    assert!(!format!("{got:?}").contains("argon2id"));
    for i in 0..24 {
        store
            .create_user(&user(&format!("u{i:02}@example.com")))
            .await
            .unwrap();
    }
    let (emails, pages) = page_all!(store, list_users; 10, |u: &User| u.email.clone());
    assert_eq!((emails.len(), pages), (25, 3));
    store.delete_user("u00@example.com").await.unwrap();
    expect_not_found(
        store.get_user("u00@example.com").await,
        "user",
        "u00@example.com",
    );
    expect_not_found(
        store.delete_user("u00@example.com").await,
        "user",
        "u00@example.com",
    );
    expect_not_found(
        store.update_user(&user("x@example.com")).await,
        "user",
        "x@example.com",
    );

    // Service accounts.
    let ci = ServiceAccount {
        email: "ci@service.rollgate.local".into(),
        key_hash: "ab".repeat(32),
        roles: vec!["gitopsServiceAgent".into()],
    };
    store.create_service_account(&ci).await.unwrap();
    expect_conflict(
        store.create_service_account(&ci).await,
        "service account",
        "ci@service.rollgate.local",
    );
    for bad in [
        "ci@example.com",
        "@service.rollgate.local",
        "a@b@service.rollgate.local",
    ] {
        let r = store
            .create_service_account(&ServiceAccount {
                email: bad.into(),
                ..ci.clone()
            })
            .await;
        assert!(matches!(r, Err(StoreError::Invalid { .. })), "{bad}: {r:?}");
    }
    let rotated = ServiceAccount {
        key_hash: "cd".repeat(32),
        ..ci.clone()
    };
    store.update_service_account(&rotated).await.unwrap();
    let got = store.get_service_account(&ci.email).await.unwrap();
    assert_eq!(got, rotated);
    assert!(!format!("{got:?}").contains("cdcd"));
    assert_eq!(
        store
            .list_service_accounts(&PageRequest::default())
            .await
            .unwrap()
            .items,
        vec![rotated]
    );
    store.delete_service_account(&ci.email).await.unwrap();
    expect_not_found(
        store.get_service_account(&ci.email).await,
        "service account",
        "ci@service.rollgate.local",
    );
    expect_not_found(
        store.update_service_account(&ci).await,
        "service account",
        "ci@service.rollgate.local",
    );

    // Sessions: valid strictly before expires_at.
    let session = Session {
        token_hash: "ef".repeat(32),
        principal: "ada@example.com".into(),
        expires_at: 1_000,
    };
    store.create_session(&session).await.unwrap();
    assert!(matches!(
        store.create_session(&session).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .session_principal(&session.token_hash, 999)
            .await
            .unwrap()
            .as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        store
            .session_principal(&session.token_hash, 1_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.session_principal("00", 0).await.unwrap(), None);
    store
        .create_session(&Session {
            token_hash: "11".into(),
            principal: "bob".into(),
            expires_at: 5_000,
        })
        .await
        .unwrap();
    assert_eq!(store.delete_expired_sessions(1_000).await.unwrap(), 1);
    assert_eq!(
        store
            .session_principal("11", 1_000)
            .await
            .unwrap()
            .as_deref(),
        Some("bob")
    );
    store.delete_session("11").await.unwrap();
    store.delete_session("11").await.unwrap();
    assert_eq!(store.session_principal("11", 0).await.unwrap(), None);

    // Audit log: append order, paginated.
    for i in 0..25 {
        let entry = store
            .append_audit(&NewAuditEntry {
                actor: "ada@example.com".into(),
                action: format!("action{i}"),
                resource: "projects/shop".into(),
                outcome: if i % 5 == 0 { "denied" } else { "ok" }.into(),
                at: 100 - i,
            })
            .await
            .unwrap();
        assert_eq!(entry.action, format!("action{i}"));
    }
    let (actions, pages) =
        page_all!(store, list_audit; 10, |a: &rollgate_store::AuditEntry| a.action.clone());
    assert_eq!(pages, 3);
    assert_eq!(
        actions,
        (0..25).map(|i| format!("action{i}")).collect::<Vec<_>>()
    );
    let bad = PageRequest {
        page_size: 10,
        page_token: Some("x".into()),
    };
    assert!(matches!(
        store.list_audit(&bad).await,
        Err(StoreError::Invalid { .. })
    ));
}

/// Review policies: upsert, get, list, delete, and cascade with their
/// environment or project.
async fn review_policy_conformance<S: Store>(store: S) {
    store.create_environment(&env("dev", 1)).await.unwrap();
    store.create_environment(&env("prod", 2)).await.unwrap();
    store
        .create_project(&Project {
            id: "shop".into(),
            title: "Shop".into(),
        })
        .await
        .unwrap();
    let dev = PolicyAttach::Environment("dev".into());
    let prod = PolicyAttach::Environment("prod".into());
    let shop = PolicyAttach::Project("shop".into());
    let policy = |attach: &PolicyAttach, review: &str| ReviewPolicy {
        attach: attach.clone(),
        review: review.into(),
    };
    expect_not_found(
        store.get_review_policy(&dev).await,
        "review policy",
        "environments/dev/reviewPolicy",
    );
    store
        .put_review_policy(&policy(&dev, r#"{"template":"basic"}"#))
        .await
        .unwrap();
    // Put replaces.
    store
        .put_review_policy(&policy(&dev, r#"{"template":"advanced"}"#))
        .await
        .unwrap();
    assert_eq!(
        store.get_review_policy(&dev).await.unwrap(),
        policy(&dev, r#"{"template":"advanced"}"#)
    );
    store
        .put_review_policy(&policy(&prod, "template = \"sample\""))
        .await
        .unwrap();
    store
        .put_review_policy(&policy(&shop, r#"{"template":"none"}"#))
        .await
        .unwrap();
    expect_not_found(
        store
            .put_review_policy(&policy(&PolicyAttach::Environment("nope".into()), "{}"))
            .await,
        "environment",
        "nope",
    );
    expect_not_found(
        store
            .put_review_policy(&policy(&PolicyAttach::Project("nope".into()), "{}"))
            .await,
        "project",
        "nope",
    );
    let (names, pages) =
        page_all!(store, list_review_policies; 2, |p: &ReviewPolicy| p.attach.to_string());
    assert_eq!(
        names,
        ["environments/dev", "environments/prod", "projects/shop"]
    );
    assert_eq!(pages, 2);
    store.delete_review_policy(&prod).await.unwrap();
    expect_not_found(
        store.delete_review_policy(&prod).await,
        "review policy",
        "environments/prod/reviewPolicy",
    );
    // Deleting the environment or the project deletes its policy.
    store.delete_environment("dev").await.unwrap();
    store.delete_project("shop").await.unwrap();
    let left = store
        .list_review_policies(&PageRequest::default())
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{left:?}");
    assert_eq!(PolicyAttach::parse("projects/shop"), Some(shop));
    assert_eq!(PolicyAttach::parse("instances/x"), None);
    assert_eq!(PolicyAttach::parse("environments/"), None);
}

#[tokio::test]
async fn sqlite_review_policies() {
    let dir = tempfile::tempdir().unwrap();
    review_policy_conformance(SqliteStore::open(dir.path().join("meta.db")).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_review_policies() {
    let db = PgTestDb::create().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    review_policy_conformance(store.clone()).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    conformance(SqliteStore::open(&path).await.unwrap()).await;
    // Reopening applies no migration twice and keeps the data.
    let again = SqliteStore::open(&path).await.unwrap();
    assert!(!again.is_empty().await.unwrap());
    assert_eq!(again.get_project("shop").await.unwrap().title, "The Shop");
    // WAL mode is on.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.0, "wal");
}

#[tokio::test]
async fn postgres_conformance() {
    let db = PgTestDb::create().await;
    conformance(PostgresStore::connect(&db.url).await.unwrap()).await;
    let again = PostgresStore::connect(&db.url).await.unwrap();
    assert_eq!(again.get_project("shop").await.unwrap().title, "The Shop");
    again.close().await;
}

#[test]
fn backend_from_url() {
    assert_eq!(
        Backend::from_url("sqlite:///data/meta.db").unwrap(),
        Backend::Sqlite("/data/meta.db".into())
    );
    assert!(matches!(
        Backend::from_url("postgres://u:pw@h/db").unwrap(),
        Backend::Postgres(_)
    ));
    let e = Backend::from_url("mysql://u:hunter2@h/db")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn error_messages_name_the_resource() {
    let e = StoreError::NotFound {
        kind: "project",
        name: "shop".into(),
    };
    assert_eq!(e.to_string(), "project `shop` not found");
    let e = StoreError::Conflict {
        kind: "user",
        name: "ada@example.com".into(),
    };
    assert_eq!(
        e.to_string(),
        "user `ada@example.com` already exists or is still in use"
    );
}

// ---- a fresh PostgreSQL database per run, dropped afterwards ----

fn postgres_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

struct PgTestDb {
    url: String,
    name: String,
    admin_url: String,
}

impl PgTestDb {
    async fn create() -> PgTestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "rg_store_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos % 100_000
        );
        let admin_url = postgres_admin_url();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL test server unreachable at {admin_url}: {e}; start it (see .ci/run)"
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.clone(), |(base, _)| base.to_string());
        PgTestDb {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

// ---- releases, rollouts and the task run queue ----

fn file(version: &str) -> ReleaseFile {
    ReleaseFile {
        path: format!("migrations/{version}_change.sql"),
        version: version.into(),
        change_type: "DDL".into(),
        checksum: format!("sha256:{version}"),
        statement: format!("CREATE TABLE t{version} (id INT);"),
    }
}

fn vcs() -> Vcs {
    Vcs {
        commit_sha: "abc123".into(),
        commit_url: "https://git.example/c/abc123".into(),
        merge_request_url: "https://git.example/mr/7".into(),
        author: "ada@example.com".into(),
    }
}

const LEASE: Duration = Duration::from_secs(30);

/// Project `shop` with `n` databases in environments test/prod, one release,
/// and a rollout whose stages hold them; returns (rollout id, task ids).
async fn setup_rollout<S: Store>(store: &S, n: usize) -> (i64, Vec<i64>) {
    store.create_environment(&env("test", 1)).await.unwrap();
    store.create_environment(&env("prod", 2)).await.unwrap();
    store.create_instance(&instance("main")).await.unwrap();
    store
        .create_project(&Project {
            id: "shop".into(),
            title: "The Shop".into(),
        })
        .await
        .unwrap();
    let mut test_dbs = Vec::new();
    let mut prod_dbs = Vec::new();
    for i in 0..n {
        let environment = if i % 2 == 0 { "test" } else { "prod" };
        let name = format!("db{i:03}");
        store
            .create_database(&Database {
                instance: "main".into(),
                name: name.clone(),
                environment: environment.into(),
            })
            .await
            .unwrap();
        let db = DatabaseRef::new("main", name);
        if i % 2 == 0 {
            test_dbs.push(db);
        } else {
            prod_dbs.push(db);
        }
    }
    store
        .create_release(
            "shop",
            "release_20260101-RC1",
            &[file("0001"), file("0002")],
            &vcs(),
        )
        .await
        .unwrap();
    let stages = vec![
        ("test".to_string(), test_dbs),
        ("prod".to_string(), prod_dbs),
    ];
    let id = store
        .create_rollout("shop", "release_20260101-RC1", &stages)
        .await
        .unwrap();
    let rollout = store.get_rollout(id).await.unwrap();
    let tasks = rollout
        .stages
        .iter()
        .flat_map(|s| s.tasks.iter().map(|t| t.id))
        .collect();
    (id, tasks)
}

async fn queue_conformance<S: Store>(store: S) {
    let (rollout_id, tasks) = setup_rollout(&store, 3).await;

    // Releases are immutable and read back whole.
    let release = store
        .get_release("shop", "release_20260101-RC1")
        .await
        .unwrap();
    assert_eq!(release.files, vec![file("0001"), file("0002")]);
    assert_eq!(release.vcs, vcs());
    expect_conflict(
        store
            .create_release("shop", "release_20260101-RC1", &[file("0009")], &vcs())
            .await,
        "release",
        "release_20260101-RC1",
    );
    assert_eq!(
        store
            .get_release("shop", "release_20260101-RC1")
            .await
            .unwrap(),
        release
    );
    expect_not_found(store.get_release("shop", "nope").await, "release", "nope");
    expect_not_found(
        store.create_release("ghost", "r1", &[], &vcs()).await,
        "project",
        "ghost",
    );
    for i in 2..=4 {
        store
            .create_release(
                "shop",
                &format!("release_20260101-RC{i}"),
                &[file(&format!("000{i}"))],
                &vcs(),
            )
            .await
            .unwrap();
    }
    let (ids, pages) =
        page_all!(store, list_releases, "shop"; 3, |r| (r.id.clone(), r.files.len()));
    assert_eq!(pages, 2);
    assert_eq!(
        ids,
        [
            ("release_20260101-RC1".to_string(), 2),
            ("release_20260101-RC2".to_string(), 1),
            ("release_20260101-RC3".to_string(), 1),
            ("release_20260101-RC4".to_string(), 1),
        ]
    );

    // Rollouts: stages in order, one NOT_STARTED task per database; idempotent.
    let rollout = store.get_rollout(rollout_id).await.unwrap();
    assert_eq!(rollout.project, "shop");
    assert_eq!(rollout.release, "release_20260101-RC1");
    assert_eq!(
        rollout
            .stages
            .iter()
            .map(|s| (s.id.as_str(), s.tasks.len()))
            .collect::<Vec<_>>(),
        [("test", 2), ("prod", 1)]
    );
    assert_eq!(
        rollout.stages[1].tasks[0].database,
        DatabaseRef::new("main", "db001")
    );
    assert!(
        rollout
            .stages
            .iter()
            .flat_map(|s| &s.tasks)
            .all(|t| t.status == status::NOT_STARTED)
    );
    let again = store
        .create_rollout("shop", "release_20260101-RC1", &[("other".into(), vec![])])
        .await
        .unwrap();
    assert_eq!(again, rollout_id);
    assert_eq!(store.get_rollout(rollout_id).await.unwrap(), rollout);
    expect_not_found(
        store.create_rollout("shop", "nope", &[]).await,
        "release",
        "nope",
    );
    expect_not_found(
        store
            .create_rollout(
                "shop",
                "release_20260101-RC2",
                &[("test".into(), vec![DatabaseRef::new("main", "zzz")])],
            )
            .await,
        "database",
        "instances/main/databases/zzz",
    );
    assert!(matches!(
        store
            .create_rollout(
                "shop",
                "release_20260101-RC2",
                &[("test".into(), vec![]), ("test".into(), vec![])]
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));
    expect_not_found(store.get_rollout(9999).await, "rollout", "9999");

    // Claim hands each available run out once.
    let mut runs = Vec::new();
    for &task in &tasks {
        runs.push(store.enqueue_task_run(task).await.unwrap());
    }
    expect_conflict(
        store.enqueue_task_run(tasks[0]).await,
        "active run of task",
        &tasks[0].to_string(),
    );
    expect_not_found(store.enqueue_task_run(9999).await, "task", "9999");
    let status_of = |rollout: &Rollout, task: i64| {
        rollout
            .stages
            .iter()
            .flat_map(|s| &s.tasks)
            .find(|t| t.id == task)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(
        status_of(&store.get_rollout(rollout_id).await.unwrap(), tasks[0]),
        status::PENDING
    );
    let first = store
        .claim_task_run("w1", LEASE, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.run_id, runs[0]);
    assert_eq!(first.task_id, tasks[0]);
    assert_eq!(first.rollout_id, rollout_id);
    assert_eq!(first.release, "release_20260101-RC1");
    assert_eq!(first.database, DatabaseRef::new("main", "db000"));
    assert_eq!((first.attempt, first.lease_expires_at), (1, 130));
    assert_eq!(
        status_of(&store.get_rollout(rollout_id).await.unwrap(), tasks[0]),
        status::RUNNING
    );
    let second = store
        .claim_task_run("w2", LEASE, 100)
        .await
        .unwrap()
        .unwrap();
    let third = store
        .claim_task_run("w2", LEASE, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.run_id, third.run_id), (runs[1], runs[2]));
    // All leases are live: nothing to claim.
    assert_eq!(store.claim_task_run("w3", LEASE, 120).await.unwrap(), None);
    assert_eq!(store.claim_task_run("w3", LEASE, 130).await.unwrap(), None);

    // Heartbeat keeps a lease; after expiry another worker takes the run over.
    assert!(
        store
            .heartbeat(second.run_id, "w2", LEASE, 125)
            .await
            .unwrap()
    ); // now until 155
    assert!(
        !store
            .heartbeat(second.run_id, "w1", LEASE, 125)
            .await
            .unwrap()
    );
    let taken = store
        .claim_task_run("w3", LEASE, 131)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.run_id, first.run_id);
    assert_eq!((taken.attempt, taken.lease_expires_at), (2, 161));
    // Run 3's lease (until 130) also expired: w3 gets it; run 2 is still w2's.
    let also = store
        .claim_task_run("w3", LEASE, 131)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(also.run_id, third.run_id);
    assert_eq!(store.claim_task_run("w4", LEASE, 131).await.unwrap(), None);
    assert!(
        !store
            .heartbeat(first.run_id, "w1", LEASE, 131)
            .await
            .unwrap()
    );
    assert!(
        store
            .heartbeat(first.run_id, "w3", LEASE, 140)
            .await
            .unwrap()
    );
    let run = store.get_task_run(first.run_id).await.unwrap();
    assert_eq!(
        (
            run.status.as_str(),
            run.worker.as_deref(),
            run.lease_expires_at,
            run.attempts
        ),
        ("RUNNING", Some("w3"), Some(170), 2)
    );

    // Finishing: only the lease holder; sets the task status.
    expect_conflict(
        store
            .finish_task_run(first.run_id, "w1", RunOutcome::Done, None)
            .await,
        "lease of task run",
        &first.run_id.to_string(),
    );
    store
        .finish_task_run(first.run_id, "w3", RunOutcome::Done, None)
        .await
        .unwrap();
    store
        .finish_task_run(
            second.run_id,
            "w2",
            RunOutcome::Failed,
            Some("ERROR: relation \"t\" already exists (0001_change.sql:1)"),
        )
        .await
        .unwrap();
    expect_conflict(
        store
            .finish_task_run(first.run_id, "w3", RunOutcome::Failed, None)
            .await,
        "lease of task run",
        &first.run_id.to_string(),
    );
    expect_not_found(
        store
            .finish_task_run(9999, "w3", RunOutcome::Done, None)
            .await,
        "task run",
        "9999",
    );
    assert!(
        !store
            .heartbeat(first.run_id, "w3", LEASE, 141)
            .await
            .unwrap()
    );
    let rollout = store.get_rollout(rollout_id).await.unwrap();
    assert_eq!(status_of(&rollout, tasks[0]), status::DONE);
    assert_eq!(status_of(&rollout, tasks[1]), status::FAILED);
    assert_eq!(status_of(&rollout, tasks[2]), status::RUNNING);
    let failed = store.get_task_run(second.run_id).await.unwrap();
    assert_eq!(failed.status, "FAILED");
    assert!(failed.error.unwrap().contains("already exists"));
    // Finished runs are never claimed again, even long after.
    assert_eq!(
        store
            .claim_task_run("w4", LEASE, 10_000)
            .await
            .unwrap()
            .unwrap()
            .run_id,
        third.run_id
    );
    assert_eq!(
        store.claim_task_run("w5", LEASE, 10_000).await.unwrap(),
        None
    );
    // A failed task may be retried with a new run.
    let retry = store.enqueue_task_run(tasks[1]).await.unwrap();
    assert_eq!(
        store
            .claim_task_run("w5", LEASE, 10_000)
            .await
            .unwrap()
            .unwrap()
            .run_id,
        retry
    );

    // Task log: JSON entries, in append order.
    let a = store
        .append_task_log(
            first.run_id,
            r#"{"file":"0001_change.sql","event":"start"}"#,
        )
        .await
        .unwrap();
    let b = store
        .append_task_log(
            first.run_id,
            r#"{"file":"0001_change.sql","event":"end","rows":0}"#,
        )
        .await
        .unwrap();
    assert!(a.id < b.id);
    assert_eq!(store.list_task_log(first.run_id).await.unwrap(), vec![a, b]);
    assert_eq!(store.list_task_log(second.run_id).await.unwrap(), vec![]);
    assert!(matches!(
        store.append_task_log(first.run_id, "not json").await,
        Err(StoreError::Invalid { .. })
    ));
    expect_not_found(store.append_task_log(9999, "{}").await, "task run", "9999");
    expect_not_found(store.list_task_log(9999).await, "task run", "9999");
}

/// `stores` (separate handles on one store) claim concurrently until the
/// queue is empty; every run must be claimed exactly once.
async fn concurrent_claims<S: Store + Clone + 'static>(stores: Vec<S>, runs: usize) {
    let (_, tasks) = setup_rollout(&stores[0], runs).await;
    let mut expected = Vec::new();
    for &task in &tasks {
        expected.push(stores[0].enqueue_task_run(task).await.unwrap());
    }
    let mut handles = Vec::new();
    for (i, store) in stores.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            let worker = format!("worker-{i}");
            let mut mine = Vec::new();
            while let Some(run) = store.claim_task_run(&worker, LEASE, 1_000).await.unwrap() {
                mine.push(run.run_id);
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for handle in handles {
        claimed.extend(handle.await.unwrap());
    }
    claimed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(claimed, expected, "every run claimed exactly once");
}

#[tokio::test]
async fn sqlite_releases_and_queue() {
    let dir = tempfile::tempdir().unwrap();
    queue_conformance(SqliteStore::open(dir.path().join("meta.db")).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_releases_and_queue() {
    let db = PgTestDb::create().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    queue_conformance(store.clone()).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_claims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(SqliteStore::open(&path).await.unwrap());
    }
    concurrent_claims(stores, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn postgres_concurrent_claims() {
    let db = PgTestDb::create().await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(PostgresStore::connect(&db.url).await.unwrap());
    }
    let handles = stores.clone();
    concurrent_claims(stores, 50).await;
    for store in handles {
        store.close().await;
    }
}
