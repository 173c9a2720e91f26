//! The serde shape of `workspace.toml`: what the file says, before
//! validation and normalization. Unknown keys are errors everywhere.

use serde::{Deserialize, Serialize};

use crate::Engine;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<ProjectEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review_policies: Vec<ReviewPolicyEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<ServiceAccountEntry>,
}

/// `[[environments]]`, rolled out in file order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentEntry {
    pub id: String,
    pub title: String,
    pub rollout: RolloutSetting,
}

/// `rollout = "automatic"` or `rollout = { manual = ["roles/projectReleaser"] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutSetting {
    Automatic,
    Manual(Vec<String>),
}

/// `[[instances]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceEntry {
    pub id: String,
    pub engine: Engine,
    /// May contain `${VAR}` references.
    pub url: String,
    pub environment: String,
}

/// `[[databases]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseEntry {
    pub instance: String,
    pub name: String,
    /// Defaults to the instance's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// `[[projects]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectEntry {
    pub id: String,
    pub title: String,
    /// `instances/{instance}/databases/{name}`.
    #[serde(default)]
    pub databases: Vec<String>,
    /// The project's IAM policy: `[[projects.iam]]`, one table per role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iam: Vec<IamBindingEntry>,
}

/// `[[projects.iam]]`: one binding of a project's IAM policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamBindingEntry {
    /// A project role, e.g. `roles/projectReleaser`.
    pub role: String,
    /// `user:EMAIL`, `serviceAccount:NAME@service.rollgate.local`, or a bare
    /// address.
    pub members: Vec<String>,
}

/// `[[review_policies]]` with its `[review_policies.review]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewPolicyEntry {
    /// `environments/{id}` or `projects/{id}`.
    pub attach: Vec<String>,
    /// Kept as a table so it round-trips; checked as a
    /// `rollgate_review::ReviewConfig`.
    pub review: toml::Table,
}

/// `[[users]]`. There is deliberately no password key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub email: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// `[[service_accounts]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountEntry {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
}
