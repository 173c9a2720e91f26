//! One conformance suite, run against SQLite (always) and against a fresh
//! PostgreSQL database on this machine (fails loudly when unreachable).

use std::sync::atomic::{AtomicU32, Ordering};

use std::time::Duration;

use rollgate_store::{
    Backend, ClaimLimits, Database, DatabaseRef, Environment, IamBinding, Instance, NewAuditEntry,
    PageRequest, PolicyAttach, PostgresStore, Project, ReleaseFile, ReviewPolicy, Rollout,
    RunOutcome, ServiceAccount, Session, SqliteStore, Store, StoreError, User, Vcs, status,
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
        environment: "prod".into(),
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

async fn project_members<S: Store>(store: &S, project: &str) -> Vec<DatabaseRef> {
    store
        .list_project_databases(project, &PageRequest::default())
        .await
        .unwrap()
        .items
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
    // Replacing the set is one transaction: an unknown database changes nothing.
    store
        .set_project_databases("shop", &[app.clone(), app.clone()])
        .await
        .unwrap();
    assert_eq!(project_members(&store, "shop").await, vec![app.clone()]);
    expect_not_found(
        store
            .set_project_databases("shop", &[DatabaseRef::new("main", "zz")])
            .await,
        "database",
        "instances/main/databases/zz",
    );
    assert_eq!(project_members(&store, "shop").await, vec![app.clone()]);
    expect_not_found(
        store.set_project_databases("nope", &[]).await,
        "project",
        "nope",
    );
    store.set_project_databases("shop", &[]).await.unwrap();
    assert!(project_members(&store, "shop").await.is_empty());
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
                address: (i % 2 == 0).then(|| format!("10.0.0.{i}")),
            })
            .await
            .unwrap();
        assert_eq!(entry.action, format!("action{i}"));
        assert_eq!(entry.address, (i % 2 == 0).then(|| format!("10.0.0.{i}")));
    }
    let (actions, pages) =
        page_all!(store, list_audit; 10, |a: &rollgate_store::AuditEntry| a.action.clone());
    assert_eq!(pages, 3);
    let listed = store.list_audit(&PageRequest::first(3)).await.unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|a| a.address.clone())
            .collect::<Vec<_>>(),
        [Some("10.0.0.0".to_string()), None, Some("10.0.0.2".into())]
    );
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

/// Replicas starting together on an empty store: sqlx's migrator locks, so
/// every migration runs once and every replica opens.
#[tokio::test]
async fn postgres_replicas_migrate_together() {
    let db = PgTestDb::create().await;
    let opens = (0..4).map(|_| {
        let url = db.url.clone();
        async move { PostgresStore::connect(&url).await }
    });
    let stores: Vec<PostgresStore> = futures_join_all(opens).await;
    stores[0]
        .create_project(&Project {
            id: "shop".into(),
            title: "Shop".into(),
        })
        .await
        .unwrap();
    assert_eq!(stores[3].get_project("shop").await.unwrap().title, "Shop");
    for store in stores {
        store.close().await;
    }
}

async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap().unwrap());
    }
    out
}

/// Instance environments, project IAM bindings and what deletes them, on a fresh store.
async fn access_conformance<S: Store>(store: S) {
    store.create_environment(&env("test", 1)).await.unwrap();
    store.create_environment(&env("prod", 2)).await.unwrap();
    // An instance's default environment must exist, on create and update.
    expect_not_found(
        store
            .create_instance(&Instance {
                environment: "staging".into(),
                ..instance("pg")
            })
            .await,
        "environment",
        "staging",
    );
    store.create_instance(&instance("pg")).await.unwrap();
    assert_eq!(store.get_instance("pg").await.unwrap().environment, "prod");
    let moved = Instance {
        environment: "test".into(),
        ..instance("pg")
    };
    store.update_instance(&moved).await.unwrap();
    assert_eq!(store.get_instance("pg").await.unwrap(), moved);
    expect_not_found(
        store
            .update_instance(&Instance {
                environment: "staging".into(),
                ..instance("pg")
            })
            .await,
        "environment",
        "staging",
    );
    assert_eq!(
        store
            .list_instances(&PageRequest::default())
            .await
            .unwrap()
            .items,
        vec![moved]
    );
    // The environment an instance defaults to cannot be deleted.
    expect_conflict(
        store.delete_environment("test").await,
        "environment",
        "test",
    );

    // Project IAM policies.
    for id in ["shop", "blog"] {
        store
            .create_project(&Project {
                id: id.into(),
                title: id.into(),
            })
            .await
            .unwrap();
    }
    store.create_user(&user("bob@example.com")).await.unwrap();
    store
        .create_service_account(&ServiceAccount {
            email: "ci@service.rollgate.local".into(),
            key_hash: "ab".repeat(32),
            roles: vec![],
        })
        .await
        .unwrap();
    let bob = rollgate_store::iam_member("bob@example.com");
    let ci = rollgate_store::iam_member("ci@service.rollgate.local");
    assert_eq!(bob, "user:bob@example.com");
    assert_eq!(ci, "serviceAccount:ci@service.rollgate.local");
    assert!(
        store
            .get_project_iam_policy("shop")
            .await
            .unwrap()
            .is_empty()
    );
    let policy = vec![
        IamBinding {
            role: "roles/projectReleaser".into(),
            members: vec![ci.clone(), bob.clone(), bob.clone()],
        },
        IamBinding {
            role: "roles/projectDeveloper".into(),
            members: vec![bob.clone()],
        },
        IamBinding {
            role: "roles/projectOwner".into(),
            members: vec![],
        },
    ];
    store.set_project_iam_policy("shop", &policy).await.unwrap();
    store
        .set_project_iam_policy(
            "blog",
            &[IamBinding {
                role: "roles/projectOwner".into(),
                members: vec![bob.clone()],
            }],
        )
        .await
        .unwrap();
    // Ordered by role then member; empty bindings dropped; duplicates once.
    assert_eq!(
        store.get_project_iam_policy("shop").await.unwrap(),
        vec![
            IamBinding {
                role: "roles/projectDeveloper".into(),
                members: vec![bob.clone()],
            },
            IamBinding {
                role: "roles/projectReleaser".into(),
                members: vec![ci.clone(), bob.clone()],
            },
        ]
    );
    assert_eq!(
        store.project_roles("shop", &bob).await.unwrap(),
        ["roles/projectDeveloper", "roles/projectReleaser"]
    );
    assert_eq!(
        store.project_roles("shop", &ci).await.unwrap(),
        ["roles/projectReleaser"]
    );
    assert!(store.project_roles("nope", &bob).await.unwrap().is_empty());
    assert!(
        store
            .project_roles("shop", "user:eve@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.member_project_roles(&bob).await.unwrap(),
        [
            ("blog".to_string(), "roles/projectOwner".to_string()),
            ("shop".into(), "roles/projectDeveloper".into()),
            ("shop".into(), "roles/projectReleaser".into()),
        ]
    );
    expect_not_found(
        store.get_project_iam_policy("nope").await,
        "project",
        "nope",
    );
    expect_not_found(
        store.set_project_iam_policy("nope", &policy).await,
        "project",
        "nope",
    );
    // Setting replaces.
    store
        .set_project_iam_policy(
            "shop",
            &[IamBinding {
                role: "roles/projectOwner".into(),
                members: vec![ci.clone(), bob.clone()],
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store.project_roles("shop", &bob).await.unwrap(),
        ["roles/projectOwner"]
    );
    // Deleting a service account, a user or a project removes its bindings,
    // so a new account of the same name starts with none.
    store
        .delete_service_account("ci@service.rollgate.local")
        .await
        .unwrap();
    assert!(store.project_roles("shop", &ci).await.unwrap().is_empty());
    assert_eq!(
        store.get_project_iam_policy("shop").await.unwrap(),
        vec![IamBinding {
            role: "roles/projectOwner".into(),
            members: vec![bob.clone()],
        }]
    );
    store.delete_project("blog").await.unwrap();
    assert_eq!(
        store.member_project_roles(&bob).await.unwrap(),
        [("shop".to_string(), "roles/projectOwner".to_string())]
    );
    store
        .create_project(&Project {
            id: "blog".into(),
            title: "Blog".into(),
        })
        .await
        .unwrap();
    assert!(
        store
            .get_project_iam_policy("blog")
            .await
            .unwrap()
            .is_empty()
    );
    for (hash, principal) in [
        ("aa", "bob@example.com"),
        ("bb", "bob@example.com"),
        ("cc", "eve"),
    ] {
        store
            .create_session(&Session {
                token_hash: hash.into(),
                principal: principal.into(),
                expires_at: 10,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.delete_principal_sessions("eve").await.unwrap(), 1);
    assert_eq!(store.session_principal("cc", 0).await.unwrap(), None);
    assert_eq!(
        store.session_principal("aa", 0).await.unwrap().as_deref(),
        Some("bob@example.com")
    );
    store.delete_user("bob@example.com").await.unwrap();
    // Deleting the user ended its sessions.
    assert_eq!(store.session_principal("aa", 0).await.unwrap(), None);
    assert_eq!(store.session_principal("bb", 0).await.unwrap(), None);
    assert!(store.member_project_roles(&bob).await.unwrap().is_empty());
    assert!(
        store
            .get_project_iam_policy("shop")
            .await
            .unwrap()
            .is_empty()
    );
    expect_not_found(
        store.delete_user("bob@example.com").await,
        "user",
        "bob@example.com",
    );
}

#[tokio::test]
async fn sqlite_access_conformance() {
    let dir = tempfile::tempdir().unwrap();
    access_conformance(SqliteStore::open(dir.path().join("meta.db")).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_access_conformance() {
    let db = PgTestDb::create().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    access_conformance(store.clone()).await;
    store.close().await;
}

/// Rows as a store at migration 0002 held them: instances without an
/// environment (`old` has a database in `prod`, `bare` has none).
const BEFORE_0003: &str = "\
    INSERT INTO environments (id, title, sort_order, policy_json) VALUES ('prod', 'Prod', 2, '{}'), ('test', 'Test', 1, '{}');
    INSERT INTO instances (id, engine, url_envelope) VALUES ('old', 'postgres', 'x'), ('bare', 'postgres', 'y');
    INSERT INTO databases (instance, name, environment) VALUES ('old', 'app', 'prod');";

async fn check_0003_backfill<S: Store>(store: S) {
    assert_eq!(store.get_instance("old").await.unwrap().environment, "prod");
    assert_eq!(
        store.get_instance("bare").await.unwrap().environment,
        "test"
    );
}

#[tokio::test]
async fn sqlite_0003_gives_existing_instances_an_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
    sqlx::migrate!("./migrations/sqlite")
        .run_to(2, &mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(BEFORE_0003).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    check_0003_backfill(SqliteStore::open(&path).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_0003_gives_existing_instances_an_environment() {
    let db = PgTestDb::create().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::migrate!("./migrations/postgres")
        .run_to(2, &mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(BEFORE_0003).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let store = PostgresStore::connect(&db.url).await.unwrap();
    check_0003_backfill(store.clone()).await;
    store.close().await;
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
    let targets: Vec<DatabaseRef> = stages.iter().flat_map(|(_, dbs)| dbs.clone()).collect();
    let plan = store
        .create_plan(
            "shop",
            "release_20260101-RC1",
            &targets,
            "ada@example.com",
            40,
        )
        .await
        .unwrap();
    let id = store
        .create_rollout("shop", plan.id, &stages, 45)
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
        .create_rollout("shop", rollout.plan, &[("other".into(), vec![])], 99)
        .await
        .unwrap();
    assert_eq!(again, rollout_id);
    assert_eq!(store.get_rollout(rollout_id).await.unwrap(), rollout);
    expect_not_found(
        store.create_rollout("shop", 9999, &[], 99).await,
        "plan",
        "projects/shop/plans/9999",
    );
    let plan2 = store
        .create_plan("shop", "release_20260101-RC2", &[], "ada@example.com", 60)
        .await
        .unwrap();
    expect_not_found(
        store
            .create_rollout(
                "shop",
                plan2.id,
                &[("test".into(), vec![DatabaseRef::new("main", "zzz")])],
                99,
            )
            .await,
        "database",
        "instances/main/databases/zzz",
    );
    assert!(matches!(
        store
            .create_rollout(
                "shop",
                plan2.id,
                &[("test".into(), vec![]), ("test".into(), vec![])],
                99,
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));
    expect_not_found(store.get_rollout(9999).await, "rollout", "9999");

    // Claim hands each available run out once.
    let mut runs = Vec::new();
    for &task in &tasks {
        runs.push(store.enqueue_task_run(task, 50).await.unwrap());
    }
    expect_conflict(
        store.enqueue_task_run(tasks[0], 50).await,
        "active run of task",
        &tasks[0].to_string(),
    );
    expect_not_found(store.enqueue_task_run(9999, 50).await, "task", "9999");
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
        .claim_task_run("w1", LEASE, 100, &ClaimLimits::default())
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
        .claim_task_run("w2", LEASE, 100, &ClaimLimits::default())
        .await
        .unwrap()
        .unwrap();
    let third = store
        .claim_task_run("w2", LEASE, 100, &ClaimLimits::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.run_id, third.run_id), (runs[1], runs[2]));
    // All leases are live: nothing to claim.
    assert_eq!(
        store
            .claim_task_run("w3", LEASE, 120, &ClaimLimits::default())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_task_run("w3", LEASE, 130, &ClaimLimits::default())
            .await
            .unwrap(),
        None
    );

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
        .claim_task_run("w3", LEASE, 131, &ClaimLimits::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.run_id, first.run_id);
    assert_eq!((taken.attempt, taken.lease_expires_at), (2, 161));
    // Run 3's lease (until 130) also expired: w3 gets it; run 2 is still w2's.
    let also = store
        .claim_task_run("w3", LEASE, 131, &ClaimLimits::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(also.run_id, third.run_id);
    assert_eq!(
        store
            .claim_task_run("w4", LEASE, 131, &ClaimLimits::default())
            .await
            .unwrap(),
        None
    );
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
            .finish_task_run(first.run_id, "w1", RunOutcome::Done, None, 150)
            .await,
        "lease of task run",
        &first.run_id.to_string(),
    );
    store
        .finish_task_run(first.run_id, "w3", RunOutcome::Done, None, 150)
        .await
        .unwrap();
    store
        .finish_task_run(
            second.run_id,
            "w2",
            RunOutcome::Failed,
            Some("ERROR: relation \"t\" already exists (0001_change.sql:1)"),
            150,
        )
        .await
        .unwrap();
    expect_conflict(
        store
            .finish_task_run(first.run_id, "w3", RunOutcome::Failed, None, 150)
            .await,
        "lease of task run",
        &first.run_id.to_string(),
    );
    expect_not_found(
        store
            .finish_task_run(9999, "w3", RunOutcome::Done, None, 150)
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
            .claim_task_run("w4", LEASE, 10_000, &ClaimLimits::default())
            .await
            .unwrap()
            .unwrap()
            .run_id,
        third.run_id
    );
    assert_eq!(
        store
            .claim_task_run("w5", LEASE, 10_000, &ClaimLimits::default())
            .await
            .unwrap(),
        None
    );
    // A failed task may be retried with a new run.
    let retry = store.enqueue_task_run(tasks[1], 50).await.unwrap();
    assert_eq!(
        store
            .claim_task_run("w5", LEASE, 10_000, &ClaimLimits::default())
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
        expected.push(stores[0].enqueue_task_run(task, 50).await.unwrap());
    }
    let mut handles = Vec::new();
    for (i, store) in stores.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            let worker = format!("worker-{i}");
            let mut mine = Vec::new();
            while let Some(run) = store
                .claim_task_run(&worker, LEASE, 1_000, &ClaimLimits::default())
                .await
                .unwrap()
            {
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

// ---- plans, rollout lists, overrides, skip, cancel, release, limits ----

async fn plans_and_limits_conformance<S: Store>(store: S) {
    let (rollout_id, tasks) = setup_rollout(&store, 6).await;
    let rollout = store.get_rollout(rollout_id).await.unwrap();

    // Plans: read back whole, listed by id, scoped to their project.
    let plan = store.get_plan("shop", rollout.plan).await.unwrap();
    assert_eq!(plan.release, "release_20260101-RC1");
    assert_eq!(plan.targets.len(), 6);
    assert_eq!(
        (plan.creator.as_str(), plan.created_at),
        ("ada@example.com", 40)
    );
    let second = store
        .create_plan(
            "shop",
            "release_20260101-RC1",
            &[DatabaseRef::new("main", "db000")],
            "bob@example.com",
            70,
        )
        .await
        .unwrap();
    assert_eq!(store.get_plan("shop", second.id).await.unwrap(), second);
    let (ids, pages) = page_all!(store, list_plans, "shop"; 1, |p| p.id);
    assert_eq!((ids, pages), (vec![plan.id, second.id], 2));
    expect_not_found(
        store.create_plan("shop", "nope", &[], "a", 1).await,
        "release",
        "nope",
    );
    expect_not_found(
        store.create_plan("ghost", "r", &[], "a", 1).await,
        "project",
        "ghost",
    );
    assert!(matches!(
        store
            .create_plan(
                "shop",
                "release_20260101-RC1",
                &[
                    DatabaseRef::new("main", "db000"),
                    DatabaseRef::new("main", "db000")
                ],
                "a",
                1
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));
    store
        .create_project(&Project {
            id: "other".into(),
            title: "Other".into(),
        })
        .await
        .unwrap();
    expect_not_found(
        store.get_plan("other", plan.id).await,
        "plan",
        &format!("projects/other/plans/{}", plan.id),
    );
    expect_not_found(
        store.create_rollout("other", plan.id, &[], 1).await,
        "plan",
        &format!("projects/other/plans/{}", plan.id),
    );

    // A second plan of the same release gets its own rollout.
    let other_rollout = store
        .create_rollout(
            "shop",
            second.id,
            &[("test".into(), vec![DatabaseRef::new("main", "db000")])],
            80,
        )
        .await
        .unwrap();
    assert_ne!(other_rollout, rollout_id);
    let (ids, _) = page_all!(store, list_rollouts, "shop"; 1, |r| (r.id, r.plan));
    assert_eq!(ids, vec![(rollout_id, plan.id), (other_rollout, second.id)]);
    let (ids, _) = page_all!(store, list_rollouts, "other"; 10, |r| r.id);
    assert!(ids.is_empty());

    // Overrides are kept with the rollout.
    let entry = rollgate_store::RolloutOverride {
        rollout: rollout_id,
        stage: "prod".into(),
        actor: "admin@example.com".into(),
        reason: "hotfix".into(),
        blocking_json: r#"[{"database":"instances/main/databases/db000"}]"#.into(),
        at: 90,
    };
    store.record_rollout_override(&entry).await.unwrap();
    assert_eq!(
        store.get_rollout(rollout_id).await.unwrap().overrides,
        vec![entry.clone()]
    );
    expect_not_found(
        store
            .record_rollout_override(&rollgate_store::RolloutOverride {
                rollout: 9999,
                ..entry
            })
            .await,
        "rollout",
        "9999",
    );

    // Skip: only from NOT_STARTED, FAILED or CANCELED; the reason is kept.
    store
        .skip_task(tasks[5], "not needed on db005")
        .await
        .unwrap();
    let task = |rollout: &rollgate_store::Rollout, id: i64| {
        rollout
            .stages
            .iter()
            .flat_map(|s| &s.tasks)
            .find(|t| t.id == id)
            .unwrap()
            .clone()
    };
    let skipped = task(&store.get_rollout(rollout_id).await.unwrap(), tasks[5]);
    assert_eq!(
        (skipped.status.as_str(), skipped.skipped_reason.as_deref()),
        (status::SKIPPED, Some("not needed on db005"))
    );
    expect_conflict(
        store.skip_task(tasks[5], "again").await,
        "status of task",
        &tasks[5].to_string(),
    );
    expect_not_found(store.skip_task(9999, "x").await, "task", "9999");

    // Limits: one run per rollout at a time; a live lease counts, an
    // expired one does not.
    let one = ClaimLimits {
        per_rollout: Some(1),
        per_instance: None,
    };
    for &t in &tasks[..3] {
        store.enqueue_task_run(t, 100).await.unwrap();
    }
    let first = store
        .claim_task_run("w1", LEASE, 100, &one)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.claim_task_run("w2", LEASE, 100, &one).await.unwrap(),
        None
    );
    let per_instance = ClaimLimits {
        per_rollout: None,
        per_instance: Some(2),
    };
    let second_run = store
        .claim_task_run("w2", LEASE, 100, &per_instance)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .claim_task_run("w3", LEASE, 100, &per_instance)
            .await
            .unwrap(),
        None
    );
    // Both leases ran out at 130: they no longer count, and the oldest is
    // claimable again (attempt 2) under the per-rollout limit.
    let again = store
        .claim_task_run("w3", LEASE, 131, &one)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.run_id, again.attempt), (first.run_id, 2));
    assert_eq!(
        store.claim_task_run("w3", LEASE, 131, &one).await.unwrap(),
        None
    );
    let unlimited = ClaimLimits::default();
    let b = store
        .claim_task_run("w4", LEASE, 131, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.run_id, second_run.run_id);
    let c = store
        .claim_task_run("w4", LEASE, 131, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.task_id, tasks[2]);

    // Graceful shutdown gives a worker's runs back.
    assert_eq!(store.release_worker_runs("w4").await.unwrap(), 2);
    assert_eq!(store.release_worker_runs("w4").await.unwrap(), 0);
    let released = store.get_task_run(b.run_id).await.unwrap();
    assert_eq!(
        (released.status.as_str(), released.worker),
        (status::AVAILABLE, None)
    );
    assert!(!store.heartbeat(b.run_id, "w4", LEASE, 132).await.unwrap());
    assert_eq!(
        task(&store.get_rollout(rollout_id).await.unwrap(), tasks[1]).status,
        status::PENDING
    );

    // Cancel: an available run, then a running one (its worker loses the lease).
    assert!(store.cancel_task_run(tasks[2], 133).await.unwrap());
    assert!(!store.cancel_task_run(tasks[2], 133).await.unwrap());
    let b2 = store
        .claim_task_run("w5", LEASE, 134, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b2.run_id, b.run_id);
    assert!(store.cancel_task_run(tasks[1], 135).await.unwrap());
    assert!(!store.heartbeat(b.run_id, "w5", LEASE, 136).await.unwrap());
    expect_conflict(
        store
            .finish_task_run(b.run_id, "w5", RunOutcome::Done, None, 137)
            .await,
        "lease of task run",
        &b.run_id.to_string(),
    );
    let after = store.get_rollout(rollout_id).await.unwrap();
    assert_eq!(task(&after, tasks[1]).status, status::CANCELED);
    assert_eq!(task(&after, tasks[2]).status, status::CANCELED);
    expect_not_found(store.cancel_task_run(9999, 1).await, "task", "9999");
    // A canceled task may be skipped.
    store
        .skip_task(tasks[2], "canceled on purpose")
        .await
        .unwrap();

    // Runs of a task, with their times; counts by status.
    store
        .finish_task_run(first.run_id, "w3", RunOutcome::Done, None, 150)
        .await
        .unwrap();
    let runs = store.list_task_runs(tasks[0]).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (
            runs[0].created_at,
            runs[0].started_at,
            runs[0].finished_at,
            runs[0].status.as_str()
        ),
        (100, Some(131), Some(150), status::DONE)
    );
    assert_eq!(store.list_task_runs(tasks[4]).await.unwrap(), vec![]);
    expect_not_found(store.list_task_runs(9999).await, "task", "9999");
    assert_eq!(
        store.count_task_runs().await.unwrap(),
        vec![
            (status::CANCELED.to_string(), 2),
            (status::DONE.to_string(), 1)
        ]
    );
}

#[tokio::test]
async fn sqlite_plans_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    plans_and_limits_conformance(SqliteStore::open(dir.path().join("meta.db")).await.unwrap())
        .await;
}

#[tokio::test]
async fn postgres_plans_and_limits() {
    let db = PgTestDb::create().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    plans_and_limits_conformance(store.clone()).await;
    store.close().await;
}

/// Two rollouts of the same database: while a run of one holds a live
/// lease, the other's run of that database is not claimed (it would only
/// wait for the migration lock); it is once the first finishes, and at
/// once when the first's lease expires.
async fn one_database_at_a_time_conformance<S: Store>(store: S) {
    let (first_rollout, tasks) = setup_rollout(&store, 2).await;
    let first_plan = store.get_rollout(first_rollout).await.unwrap().plan;
    let stages: Vec<(String, Vec<DatabaseRef>)> = store
        .get_rollout(first_rollout)
        .await
        .unwrap()
        .stages
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.tasks.iter().map(|t| t.database.clone()).collect(),
            )
        })
        .collect();
    let targets: Vec<DatabaseRef> = stages.iter().flat_map(|(_, dbs)| dbs.clone()).collect();
    store
        .create_release("shop", "release_20260101-RC2", &[file("0001")], &vcs())
        .await
        .unwrap();
    let plan = store
        .create_plan(
            "shop",
            "release_20260101-RC2",
            &targets,
            "ada@example.com",
            50,
        )
        .await
        .unwrap();
    assert_ne!(plan.id, first_plan);
    let second_rollout = store
        .create_rollout("shop", plan.id, &stages, 55)
        .await
        .unwrap();
    let second_tasks: Vec<i64> = store
        .get_rollout(second_rollout)
        .await
        .unwrap()
        .stages
        .iter()
        .flat_map(|s| s.tasks.iter().map(|t| t.id))
        .collect();
    // db000 in both rollouts.
    store.enqueue_task_run(tasks[0], 100).await.unwrap();
    store.enqueue_task_run(second_tasks[0], 100).await.unwrap();
    let unlimited = ClaimLimits::default();
    let a = store
        .claim_task_run("w1", LEASE, 100, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.task_id, tasks[0]);
    assert_eq!(
        store
            .claim_task_run("w2", LEASE, 101, &unlimited)
            .await
            .unwrap(),
        None
    );
    // Another database is not held up.
    store.enqueue_task_run(second_tasks[1], 101).await.unwrap();
    let other = store
        .claim_task_run("w2", LEASE, 101, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.task_id, second_tasks[1]);
    // The first run ends: the second rollout's run of db000 is claimable.
    store
        .finish_task_run(a.run_id, "w1", RunOutcome::Done, None, 102)
        .await
        .unwrap();
    let b = store
        .claim_task_run("w3", LEASE, 103, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.task_id, second_tasks[0]);
    // A dead worker's run (lease expired) holds nothing back: it is itself
    // claimable again, and only once.
    let later = 103 + LEASE.as_secs() as i64 + 1;
    let c = store
        .claim_task_run("w4", LEASE, later, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.run_id, c.attempt), (b.run_id, 2));
    let d = store
        .claim_task_run("w4", LEASE, later, &unlimited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.run_id, d.attempt), (other.run_id, 2));
    assert_eq!(
        store
            .claim_task_run("w5", LEASE, later, &unlimited)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn sqlite_one_database_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    one_database_at_a_time_conformance(
        SqliteStore::open(dir.path().join("meta.db")).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn postgres_one_database_at_a_time() {
    let db = PgTestDb::create().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    one_database_at_a_time_conformance(store.clone()).await;
    store.close().await;
}

/// Concurrent claimers with a per-rollout limit of 2: exactly two win.
async fn concurrent_limit<S: Store + Clone + 'static>(stores: Vec<S>) {
    let (_, tasks) = setup_rollout(&stores[0], 10).await;
    for &task in &tasks {
        stores[0].enqueue_task_run(task, 1).await.unwrap();
    }
    let limits = ClaimLimits {
        per_rollout: Some(2),
        per_instance: None,
    };
    let mut handles = Vec::new();
    for (i, store) in stores.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            store
                .claim_task_run(&format!("worker-{i}"), LEASE, 1_000, &limits)
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut won = 0;
    for handle in handles {
        won += usize::from(handle.await.unwrap());
    }
    assert_eq!(
        won, 2,
        "the per-rollout limit holds across concurrent claimers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(SqliteStore::open(&path).await.unwrap());
    }
    concurrent_limit(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn postgres_concurrent_limit() {
    let db = PgTestDb::create().await;
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(PostgresStore::connect(&db.url).await.unwrap());
    }
    let handles = stores.clone();
    concurrent_limit(stores).await;
    for store in handles {
        store.close().await;
    }
}

// ---- drift checks ----

async fn drift_conformance<S: Store>(store: S) {
    use rollgate_store::{DriftResult, drift_status};
    store.create_environment(&env("prod", 1)).await.unwrap();
    store.create_instance(&instance("pg")).await.unwrap();
    for name in ["app", "billing"] {
        store
            .create_database(&Database {
                instance: "pg".into(),
                name: name.into(),
                environment: "prod".into(),
            })
            .await
            .unwrap();
    }
    let app = DatabaseRef::new("pg", "app");
    let billing = DatabaseRef::new("pg", "billing");
    let missing = DatabaseRef::new("pg", "nope");

    let fresh = store.get_drift_status(&app).await.unwrap();
    assert_eq!(fresh.status, drift_status::NOT_CHECKED);
    assert_eq!(
        (fresh.checked_at, fresh.detail, fresh.checked_by),
        (None, None, None)
    );
    expect_not_found(
        store.get_drift_status(&missing).await,
        "database",
        "instances/pg/databases/nope",
    );
    assert_eq!(
        store.count_drift_statuses().await.unwrap(),
        vec![(drift_status::NOT_CHECKED.to_string(), 2)]
    );

    // Claims: once per interval (here 100 s), whoever asks.
    assert!(store.claim_drift_check(&app, 1000, 900).await.unwrap());
    assert!(!store.claim_drift_check(&app, 1000, 900).await.unwrap());
    assert!(!store.claim_drift_check(&app, 1099, 999).await.unwrap());
    assert!(store.claim_drift_check(&app, 1100, 1000).await.unwrap());
    assert!(store.claim_drift_check(&billing, 1100, 1000).await.unwrap());
    expect_not_found(
        store.claim_drift_check(&missing, 1100, 1000).await,
        "database",
        "instances/pg/databases/nope",
    );
    // A claim alone is no status.
    assert_eq!(
        store.get_drift_status(&app).await.unwrap().status,
        drift_status::NOT_CHECKED
    );

    let result =
        |key: &DatabaseRef, status: &str, at: i64, detail: Option<&str>, by: &str| DriftResult {
            database: key.clone(),
            status: status.into(),
            checked_at: at,
            detail: detail.map(str::to_string),
            checked_by: by.into(),
        };
    store
        .record_drift_check(&result(
            &app,
            drift_status::DRIFTED,
            1110,
            Some("+  note text"),
            drift_status::SCHEDULE,
        ))
        .await
        .unwrap();
    let drifted = store.get_drift_status(&app).await.unwrap();
    assert_eq!(
        (
            drifted.status.as_str(),
            drifted.checked_at,
            drifted.detail.as_deref(),
            drifted.checked_by.as_deref()
        ),
        (
            drift_status::DRIFTED,
            Some(1110),
            Some("+  note text"),
            Some(drift_status::SCHEDULE)
        )
    );
    // A recorded check counts as a claim: not claimable before 1110 + interval.
    assert!(!store.claim_drift_check(&app, 1205, 1105).await.unwrap());
    assert!(store.claim_drift_check(&app, 1210, 1110).await.unwrap());
    // An on-demand check on a never-claimed database also counts.
    store
        .record_drift_check(&result(
            &billing,
            drift_status::IN_SYNC,
            1300,
            None,
            drift_status::ON_DEMAND,
        ))
        .await
        .unwrap();
    assert!(!store.claim_drift_check(&billing, 1350, 1250).await.unwrap());
    assert_eq!(
        store
            .get_drift_status(&billing)
            .await
            .unwrap()
            .checked_by
            .as_deref(),
        Some(drift_status::ON_DEMAND)
    );
    store
        .record_drift_check(&result(
            &app,
            drift_status::ERROR,
            1400,
            Some("cannot connect"),
            drift_status::ON_DEMAND,
        ))
        .await
        .unwrap();
    let error = store.get_drift_status(&app).await.unwrap();
    assert_eq!(
        (error.status.as_str(), error.detail.as_deref()),
        (drift_status::ERROR, Some("cannot connect"))
    );
    assert_eq!(
        store.count_drift_statuses().await.unwrap(),
        vec![
            (drift_status::ERROR.to_string(), 1),
            (drift_status::IN_SYNC.to_string(), 1)
        ]
    );

    for (status, by) in [
        (drift_status::NOT_CHECKED, drift_status::SCHEDULE),
        ("SYNCED", drift_status::SCHEDULE),
        (drift_status::IN_SYNC, "cron"),
    ] {
        match store
            .record_drift_check(&result(&app, status, 1500, None, by))
            .await
        {
            Err(StoreError::Invalid { .. }) => {}
            other => panic!("expected Invalid for {status}/{by}, got {other:?}"),
        }
    }
    expect_not_found(
        store
            .record_drift_check(&result(
                &missing,
                drift_status::IN_SYNC,
                1500,
                None,
                drift_status::SCHEDULE,
            ))
            .await,
        "database",
        "instances/pg/databases/nope",
    );

    // Deleted with the database.
    store.delete_database(&app).await.unwrap();
    assert_eq!(
        store.count_drift_statuses().await.unwrap(),
        vec![(drift_status::IN_SYNC.to_string(), 1)]
    );
}

#[tokio::test]
async fn sqlite_drift_checks() {
    let dir = tempfile::tempdir().unwrap();
    drift_conformance(SqliteStore::open(dir.path().join("meta.db")).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_drift_checks() {
    let db = PgTestDb::create().await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    drift_conformance(store.clone()).await;
    store.close().await;
}

/// Replicas claiming the same databases at the same moment: each database
/// is claimed exactly once.
async fn concurrent_drift_claims<S: Store + Clone + 'static>(stores: Vec<S>) {
    let first = stores[0].clone();
    first.create_environment(&env("prod", 1)).await.unwrap();
    first.create_instance(&instance("pg")).await.unwrap();
    let keys: Vec<DatabaseRef> = (0..20)
        .map(|i| DatabaseRef::new("pg", format!("db{i}")))
        .collect();
    for key in &keys {
        first
            .create_database(&Database {
                instance: key.instance.clone(),
                name: key.name.clone(),
                environment: "prod".into(),
            })
            .await
            .unwrap();
    }
    let mut handles = Vec::new();
    for store in stores {
        let keys = keys.clone();
        handles.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            for key in &keys {
                if store.claim_drift_check(key, 5000, 4000).await.unwrap() {
                    claimed.push(key.clone());
                }
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.unwrap());
    }
    all.sort();
    assert_eq!(
        all,
        keys.iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_drift_claims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(SqliteStore::open(&path).await.unwrap());
    }
    concurrent_drift_claims(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_drift_claims() {
    let db = PgTestDb::create().await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(PostgresStore::connect(&db.url).await.unwrap());
    }
    let handles = stores.clone();
    concurrent_drift_claims(stores).await;
    for store in handles {
        store.close().await;
    }
}
