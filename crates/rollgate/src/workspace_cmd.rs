//! `rollgate workspace apply` and `rollgate workspace export`: workspace as
//! code over the server's API. The diff itself is `rollgate_workspace::converge`
//! (pure); this module reads the server's current state into a
//! `rollgate_workspace::Workspace`, prints the changes and sends them one by
//! one. Applying twice changes nothing the second time.
//!
//! Instance URLs are never read back (the server returns them redacted):
//! whether a stored URL equals the file's is asked with `:matchUrl`.

use std::collections::BTreeMap;

use anyhow::Context as _;
use rollgate_workspace::{
    Change, Database, Engine, Environment, IamBinding, IamPolicy, Instance, InstanceUrl, Member,
    Project, Resource, ReviewPolicy, Role, RolloutPolicy, ServiceAccount, User, Workspace,
};
use serde_json::{Value, json};

use crate::cli::{ServerConnection, WorkspaceApplyArgs};
use crate::client::{ApiError, Client};
use crate::db::Exit;

pub fn apply(args: WorkspaceApplyArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let desired = parse_file(&args.file.display().to_string(), &text, &|name| {
        std::env::var(name).ok()
    })?;
    check_secret_variables(&desired, &|name| std::env::var(name).ok())?;
    crate::db::runtime()?.block_on(async {
        let client = connect(&args.connection).await?;
        let outcome = apply_workspace(
            &client,
            &desired,
            Options {
                prune: args.prune,
                dry_run: args.dry_run,
                caller: args.connection.service_account.trim().to_string(),
                secrets: Box::new(|name| std::env::var(name).ok()),
            },
            &mut std::io::stdout().lock(),
        )
        .await?;
        Ok(outcome)
    })
}

pub fn export(connection: ServerConnection) -> anyhow::Result<u8> {
    crate::db::runtime()?.block_on(async {
        let client = connect(&connection).await?;
        let current = read_current(&client, None).await?;
        print!("{}", rollgate_workspace::export(&current));
        Ok(crate::EXIT_OK)
    })
}

async fn connect(connection: &ServerConnection) -> anyhow::Result<Client> {
    Client::login(
        &connection.url,
        connection.service_account.trim(),
        &connection.service_account_secret,
    )
    .await
}

/// Parses workspace.toml, expanding `${VAR}` from the environment; every
/// error is printed with the file name, then the command exits with 2.
pub fn parse_file(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Workspace> {
    rollgate_workspace::parse(text, env).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|error| format!("{file}: {error}"))
            .collect();
        anyhow::anyhow!(
            "{} error(s) in the workspace file; nothing was applied:\n{}",
            errors.len(),
            lines.join("\n")
        )
    })
}

/// Every `password_env` and `key_env` must be set before anything is sent,
/// so a missing variable never leaves a half-applied workspace.
pub fn check_secret_variables(
    desired: &Workspace,
    secrets: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for user in &desired.users {
        if let Some(var) = &user.password_env
            && secrets(var).is_none()
        {
            missing.push(format!("users/{}: password_env `{var}`", user.email));
        }
    }
    for account in &desired.service_accounts {
        if let Some(var) = &account.key_env
            && secrets(var).is_none()
        {
            missing.push(format!("serviceAccounts/{}: key_env `{var}`", account.name));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "these environment variables are not set; set them (or remove the setting) and apply again; nothing was applied:\n  {}",
        missing.join("\n  ")
    )
}

/// Looks up a secret by the name of the variable holding it.
pub type SecretLookup = Box<dyn Fn(&str) -> Option<String>>;

pub struct Options {
    pub prune: bool,
    pub dry_run: bool,
    /// Who applies: never deleted by `--prune`.
    pub caller: String,
    /// Looks up the variables `password_env` and `key_env` name.
    pub secrets: SecretLookup,
}

/// Converges the server to `desired`, writing one line per change to `out`.
/// Returns the exit code.
pub async fn apply_workspace(
    client: &Client,
    desired: &Workspace,
    options: Options,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<u8> {
    let current = read_current(client, Some(desired)).await?;
    let mut changes = rollgate_workspace::converge(desired, &current, options.prune);
    let caller_name = caller_resource(&options.caller);
    changes.retain(|change| match change {
        Change::Delete(name) if name.as_str() == caller_name => {
            let _ = writeln!(
                out,
                "  keep {name}: it is the account applying this workspace"
            );
            false
        }
        _ => true,
    });
    if changes.is_empty() {
        writeln!(out, "workspace: up to date, nothing to change")?;
        return Ok(crate::EXIT_OK);
    }
    for change in &changes {
        writeln!(out, "{}", describe(change))?;
    }
    if options.dry_run {
        writeln!(
            out,
            "workspace: {} change(s) listed; dry run, nothing applied",
            changes.len()
        )?;
        return Ok(crate::EXIT_OK);
    }
    let mut counts = BTreeMap::<&str, usize>::new();
    for (done, change) in changes.iter().enumerate() {
        if let Err(error) = send(client, change, &*options.secrets, out).await {
            let message = match error.downcast_ref::<ApiError>() {
                Some(api) => api.to_string(),
                None => format!("{error:#}"),
            };
            return Err(Exit {
                code: crate::EXIT_FINDINGS,
                message: format!(
                    "{}: {message}\n{done} of {} change(s) were applied before it; fix the cause and apply again (applying is idempotent)",
                    describe(change).trim_start(),
                    changes.len()
                ),
            }
            .into());
        }
        *counts.entry(kind_of(change)).or_default() += 1;
    }
    writeln!(
        out,
        "workspace: applied {} created, {} updated, {} deleted",
        counts.get("create").unwrap_or(&0),
        counts.get("update").unwrap_or(&0),
        counts.get("delete").unwrap_or(&0)
    )?;
    Ok(crate::EXIT_OK)
}

fn caller_resource(email: &str) -> String {
    match service_account_name(email) {
        Some(name) => format!("serviceAccounts/{name}"),
        None => format!("users/{email}"),
    }
}

/// `ci` for `ci@service.rollgate.local`; `None` for a user's email.
fn service_account_name(email: &str) -> Option<&str> {
    email
        .strip_suffix(rollgate_workspace::SERVICE_ACCOUNT_DOMAIN)?
        .strip_suffix('@')
}

fn kind_of(change: &Change) -> &'static str {
    match change {
        Change::Create(_) => "create",
        Change::Update { .. } => "update",
        Change::Delete(_) => "delete",
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::Create(resource) => format!("  + create {}", resource.name()),
        Change::Update { resource, fields } => {
            format!("  ~ update {} ({})", resource.name(), fields.join(", "))
        }
        Change::Delete(name) if name.as_str().ends_with("/iamPolicy") => {
            format!("  - delete {name} (clears every binding)")
        }
        Change::Delete(name) => format!("  - delete {name}"),
    }
}

/// Sends one change.
async fn send(
    client: &Client,
    change: &Change,
    secrets: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    match change {
        Change::Create(resource) => create(client, resource, secrets, out).await,
        Change::Update { resource, .. } => update(client, resource).await,
        Change::Delete(name) => match name.as_str().strip_suffix("/iamPolicy") {
            // A project's IAM policy is never deleted, only emptied.
            Some(project) => client
                .post(
                    &format!("/api/v1/{project}:setIamPolicy"),
                    &json!({ "bindings": [] }),
                )
                .await
                .map(drop),
            None => client.delete(&format!("/api/v1/{name}")).await.map(drop),
        },
    }
}

async fn create(
    client: &Client,
    resource: &Resource,
    secrets: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    match resource {
        Resource::Environment(env) => {
            let mut body = environment_body(env);
            body["id"] = json!(env.id);
            client.post("/api/v1/environments", &body).await?;
        }
        Resource::Instance(instance) => {
            client
                .post(
                    "/api/v1/instances",
                    &json!({
                        "id": instance.id,
                        "engine": instance.engine.as_str(),
                        "url": instance.url.resolved(),
                        "environment": instance.environment,
                    }),
                )
                .await?;
        }
        Resource::Database(db) => {
            client
                .post(
                    &format!("/api/v1/instances/{}/databases", db.instance),
                    &json!({ "name": db.name, "environment": db.environment }),
                )
                .await?;
        }
        Resource::Project(project) => {
            client
                .post(
                    "/api/v1/projects",
                    &json!({ "id": project.id, "title": project.title }),
                )
                .await?;
            if !project.databases.is_empty() {
                update(client, resource).await?;
            }
        }
        Resource::ReviewPolicy(policy) => {
            update(client, &Resource::ReviewPolicy(policy.clone())).await?
        }
        Resource::User(user) => {
            let mut body = json!({ "email": user.email, "roles": roles(&user.roles) });
            if let Some(var) = &user.password_env {
                body["password"] = json!(secret_from(secrets, var)?);
            }
            client.post("/api/v1/users", &body).await?;
        }
        Resource::ServiceAccount(account) => {
            let mut body = json!({ "name": account.name, "roles": roles(&account.roles) });
            if let Some(var) = &account.key_env {
                body["key"] = json!(secret_from(secrets, var)?);
            }
            let created = client.post("/api/v1/serviceAccounts", &body).await?;
            if let Some(key) = created["key"].as_str() {
                writeln!(
                    out,
                    "    key of {} (shown once, store it now): {key}",
                    created["email"].as_str().unwrap_or(&account.name)
                )?;
            }
        }
        Resource::IamPolicy(_) => update(client, resource).await?,
    }
    Ok(())
}

async fn update(client: &Client, resource: &Resource) -> anyhow::Result<()> {
    match resource {
        Resource::Environment(env) => {
            client
                .patch(
                    &format!("/api/v1/environments/{}", env.id),
                    &environment_body(env),
                )
                .await?;
        }
        Resource::Instance(instance) => {
            client
                .patch(
                    &format!("/api/v1/instances/{}", instance.id),
                    &json!({
                        "engine": instance.engine.as_str(),
                        "url": instance.url.resolved(),
                        "environment": instance.environment,
                    }),
                )
                .await?;
        }
        Resource::Database(db) => {
            client
                .patch(
                    &format!("/api/v1/{}", db.resource_name()),
                    &json!({ "environment": db.environment }),
                )
                .await?;
        }
        Resource::Project(project) => {
            client
                .patch(
                    &format!("/api/v1/projects/{}", project.id),
                    &json!({ "title": project.title, "databases": project.databases }),
                )
                .await?;
        }
        Resource::ReviewPolicy(policy) => {
            let review = serde_json::to_value(&policy.review)
                .context("the review table cannot be sent as JSON")?;
            client
                .put(
                    &format!("/api/v1/{}/reviewPolicy", policy.attach),
                    &json!({ "review": review }),
                )
                .await?;
        }
        Resource::User(user) => {
            client
                .patch(
                    &format!("/api/v1/users/{}", user.email),
                    &json!({ "roles": roles(&user.roles) }),
                )
                .await?;
        }
        Resource::ServiceAccount(account) => {
            client
                .patch(
                    &format!("/api/v1/serviceAccounts/{}", account.name),
                    &json!({ "roles": roles(&account.roles) }),
                )
                .await?;
        }
        Resource::IamPolicy(policy) => {
            let bindings: Vec<Value> = policy
                .bindings
                .iter()
                .map(|binding| {
                    json!({
                        "role": binding.role.as_str(),
                        "members": binding.members.iter().map(Member::to_api).collect::<Vec<_>>(),
                    })
                })
                .collect();
            client
                .post(
                    &format!("/api/v1/projects/{}:setIamPolicy", policy.project),
                    &json!({ "bindings": bindings }),
                )
                .await?;
        }
    }
    Ok(())
}

fn secret_from(secrets: &dyn Fn(&str) -> Option<String>, var: &str) -> anyhow::Result<String> {
    secrets(var).with_context(|| format!("the environment variable `{var}` is not set"))
}

fn roles(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

fn environment_body(env: &Environment) -> Value {
    json!({ "title": env.title, "order": env.order, "policy": policy_json(&env.policy) })
}

/// The server's rollout policy format.
fn policy_json(policy: &RolloutPolicy) -> Value {
    match policy {
        RolloutPolicy::Automatic => json!({ "rollout": "automatic" }),
        RolloutPolicy::Manual { roles } => json!({ "rollout": "manual", "roles": roles }),
    }
}

fn policy_from_json(value: &Value) -> anyhow::Result<RolloutPolicy> {
    match value["rollout"].as_str() {
        Some("automatic") | None => Ok(RolloutPolicy::Automatic),
        Some("manual") => Ok(RolloutPolicy::Manual {
            roles: value["roles"]
                .as_array()
                .map(|roles| {
                    roles
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }),
        Some(other) => anyhow::bail!("the server returned an unknown rollout policy `{other}`"),
    }
}

fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the server's response lacks `{field}`: {value}"))
}

fn parse_roles(value: &Value) -> anyhow::Result<Vec<Role>> {
    let mut roles: Vec<Role> = value["roles"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|name| name.parse::<Role>().map_err(anyhow::Error::from))
        .collect::<anyhow::Result<_>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// The server's current workspace, normalized like `rollgate_workspace::parse`
/// output. With `desired`, secrets the server never returns are filled in
/// from it where they are known to match (instance URLs, via `:matchUrl`) or
/// cannot be compared (initial passwords, key variables).
pub async fn read_current(
    client: &Client,
    desired: Option<&Workspace>,
) -> anyhow::Result<Workspace> {
    let mut current = Workspace::default();

    let mut environments = client.list("/api/v1/environments", "environments").await?;
    environments.sort_by_key(|e| e["order"].as_i64().unwrap_or(i64::MAX));
    for (position, env) in environments.iter().enumerate() {
        current.environments.push(Environment {
            id: text(env, "id")?,
            title: text(env, "title")?,
            order: u32::try_from(position).unwrap_or(u32::MAX),
            policy: policy_from_json(&env["policy"])?,
        });
    }

    for instance in client.list("/api/v1/instances", "instances").await? {
        let id = text(&instance, "id")?;
        let shown = text(&instance, "url")?;
        let engine = match instance["engine"].as_str() {
            Some("postgres") => Engine::Postgres,
            Some("mysql") => Engine::Mysql,
            Some("sqlite") => Engine::Sqlite,
            other => anyhow::bail!("instances/{id}: unknown engine {other:?}"),
        };
        let mut url = InstanceUrl::new(shown.clone(), shown);
        if let Some(wanted) = desired.and_then(|d| d.instances.iter().find(|i| i.id == id)) {
            let matched = client
                .post(
                    &format!("/api/v1/instances/{id}:matchUrl"),
                    &json!({ "url": wanted.url.resolved() }),
                )
                .await?;
            if matched["matches"].as_bool() == Some(true) {
                url = wanted.url.clone();
            }
        }
        current.instances.push(Instance {
            id,
            engine,
            url,
            environment: instance["environment"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }

    for db in client.list("/api/v1/databases", "databases").await? {
        current.databases.push(Database {
            instance: text(&db, "instance")?,
            name: text(&db, "database")?,
            environment: text(&db, "environment")?,
        });
    }

    for project in client.list("/api/v1/projects", "projects").await? {
        let mut databases: Vec<String> = project["databases"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        databases.sort();
        current.projects.push(Project {
            id: text(&project, "id")?,
            title: text(&project, "title")?,
            databases,
        });
    }

    for project in &current.projects {
        let bindings = read_iam_policy(client, &project.id).await?;
        if !bindings.is_empty() {
            current.iam_policies.push(IamPolicy {
                project: project.id.clone(),
                bindings,
            });
        }
    }

    for policy in client
        .list("/api/v1/reviewPolicies", "reviewPolicies")
        .await?
    {
        let review: toml::Table = serde_json::from_value(policy["review"].clone())
            .context("the server returned a review policy that is not a table")?;
        current.review_policies.push(ReviewPolicy {
            attach: text(&policy, "attach")?,
            review,
        });
    }

    for user in client.list("/api/v1/users", "users").await? {
        let email = text(&user, "email")?;
        let password_env = desired
            .and_then(|d| d.users.iter().find(|u| u.email == email))
            .and_then(|u| u.password_env.clone());
        current.users.push(User {
            roles: parse_roles(&user)?,
            email,
            password_env,
        });
    }

    for account in client
        .list("/api/v1/serviceAccounts", "serviceAccounts")
        .await?
    {
        let email = text(&account, "email")?;
        let name = service_account_name(&email).unwrap_or(&email).to_string();
        let key_env = desired
            .and_then(|d| d.service_accounts.iter().find(|s| s.name == name))
            .and_then(|s| s.key_env.clone());
        current.service_accounts.push(ServiceAccount {
            roles: parse_roles(&account)?,
            name,
            key_env,
        });
    }

    current.instances.sort_by(|a, b| a.id.cmp(&b.id));
    current.databases.sort_by_key(Database::resource_name);
    current.projects.sort_by(|a, b| a.id.cmp(&b.id));
    current
        .review_policies
        .sort_by(|a, b| a.attach.cmp(&b.attach));
    current.users.sort_by(|a, b| a.email.cmp(&b.email));
    current.service_accounts.sort_by(|a, b| a.name.cmp(&b.name));
    current
        .iam_policies
        .sort_by(|a, b| a.project.cmp(&b.project));
    Ok(current)
}

/// A project's IAM bindings, normalized like `rollgate_workspace::parse`
/// output: one per role, sorted by role, members sorted and deduplicated.
async fn read_iam_policy(client: &Client, project: &str) -> anyhow::Result<Vec<IamBinding>> {
    let policy = client
        .get(&format!("/api/v1/projects/{project}:getIamPolicy"))
        .await?;
    let mut roles = BTreeMap::<Role, Vec<Member>>::new();
    for binding in policy["bindings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let role: Role = text(binding, "role")?
            .parse()
            .with_context(|| format!("projects/{project}: the server returned an unknown role"))?;
        let members = roles.entry(role).or_default();
        for member in binding["members"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let written = member.as_str().unwrap_or_default();
            members.push(Member::parse(written).with_context(|| {
                format!("projects/{project}: the server returned an unknown member `{written}`")
            })?);
        }
    }
    Ok(roles
        .into_iter()
        .filter_map(|(role, mut members)| {
            members.sort();
            members.dedup();
            (!members.is_empty()).then_some(IamBinding { role, members })
        })
        .collect())
}
