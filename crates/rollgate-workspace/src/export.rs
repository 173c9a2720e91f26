//! `export`: a `Workspace` back to `workspace.toml` text.

use rollgate_rollout::RolloutPolicy;

use crate::file::{
    DatabaseEntry, EnvironmentEntry, IamBindingEntry, InstanceEntry, ProjectEntry,
    ReviewPolicyEntry, RolloutSetting, ServiceAccountEntry, UserEntry, WorkspaceFile,
};
use crate::parse::REDACTED;
use crate::{Role, Workspace};

/// Renders `workspace` as `workspace.toml`. Secrets stay out: see the crate
/// documentation for which URLs are written as `"<redacted>"`.
pub fn export(workspace: &Workspace) -> String {
    let file = WorkspaceFile {
        environments: workspace
            .environments
            .iter()
            .map(|e| EnvironmentEntry {
                id: e.id.clone(),
                title: e.title.clone(),
                rollout: match &e.policy {
                    RolloutPolicy::Automatic => RolloutSetting::Automatic,
                    RolloutPolicy::Manual { roles } => RolloutSetting::Manual(roles.clone()),
                },
            })
            .collect(),
        instances: workspace
            .instances
            .iter()
            .map(|i| InstanceEntry {
                id: i.id.clone(),
                engine: i.engine,
                url: if exportable(i.url.written()) {
                    i.url.written().to_owned()
                } else {
                    REDACTED.to_owned()
                },
                environment: i.environment.clone(),
            })
            .collect(),
        databases: workspace
            .databases
            .iter()
            .map(|d| DatabaseEntry {
                instance: d.instance.clone(),
                name: d.name.clone(),
                environment: Some(d.environment.clone()),
            })
            .collect(),
        projects: workspace
            .projects
            .iter()
            .map(|p| ProjectEntry {
                id: p.id.clone(),
                title: p.title.clone(),
                databases: p.databases.clone(),
                iam: workspace
                    .iam_policies
                    .iter()
                    .filter(|policy| policy.project == p.id)
                    .flat_map(|policy| &policy.bindings)
                    .map(|binding| IamBindingEntry {
                        role: binding.role.as_str().to_owned(),
                        members: binding.members.iter().map(|m| m.to_api()).collect(),
                    })
                    .collect(),
            })
            .collect(),
        review_policies: workspace
            .review_policies
            .iter()
            .map(|p| ReviewPolicyEntry {
                attach: vec![p.attach.clone()],
                review: p.review.clone(),
            })
            .collect(),
        users: workspace
            .users
            .iter()
            .map(|u| UserEntry {
                email: u.email.clone(),
                roles: role_names(&u.roles),
                password_env: u.password_env.clone(),
            })
            .collect(),
        service_accounts: workspace
            .service_accounts
            .iter()
            .map(|s| ServiceAccountEntry {
                name: s.name.clone(),
                roles: role_names(&s.roles),
                key_env: s.key_env.clone(),
            })
            .collect(),
    };
    // Every field serializes (strings, vectors and TOML tables), so this
    // cannot fail; an empty text would still parse to an empty workspace.
    let text = toml::to_string(&file).unwrap_or_default();
    let redacted_line = format!("url = \"{REDACTED}\"");
    let mut out =
        String::from("# Exported by `rollgate workspace export`. Secrets are not exported.\n\n");
    for line in text.lines() {
        if line.trim() == redacted_line {
            out.push_str(
                "# The URL holds a password, so it is not exported: replace \"<redacted>\"\n\
                 # with a ${VAR} reference to an environment variable holding the URL.\n",
            );
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A URL is written as is when it references variables or holds no
/// inline password (`scheme://user:password@host`).
fn exportable(url: &str) -> bool {
    if url.contains("${") {
        return true;
    }
    let Some((_, rest)) = url.split_once("://") else {
        return true;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => !userinfo.contains(':'),
        None => true,
    }
}

fn role_names(roles: &[Role]) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_owned()).collect()
}
