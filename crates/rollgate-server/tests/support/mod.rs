//! A small world for access-control tests: a SQLite store in a temp dir with
//! two environments, an instance with two databases, two projects, a user and
//! a service account ([`World::new`]); [`World::with_rollout`] adds what the
//! release, plan, rollout, task-run, changelog, check and review-policy
//! endpoints act on. Principals get sessions directly from the store (no
//! argon2 per test), and [`call`] is the one function that calls the API.
//! Tests that log in over HTTP share [`PASSWORD`], [`password_hash`] and
//! [`login`]; [`pg`] gives a test its own PostgreSQL database.

#![allow(dead_code)]

pub mod mysql;
pub mod pg;

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use rollgate_auth::token::{self, TokenKind};
use rollgate_auth::{KeyRing, MasterKey, Role, hash_password};
use rollgate_engine::TargetUrl;
use rollgate_server::worker::instance_url_aad;
use rollgate_server::{AppState, MetadataStore, app};
use rollgate_store::{
    ClaimLimits, Database, DatabaseRef, Environment, IamBinding, Instance, PolicyAttach, Project,
    ReleaseFile, ReviewPolicy, RunOutcome, ServiceAccount, Session, SqliteStore, Store, User, Vcs,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The password of the users that log in over HTTP.
pub const PASSWORD: &str = "correct horse battery";

/// [`PASSWORD`]'s argon2 hash, computed once per test binary (argon2 is slow
/// on purpose).
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD))
}

/// Creates environment `id`, `order`-th in the pipeline, with the
/// environment policy `policy_json`.
pub async fn create_environment<S: Store>(
    store: &S,
    id: &str,
    title: &str,
    order: i64,
    policy_json: &str,
) {
    store
        .create_environment(&Environment {
            id: id.into(),
            title: title.into(),
            order,
            policy_json: policy_json.into(),
        })
        .await
        .unwrap();
}

/// Creates project `id`.
pub async fn create_project<S: Store>(store: &S, id: &str, title: &str) {
    store
        .create_project(&Project {
            id: id.into(),
            title: title.into(),
        })
        .await
        .unwrap();
}

/// Creates user `email` with [`PASSWORD`] and the one role `role` (an id
/// like `workspaceAdmin`).
pub async fn create_user<S: Store>(store: &S, email: &str, role: &str) {
    store
        .create_user(&User {
            email: email.into(),
            password_hash: password_hash().into(),
            roles: vec![format!("roles/{role}")],
        })
        .await
        .unwrap();
}

/// Registers instance `instance` at `url` (encrypted with `key_ring`, its
/// engine taken from the URL) in `environment`, with its one database
/// `database`, which joins `project` when given.
pub async fn create_target<S: Store>(
    store: &S,
    key_ring: &KeyRing,
    instance: &str,
    url: &str,
    environment: &str,
    database: &str,
    project: Option<&str>,
) {
    store
        .create_instance(&Instance {
            id: instance.into(),
            engine: TargetUrl::parse(url).unwrap().kind().as_str().into(),
            url_envelope: key_ring.encrypt(url, &instance_url_aad(instance)),
            environment: environment.into(),
        })
        .await
        .unwrap();
    store
        .create_database(&Database {
            instance: instance.into(),
            name: database.into(),
            environment: environment.into(),
        })
        .await
        .unwrap();
    if let Some(project) = project {
        store
            .add_project_database(project, &DatabaseRef::new(instance, database))
            .await
            .unwrap();
    }
}

/// The URL of instance `pg`, password included.
pub const PG_URL: &str = "postgres://app:pg-s3cret@db.example:5432/app?sslmode=require";
/// The existing user and service account the fixtures act on.
pub const BOB: &str = "bob@example.com";
pub const CI: &str = "ci@service.rollgate.local";

/// [`World::with_rollout`]'s release in `shop` and the one in `other`.
pub const SHOP_RELEASE: &str = "release_20260101-RC1";
pub const OTHER_RELEASE: &str = "release_20260102-RC1";
/// In `shop`: plan 1 (rolled out: rollout 1) and plan 2 (no rollout yet).
pub const SHOP_PLAN: i64 = 1;
pub const SHOP_PLAN_WITHOUT_ROLLOUT: i64 = 2;
pub const SHOP_ROLLOUT: i64 = 1;
/// Rollout 1's tasks: stage `test` (`pg/app`) and stage `prod` (`lite/main`).
pub const SHOP_TEST_TASK: i64 = 1;
pub const SHOP_PROD_TASK: i64 = 2;
/// The failed run of the `test` task (with a log entry) and the queued
/// run of the `prod` task.
pub const SHOP_FAILED_RUN: i64 = 1;
pub const SHOP_QUEUED_RUN: i64 = 2;
/// The error of [`SHOP_FAILED_RUN`], also in its log entry.
pub const SHOP_RUN_ERROR: &str = "shop-secret-failure: relation orders does not exist";

pub struct World {
    pub app: Router,
    pub state: AppState,
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl World {
    /// Environments `test` and `prod`; instance `pg` (PostgreSQL, in `test`)
    /// with databases `app` and `spare`; projects `shop` (holding `pg/app`)
    /// and `other`; user `bob@example.com` and service account `ci`, both
    /// without roles.
    pub async fn new() -> World {
        let world = World::open(tempfile::tempdir().unwrap(), MasterKey::generate()).await;
        world.seed().await;
        world
    }

    /// The world whose metadata store is `dir/rollgate.db` (created when
    /// missing), its instance URLs under `master_key`.
    async fn open(dir: tempfile::TempDir, master_key: MasterKey) -> World {
        let store = SqliteStore::open(dir.path().join("rollgate.db"))
            .await
            .unwrap();
        let state = AppState::new(
            MetadataStore::Sqlite(store.clone()),
            KeyRing::new(master_key),
            64 * 1024,
        );
        World {
            app: app(state.clone()),
            state,
            store,
            _dir: dir,
        }
    }

    /// What [`World::new`] holds.
    async fn seed(&self) {
        let store = &self.store;
        let key_ring = self.state.key_ring();
        for (order, id) in ["test", "prod"].into_iter().enumerate() {
            store
                .create_environment(&Environment {
                    id: id.into(),
                    title: id.to_uppercase(),
                    order: order as i64,
                    policy_json: r#"{"rollout":"automatic"}"#.into(),
                })
                .await
                .unwrap();
        }
        store
            .create_instance(&Instance {
                id: "pg".into(),
                engine: "postgres".into(),
                url_envelope: key_ring.encrypt(PG_URL, &instance_url_aad("pg")),
                environment: "test".into(),
            })
            .await
            .unwrap();
        for name in ["app", "spare"] {
            store
                .create_database(&Database {
                    instance: "pg".into(),
                    name: name.into(),
                    environment: "test".into(),
                })
                .await
                .unwrap();
        }
        for id in ["shop", "other"] {
            store
                .create_project(&Project {
                    id: id.into(),
                    title: id.into(),
                })
                .await
                .unwrap();
        }
        store
            .add_project_database("shop", &DatabaseRef::new("pg", "app"))
            .await
            .unwrap();
        store
            .create_user(&User {
                email: BOB.into(),
                password_hash: String::new(),
                roles: vec![],
            })
            .await
            .unwrap();
        let (_, key_hash) = token::generate(TokenKind::ServiceAccount);
        store
            .create_service_account(&ServiceAccount {
                email: CI.into(),
                key_hash: key_hash.as_str().into(),
                roles: vec![],
            })
            .await
            .unwrap();
    }

    /// [`World::new`] plus everything the project's release, plan, rollout,
    /// changelog, check and review-policy endpoints act on:
    ///
    /// - environment `archive`, used by nothing (so it can be deleted);
    /// - instance `lite` (SQLite, a file in the world's temp dir, env `prod`)
    ///   with database `main` (env `prod`), in project `shop`; `pg/spare`
    ///   in project `other`;
    /// - in `shop`: release [`SHOP_RELEASE`], plan 1 (targets `pg/app`,
    ///   `lite/main`) with rollout 1 (stages `test`, `prod`), plan 2
    ///   without a rollout; the `test` task's run failed (one log entry),
    ///   the `prod` task's run is queued;
    /// - in `other`: release [`OTHER_RELEASE`], plan 3 (`pg/spare`) and its
    ///   rollout 2 (stage `test`);
    /// - review policies on environment `test` and project `shop`.
    ///
    /// Ids are checked as they are created, so the constants above hold.
    ///
    /// The access matrix builds one per request, so it is built once per
    /// process and copied: each world is a fresh copy of the metadata file
    /// in its own temp dir, with `lite` pointed at its own target file.
    pub async fn with_rollout() -> World {
        static TEMPLATE: tokio::sync::OnceCell<Template> = tokio::sync::OnceCell::const_new();
        let template = TEMPLATE.get_or_init(Template::build).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rollgate.db"), &template.metadata).unwrap();
        let world = World::open(dir, MasterKey::from_base64(&template.master_key).unwrap()).await;
        world
            .store
            .update_instance(&world.lite_instance())
            .await
            .unwrap();
        world
    }

    /// Instance `lite`: SQLite, env `prod`, the file `target.db` of this
    /// world's temp dir.
    fn lite_instance(&self) -> Instance {
        let url = format!("sqlite://{}", self._dir.path().join("target.db").display());
        Instance {
            id: "lite".into(),
            engine: "sqlite".into(),
            url_envelope: self
                .state
                .key_ring()
                .encrypt(&url, &instance_url_aad("lite")),
            environment: "prod".into(),
        }
    }

    /// What [`World::with_rollout`] adds to [`World::new`].
    async fn seed_rollout(&self) {
        let store = &self.store;
        store
            .create_environment(&Environment {
                id: "archive".into(),
                title: "Archive".into(),
                order: 2,
                policy_json: r#"{"rollout":"automatic"}"#.into(),
            })
            .await
            .unwrap();
        store.create_instance(&self.lite_instance()).await.unwrap();
        store
            .create_database(&Database {
                instance: "lite".into(),
                name: "main".into(),
                environment: "prod".into(),
            })
            .await
            .unwrap();
        let app = DatabaseRef::new("pg", "app");
        let main = DatabaseRef::new("lite", "main");
        let spare = DatabaseRef::new("pg", "spare");
        store.add_project_database("shop", &main).await.unwrap();
        store.add_project_database("other", &spare).await.unwrap();
        for (project, release, table) in [
            ("shop", SHOP_RELEASE, "orders"),
            ("other", OTHER_RELEASE, "ledger"),
        ] {
            let statement = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY);");
            let file = ReleaseFile {
                path: format!("migrations/1_{table}.sql"),
                version: "1".into(),
                change_type: "DDL".into(),
                checksum: rollgate_migration::Checksum::of(&statement)
                    .as_str()
                    .to_string(),
                statement,
            };
            let vcs = Vcs {
                commit_sha: format!("{project}0001"),
                ..Vcs::default()
            };
            store
                .create_release(project, release, &[file], &vcs)
                .await
                .unwrap();
        }
        let now = 1_767_225_600; // 2026-01-01T00:00:00Z
        let plan = store
            .create_plan("shop", SHOP_RELEASE, &[app.clone(), main.clone()], BOB, now)
            .await
            .unwrap();
        assert_eq!(plan.id, SHOP_PLAN);
        let stages = [
            ("test".to_string(), vec![app.clone()]),
            ("prod".to_string(), vec![main.clone()]),
        ];
        let rollout = store
            .create_rollout("shop", SHOP_PLAN, &stages, now)
            .await
            .unwrap();
        assert_eq!(rollout, SHOP_ROLLOUT);
        let plan = store
            .create_plan("shop", SHOP_RELEASE, &[app], BOB, now)
            .await
            .unwrap();
        assert_eq!(plan.id, SHOP_PLAN_WITHOUT_ROLLOUT);
        // The `test` task ran and failed, as a worker would record it.
        let run = store.enqueue_task_run(SHOP_TEST_TASK, now).await.unwrap();
        assert_eq!(run, SHOP_FAILED_RUN);
        let claimed = store
            .claim_task_run(
                "worker-1",
                std::time::Duration::from_secs(60),
                now,
                &ClaimLimits::default(),
            )
            .await
            .unwrap()
            .expect("the queued run is claimable");
        assert_eq!(
            (claimed.run_id, claimed.task_id),
            (SHOP_FAILED_RUN, SHOP_TEST_TASK)
        );
        let entry = serde_json::json!({
            "event": "run_finished", "status": "FAILED", "error": SHOP_RUN_ERROR,
        });
        store
            .append_task_log(SHOP_FAILED_RUN, &entry.to_string())
            .await
            .unwrap();
        store
            .finish_task_run(
                SHOP_FAILED_RUN,
                "worker-1",
                RunOutcome::Failed,
                Some(SHOP_RUN_ERROR),
                now,
            )
            .await
            .unwrap();
        let run = store.enqueue_task_run(SHOP_PROD_TASK, now).await.unwrap();
        assert_eq!(run, SHOP_QUEUED_RUN);
        let plan = store
            .create_plan(
                "other",
                OTHER_RELEASE,
                std::slice::from_ref(&spare),
                BOB,
                now,
            )
            .await
            .unwrap();
        let stages = [("test".to_string(), vec![spare])];
        store
            .create_rollout("other", plan.id, &stages, now)
            .await
            .unwrap();
        for (attach, template) in [
            (PolicyAttach::Environment("test".into()), "basic"),
            (PolicyAttach::Project("shop".into()), "advanced"),
        ] {
            store
                .put_review_policy(&ReviewPolicy {
                    attach,
                    review: serde_json::json!({ "template": template }).to_string(),
                })
                .await
                .unwrap();
        }
    }

    /// Creates a user (or, for an email in the service account domain, a
    /// service account) with `roles` workspace-wide and returns a session token.
    pub async fn principal(&self, email: &str, roles: &[Role]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| format!("roles/{}", r.id())).collect();
        if email.ends_with(rollgate_store::SERVICE_ACCOUNT_DOMAIN) {
            let (_, key_hash) = token::generate(TokenKind::ServiceAccount);
            self.store
                .create_service_account(&ServiceAccount {
                    email: email.into(),
                    key_hash: key_hash.as_str().into(),
                    roles,
                })
                .await
                .unwrap();
        } else {
            self.store
                .create_user(&User {
                    email: email.into(),
                    password_hash: String::new(),
                    roles,
                })
                .await
                .unwrap();
        }
        self.session(email).await
    }

    /// A session token for an existing principal.
    pub async fn session(&self, email: &str) -> String {
        let (secret, hash) = token::generate(TokenKind::Session);
        self.store
            .create_session(&Session {
                token_hash: hash.as_str().into(),
                principal: email.into(),
                expires_at: i64::MAX / 2,
            })
            .await
            .unwrap();
        secret.expose().to_string()
    }

    /// Adds `member` (an IAM member string) to `role` in `project`'s policy.
    pub async fn bind(&self, project: &str, role: Role, member: &str) {
        let mut policy = self.store.get_project_iam_policy(project).await.unwrap();
        let role = format!("roles/{}", role.id());
        match policy.iter_mut().find(|b| b.role == role) {
            Some(binding) => binding.members.push(member.into()),
            None => policy.push(IamBinding {
                role,
                members: vec![member.into()],
            }),
        }
        self.store
            .set_project_iam_policy(project, &policy)
            .await
            .unwrap();
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        call(&self.app, method, uri, token, body, None).await
    }
}

/// [`World::with_rollout`]'s metadata file, built once per process.
struct Template {
    metadata: Vec<u8>,
    master_key: String,
}

impl Template {
    async fn build() -> Template {
        let master_key = MasterKey::generate();
        let encoded = master_key.to_base64().to_string();
        let world = World::open(tempfile::tempdir().unwrap(), master_key).await;
        world.seed().await;
        world.seed_rollout().await;
        // Closing checkpoints the WAL: the main file then holds everything.
        world.store.close().await;
        let wal = world._dir.path().join("rollgate.db-wal");
        assert!(
            std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
            "the template's WAL was not checkpointed"
        );
        Template {
            metadata: std::fs::read(world._dir.path().join("rollgate.db")).unwrap(),
            master_key: encoded,
        }
    }
}

/// The one function that calls the API; `from` simulates the peer address
/// the server records when it runs with connect info.
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
    from: Option<SocketAddr>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let mut request = request
        .body(Body::from(body.unwrap_or_default().to_string()))
        .unwrap();
    if let Some(from) = from {
        request.extensions_mut().insert(ConnectInfo(from));
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

/// Logs `email` in with `password` through `POST /api/v1/auth/login`, which
/// must succeed; the session token.
pub async fn login(app: &Router, email: &str, password: &str) -> String {
    let body = json!({ "email": email, "password": password }).to_string();
    let (status, value) = call(app, "POST", "/api/v1/auth/login", None, Some(&body), None).await;
    assert_eq!(status, StatusCode::OK, "login {email}: {value}");
    value["token"].as_str().unwrap().to_string()
}
