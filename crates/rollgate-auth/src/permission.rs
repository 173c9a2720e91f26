//! Named permissions and the built-in roles that bundle them.
//!
//! Modelled on Bytebase's RBAC (`bb.<resource>.<verb>`, predefined roles in
//! its `backend/store/predefined_roles.go`) with our prefix `rg.`. Every API
//! endpoint checks exactly one [`Permission`]; a principal holds a set of
//! [`Role`]s, workspace-wide or per project, and has a permission when any of
//! its roles includes it. Which roles apply in which project is the caller's
//! business: this module only answers "do these roles grant that".
//!
//! The role × permission table in the docs is [`permission_table`]; a snapshot
//! test makes every change to a role visible in review.

use std::fmt;
use std::str::FromStr;

use Permission::*;

macro_rules! permissions {
    ($($variant:ident => $name:literal,)*) => {
        /// A permission, named `rg.<resource>.<verb>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Permission {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl Permission {
            /// Every permission, grouped by resource.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }
        }
    };
}

permissions! {
    AuditLogsList => "rg.auditLogs.list",
    ChangelogsList => "rg.changelogs.list",
    DatabasesGet => "rg.databases.get",
    DatabasesList => "rg.databases.list",
    DatabasesCreate => "rg.databases.create",
    DatabasesUpdate => "rg.databases.update",
    DatabasesDelete => "rg.databases.delete",
    EnvironmentsGet => "rg.environments.get",
    EnvironmentsList => "rg.environments.list",
    EnvironmentsCreate => "rg.environments.create",
    EnvironmentsUpdate => "rg.environments.update",
    EnvironmentsDelete => "rg.environments.delete",
    InstancesGet => "rg.instances.get",
    InstancesList => "rg.instances.list",
    InstancesCreate => "rg.instances.create",
    InstancesUpdate => "rg.instances.update",
    InstancesDelete => "rg.instances.delete",
    PlansCreate => "rg.plans.create",
    PlansGet => "rg.plans.get",
    PlansList => "rg.plans.list",
    ProjectsGet => "rg.projects.get",
    ProjectsList => "rg.projects.list",
    ProjectsCreate => "rg.projects.create",
    ProjectsUpdate => "rg.projects.update",
    ProjectsDelete => "rg.projects.delete",
    ProjectsGetIamPolicy => "rg.projects.getIamPolicy",
    ProjectsSetIamPolicy => "rg.projects.setIamPolicy",
    ReleasesCheck => "rg.releases.check",
    ReleasesCreate => "rg.releases.create",
    ReleasesGet => "rg.releases.get",
    ReleasesList => "rg.releases.list",
    ReviewConfigsGet => "rg.reviewConfigs.get",
    ReviewConfigsList => "rg.reviewConfigs.list",
    ReviewConfigsCreate => "rg.reviewConfigs.create",
    ReviewConfigsUpdate => "rg.reviewConfigs.update",
    ReviewConfigsDelete => "rg.reviewConfigs.delete",
    RolesGet => "rg.roles.get",
    RolesList => "rg.roles.list",
    RolloutsCreate => "rg.rollouts.create",
    RolloutsGet => "rg.rollouts.get",
    RolloutsList => "rg.rollouts.list",
    ServiceAccountsGet => "rg.serviceAccounts.get",
    ServiceAccountsList => "rg.serviceAccounts.list",
    ServiceAccountsCreate => "rg.serviceAccounts.create",
    ServiceAccountsUpdate => "rg.serviceAccounts.update",
    ServiceAccountsDelete => "rg.serviceAccounts.delete",
    TaskRunsCancel => "rg.taskRuns.cancel",
    TaskRunsCreate => "rg.taskRuns.create",
    TaskRunsList => "rg.taskRuns.list",
    TasksSkip => "rg.tasks.skip",
    UsersGet => "rg.users.get",
    UsersList => "rg.users.list",
    UsersCreate => "rg.users.create",
    UsersUpdate => "rg.users.update",
    UsersDelete => "rg.users.delete",
    WorkspacesGetIamPolicy => "rg.workspaces.getIamPolicy",
    WorkspacesSetIamPolicy => "rg.workspaces.setIamPolicy",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .iter()
            .copied()
            .find(|permission| permission.as_str() == name)
            .ok_or_else(|| UnknownName {
                kind: "permission",
                name: name.to_owned(),
            })
    }
}

/// Where a role is granted: for the whole workspace (every project), or in
/// one project's IAM policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleScope {
    Workspace,
    Project,
}

/// A built-in role. Custom roles are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    WorkspaceAdmin,
    WorkspaceDba,
    WorkspaceMember,
    ProjectOwner,
    ProjectDeveloper,
    ProjectReleaser,
    GitopsServiceAgent,
}

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

    /// The id used in configuration and the API, as in Bytebase (`roles/` omitted).
    pub fn id(self) -> &'static str {
        match self {
            Role::WorkspaceAdmin => "workspaceAdmin",
            Role::WorkspaceDba => "workspaceDBA",
            Role::WorkspaceMember => "workspaceMember",
            Role::ProjectOwner => "projectOwner",
            Role::ProjectDeveloper => "projectDeveloper",
            Role::ProjectReleaser => "projectReleaser",
            Role::GitopsServiceAgent => "gitopsServiceAgent",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Role::WorkspaceAdmin => "Workspace Admin",
            Role::WorkspaceDba => "Workspace DBA",
            Role::WorkspaceMember => "Workspace Member",
            Role::ProjectOwner => "Project Owner",
            Role::ProjectDeveloper => "Project Developer",
            Role::ProjectReleaser => "Project Releaser",
            Role::GitopsServiceAgent => "GitOps Service Agent",
        }
    }

    pub fn scope(self) -> RoleScope {
        match self {
            Role::WorkspaceAdmin | Role::WorkspaceDba | Role::WorkspaceMember => {
                RoleScope::Workspace
            }
            Role::ProjectOwner
            | Role::ProjectDeveloper
            | Role::ProjectReleaser
            | Role::GitopsServiceAgent => RoleScope::Project,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Role {
    type Err = UnknownName;

    /// Accepts `workspaceAdmin` or `roles/workspaceAdmin`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let id = name.strip_prefix("roles/").unwrap_or(name);
        Role::ALL
            .into_iter()
            .find(|role| role.id() == id)
            .ok_or_else(|| UnknownName {
                kind: "role",
                name: name.to_owned(),
            })
    }
}

/// A role or permission name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

/// The permissions `role` grants, sorted.
pub fn role_permissions(role: Role) -> &'static [Permission] {
    match role {
        Role::WorkspaceAdmin => Permission::ALL,
        Role::WorkspaceDba => WORKSPACE_DBA,
        Role::WorkspaceMember => WORKSPACE_MEMBER,
        Role::ProjectOwner => PROJECT_OWNER,
        Role::ProjectDeveloper => PROJECT_DEVELOPER,
        Role::ProjectReleaser => PROJECT_RELEASER,
        Role::GitopsServiceAgent => GITOPS_SERVICE_AGENT,
    }
}

/// True when any of `roles` grants `permission`.
pub fn has_permission(roles: &[Role], permission: Permission) -> bool {
    roles
        .iter()
        .any(|&role| role_permissions(role).contains(&permission))
}

/// A markdown table, one row per permission and one column per role, for the
/// access-control page of the docs.
pub fn permission_table() -> String {
    let mut table = String::from("| Permission |");
    for role in Role::ALL {
        table.push_str(&format!(" {} |", role.title()));
    }
    table.push_str("\n|---|");
    table.push_str(&":---:|".repeat(Role::ALL.len()));
    table.push('\n');
    for &permission in Permission::ALL {
        table.push_str(&format!("| `{permission}` |"));
        for role in Role::ALL {
            table.push_str(if role_permissions(role).contains(&permission) {
                " ✓ |"
            } else {
                "   |"
            });
        }
        table.push('\n');
    }
    table
}

/// Everything except granting workspace roles and managing who can log in:
/// that stays with Workspace Admin.
const WORKSPACE_DBA: &[Permission] = &[
    AuditLogsList,
    ChangelogsList,
    DatabasesGet,
    DatabasesList,
    DatabasesCreate,
    DatabasesUpdate,
    DatabasesDelete,
    EnvironmentsGet,
    EnvironmentsList,
    EnvironmentsCreate,
    EnvironmentsUpdate,
    EnvironmentsDelete,
    InstancesGet,
    InstancesList,
    InstancesCreate,
    InstancesUpdate,
    InstancesDelete,
    PlansCreate,
    PlansGet,
    PlansList,
    ProjectsGet,
    ProjectsList,
    ProjectsCreate,
    ProjectsUpdate,
    ProjectsDelete,
    ProjectsGetIamPolicy,
    ProjectsSetIamPolicy,
    ReleasesCheck,
    ReleasesCreate,
    ReleasesGet,
    ReleasesList,
    ReviewConfigsGet,
    ReviewConfigsList,
    ReviewConfigsCreate,
    ReviewConfigsUpdate,
    ReviewConfigsDelete,
    RolesGet,
    RolesList,
    RolloutsCreate,
    RolloutsGet,
    RolloutsList,
    ServiceAccountsGet,
    ServiceAccountsList,
    TaskRunsCancel,
    TaskRunsCreate,
    TaskRunsList,
    TasksSkip,
    UsersGet,
    UsersList,
    WorkspacesGetIamPolicy,
];

/// What every user has (Bytebase auto-assigns it): read the workspace's
/// shape, people and policies, nothing in projects.
const WORKSPACE_MEMBER: &[Permission] = &[
    EnvironmentsGet,
    EnvironmentsList,
    ReviewConfigsGet,
    ReviewConfigsList,
    RolesGet,
    RolesList,
    ServiceAccountsGet,
    ServiceAccountsList,
    UsersGet,
    UsersList,
    WorkspacesGetIamPolicy,
];

/// Project roles include `rg.projects.list`: held in one project's policy,
/// it lists the projects where the principal holds `rg.projects.get`; held
/// workspace-wide, every project (which such a role can get anyway).
///
/// Everything inside the project, including granting project roles.
const PROJECT_OWNER: &[Permission] = &[
    ChangelogsList,
    DatabasesGet,
    DatabasesList,
    DatabasesUpdate,
    PlansCreate,
    PlansGet,
    PlansList,
    ProjectsGet,
    ProjectsList,
    ProjectsUpdate,
    ProjectsDelete,
    ProjectsGetIamPolicy,
    ProjectsSetIamPolicy,
    ReleasesCheck,
    ReleasesCreate,
    ReleasesGet,
    ReleasesList,
    RolloutsCreate,
    RolloutsGet,
    RolloutsList,
    TaskRunsCancel,
    TaskRunsCreate,
    TaskRunsList,
    TasksSkip,
];

/// Check releases and prepare plans; cannot create releases or roll out.
const PROJECT_DEVELOPER: &[Permission] = &[
    ChangelogsList,
    DatabasesGet,
    DatabasesList,
    PlansCreate,
    PlansGet,
    PlansList,
    ProjectsGet,
    ProjectsList,
    ProjectsGetIamPolicy,
    ReleasesCheck,
    ReleasesGet,
    ReleasesList,
    RolloutsGet,
    RolloutsList,
    TaskRunsList,
];

/// Roll out and run tasks; cannot create releases or plans.
const PROJECT_RELEASER: &[Permission] = &[
    ChangelogsList,
    DatabasesGet,
    DatabasesList,
    PlansGet,
    PlansList,
    ProjectsGet,
    ProjectsList,
    ProjectsGetIamPolicy,
    ReleasesGet,
    ReleasesList,
    RolloutsCreate,
    RolloutsGet,
    RolloutsList,
    TaskRunsCancel,
    TaskRunsCreate,
    TaskRunsList,
    TasksSkip,
];

/// Exactly Bytebase's `gitopsServiceAgent`: what a CI pipeline needs to check,
/// release and roll out, nothing else.
const GITOPS_SERVICE_AGENT: &[Permission] = &[
    PlansCreate,
    PlansGet,
    ReleasesCheck,
    ReleasesCreate,
    ReleasesGet,
    RolloutsCreate,
    RolloutsGet,
    RolloutsList,
    TaskRunsCreate,
    TaskRunsList,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn gitops_service_agent_has_exactly_the_ten() {
        let names: BTreeSet<&str> = role_permissions(Role::GitopsServiceAgent)
            .iter()
            .map(|p| p.as_str())
            .collect();
        let expected: BTreeSet<&str> = [
            "rg.releases.check",
            "rg.releases.create",
            "rg.releases.get",
            "rg.plans.create",
            "rg.plans.get",
            "rg.rollouts.create",
            "rg.rollouts.get",
            "rg.rollouts.list",
            "rg.taskRuns.create",
            "rg.taskRuns.list",
        ]
        .into();
        assert_eq!(names, expected);
        assert_eq!(role_permissions(Role::GitopsServiceAgent).len(), 10);
    }

    #[test]
    fn role_sets_are_sorted_unique_and_within_admin() {
        for role in Role::ALL {
            let set = role_permissions(role);
            assert!(
                set.windows(2).all(|pair| pair[0] < pair[1]),
                "{role}: not sorted or has duplicates"
            );
            assert!(
                set.iter()
                    .all(|p| has_permission(&[Role::WorkspaceAdmin], *p))
            );
        }
        assert!(Permission::ALL.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn bytebase_comparison_holds() {
        let developer = [Role::ProjectDeveloper];
        assert!(has_permission(&developer, Permission::ReleasesCheck));
        assert!(!has_permission(&developer, Permission::ReleasesCreate));
        assert!(!has_permission(&developer, Permission::RolloutsCreate));
        assert!(!has_permission(&developer, Permission::TaskRunsCreate));
        let releaser = [Role::ProjectReleaser];
        assert!(has_permission(&releaser, Permission::RolloutsCreate));
        assert!(has_permission(&releaser, Permission::TaskRunsCreate));
        assert!(!has_permission(&releaser, Permission::ReleasesCreate));
        assert!(!has_permission(&releaser, Permission::PlansCreate));
        assert!(has_permission(
            &[Role::ProjectDeveloper, Role::ProjectReleaser],
            Permission::PlansCreate
        ));
        assert!(!has_permission(&[], Permission::ProjectsGet));
        for role in [Role::ProjectOwner, Role::WorkspaceDba, Role::WorkspaceAdmin] {
            for &p in role_permissions(Role::GitopsServiceAgent) {
                assert!(has_permission(&[role], p), "{role} lacks {p}");
            }
        }
        assert!(!has_permission(
            &[Role::WorkspaceDba],
            Permission::WorkspacesSetIamPolicy
        ));
    }

    #[test]
    fn names_roundtrip() {
        for &p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            assert!(p.as_str().starts_with("rg."));
        }
        for role in Role::ALL {
            assert_eq!(role.id().parse::<Role>(), Ok(role));
            assert_eq!(format!("roles/{role}").parse::<Role>(), Ok(role));
        }
        assert_eq!(
            "rg.everything"
                .parse::<Permission>()
                .unwrap_err()
                .to_string(),
            "unknown permission `rg.everything`"
        );
        assert_eq!(
            Role::ALL
                .iter()
                .filter(|r| r.scope() == RoleScope::Workspace)
                .count(),
            3
        );
    }

    #[test]
    fn permission_table_snapshot() {
        insta::assert_snapshot!(permission_table());
    }
}
