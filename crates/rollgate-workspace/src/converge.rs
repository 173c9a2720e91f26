//! `converge`: the changes that turn the current workspace into the desired
//! one, in an order that is safe to apply one by one.

use std::collections::BTreeMap;
use std::fmt;

use rollgate_rollout::Environment;

use crate::{
    Database, IamPolicy, Instance, Project, ReviewPolicy, ServiceAccount, User, Workspace,
};

/// One resource of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Environment(Environment),
    Instance(Instance),
    Database(Database),
    Project(Project),
    ReviewPolicy(ReviewPolicy),
    User(User),
    ServiceAccount(ServiceAccount),
    IamPolicy(IamPolicy),
}

impl Resource {
    /// `environments/prod`, `instances/i/databases/d`,
    /// `projects/p/reviewPolicy`, `users/a@b.c`, `serviceAccounts/ci`,
    /// `projects/p/iamPolicy`.
    pub fn name(&self) -> ResourceName {
        ResourceName(match self {
            Resource::Environment(e) => format!("environments/{}", e.id),
            Resource::Instance(i) => format!("instances/{}", i.id),
            Resource::Database(d) => d.resource_name(),
            Resource::Project(p) => format!("projects/{}", p.id),
            Resource::ReviewPolicy(p) => format!("{}/reviewPolicy", p.attach),
            Resource::User(u) => format!("users/{}", u.email),
            Resource::ServiceAccount(s) => format!("serviceAccounts/{}", s.name),
            Resource::IamPolicy(p) => format!("projects/{}/iamPolicy", p.project),
        })
    }
}

/// The API name of a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceName(pub String);

impl ResourceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One step of a convergence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create(Resource),
    /// `resource` is the desired value; `fields` names what differs.
    Update {
        resource: Resource,
        fields: Vec<String>,
    },
    Delete(ResourceName),
}

/// The changes that make `current` equal `desired`.
///
/// Creates and updates come first, by kind in dependency order
/// (environments, instances, databases, projects, review policies, users,
/// service accounts, project IAM policies) and within a kind in `desired`
/// order; then, only when `prune` is set, deletes of what `desired` does not
/// declare, in the reverse kind order, so nothing is deleted while something
/// still refers to it. `converge(x, x, _)` is empty.
///
/// A project IAM policy comes after the users and service accounts its
/// bindings name, and deleting one (clearing every binding of the project)
/// comes before any user or service account is deleted. A project that
/// declares no policy has none in `desired`, so its bindings on the server
/// are left alone unless `prune` is set, like an undeclared review policy.
pub fn converge(desired: &Workspace, current: &Workspace, prune: bool) -> Vec<Change> {
    let mut upserts = Vec::new();
    let mut deletes: Vec<Vec<ResourceName>> = Vec::new();
    let mut kind = |desired: Vec<Resource>, current: Vec<Resource>| {
        let (changes, removed) = diff(desired, current);
        upserts.extend(changes);
        deletes.push(removed);
    };
    kind(
        wrap(&desired.environments, Resource::Environment),
        wrap(&current.environments, Resource::Environment),
    );
    kind(
        wrap(&desired.instances, Resource::Instance),
        wrap(&current.instances, Resource::Instance),
    );
    kind(
        wrap(&desired.databases, Resource::Database),
        wrap(&current.databases, Resource::Database),
    );
    kind(
        wrap(&desired.projects, Resource::Project),
        wrap(&current.projects, Resource::Project),
    );
    kind(
        wrap(&desired.review_policies, Resource::ReviewPolicy),
        wrap(&current.review_policies, Resource::ReviewPolicy),
    );
    kind(
        wrap(&desired.users, Resource::User),
        wrap(&current.users, Resource::User),
    );
    kind(
        wrap(&desired.service_accounts, Resource::ServiceAccount),
        wrap(&current.service_accounts, Resource::ServiceAccount),
    );
    kind(
        wrap(&desired.iam_policies, Resource::IamPolicy),
        wrap(&current.iam_policies, Resource::IamPolicy),
    );
    if prune {
        for removed in deletes.into_iter().rev() {
            upserts.extend(removed.into_iter().map(Change::Delete));
        }
    }
    upserts
}

fn wrap<T: Clone>(items: &[T], make: fn(T) -> Resource) -> Vec<Resource> {
    items.iter().cloned().map(make).collect()
}

fn diff(desired: Vec<Resource>, current: Vec<Resource>) -> (Vec<Change>, Vec<ResourceName>) {
    let mut current: BTreeMap<ResourceName, Resource> =
        current.into_iter().map(|r| (r.name(), r)).collect();
    let mut changes = Vec::new();
    for resource in desired {
        match current.remove(&resource.name()) {
            None => changes.push(Change::Create(resource)),
            Some(existing) => {
                let fields = changed_fields(&resource, &existing);
                if !fields.is_empty() {
                    changes.push(Change::Update { resource, fields });
                }
            }
        }
    }
    (changes, current.into_keys().collect())
}

fn changed_fields(desired: &Resource, current: &Resource) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = |name: &str, differs: bool| {
        if differs {
            fields.push(name.to_owned());
        }
    };
    match (desired, current) {
        (Resource::Environment(a), Resource::Environment(b)) => {
            field("title", a.title != b.title);
            field("order", a.order != b.order);
            field("rollout", a.policy != b.policy);
        }
        (Resource::Instance(a), Resource::Instance(b)) => {
            field("engine", a.engine != b.engine);
            field("url", a.url != b.url);
            field("environment", a.environment != b.environment);
        }
        (Resource::Database(a), Resource::Database(b)) => {
            field("environment", a.environment != b.environment);
        }
        (Resource::Project(a), Resource::Project(b)) => {
            field("title", a.title != b.title);
            field("databases", a.databases != b.databases);
        }
        (Resource::ReviewPolicy(a), Resource::ReviewPolicy(b)) => {
            field("review", a.review != b.review);
        }
        (Resource::User(a), Resource::User(b)) => {
            field("roles", a.roles != b.roles);
            field("password_env", a.password_env != b.password_env);
        }
        (Resource::ServiceAccount(a), Resource::ServiceAccount(b)) => {
            field("roles", a.roles != b.roles);
            field("key_env", a.key_env != b.key_env);
        }
        (Resource::IamPolicy(a), Resource::IamPolicy(b)) => {
            field("bindings", a.bindings != b.bindings);
        }
        // Names embed the kind, so two resources with one name are of one kind.
        _ => field("kind", true),
    }
    fields
}
