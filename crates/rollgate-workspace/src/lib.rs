//! Workspace as code: the `workspace.toml` format that declares a whole
//! Rollgate control plane, and the pure functions around it.
//!
//! - [`parse`] turns the file's text into a normalized, validated
//!   [`Workspace`] (the desired state), expanding `${VAR}` in instance URLs
//!   from a caller-supplied lookup and collecting every error it finds.
//! - [`converge`] compares a desired and a current [`Workspace`] and returns
//!   the [`Change`]s that make the current one equal the desired one, in an
//!   order that never references something not yet created.
//! - [`export`] renders a [`Workspace`] back to `workspace.toml` text.
//!
//! This crate does no I/O: it reads no files, no environment variables (the
//! caller passes a lookup function) and talks to no server. Applying the
//! changes is the job of the CLI and the API.
//!
//! # Secrets
//!
//! - Instance URLs may hold passwords, so write them as `${VAR}` references.
//!   [`InstanceUrl`] keeps both the written form and the expanded one; its
//!   `Debug` shows only the written form, and no error message ever prints
//!   an expanded value.
//! - Users carry no password in the file. A user is invited without a
//!   password (they set one through the invitation), or, when `password_env`
//!   names an environment variable, created with the password that variable
//!   holds when the workspace is applied. The variable is read by the
//!   applying command, not by this crate.
//! - A service account's key is read from the variable named by `key_env`
//!   when the workspace is applied; without `key_env` the server generates a
//!   key and prints it once.
//!
//! # Project IAM
//!
//! A project may carry an IAM policy, Bytebase's shape written under the
//! project: one `[[projects.iam]]` table per role, with its `members`.
//! The role must be a project role (`roles/projectOwner`,
//! `roles/projectDeveloper`, `roles/projectReleaser`,
//! `roles/gitopsServiceAgent`; the `roles/` prefix may be left out). A member
//! is `user:EMAIL` or `serviceAccount:NAME@service.rollgate.local`; a bare
//! address is accepted too and means a service account when its domain is
//! `service.rollgate.local`, a user otherwise. Every member must be declared
//! in the same file, under `[[users]]` or `[[service_accounts]]`: the file is
//! the whole control plane, so a binding never points at an account the
//! file does not manage. The admin who bootstrapped the server already holds
//! `roles/workspaceAdmin` everywhere and needs no binding; to bind it anyway,
//! declare it under `[[users]]` with its workspace role.
//!
//! The policy of a project is its own resource, `projects/{id}/iamPolicy`
//! (see [`converge`]). A project without `iam` (or with an empty one)
//! declares no policy: applying leaves the server's bindings alone, and
//! `--prune` clears them, as it deletes an undeclared review policy.
//!
//! # Export and redaction
//!
//! [`export`] writes an instance URL as written when it contains a `${…}`
//! reference or no inline password (`scheme://user:password@…`). A literal
//! URL with an inline password is written as `"<redacted>"` under a comment
//! saying to replace it with a `${VAR}` reference; [`parse`] rejects
//! `"<redacted>"` with that advice. So `parse(export(w))` equals `w` for
//! every workspace whose URLs hold no literal password.

mod converge;
mod export;
mod file;
mod parse;

use std::fmt;

pub use converge::{Change, Resource, ResourceName, converge};
pub use export::export;
pub use file::{
    DatabaseEntry, EnvironmentEntry, IamBindingEntry, InstanceEntry, ProjectEntry,
    ReviewPolicyEntry, RolloutSetting, ServiceAccountEntry, UserEntry, WorkspaceFile,
};
pub use parse::{WorkspaceError, parse};
pub use rollgate_rollout::{Environment, Role, RolloutPolicy};

/// The normalized desired (or current) state of a workspace.
///
/// Environments keep file order (their `order` is their position); every
/// other list is sorted by resource name, so two workspaces declaring the
/// same things in a different order compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workspace {
    pub environments: Vec<Environment>,
    pub instances: Vec<Instance>,
    pub databases: Vec<Database>,
    pub projects: Vec<Project>,
    /// One entry per attachment, sorted by `attach`.
    pub review_policies: Vec<ReviewPolicy>,
    pub users: Vec<User>,
    pub service_accounts: Vec<ServiceAccount>,
    /// Projects' IAM policies, sorted by project; none is empty.
    pub iam_policies: Vec<IamPolicy>,
}

/// The database engine of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
    Sqlite,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }

    /// The URL prefixes this engine accepts.
    pub fn url_schemes(self) -> &'static [&'static str] {
        match self {
            Engine::Postgres => &["postgres://", "postgresql://"],
            Engine::Mysql => &["mysql://"],
            Engine::Sqlite => &["sqlite:"],
        }
    }
}

/// `instances/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub engine: Engine,
    pub url: InstanceUrl,
    /// The id of an environment.
    pub environment: String,
}

/// An instance URL as written in the file and as expanded. Its `Debug`
/// never shows the expanded value, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceUrl {
    written: String,
    resolved: String,
}

impl InstanceUrl {
    pub fn new(written: impl Into<String>, resolved: impl Into<String>) -> InstanceUrl {
        InstanceUrl {
            written: written.into(),
            resolved: resolved.into(),
        }
    }

    /// As written, with `${VAR}` references unexpanded.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// With every `${VAR}` expanded: the value to connect with. Secret.
    pub fn resolved(&self) -> &str {
        &self.resolved
    }
}

impl fmt::Debug for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.written.contains("${") {
            f.debug_tuple("InstanceUrl").field(&self.written).finish()
        } else {
            f.write_str("InstanceUrl(<redacted>)")
        }
    }
}

/// `instances/{instance}/databases/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub instance: String,
    pub name: String,
    /// The id of an environment; the instance's unless the file overrides it.
    pub environment: String,
}

impl Database {
    pub fn resource_name(&self) -> String {
        format!("instances/{}/databases/{}", self.instance, self.name)
    }
}

/// `projects/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub title: String,
    /// Database resource names, sorted.
    pub databases: Vec<String>,
}

/// A review policy attached to one environment or project.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPolicy {
    /// `environments/{id}` or `projects/{id}`.
    pub attach: String,
    /// The `[review]` table, in the format of `rollgate.toml`; it resolves
    /// with `rollgate_review::Policy::resolve` (checked by [`parse`]).
    pub review: toml::Table,
}

// `toml::Table` holds floats, so it is only `PartialEq`; NaN never reaches
// a review table that resolved, which is the only kind a `Workspace` holds.
impl Eq for ReviewPolicy {}

impl ReviewPolicy {
    /// The review configuration this policy holds.
    pub fn config(&self) -> Result<rollgate_review::ReviewConfig, toml::de::Error> {
        self.review.clone().try_into()
    }
}

/// `users/{email}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub email: String,
    /// Sorted, without duplicates.
    pub roles: Vec<Role>,
    /// The environment variable holding the initial password, read when the
    /// workspace is applied; without it the user is invited.
    pub password_env: Option<String>,
}

/// `serviceAccounts/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub name: String,
    /// Sorted, without duplicates.
    pub roles: Vec<Role>,
    /// The environment variable holding the key, read when the workspace is
    /// applied; without it the server generates a key and prints it once.
    pub key_env: Option<String>,
}

/// The service accounts' email domain, after the `@`.
pub const SERVICE_ACCOUNT_DOMAIN: &str = "service.rollgate.local";

/// `projects/{project}/iamPolicy`: who holds which project role in one
/// project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamPolicy {
    /// The id of a project.
    pub project: String,
    /// Sorted by role, at most one per role, none without members.
    pub bindings: Vec<IamBinding>,
}

/// One role of a project's IAM policy and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamBinding {
    /// A project role (see [`Member`] and [`is_project_role`]).
    pub role: Role,
    /// Sorted, without duplicates, never empty.
    pub members: Vec<Member>,
}

/// A member of an IAM binding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    /// A service account, by its name (`ci` for `ci@service.rollgate.local`).
    ServiceAccount(String),
    /// A user, by email.
    User(String),
}

impl Member {
    /// Reads `user:EMAIL`, `serviceAccount:NAME@service.rollgate.local`, or
    /// a bare address (a service account when its domain is
    /// `service.rollgate.local`, a user otherwise). `None` for anything else,
    /// including `user:` with a service account's address.
    pub fn parse(text: &str) -> Option<Member> {
        let service_account = |email: &str| {
            email
                .strip_suffix(SERVICE_ACCOUNT_DOMAIN)
                .and_then(|name| name.strip_suffix('@'))
                .filter(|name| !name.is_empty() && !name.contains('@'))
                .map(|name| Member::ServiceAccount(name.to_owned()))
        };
        let user = |email: &str| {
            let (local, domain) = email.split_once('@')?;
            (!local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.eq_ignore_ascii_case(SERVICE_ACCOUNT_DOMAIN))
            .then(|| Member::User(email.to_owned()))
        };
        if let Some(email) = text.strip_prefix("user:") {
            user(email)
        } else if let Some(email) = text.strip_prefix("serviceAccount:") {
            service_account(email)
        } else if text.contains(':') {
            None
        } else {
            service_account(text).or_else(|| user(text))
        }
    }

    /// The API form: `user:EMAIL` or `serviceAccount:NAME@service.rollgate.local`.
    pub fn to_api(&self) -> String {
        match self {
            Member::User(email) => format!("user:{email}"),
            Member::ServiceAccount(name) => {
                format!("serviceAccount:{name}@{SERVICE_ACCOUNT_DOMAIN}")
            }
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_api())
    }
}

/// Whether `role` may be granted in a project IAM policy (the workspace
/// roles are granted on users and service accounts instead).
pub fn is_project_role(role: Role) -> bool {
    matches!(
        role,
        Role::ProjectOwner
            | Role::ProjectDeveloper
            | Role::ProjectReleaser
            | Role::GitopsServiceAgent
    )
}
