//! Environments, their rollout policies, roles and the actor who asks to run
//! tasks.
//!
//! Only what stage gating needs lives here: the role names (Bytebase's, so
//! policies carry over) and which roles a manual environment accepts. The
//! full permission table of the server's endpoints is not in this crate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One environment of the workspace (`environments/{id}`). Environments
/// are rolled out in ascending `order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    pub id: String,
    pub title: String,
    pub order: u32,
    pub policy: RolloutPolicy,
}

/// Who may run the tasks of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum RolloutPolicy {
    /// Anyone allowed to run tasks, the GitOps Service Agent included.
    Automatic,
    /// Only holders of one of `roles` (`roles/projectReleaser` or
    /// `projectReleaser`), or a workspace admin. Never the GitOps Service
    /// Agent role, even when listed.
    Manual { roles: Vec<String> },
}

/// A built-in role, named like Bytebase's (`roles/workspaceAdmin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    WorkspaceAdmin,
    WorkspaceDba,
    WorkspaceMember,
    ProjectOwner,
    ProjectDeveloper,
    ProjectReleaser,
    GitopsServiceAgent,
}

/// The user or service account asking for something, with its roles in
/// the project concerned (workspace roles included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Actor {
    pub roles: Vec<Role>,
}

/// A role name that is not one of the built-in roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; known roles are {known}", known = Role::known_names())]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 7] = [
        Role::WorkspaceAdmin,
        Role::WorkspaceDba,
        Role::WorkspaceMember,
        Role::ProjectOwner,
        Role::ProjectDeveloper,
        Role::ProjectReleaser,
        Role::GitopsServiceAgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::WorkspaceAdmin => "roles/workspaceAdmin",
            Role::WorkspaceDba => "roles/workspaceDBA",
            Role::WorkspaceMember => "roles/workspaceMember",
            Role::ProjectOwner => "roles/projectOwner",
            Role::ProjectDeveloper => "roles/projectDeveloper",
            Role::ProjectReleaser => "roles/projectReleaser",
            Role::GitopsServiceAgent => "roles/gitopsServiceAgent",
        }
    }

    /// Whether the role carries the permission to run tasks
    /// (`bb.taskRuns.create` in Bytebase).
    pub fn can_run_tasks(self) -> bool {
        match self {
            Role::WorkspaceAdmin
            | Role::WorkspaceDba
            | Role::ProjectOwner
            | Role::ProjectReleaser
            | Role::GitopsServiceAgent => true,
            Role::WorkspaceMember | Role::ProjectDeveloper => false,
        }
    }

    fn known_names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Accepts `roles/projectReleaser` and `projectReleaser`.
    fn from_str(name: &str) -> Result<Role, UnknownRole> {
        let bare = name.strip_prefix("roles/").unwrap_or(name);
        Role::ALL
            .into_iter()
            .find(|role| &role.as_str()["roles/".len()..] == bare)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl Actor {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Actor {
        Actor {
            roles: roles.into_iter().collect(),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_workspace_admin(&self) -> bool {
        self.has(Role::WorkspaceAdmin)
    }

    /// Whether any of the actor's roles carries the permission to run tasks.
    pub fn can_run_tasks(&self) -> bool {
        self.roles.iter().any(|role| role.can_run_tasks())
    }

    /// Whether the actor holds one of `policy_roles` (names with or without
    /// the `roles/` prefix). The GitOps Service Agent role never counts:
    /// that role runs automatic environments only.
    pub fn holds_one_of(&self, policy_roles: &[String]) -> bool {
        policy_roles
            .iter()
            .filter_map(|name| name.parse::<Role>().ok())
            .any(|role| role != Role::GitopsServiceAgent && self.has(role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        let cases = [
            (Role::WorkspaceAdmin, "roles/workspaceAdmin"),
            (Role::WorkspaceDba, "roles/workspaceDBA"),
            (Role::WorkspaceMember, "roles/workspaceMember"),
            (Role::ProjectOwner, "roles/projectOwner"),
            (Role::ProjectDeveloper, "roles/projectDeveloper"),
            (Role::ProjectReleaser, "roles/projectReleaser"),
            (Role::GitopsServiceAgent, "roles/gitopsServiceAgent"),
        ];
        for (role, name) in cases {
            assert_eq!(role.as_str(), name);
            assert_eq!(name.parse::<Role>(), Ok(role));
            assert_eq!(name["roles/".len()..].parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Role>(&format!("\"{name}\"")).unwrap(),
                role
            );
        }
        assert_eq!(
            "roles/owner".parse::<Role>().unwrap_err().to_string(),
            "unknown role `roles/owner`; known roles are roles/workspaceAdmin, \
             roles/workspaceDBA, roles/workspaceMember, roles/projectOwner, \
             roles/projectDeveloper, roles/projectReleaser, roles/gitopsServiceAgent"
        );
    }

    #[test]
    fn holds_one_of() {
        let releaser = || vec!["roles/projectReleaser".to_owned()];
        let cases: &[(&[Role], Vec<String>, bool)] = &[
            (&[Role::ProjectReleaser], releaser(), true),
            (
                &[Role::ProjectReleaser],
                vec!["projectReleaser".to_owned()],
                true,
            ),
            (&[Role::ProjectOwner], releaser(), false),
            (&[], releaser(), false),
            (
                &[Role::GitopsServiceAgent],
                vec!["roles/gitopsServiceAgent".to_owned()],
                false,
            ),
            (
                &[Role::ProjectOwner],
                vec!["roles/nonsense".to_owned()],
                false,
            ),
        ];
        for (roles, policy, expected) in cases {
            assert_eq!(
                Actor::new(roles.iter().copied()).holds_one_of(policy),
                *expected,
                "{roles:?}"
            );
        }
    }

    #[test]
    fn policy_serde() {
        let manual = RolloutPolicy::Manual {
            roles: vec!["roles/projectReleaser".to_owned()],
        };
        let json = serde_json::to_string(&manual).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"manual","roles":["roles/projectReleaser"]}"#
        );
        assert_eq!(
            serde_json::from_str::<RolloutPolicy>(&json).unwrap(),
            manual
        );
        assert_eq!(
            serde_json::to_string(&RolloutPolicy::Automatic).unwrap(),
            r#"{"kind":"automatic"}"#
        );
    }
}
