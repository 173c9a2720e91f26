//! One conformance suite, run against SQLite (always) and against a fresh
//! PostgreSQL database on this machine (fails loudly when unreachable).

use std::sync::atomic::{AtomicU32, Ordering};

use rollgate_store::{
    Backend, Database, DatabaseRef, Environment, Instance, NewAuditEntry, PageRequest,
    PostgresStore, Project, ServiceAccount, Session, SqliteStore, Store, StoreError, User,
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
