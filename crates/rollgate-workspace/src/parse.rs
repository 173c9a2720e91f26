//! `parse`: text to a validated, normalized `Workspace`, or every error
//! found, each naming the setting at fault and what to do about it.

use std::collections::{BTreeMap, BTreeSet};

use rollgate_review::{Policy, ReviewConfig};
use rollgate_rollout::{Environment, Role, RolloutPolicy};

use crate::file::{IamBindingEntry, RolloutSetting, WorkspaceFile};
use crate::{
    Database, IamBinding, IamPolicy, Instance, InstanceUrl, Member, Project, ReviewPolicy,
    ServiceAccount, User, Workspace, is_project_role,
};

/// A problem in `workspace.toml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct WorkspaceError {
    /// Where, e.g. `instances[prod-db].url`, or `line 3` for syntax errors.
    pub setting: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl WorkspaceError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> WorkspaceError {
        WorkspaceError {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// The placeholder `export` writes for a URL it will not reveal.
pub(crate) const REDACTED: &str = "<redacted>";

/// Parses and validates `workspace.toml`. `env` looks up the variables
/// `${VAR}` references name. Returns all errors found, never panics.
pub fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Workspace, Vec<WorkspaceError>> {
    let file: WorkspaceFile = toml::from_str(text).map_err(|error| {
        let setting = error
            .span()
            .map(|span| line_of(text, span.start))
            .unwrap_or_else(|| "workspace.toml".into());
        vec![WorkspaceError::new(
            setting,
            error.message().trim().to_owned(),
        )]
    })?;
    let mut checker = Checker::default();
    let workspace = checker.check(file, env);
    if checker.errors.is_empty() {
        Ok(workspace)
    } else {
        Err(checker.errors)
    }
}

fn line_of(text: &str, offset: usize) -> String {
    let end = text.floor_char_boundary(offset.min(text.len()));
    let line = text[..end].matches('\n').count() + 1;
    format!("line {line}")
}

#[derive(Default)]
struct Checker {
    errors: Vec<WorkspaceError>,
}

impl Checker {
    fn error(&mut self, setting: impl Into<String>, message: impl Into<String>) {
        self.errors.push(WorkspaceError::new(setting, message));
    }

    fn check(&mut self, file: WorkspaceFile, env: &dyn Fn(&str) -> Option<String>) -> Workspace {
        let mut workspace = Workspace::default();

        // Environments, in file order.
        let mut environment_ids = BTreeSet::new();
        for (index, entry) in file.environments.into_iter().enumerate() {
            let Some(at) = self.id("environments", index, &entry.id, &mut environment_ids) else {
                continue;
            };
            let policy = match entry.rollout {
                RolloutSetting::Automatic => RolloutPolicy::Automatic,
                RolloutSetting::Manual(roles) => RolloutPolicy::Manual {
                    roles: self
                        .roles(&format!("{at}.rollout.manual"), &roles)
                        .into_iter()
                        .map(|role| role.as_str().to_owned())
                        .collect(),
                },
            };
            let order = u32::try_from(workspace.environments.len()).unwrap_or(u32::MAX);
            workspace.environments.push(Environment {
                id: entry.id,
                title: entry.title,
                order,
                policy,
            });
        }
        let environments = list(&environment_ids);

        // Instances.
        let mut instance_ids = BTreeSet::new();
        let mut instance_environment = BTreeMap::new();
        for (index, entry) in file.instances.into_iter().enumerate() {
            let Some(at) = self.id("instances", index, &entry.id, &mut instance_ids) else {
                continue;
            };
            self.reference(
                &format!("{at}.environment"),
                "environment",
                &entry.environment,
                &environment_ids,
                &environments,
            );
            let url = self.url(&format!("{at}.url"), &entry.url, entry.engine, env);
            instance_environment.insert(entry.id.clone(), entry.environment.clone());
            workspace.instances.push(Instance {
                id: entry.id,
                engine: entry.engine,
                url,
                environment: entry.environment,
            });
        }
        let instances = list(&instance_ids);

        // Databases.
        let mut database_names = BTreeSet::new();
        for entry in file.databases {
            let at = format!("databases[{}/{}]", entry.instance, entry.name);
            let instance_known = self.reference(
                &format!("{at}.instance"),
                "instance",
                &entry.instance,
                &instance_ids,
                &instances,
            );
            if !valid_database_name(&entry.name) {
                self.error(
                    format!("{at}.name"),
                    format!(
                        "invalid database name \"{}\"; use 1 to 63 characters without `/`, whitespace or control characters",
                        entry.name
                    ),
                );
            }
            let environment = match entry.environment {
                Some(environment) => {
                    self.reference(
                        &format!("{at}.environment"),
                        "environment",
                        &environment,
                        &environment_ids,
                        &environments,
                    );
                    environment
                }
                None => instance_environment
                    .get(&entry.instance)
                    .cloned()
                    .unwrap_or_default(),
            };
            let database = Database {
                instance: entry.instance,
                name: entry.name,
                environment,
            };
            if instance_known && !database_names.insert(database.resource_name()) {
                self.error(
                    at,
                    format!(
                        "database {} is declared twice; keep one entry",
                        database.resource_name()
                    ),
                );
                continue;
            }
            workspace.databases.push(database);
        }
        let databases = list(&database_names);

        // Projects.
        let mut project_ids = BTreeSet::new();
        let mut owner: BTreeMap<String, String> = BTreeMap::new();
        // Checked once users and service accounts are known.
        let mut iam_entries: Vec<(String, String, Vec<IamBindingEntry>)> = Vec::new();
        for (index, entry) in file.projects.into_iter().enumerate() {
            let Some(at) = self.id("projects", index, &entry.id, &mut project_ids) else {
                continue;
            };
            iam_entries.push((at.clone(), entry.id.clone(), entry.iam));
            let mut project_databases = BTreeSet::new();
            for database in &entry.databases {
                let setting = format!("{at}.databases");
                if !self.reference(&setting, "database", database, &database_names, &databases) {
                    continue;
                }
                if !project_databases.insert(database.clone()) {
                    self.error(
                        setting,
                        format!("database {database} is listed twice; keep one"),
                    );
                } else if let Some(first) = owner.insert(database.clone(), entry.id.clone()) {
                    self.error(
                        setting,
                        format!(
                            "database {database} is already in project {first}; a database belongs to one project, remove it from one of them"
                        ),
                    );
                }
            }
            workspace.projects.push(Project {
                id: entry.id,
                title: entry.title,
                databases: project_databases.into_iter().collect(),
            });
        }
        let projects = list(&project_ids);

        // Review policies.
        let mut attached = BTreeSet::new();
        for (index, entry) in file.review_policies.into_iter().enumerate() {
            let at = format!("review_policies[{index}]");
            if entry.attach.is_empty() {
                self.error(
                    format!("{at}.attach"),
                    "attach the policy to something: environments/{id} or projects/{id}",
                );
            }
            let resolved = match entry.review.clone().try_into::<ReviewConfig>() {
                Ok(config) => match Policy::resolve(&config) {
                    Ok(_) => true,
                    Err(error) => {
                        self.error(format!("{at}.{}", error.setting), error.message);
                        false
                    }
                },
                Err(error) => {
                    self.error(format!("{at}.review"), error.message().trim().to_owned());
                    false
                }
            };
            for target in entry.attach {
                let setting = format!("{at}.attach");
                let known = if let Some(id) = target.strip_prefix("environments/") {
                    self.reference(&setting, "environment", id, &environment_ids, &environments)
                } else if let Some(id) = target.strip_prefix("projects/") {
                    self.reference(&setting, "project", id, &project_ids, &projects)
                } else {
                    self.error(
                        &setting,
                        format!(
                            "cannot attach a review policy to \"{target}\"; write environments/{{id}} or projects/{{id}}"
                        ),
                    );
                    false
                };
                if !known {
                    continue;
                }
                if !attached.insert(target.clone()) {
                    self.error(
                        setting,
                        format!(
                            "{target} already has a review policy; attach at most one policy to it"
                        ),
                    );
                    continue;
                }
                if resolved {
                    workspace.review_policies.push(ReviewPolicy {
                        attach: target,
                        review: entry.review.clone(),
                    });
                }
            }
        }

        // Users.
        let mut emails = BTreeMap::new();
        for (index, entry) in file.users.into_iter().enumerate() {
            if !valid_email(&entry.email) {
                self.error(
                    format!("users[{index}].email"),
                    format!(
                        "invalid email \"{}\"; write an address like name@example.com",
                        entry.email
                    ),
                );
                continue;
            }
            let at = format!("users[{}]", entry.email);
            if emails
                .insert(entry.email.to_ascii_lowercase(), entry.email.clone())
                .is_some()
            {
                self.error(
                    &at,
                    format!("user {} is declared twice; keep one entry", entry.email),
                );
                continue;
            }
            let roles = self.roles(&format!("{at}.roles"), &entry.roles);
            if let Some(name) = &entry.password_env {
                self.variable_name(&format!("{at}.password_env"), name);
            }
            workspace.users.push(User {
                email: entry.email,
                roles,
                password_env: entry.password_env,
            });
        }

        // Service accounts.
        let mut names = BTreeSet::new();
        for (index, entry) in file.service_accounts.into_iter().enumerate() {
            let Some(at) = self.id("service_accounts", index, &entry.name, &mut names) else {
                continue;
            };
            let roles = self.roles(&format!("{at}.roles"), &entry.roles);
            if let Some(name) = &entry.key_env {
                self.variable_name(&format!("{at}.key_env"), name);
            }
            workspace.service_accounts.push(ServiceAccount {
                name: entry.name,
                roles,
                key_env: entry.key_env,
            });
        }

        // Project IAM policies.
        for (at, project, entries) in iam_entries {
            let bindings = self.iam_policy(&at, &entries, &emails, &names);
            if !bindings.is_empty() {
                workspace.iam_policies.push(IamPolicy { project, bindings });
            }
        }

        workspace.instances.sort_by(|a, b| a.id.cmp(&b.id));
        workspace
            .databases
            .sort_by(|a, b| (&a.instance, &a.name).cmp(&(&b.instance, &b.name)));
        workspace.projects.sort_by(|a, b| a.id.cmp(&b.id));
        workspace
            .review_policies
            .sort_by(|a, b| a.attach.cmp(&b.attach));
        workspace.users.sort_by(|a, b| a.email.cmp(&b.email));
        workspace
            .service_accounts
            .sort_by(|a, b| a.name.cmp(&b.name));
        workspace
            .iam_policies
            .sort_by(|a, b| a.project.cmp(&b.project));
        workspace
    }

    /// Checks `[[projects.iam]]` of the project at `at`: project roles, one
    /// binding per role, members declared in this file. `users` maps
    /// lowercased emails to the declared spelling.
    fn iam_policy(
        &mut self,
        at: &str,
        entries: &[IamBindingEntry],
        users: &BTreeMap<String, String>,
        service_accounts: &BTreeSet<String>,
    ) -> Vec<IamBinding> {
        let mut bindings: BTreeMap<Role, BTreeSet<Member>> = BTreeMap::new();
        let mut seen_roles = BTreeSet::new();
        for (index, entry) in entries.iter().enumerate() {
            let setting = format!("{at}.iam[{index}]");
            let project_roles = Role::ALL
                .into_iter()
                .filter(|role| is_project_role(*role))
                .map(Role::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let role = match entry.role.parse::<Role>() {
                Ok(role) if is_project_role(role) => Some(role),
                Ok(role) => {
                    self.error(
                        format!("{setting}.role"),
                        format!(
                            "{role} is a workspace role; grant it in the member's `roles` under [[users]] or [[service_accounts]]; a project policy grants project roles: {project_roles}"
                        ),
                    );
                    None
                }
                Err(_) => {
                    self.error(
                        format!("{setting}.role"),
                        format!(
                            "unknown role \"{}\"; valid project roles: {project_roles}",
                            entry.role
                        ),
                    );
                    None
                }
            };
            if role.is_some_and(|role| !seen_roles.insert(role)) {
                self.error(
                    format!("{setting}.role"),
                    format!(
                        "{} is bound twice in {at}.iam; list all its members in one binding",
                        entry.role
                    ),
                );
                continue;
            }
            if entry.members.is_empty() {
                self.error(
                    format!("{setting}.members"),
                    "list at least one member, or remove the binding",
                );
            }
            let mut members = BTreeSet::new();
            for text in &entry.members {
                if let Some(member) =
                    self.member(&format!("{setting}.members"), text, users, service_accounts)
                {
                    members.insert(member);
                }
            }
            if let Some(role) = role
                && !members.is_empty()
            {
                bindings.insert(role, members);
            }
        }
        bindings
            .into_iter()
            .map(|(role, members)| IamBinding {
                role,
                members: members.into_iter().collect(),
            })
            .collect()
    }

    /// Reads one member and checks it is declared in the file.
    fn member(
        &mut self,
        setting: &str,
        text: &str,
        users: &BTreeMap<String, String>,
        service_accounts: &BTreeSet<String>,
    ) -> Option<Member> {
        let Some(member) = Member::parse(text) else {
            self.error(
                setting,
                format!(
                    "invalid member \"{text}\"; write user:EMAIL or serviceAccount:NAME@{}",
                    crate::SERVICE_ACCOUNT_DOMAIN
                ),
            );
            return None;
        };
        match member {
            Member::User(email) => match users.get(&email.to_ascii_lowercase()) {
                Some(declared) => Some(Member::User(declared.clone())),
                None => {
                    self.error(
                        setting,
                        format!(
                            "user {email} is not declared in this file; declare it under [[users]] (a binding may only name accounts the file manages)"
                        ),
                    );
                    None
                }
            },
            Member::ServiceAccount(name) => {
                if service_accounts.contains(&name) {
                    Some(Member::ServiceAccount(name))
                } else {
                    self.error(
                        setting,
                        format!(
                            "service account {name}@{} is not declared in this file; declare it under [[service_accounts]] with name = \"{name}\"",
                            crate::SERVICE_ACCOUNT_DOMAIN
                        ),
                    );
                    None
                }
            }
        }
    }

    /// Checks an id's form and uniqueness; returns the setting path to use
    /// for the entry's other keys, or `None` when the entry must be skipped.
    fn id(
        &mut self,
        section: &str,
        index: usize,
        id: &str,
        seen: &mut BTreeSet<String>,
    ) -> Option<String> {
        let key = if section == "service_accounts" {
            "name"
        } else {
            "id"
        };
        if !valid_id(id) {
            self.error(
                format!("{section}[{index}].{key}"),
                format!(
                    "invalid {key} \"{id}\"; use 1 to 63 characters among lowercase letters a-z, digits 0-9 and `-`"
                ),
            );
            return None;
        }
        let at = format!("{section}[{id}]");
        if !seen.insert(id.to_owned()) {
            self.error(
                &at,
                format!("{key} \"{id}\" is used twice in {section}; give each entry its own {key}"),
            );
            return None;
        }
        Some(at)
    }

    /// Reports an unknown reference, listing the valid values.
    fn reference(
        &mut self,
        setting: &str,
        kind: &str,
        value: &str,
        known: &BTreeSet<String>,
        listed: &str,
    ) -> bool {
        if known.contains(value) {
            return true;
        }
        let valid = if known.is_empty() {
            "none is declared; declare it first".to_owned()
        } else {
            format!("valid {kind}s: {listed}")
        };
        self.error(setting, format!("unknown {kind} \"{value}\"; {valid}"));
        false
    }

    fn roles(&mut self, setting: &str, names: &[String]) -> Vec<Role> {
        let mut roles = BTreeSet::new();
        for name in names {
            match name.parse::<Role>() {
                Ok(role) => {
                    roles.insert(role);
                }
                Err(_) => self.error(
                    setting,
                    format!(
                        "unknown role \"{name}\"; valid roles: {}",
                        Role::ALL.map(Role::as_str).join(", ")
                    ),
                ),
            }
        }
        roles.into_iter().collect()
    }

    fn variable_name(&mut self, setting: &str, name: &str) {
        if !valid_variable(name) {
            self.error(
                setting,
                format!(
                    "invalid environment variable name \"{name}\"; use letters, digits and `_`, not starting with a digit"
                ),
            );
        }
    }

    /// Expands `${VAR}` and checks the scheme. Messages never include the
    /// expanded value: it may hold a password.
    fn url(
        &mut self,
        setting: &str,
        written: &str,
        engine: crate::Engine,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> InstanceUrl {
        if written == REDACTED {
            self.error(
                setting,
                "this URL was redacted by `rollgate workspace export`; replace it with a ${VAR} reference to an environment variable holding the URL",
            );
            return InstanceUrl::new(written, "");
        }
        let before = self.errors.len();
        let resolved = self.expand(setting, written, env);
        if self.errors.len() == before
            && !engine
                .url_schemes()
                .iter()
                .any(|scheme| resolved.starts_with(scheme))
        {
            self.error(
                setting,
                format!(
                    "a {} instance needs a URL starting with {} (the value is not shown: it may hold a password)",
                    engine.as_str(),
                    engine.url_schemes().join(" or ")
                ),
            );
        }
        InstanceUrl::new(written, resolved)
    }

    fn expand(
        &mut self,
        setting: &str,
        written: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        let mut out = String::new();
        let mut rest = written;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.error(
                    setting,
                    "unterminated `${`; write ${VAR} with a closing brace",
                );
                return out;
            };
            let name = &after[..end];
            if !valid_variable(name) {
                self.error(
                    setting,
                    format!(
                        "invalid variable reference `${{{name}}}`; name a variable with letters, digits and `_`, not starting with a digit"
                    ),
                );
            } else {
                match env(name) {
                    Some(value) => out.push_str(&value),
                    None => self.error(
                        setting,
                        format!(
                            "environment variable {name} is not set; set it before applying, or remove the ${{{name}}} reference"
                        ),
                    ),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn valid_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_database_name(name: &str) -> bool {
    (1..=63).contains(&name.chars().count())
        && !name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        && !domain.contains('@')
}

fn valid_variable(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
