//! The Rollgate control plane's HTTP server.
//!
//! [`app`] builds the router from an [`AppState`] (tests drive it in-process
//! with `oneshot`); [`run`] opens the metadata store, loads the master key,
//! bootstraps the first admin and serves until its shutdown future resolves.
//!
//! Concurrency rule: handlers hold no state between requests except the
//! login limiter, the metrics and the pending setup token, all in memory of
//! one process; everything durable goes through `Store`, so replicas on one
//! PostgreSQL store agree on everything but those three.
//!
//! [`worker`] executes queued task runs against target databases; [`run`]
//! starts [`worker::WorkerConfig::count`] worker loops next to the HTTP
//! server and, on shutdown, stops them claiming, gives running tasks a grace
//! period and releases what is unfinished. HTTP handlers never write to
//! target databases: `rollouts` only queues task runs, and `changelog`
//! only reads a target's history table.
//!
//! Access control: every `/api/v1` endpoint checks one permission
//! ([`ENDPOINT_PERMISSIONS`]); [`Principal::require`] for workspace
//! resources, [`Principal::require_in_project`] for everything under a
//! project (workspace-wide roles plus the project's IAM bindings).
//!
//! The only HTTP handlers that connect to target databases are the release
//! check (`check`), the changelog and the drift check (`drift`), and they
//! only read them (the drift check replays history into a scratch database
//! it creates and drops next to the target); the check's live schemas are
//! cached in memory per process. [`drift::drift_loop`] runs the scheduled
//! drift checks next to the workers and stops with them.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rollgate_auth::token::{self, Secret, TokenHash, TokenKind};
use rollgate_auth::{KeyRing, MasterKey, Permission, hash_password};
use rollgate_store::{Backend, PageRequest, PostgresStore, SqliteStore, StoreError, User};
use tower_http::trace::TraceLayer;

mod api;
mod api_iam;
mod api_instances;
mod changelog;
mod check;
pub mod drift;
mod error;
mod extract;
mod metrics;
pub mod openapi;
mod policies;
mod ratelimit;
mod rollouts;
mod store;
mod target;
mod time;
pub mod worker;

pub use api::SESSION_SECONDS;
pub use error::AppError;
pub use extract::Principal;
pub use openapi::openapi;
pub use store::MetadataStore;

use store::store_call;

/// Default limit on request bodies: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Every `/api/v1` resource endpoint and the one permission it checks: the
/// source of the endpoint → permission table in the docs and of the access
/// test matrix.
///
/// Endpoints under `/api/v1/projects/{project}` check their permission in that
/// project (workspace-wide roles plus the project's IAM bindings);
/// `GET /api/v1/projects` lists only the projects the caller can get unless a
/// workspace-wide role grants `rg.projects.list`. All others check
/// workspace-wide roles.
#[rustfmt::skip]
pub const ENDPOINT_PERMISSIONS: &[(&str, &str, Permission)] = &[
    ("GET", "/api/v1/environments", Permission::EnvironmentsList),
    ("GET", "/api/v1/environments/{id}", Permission::EnvironmentsGet),
    ("POST", "/api/v1/environments", Permission::EnvironmentsCreate),
    ("PATCH", "/api/v1/environments/{id}", Permission::EnvironmentsUpdate),
    ("DELETE", "/api/v1/environments/{id}", Permission::EnvironmentsDelete),
    ("GET", "/api/v1/instances", Permission::InstancesList),
    ("GET", "/api/v1/instances/{id}", Permission::InstancesGet),
    ("POST", "/api/v1/instances", Permission::InstancesCreate),
    ("PATCH", "/api/v1/instances/{id}", Permission::InstancesUpdate),
    ("DELETE", "/api/v1/instances/{id}", Permission::InstancesDelete),
    ("POST", "/api/v1/instances/{id}:matchUrl", Permission::InstancesUpdate),
    ("GET", "/api/v1/databases", Permission::DatabasesList),
    ("GET", "/api/v1/instances/{instance}/databases", Permission::DatabasesList),
    ("POST", "/api/v1/instances/{instance}/databases", Permission::DatabasesCreate),
    ("GET", "/api/v1/instances/{instance}/databases/{database}", Permission::DatabasesGet),
    ("PATCH", "/api/v1/instances/{instance}/databases/{database}", Permission::DatabasesUpdate),
    ("DELETE", "/api/v1/instances/{instance}/databases/{database}", Permission::DatabasesDelete),
    ("GET", "/api/v1/projects", Permission::ProjectsList),
    ("GET", "/api/v1/projects/{project}", Permission::ProjectsGet),
    ("POST", "/api/v1/projects", Permission::ProjectsCreate),
    ("PATCH", "/api/v1/projects/{project}", Permission::ProjectsUpdate),
    ("DELETE", "/api/v1/projects/{project}", Permission::ProjectsDelete),
    ("GET", "/api/v1/projects/{project}:getIamPolicy", Permission::ProjectsGetIamPolicy),
    ("POST", "/api/v1/projects/{project}:setIamPolicy", Permission::ProjectsSetIamPolicy),
    ("GET", "/api/v1/users", Permission::UsersList),
    ("GET", "/api/v1/users/{email}", Permission::UsersGet),
    ("POST", "/api/v1/users", Permission::UsersCreate),
    ("PATCH", "/api/v1/users/{email}", Permission::UsersUpdate),
    ("DELETE", "/api/v1/users/{email}", Permission::UsersDelete),
    ("GET", "/api/v1/serviceAccounts", Permission::ServiceAccountsList),
    ("GET", "/api/v1/serviceAccounts/{name}", Permission::ServiceAccountsGet),
    ("POST", "/api/v1/serviceAccounts", Permission::ServiceAccountsCreate),
    ("PATCH", "/api/v1/serviceAccounts/{name}", Permission::ServiceAccountsUpdate),
    ("DELETE", "/api/v1/serviceAccounts/{name}", Permission::ServiceAccountsDelete),
    ("POST", "/api/v1/serviceAccounts/{name}:rotateKey", Permission::ServiceAccountsUpdate),
    ("GET", "/api/v1/auditLogs", Permission::AuditLogsList),
    (
        "GET",
        "/api/v1/projects/{project}/releases",
        Permission::ReleasesList,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/releases",
        Permission::ReleasesCreate,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/releases/{release}",
        Permission::ReleasesGet,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/plans",
        Permission::PlansList,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/plans",
        Permission::PlansCreate,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/plans/{plan}",
        Permission::PlansGet,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/plans/{plan}/rollout",
        Permission::RolloutsCreate,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts",
        Permission::RolloutsList,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}",
        Permission::RolloutsGet,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:run",
        Permission::TaskRunsCreate,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:skip",
        Permission::TasksSkip,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/taskRuns:cancel",
        Permission::TaskRunsCancel,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages",
        Permission::RolloutsGet,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}",
        Permission::RolloutsGet,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks",
        Permission::RolloutsGet,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}",
        Permission::RolloutsGet,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns",
        Permission::TaskRunsList,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}",
        Permission::TaskRunsList,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}/log",
        Permission::TaskRunsList,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/databases/{database}/changelog",
        Permission::ChangelogsList,
    ),
    (
        "GET",
        "/api/v1/reviewPolicies",
        Permission::ReviewConfigsList,
    ),
    (
        "GET",
        "/api/v1/environments/{id}/reviewPolicy",
        Permission::ReviewConfigsGet,
    ),
    (
        "PUT",
        "/api/v1/environments/{id}/reviewPolicy",
        Permission::ReviewConfigsUpdate,
    ),
    (
        "DELETE",
        "/api/v1/environments/{id}/reviewPolicy",
        Permission::ReviewConfigsDelete,
    ),
    (
        "GET",
        "/api/v1/projects/{project}/reviewPolicy",
        Permission::ReviewConfigsGet,
    ),
    (
        "PUT",
        "/api/v1/projects/{project}/reviewPolicy",
        Permission::ReviewConfigsUpdate,
    ),
    (
        "DELETE",
        "/api/v1/projects/{project}/reviewPolicy",
        Permission::ReviewConfigsDelete,
    ),
    (
        "POST",
        "/api/v1/projects/{project}/releases:check",
        Permission::ReleasesCheck,
    ),
    (
        "GET",
        "/api/v1/instances/{instance}/databases/{database}/drift",
        Permission::DatabasesGet,
    ),
    (
        "POST",
        "/api/v1/instances/{instance}/databases/{database}/drift:check",
        Permission::DatabasesUpdate,
    ),
];

/// Where an endpoint of [`ENDPOINT_PERMISSIONS`] checks its permission, told
/// by its path: `project` under `/api/v1/projects/{project}`, `any project` for
/// the project list, `workspace` otherwise.
pub fn endpoint_scope(method: &str, path: &str) -> &'static str {
    if path.starts_with("/api/v1/projects/{") {
        "project"
    } else if path == "/api/v1/projects" && method == "GET" {
        "any project"
    } else {
        "workspace"
    }
}

/// The markdown page `docs/api-permissions.md`: one row per endpoint of
/// [`ENDPOINT_PERMISSIONS`] with its permission, where it is checked and the
/// built-in roles that grant it.
pub fn endpoint_permissions_markdown() -> String {
    use std::fmt::Write as _;
    let mut page = String::from(
        "# API endpoints and the permission each checks\n\n\
         Generated from `ENDPOINT_PERMISSIONS` in `crates/rollgate-server/src/lib.rs`; do not edit.\n\
         Regenerate with `UPDATE_DOCS=1 cargo test -p rollgate-server --test docs`.\n\n\
         Every `/api/v1` endpoint checks exactly one permission. *Checked in*:\n\n\
         - `workspace`: the caller's workspace-wide roles (`users.roles`, `serviceAccounts.roles`);\n\
         - `project`: those, plus the roles the project's IAM policy binds to the caller in that project;\n\
         - `any project`: with the permission workspace-wide, every project is listed; with it only\n  \
           from project bindings, the projects where the caller holds `rg.projects.get`.\n\n\
         A workspace-wide project role (for example Project Developer in `users.roles`) applies in every project.\n\n\
         Two guards come on top of the table. `PATCH /api/v1/projects/{project}` adding a database to the project\n\
         also needs `rg.databases.update` workspace-wide, or in a project that already holds that database.\n\n\
         `…/stages/{stage}/tasks:run` also passes the stage gate: every task of the earlier stages is DONE or\n\
         SKIPPED (a Workspace Admin may override with a reason, recorded), and a stage whose environment has a\n\
         manual rollout policy runs only for a holder of one of its roles (never the GitOps Service Agent).\n\
         `…/stages/{stage}/tasks:skip` follows the same rollout policy (not the stage order).\n\n\
         | Method | Path | Permission | Checked in | Roles that grant it |\n\
         |---|---|---|---|---|\n",
    );
    for (method, path, permission) in ENDPOINT_PERMISSIONS {
        let roles: Vec<&str> = rollgate_auth::Role::ALL
            .iter()
            .filter(|role| rollgate_auth::has_permission(&[**role], *permission))
            .map(|role| role.title())
            .collect();
        let _ = writeln!(
            page,
            "| {method} | `{path}` | `{permission}` | {} | {} |",
            endpoint_scope(method, path),
            roles.join(", ")
        );
    }
    page
}

/// How `rollgate server` runs.
#[derive(Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Holds `rollgate.db` (without `metadata_url`) and `master.key`.
    pub data_dir: PathBuf,
    /// `postgres://…` (or `sqlite://…`); `None` is the embedded SQLite file.
    pub metadata_url: Option<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("rollgate-data"),
            metadata_url: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// The metadata URL may carry a password, so it is redacted.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "metadata_url",
                &self.metadata_url.as_ref().map(|_| "<redacted>"),
            )
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: MetadataStore,
    key_ring: KeyRing,
    body_limit: usize,
    setup_token: Mutex<Option<TokenHash>>,
    limiter: ratelimit::LoginLimiter,
    metrics: metrics::Metrics,
    /// Live schemas of check targets (see `check`).
    schema_cache: check::SchemaCache,
}

impl AppState {
    pub fn new(store: MetadataStore, key_ring: KeyRing, body_limit: usize) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                key_ring,
                body_limit,
                setup_token: Mutex::new(None),
                limiter: Default::default(),
                metrics: Default::default(),
                schema_cache: Default::default(),
            }),
        }
    }

    pub fn store(&self) -> &MetadataStore {
        &self.inner.store
    }

    /// The master key ring that encrypts instance credentials.
    pub fn key_ring(&self) -> &KeyRing {
        &self.inner.key_ring
    }

    /// Counts a finished task run in `/metrics`.
    pub(crate) fn record_task_run(&self, outcome: &str, duration: Duration) {
        self.inner.metrics.record_task_run(outcome, duration);
    }
}

/// The first Workspace Admin, from `ROLLGATE_ADMIN_EMAIL` and
/// `ROLLGATE_ADMIN_PASSWORD`. The password is redacted from `Debug`.
#[derive(Clone)]
pub struct AdminCredentials {
    pub email: String,
    pub password: String,
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What [`bootstrap`] did.
#[derive(Debug)]
pub enum Bootstrap {
    /// The store already had accounts or resources.
    NotNeeded,
    /// The given admin was created as Workspace Admin.
    AdminCreated,
    /// No admin was given: `POST /setup` accepts this token once.
    SetupToken(Secret),
}

/// First start: when the store is empty, creates `admin` as Workspace Admin,
/// or, without one, arms a one-time setup token for `POST /setup`.
pub async fn bootstrap(
    state: &AppState,
    admin: Option<AdminCredentials>,
) -> anyhow::Result<Bootstrap> {
    let store = &state.inner.store;
    if !store_call!(store, s => s.is_empty().await)? {
        return Ok(Bootstrap::NotNeeded);
    }
    if let Some(admin) = admin {
        api::validate_new_user(admin.email.trim(), &admin.password).map_err(|e| {
            anyhow::anyhow!(
                "ROLLGATE_ADMIN_EMAIL/ROLLGATE_ADMIN_PASSWORD: {}",
                e.message
            )
        })?;
        let password = admin.password;
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&password)).await?;
        let user = User {
            email: admin.email.trim().to_string(),
            password_hash,
            roles: vec![api::workspace_admin_role()],
        };
        return match store_call!(store, s => s.create_user(&user).await) {
            Ok(()) => Ok(Bootstrap::AdminCreated),
            // Another replica started at the same moment and created it.
            Err(StoreError::Conflict { .. }) => Ok(Bootstrap::NotNeeded),
            Err(error) => Err(error.into()),
        };
    }
    let (secret, hash) = token::generate(TokenKind::Session);
    *state
        .inner
        .setup_token
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(hash);
    Ok(Bootstrap::SetupToken(secret))
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(api::login))
        .route("/openapi.json", get(openapi::openapi_json))
        .route(
            "/environments",
            get(api::list_environments).post(api::create_environment),
        )
        .route(
            "/environments/{id}",
            get(api::get_environment)
                .patch(api_iam::patch_environment)
                .delete(api_iam::delete_environment),
        )
        .route(
            "/instances",
            get(api_instances::list_instances).post(api_instances::create_instance),
        )
        .route(
            "/instances/{id}",
            get(api_instances::get_instance)
                .patch(api_instances::patch_instance)
                .delete(api_instances::delete_instance)
                .post(api_instances::post_instance_method),
        )
        .route("/databases", get(api_instances::list_all_databases))
        .route(
            "/instances/{instance}/databases",
            get(api_instances::list_instance_databases).post(api_instances::create_database),
        )
        .route(
            "/instances/{instance}/databases/{database}",
            get(api_instances::get_database)
                .patch(api_instances::patch_database)
                .delete(api_instances::delete_database),
        )
        .route(
            "/projects",
            get(api::list_projects).post(api::create_project),
        )
        .route(
            "/projects/{project}",
            get(api_iam::get_project_or_policy)
                .patch(api_iam::patch_project)
                .delete(api_iam::delete_project)
                .post(api_iam::post_project_method),
        )
        .route(
            "/users",
            get(api_iam::list_users).post(api_iam::create_user),
        )
        .route(
            "/users/{email}",
            get(api_iam::get_user)
                .patch(api_iam::patch_user)
                .delete(api_iam::delete_user),
        )
        .route(
            "/serviceAccounts",
            get(api_iam::list_service_accounts).post(api_iam::create_service_account),
        )
        .route(
            "/serviceAccounts/{name}",
            get(api_iam::get_service_account)
                .patch(api_iam::patch_service_account)
                .delete(api_iam::delete_service_account)
                .post(api_iam::post_service_account_method),
        )
        .route("/auditLogs", get(api::list_audit_logs))
        .route(
            "/projects/{project}/releases",
            get(rollouts::list_releases).post(rollouts::create_release),
        )
        .route(
            "/projects/{project}/releases/{release}",
            get(rollouts::get_release),
        )
        .route(
            "/projects/{project}/plans",
            get(rollouts::list_plans).post(rollouts::create_plan),
        )
        .route("/projects/{project}/plans/{plan}", get(rollouts::get_plan))
        .route(
            "/projects/{project}/plans/{plan}/rollout",
            post(rollouts::create_rollout),
        )
        .route("/projects/{project}/rollouts", get(rollouts::list_rollouts))
        .route(
            "/projects/{project}/rollouts/{rollout}",
            get(rollouts::get_rollout),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:run",
            post(rollouts::run_tasks),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:skip",
            post(rollouts::skip_tasks),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/taskRuns:cancel",
            post(rollouts::cancel_task_runs),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages",
            get(rollouts::list_stages),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}",
            get(rollouts::get_stage),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks",
            get(rollouts::list_tasks),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}",
            get(rollouts::get_task),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns",
            get(rollouts::list_task_runs),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}",
            get(rollouts::get_task_run),
        )
        .route(
            "/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}/log",
            get(rollouts::get_task_run_log),
        )
        .route(
            "/projects/{project}/databases/{database}/changelog",
            get(changelog::get_changelog),
        )
        .route("/reviewPolicies", get(policies::list_review_policies))
        .route(
            "/environments/{id}/reviewPolicy",
            get(policies::get_environment_policy)
                .put(policies::put_environment_policy)
                .delete(policies::delete_environment_policy),
        )
        .route(
            "/projects/{project}/reviewPolicy",
            get(policies::get_project_policy)
                .put(policies::put_project_policy)
                .delete(policies::delete_project_policy),
        )
        .route(
            "/projects/{project}/releases:check",
            post(check::check_release),
        )
        .route(
            "/instances/{instance}/databases/{database}/drift",
            get(drift::get_drift),
        )
        .route(
            "/instances/{instance}/databases/{database}/drift:check",
            post(drift::post_drift_check),
        );
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/setup", post(api::setup))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.inner.body_limit))
        .layer(
            // Spans carry the matched route, never the URI's query or headers.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                tracing::info_span!("http", method = %request.method(), route)
            }),
        )
        .with_state(state)
}

/// Serves `config` with the workers [`worker::WorkerConfig::from_env`]
/// describes, until `shutdown` resolves; see [`run_with_workers`].
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_workers(config, worker::WorkerConfig::from_env()?, shutdown).await
}

/// Serves `config` and runs `workers` until `shutdown` resolves; then the
/// workers stop claiming, running tasks get `workers.shutdown_grace` to
/// finish before their runs are released to `AVAILABLE`, in-flight requests
/// finish, and the store closes.
pub async fn run_with_workers(
    config: ServerConfig,
    workers: worker::WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    serve(config, workers, listener, admin_from_env(), shutdown).await
}

/// [`run_with_workers`] on a listener the caller bound (so it knows the
/// address, e.g. after binding port 0), with the first admin given rather
/// than read from the environment.
pub async fn serve(
    config: ServerConfig,
    workers: worker::WorkerConfig,
    listener: tokio::net::TcpListener,
    admin: Option<AdminCredentials>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let drift_interval = drift::interval_from_env()?;
    let store = open_store(&config).await?;
    let master_key = load_master_key(&config.data_dir)?;
    let state = AppState::new(store, KeyRing::new(master_key), config.body_limit);
    match bootstrap(&state, admin).await? {
        Bootstrap::NotNeeded => {}
        Bootstrap::AdminCreated => {
            tracing::info!("created the first Workspace Admin")
        }
        Bootstrap::SetupToken(secret) => eprintln!(
            "rollgate: no admin yet. Create one, once, with:\n  POST /setup {{\"token\": \"{}\", \"email\": \"…\", \"password\": \"…\"}}\n(or restart with ROLLGATE_ADMIN_EMAIL and ROLLGATE_ADMIN_PASSWORD set)",
            secret.expose()
        ),
    }
    tracing::info!("serving on http://{}", listener.local_addr()?);

    let sweeper = tokio::spawn(sweep_sessions(state.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut loops = Vec::with_capacity(workers.count);
    let process = worker_process_id();
    for index in 0..workers.count {
        loops.push(tokio::spawn(worker::worker_loop(
            state.clone(),
            format!("{process}-{index}"),
            workers,
            stopped.clone(),
        )));
    }
    if let Some(interval) = drift_interval {
        loops.push(tokio::spawn(drift::drift_loop(
            state.clone(),
            interval,
            workers.shutdown_grace,
            stopped.clone(),
        )));
    }
    let mut http_stopped = stopped.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let served = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stopped.wait_for(|stop| *stop).await;
    })
    .await;
    for handle in loops {
        if let Err(error) = handle.await {
            tracing::error!(%error, "a worker or drift loop panicked");
        }
    }
    sweeper.abort();
    state.inner.store.close().await;
    served.context("the HTTP server failed")
}

/// Unique per process start, so a restarted server never takes over the
/// runs of its previous life by name: those wait for their leases to expire.
fn worker_process_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("worker-{}-{:x}", std::process::id(), nanos)
}

async fn open_store(config: &ServerConfig) -> anyhow::Result<MetadataStore> {
    let backend = match &config.metadata_url {
        Some(url) => Backend::from_url(url)?,
        None => Backend::Sqlite(config.data_dir.join("rollgate.db")),
    };
    Ok(match backend {
        Backend::Sqlite(path) => MetadataStore::Sqlite(SqliteStore::open(&path).await?),
        Backend::Postgres(url) => MetadataStore::Postgres(PostgresStore::connect(&url).await?),
    })
}

fn admin_from_env() -> Option<AdminCredentials> {
    let email = std::env::var("ROLLGATE_ADMIN_EMAIL")
        .ok()
        .filter(|e| !e.is_empty())?;
    let password = std::env::var("ROLLGATE_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())?;
    Some(AdminCredentials { email, password })
}

/// The master key: `ROLLGATE_MASTER_KEY` (base64), else `DATA_DIR/master.key`,
/// created with mode 0600 on first start.
pub fn load_master_key(data_dir: &Path) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("ROLLGATE_MASTER_KEY") {
        return MasterKey::from_base64(text.trim())
            .context("ROLLGATE_MASTER_KEY is not a valid key");
    }
    let path = data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            warn_if_readable_by_others(&path);
            MasterKey::from_base64(text.trim())
                .with_context(|| format!("{} does not hold a valid key", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            write_private_file(&path, key.to_base64().as_bytes())
                .with_context(|| format!("cannot create {}", path.display()))?;
            eprintln!(
                "rollgate: created a new master key in {} (back it up)",
                path.display()
            );
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "rollgate: warning: {} is readable by other users; run `chmod 600` on it",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Deletes expired sessions every ten minutes.
async fn sweep_sessions(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(600));
    loop {
        interval.tick().await;
        let store = &state.inner.store;
        if let Err(error) =
            store_call!(store, s => s.delete_expired_sessions(time::now_unix()).await)
        {
            tracing::warn!(%error, "could not delete expired sessions");
        }
    }
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = &state.inner.store;
    match store_call!(store, s => s.list_environments(&PageRequest::first(1)).await) {
        Ok(_) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(error) => AppError::from(error).into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let store = &state.inner.store;
    let counts = match store_call!(store, s => s.count_task_runs().await) {
        Ok(counts) => Some(counts),
        Err(error) => {
            tracing::warn!(%error, "cannot count task runs for /metrics");
            None
        }
    };
    let mut text = state.inner.metrics.render(counts.as_deref());
    match store_call!(store, s => s.count_drift_statuses().await) {
        Ok(drift) => text.push_str(&drift::render_metrics(&drift)),
        Err(error) => tracing::warn!(%error, "cannot count drift statuses for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

async fn not_found() -> AppError {
    AppError::not_found("no such endpoint; the API is under /api/v1")
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this endpoint does not accept that HTTP method",
    )
}
