//! Metadata store: the only place where Rollgate's own metadata is written.
//!
//! One [`Store`] trait with domain-level methods (`create_environment`, not
//! `execute`), two implementations: [`SqliteStore`] (embedded, the default,
//! WAL mode) and [`PostgresStore`] (several server replicas on one store).
//! Each applies its own migrations (`migrations/sqlite`, `migrations/postgres`,
//! embedded in the binary by `sqlx::migrate!`) when it opens, recorded with
//! checksums in `_sqlx_migrations`.
//! [`Backend::from_url`] picks the implementation from a URL.
//!
//! What it is not: it holds no plaintext secret. Instance URLs arrive as
//! encrypted envelopes (see `rollgate-auth`) and are never decrypted here;
//! passwords, service account keys and session tokens arrive as hashes.
//! Roles are stored as role id strings; their meaning lives in `rollgate-auth`.
//!
//! Times are Unix seconds (`i64`), supplied by the caller, so that expiry is
//! testable without sleeping.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;

mod imp;
mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Suffix every service account email carries.
pub const SERVICE_ACCOUNT_DOMAIN: &str = "@service.rollgate.local";

/// Page size used when a request asks for 0; larger requests are capped at [`MAX_PAGE_SIZE`].
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Errors of the store. Messages name the resource and never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} `{name}` not found")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} `{name}` already exists or is still in use")]
    Conflict { kind: &'static str, name: String },
    #[error("invalid {kind} `{name}`: {message}")]
    Invalid {
        kind: &'static str,
        name: String,
        message: String,
    },
    #[error("metadata store error while trying to {context}: {message}")]
    Database {
        context: &'static str,
        message: String,
    },
}

/// Which list page to read. `page_token` is the opaque `next_page_token` of
/// the previous page (`None` for the first page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub page_size: u32,
    pub page_token: Option<String>,
}

impl PageRequest {
    pub fn first(page_size: u32) -> PageRequest {
        PageRequest {
            page_size,
            page_token: None,
        }
    }

    pub(crate) fn limit(&self) -> u32 {
        match self.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        }
    }
}

/// One page of a list; `next_page_token` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub title: String,
    /// Position in the rollout order (lower first).
    pub order: i64,
    /// Rollout policy as JSON text (the server owns its format).
    pub policy_json: String,
}

/// A database server. `url_envelope` is an encrypted envelope, never
/// plaintext, and is redacted from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// `postgres`, `mysql` or `sqlite`.
    pub engine: String,
    pub url_envelope: String,
    /// The default environment of the instance's databases (an environment id).
    pub environment: String,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("engine", &self.engine)
            .field("url_envelope", &"<redacted>")
            .field("environment", &self.environment)
            .finish()
    }
}

/// `instances/{instance}/databases/{name}`, in environment `environment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub instance: String,
    pub name: String,
    pub environment: String,
}

/// A database's key: `(instance, name)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatabaseRef {
    pub instance: String,
    pub name: String,
}

impl DatabaseRef {
    pub fn new(instance: impl Into<String>, name: impl Into<String>) -> DatabaseRef {
        DatabaseRef {
            instance: instance.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for DatabaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instances/{}/databases/{}", self.instance, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub title: String,
}

/// One binding of a project's IAM policy: `members` hold `role` in the
/// project. Members are [`iam_member`] strings (`user:EMAIL`,
/// `serviceAccount:EMAIL`); roles are role names as the server gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamBinding {
    pub role: String,
    pub members: Vec<String>,
}

/// The IAM member string of a principal: `serviceAccount:EMAIL` for emails
/// ending in [`SERVICE_ACCOUNT_DOMAIN`], `user:EMAIL` otherwise.
pub fn iam_member(email: &str) -> String {
    if email.ends_with(SERVICE_ACCOUNT_DOMAIN) {
        format!("serviceAccount:{email}")
    } else {
        format!("user:{email}")
    }
}

/// A user; `password_hash` is an argon2id PHC string, redacted from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub email: String,
    pub password_hash: String,
    /// Role ids (see `rollgate_auth::Role::id`).
    pub roles: Vec<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

/// A service account (`name@service.rollgate.local`); `key_hash` is the hex
/// SHA-256 of its key (a generated `rgs_` key or one its creator chose),
/// redacted from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub email: String,
    pub key_hash: String,
    pub roles: Vec<String>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("key_hash", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

/// A login session, keyed by the hex hash of its opaque token.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    /// Who is logged in, e.g. a user or service account email.
    pub principal: String,
    /// Unix seconds; the session is valid while `now < expires_at`.
    pub expires_at: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token_hash", &"<redacted>")
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    /// Unix seconds.
    pub at: i64,
    /// The client's address (IP), when known.
    pub address: Option<String>,
}

/// An appended audit entry; `id` increases with every append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    pub at: i64,
    pub address: Option<String>,
}

/// One file of a release. `checksum` addresses its content; `statement` is the SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub path: String,
    pub version: String,
    /// e.g. `DDL`, `DML`.
    pub change_type: String,
    pub checksum: String,
    pub statement: String,
}

/// Where a release came from in version control.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vcs {
    pub commit_sha: String,
    pub commit_url: String,
    pub merge_request_url: String,
    pub author: String,
}

/// An immutable release: `projects/{project}/releases/{id}`; files in the
/// order they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub project: String,
    pub id: String,
    pub files: Vec<ReleaseFile>,
    pub vcs: Vcs,
}

/// Status names of tasks and task runs, as `rollgate_rollout::TaskStatus` and
/// `TaskRunStatus` serialize them.
pub mod status {
    pub const NOT_STARTED: &str = "NOT_STARTED";
    pub const PENDING: &str = "PENDING";
    pub const AVAILABLE: &str = "AVAILABLE";
    pub const RUNNING: &str = "RUNNING";
    pub const DONE: &str = "DONE";
    pub const FAILED: &str = "FAILED";
    pub const CANCELED: &str = "CANCELED";
    pub const SKIPPED: &str = "SKIPPED";
}

/// A plan: `projects/{project}/plans/{id}`, a release and the target
/// databases it should reach, as asked (in the order given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub targets: Vec<DatabaseRef>,
    /// Who created it.
    pub creator: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The rollout of one plan in one project, with its stages in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub id: i64,
    pub project: String,
    pub plan: i64,
    pub release: String,
    pub created_at: i64,
    pub stages: Vec<Stage>,
    /// Stage-order overrides by workspace admins, oldest first.
    pub overrides: Vec<RolloutOverride>,
}

/// A workspace admin ran `stage` before every earlier task was DONE or SKIPPED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutOverride {
    pub rollout: i64,
    pub stage: String,
    pub actor: String,
    pub reason: String,
    /// JSON array of the tasks that were not finished (server-defined shape).
    pub blocking_json: String,
    /// Unix seconds.
    pub at: i64,
}

/// Parallelism limits a claim respects: a run is skipped while its rollout
/// (or its instance) already has that many runs `RUNNING` under a live
/// lease. `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimLimits {
    pub per_rollout: Option<u32>,
    pub per_instance: Option<u32>,
}

/// A stage (usually an environment id) and its tasks, one per database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub id: String,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: i64,
    pub database: DatabaseRef,
    /// One of [`status`]: `NOT_STARTED`, `PENDING` (a run is queued),
    /// `RUNNING`, `DONE`, `FAILED`, ….
    pub status: String,
    /// Set exactly when the status is `SKIPPED`.
    pub skipped_reason: Option<String>,
}

/// A task run a worker claimed; it holds the lease until `lease_expires_at`
/// (Unix seconds) unless it heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRun {
    pub run_id: i64,
    pub task_id: i64,
    pub rollout_id: i64,
    pub project: String,
    pub release: String,
    pub database: DatabaseRef,
    /// 1 for the first claim, 2 when re-claimed after a lost lease, ….
    pub attempt: i64,
    pub lease_expires_at: i64,
}

/// How a task run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Done,
    Failed,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Done => status::DONE,
            RunOutcome::Failed => status::FAILED,
        }
    }
}

/// A task run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    pub id: i64,
    pub task_id: i64,
    /// One of [`status`]: `AVAILABLE`, `RUNNING`, `DONE`, `FAILED`.
    pub status: String,
    pub worker: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
    /// Unix seconds: queued, last claimed, finished (or canceled).
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// One entry of a task run's log; `id` increases with every append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLogEntry {
    pub id: i64,
    pub entry_json: String,
}

/// Where a review policy is attached: `environments/{id}` or `projects/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyAttach {
    Environment(String),
    Project(String),
}

impl PolicyAttach {
    /// Parses `environments/{id}` or `projects/{id}`.
    pub fn parse(name: &str) -> Option<PolicyAttach> {
        if let Some(id) = name.strip_prefix("environments/") {
            return (!id.is_empty() && !id.contains('/'))
                .then(|| PolicyAttach::Environment(id.to_string()));
        }
        let id = name.strip_prefix("projects/")?;
        (!id.is_empty() && !id.contains('/')).then(|| PolicyAttach::Project(id.to_string()))
    }
}

impl fmt::Display for PolicyAttach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyAttach::Environment(id) => write!(f, "environments/{id}"),
            PolicyAttach::Project(id) => write!(f, "projects/{id}"),
        }
    }
}

/// A review policy: the `[review]` table of `rollgate.toml`, as the JSON
/// (or TOML) text the server validated; the store does not interpret it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewPolicy {
    pub attach: PolicyAttach,
    pub review: String,
}

/// Which implementation a metadata URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH` or `sqlite:PATH`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…` (the URL as given).
    Postgres(String),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Backend::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_string()));
        }
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        Err(StoreError::Invalid {
            kind: "metadata URL",
            name: format!("{scheme}:…"),
            message: "expected a sqlite:// or postgres:// URL".into(),
        })
    }
}

/// Drift status names (see [`DriftStatus`]).
pub mod drift_status {
    pub const IN_SYNC: &str = "IN_SYNC";
    pub const DRIFTED: &str = "DRIFTED";
    pub const ERROR: &str = "ERROR";
    /// Never checked (or claimed, and the check never finished).
    pub const NOT_CHECKED: &str = "NOT_CHECKED";
    /// Who ran a check.
    pub const ON_DEMAND: &str = "on_demand";
    pub const SCHEDULE: &str = "schedule";
}

/// The latest finished drift check of a database; [`drift_status::NOT_CHECKED`]
/// with every other field `None` when there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftStatus {
    pub database: DatabaseRef,
    /// `IN_SYNC`, `DRIFTED`, `ERROR` or `NOT_CHECKED`.
    pub status: String,
    /// Unix seconds.
    pub checked_at: Option<i64>,
    /// The unified diff (`DRIFTED`) or the error text (`ERROR`).
    pub detail: Option<String>,
    /// `on_demand` or `schedule`.
    pub checked_by: Option<String>,
}

/// The result of a drift check, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftResult {
    pub database: DatabaseRef,
    /// `IN_SYNC`, `DRIFTED` or `ERROR`.
    pub status: String,
    /// Unix seconds.
    pub checked_at: i64,
    pub detail: Option<String>,
    /// `on_demand` or `schedule`.
    pub checked_by: String,
}

/// The metadata store. Every write of Rollgate's own metadata goes through
/// it. Lists are ordered by key and paginated; creating something that exists
/// is [`StoreError::Conflict`], touching something absent is
/// [`StoreError::NotFound`].
pub trait Store: Send + Sync {
    /// True when the store holds no environment, instance, project, user or
    /// service account (first start: bootstrap an admin).
    fn is_empty(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    // Environments.
    fn create_environment(
        &self,
        env: &Environment,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_environment(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Environment, StoreError>> + Send;
    fn list_environments(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Environment>, StoreError>> + Send;
    fn update_environment(
        &self,
        env: &Environment,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Conflict while a database or an instance still belongs to the environment.
    fn delete_environment(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Instances.
    /// NotFound when its environment does not exist.
    fn create_instance(
        &self,
        instance: &Instance,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_instance(&self, id: &str) -> impl Future<Output = Result<Instance, StoreError>> + Send;
    fn list_instances(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Instance>, StoreError>> + Send;
    /// Replaces engine, URL envelope and environment (NotFound when absent).
    fn update_instance(
        &self,
        instance: &Instance,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Also deletes the instance's databases and their project memberships.
    fn delete_instance(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Databases.
    /// NotFound when the instance or the environment does not exist.
    fn create_database(&self, db: &Database)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_database(
        &self,
        key: &DatabaseRef,
    ) -> impl Future<Output = Result<Database, StoreError>> + Send;
    fn list_databases(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Database>, StoreError>> + Send;
    /// Moves a database to another environment.
    fn update_database(&self, db: &Database)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete_database(
        &self,
        key: &DatabaseRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Projects.
    fn create_project(
        &self,
        project: &Project,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_project(&self, id: &str) -> impl Future<Output = Result<Project, StoreError>> + Send;
    fn list_projects(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Project>, StoreError>> + Send;
    fn update_project(
        &self,
        project: &Project,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Also removes its database memberships (not the databases) and its IAM bindings.
    fn delete_project(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Conflict when already a member; NotFound when project or database is absent.
    fn add_project_database(
        &self,
        project: &str,
        db: &DatabaseRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the project's databases with `databases`, in one
    /// transaction: NotFound (and nothing changed) when the project or one of
    /// the databases does not exist.
    fn set_project_databases(
        &self,
        project: &str,
        databases: &[DatabaseRef],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn remove_project_database(
        &self,
        project: &str,
        db: &DatabaseRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn list_project_databases(
        &self,
        project: &str,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<DatabaseRef>, StoreError>> + Send;

    // Project IAM.
    /// Replaces the project's bindings. Bindings with no member are dropped
    /// and repeated members are kept once. NotFound without the project.
    fn set_project_iam_policy(
        &self,
        project: &str,
        bindings: &[IamBinding],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The project's bindings, ordered by role, members ordered.
    /// NotFound without the project.
    fn get_project_iam_policy(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<Vec<IamBinding>, StoreError>> + Send;
    /// The roles `member` (an [`iam_member`] string) holds in `project`,
    /// ordered; empty when none (or when the project does not exist).
    fn project_roles(
        &self,
        project: &str,
        member: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Every `(project, role)` `member` holds through project bindings,
    /// ordered by project then role.
    fn member_project_roles(
        &self,
        member: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    // Users.
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_user(&self, email: &str) -> impl Future<Output = Result<User, StoreError>> + Send;
    fn list_users(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<User>, StoreError>> + Send;
    /// Replaces password hash and roles.
    fn update_user(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Also removes the user's project IAM bindings and sessions.
    fn delete_user(&self, email: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Service accounts.
    /// Invalid unless the email ends with [`SERVICE_ACCOUNT_DOMAIN`].
    fn create_service_account(
        &self,
        account: &ServiceAccount,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_service_account(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<ServiceAccount, StoreError>> + Send;
    fn list_service_accounts(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<ServiceAccount>, StoreError>> + Send;
    /// Replaces key hash (rotation) and roles.
    fn update_service_account(
        &self,
        account: &ServiceAccount,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Also removes the account's project IAM bindings and sessions.
    fn delete_service_account(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Sessions.
    fn create_session(
        &self,
        session: &Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The principal of an unexpired session (`now < expires_at`), else `None`.
    fn session_principal(
        &self,
        token_hash: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Logout; deleting an absent session is not an error.
    fn delete_session(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Logs `principal` out everywhere (after a key rotation or password
    /// change); returns how many sessions ended.
    fn delete_principal_sessions(
        &self,
        principal: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Removes sessions expired at `now`; returns how many.
    fn delete_expired_sessions(
        &self,
        now: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    // Audit log.
    fn append_audit(
        &self,
        entry: &NewAuditEntry,
    ) -> impl Future<Output = Result<AuditEntry, StoreError>> + Send;
    /// Oldest first, in append order.
    fn list_audit(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AuditEntry>, StoreError>> + Send;

    // Releases.
    /// Creates an immutable release. Conflict when `release_id` already
    /// exists in the project (whatever its content); NotFound without the project.
    fn create_release(
        &self,
        project: &str,
        release_id: &str,
        files: &[ReleaseFile],
        vcs: &Vcs,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_release(
        &self,
        project: &str,
        release_id: &str,
    ) -> impl Future<Output = Result<Release, StoreError>> + Send;
    /// Ordered by release id.
    fn list_releases(
        &self,
        project: &str,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Release>, StoreError>> + Send;

    // Plans.
    /// Creates a plan of release `release_id` for `targets` (each must be
    /// given once). NotFound without the project or release; Invalid on a
    /// repeated target. Which targets a project may use is the caller's check.
    fn create_plan(
        &self,
        project: &str,
        release_id: &str,
        targets: &[DatabaseRef],
        creator: &str,
        now: i64,
    ) -> impl Future<Output = Result<Plan, StoreError>> + Send;
    /// NotFound unless plan `id` belongs to `project`.
    fn get_plan(
        &self,
        project: &str,
        id: i64,
    ) -> impl Future<Output = Result<Plan, StoreError>> + Send;
    /// Ordered by id.
    fn list_plans(
        &self,
        project: &str,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Plan>, StoreError>> + Send;

    // Rollouts.
    /// Creates the rollout of plan `plan_id` with `stages` (stage id,
    /// databases), in order, one `NOT_STARTED` task per database; idempotent
    /// per plan: a second call returns the existing rollout's id and ignores
    /// `stages`. NotFound without the plan (in `project`) or a database;
    /// Invalid on a repeated stage or database.
    fn create_rollout(
        &self,
        project: &str,
        plan_id: i64,
        stages: &[(String, Vec<DatabaseRef>)],
        now: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    fn get_rollout(&self, id: i64) -> impl Future<Output = Result<Rollout, StoreError>> + Send;
    /// The project's rollouts, ordered by id, each whole.
    fn list_rollouts(
        &self,
        project: &str,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Rollout>, StoreError>> + Send;
    /// Records a stage-order override with its rollout. NotFound without the rollout.
    fn record_rollout_override(
        &self,
        entry: &RolloutOverride,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks a task `SKIPPED` with `reason`. Conflict unless it is
    /// `NOT_STARTED`, `FAILED` or `CANCELED`; NotFound when absent.
    fn skip_task(
        &self,
        task_id: i64,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Task runs (the work queue).
    /// Queues a run (`AVAILABLE`) of a task and marks the task `PENDING`.
    /// Conflict while the task has a run `AVAILABLE` or `RUNNING`.
    fn enqueue_task_run(
        &self,
        task_id: i64,
        now: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Claims the oldest run that is `AVAILABLE` or `RUNNING` with a lease
    /// expired at `now` (its worker died), skipping runs whose rollout or
    /// instance is at its `limits` and runs of a database that a run with a
    /// live lease is working on (it would only wait for that run's
    /// migration lock, and fail when the wait outlasts the lock timeout);
    /// marks it and its task `RUNNING`, leased
    /// to `worker_id` until `now + lease`. `None` when nothing is claimable.
    /// Each run is handed to one claimer at a time, across store handles,
    /// and the limits hold across concurrent claimers.
    fn claim_task_run(
        &self,
        worker_id: &str,
        lease: std::time::Duration,
        now: i64,
        limits: &ClaimLimits,
    ) -> impl Future<Output = Result<Option<ClaimedRun>, StoreError>> + Send;
    /// Extends the lease to `now + lease`. False when the lease is lost: the
    /// run is not `RUNNING` for `worker_id` (re-claimed, released or
    /// canceled), or its lease expired before `now` (another worker may claim
    /// it at any moment; stop working on it).
    fn heartbeat(
        &self,
        run_id: i64,
        worker_id: &str,
        lease: std::time::Duration,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Ends a run held by `worker_id` and gives its task the same status.
    /// Conflict when `worker_id` no longer holds the run (it was re-claimed,
    /// canceled or already finished); NotFound when absent.
    fn finish_task_run(
        &self,
        run_id: i64,
        worker_id: &str,
        outcome: RunOutcome,
        error: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Cancels the task's active run (`AVAILABLE` or `RUNNING`) and marks the
    /// task `CANCELED`; a running worker loses its lease at its next
    /// heartbeat. False when the task had no active run; NotFound when absent.
    fn cancel_task_run(
        &self,
        task_id: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Graceful shutdown: every run `RUNNING` for `worker_id` goes back to
    /// `AVAILABLE` (its task to `PENDING`) for another worker; returns how many.
    fn release_worker_runs(
        &self,
        worker_id: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The runs of a task, oldest first. NotFound without the task.
    fn list_task_runs(
        &self,
        task_id: i64,
    ) -> impl Future<Output = Result<Vec<TaskRun>, StoreError>> + Send;
    /// How many task runs are in each status, ordered by status.
    fn count_task_runs(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
    fn get_task_run(&self, run_id: i64)
    -> impl Future<Output = Result<TaskRun, StoreError>> + Send;
    /// Appends a JSON entry (Invalid unless it parses as JSON).
    fn append_task_log(
        &self,
        run_id: i64,
        entry_json: &str,
    ) -> impl Future<Output = Result<TaskLogEntry, StoreError>> + Send;
    /// Oldest first.
    fn list_task_log(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<TaskLogEntry>, StoreError>> + Send;

    // Review policies.
    /// Creates or replaces the policy of an environment or project;
    /// NotFound when that environment or project does not exist. Deleting
    /// the environment or project deletes its policy.
    fn put_review_policy(
        &self,
        policy: &ReviewPolicy,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn get_review_policy(
        &self,
        attach: &PolicyAttach,
    ) -> impl Future<Output = Result<ReviewPolicy, StoreError>> + Send;
    /// Ordered by attach point name (`environments/…` before `projects/…`).
    fn list_review_policies(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<ReviewPolicy>, StoreError>> + Send;
    fn delete_review_policy(
        &self,
        attach: &PolicyAttach,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // Drift checks.
    /// Claims the check of a database when it was never claimed or its last
    /// claim (or recorded check) is at or before `older_than` (Unix
    /// seconds): sets the claim time to `now` and returns true, atomically,
    /// so that of several replicas only one claims a database per interval.
    /// NotFound without the database.
    fn claim_drift_check(
        &self,
        key: &DatabaseRef,
        now: i64,
        older_than: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records a finished check as the database's latest status (its time
    /// also counts as a claim). Invalid for another status than `IN_SYNC`,
    /// `DRIFTED`, `ERROR` or another `checked_by` than `on_demand`,
    /// `schedule`; NotFound without the database.
    fn record_drift_check(
        &self,
        result: &DriftResult,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The latest status; `NOT_CHECKED` when never checked. NotFound
    /// without the database.
    fn get_drift_status(
        &self,
        key: &DatabaseRef,
    ) -> impl Future<Output = Result<DriftStatus, StoreError>> + Send;
    /// How many databases are in each status (never checked counts as
    /// `NOT_CHECKED`), ordered by status.
    fn count_drift_statuses(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;
}
