//! `/api/v1` handlers. Each resource handler starts with [`Principal`] and
//! checks exactly the permission [`crate::ENDPOINT_PERMISSIONS`] names for it;
//! each mutating handler appends an audit entry, whatever its outcome.
//! Wire types (the `*Dto`s) are separate from the store's domain types.

use std::net::IpAddr;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollgate_auth::token::{self, TokenHash, TokenKind};
use rollgate_auth::{Permission, Role, hash_password, verify_password};
use rollgate_store::{
    AuditEntry, Environment, NewAuditEntry, Page, PageRequest, Project, SERVICE_ACCOUNT_DOMAIN,
    Session, User,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Principal};
use crate::ratelimit::WINDOW_SECONDS;
use crate::store::store_call;
use crate::time::{now_unix, rfc3339};

/// Session lifetime.
pub const SESSION_SECONDS: i64 = 3600;

// ---- Authentication ----

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    token: String,
    expire_time: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    summary = "Log in with email and password (or a service account's email and key)",
    request_body = LoginRequest,
    responses((status = 200, description = "A session token", body = LoginResponse))
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, AppError> {
    let now = now_unix();
    let email = request.email.trim().to_string();
    let limiter = &state.inner.limiter;
    if let Some(wait) = limiter.check(&email, addr, now) {
        audit(
            &state,
            Actor::new(&email, addr),
            "rg.auth.login",
            &email,
            "DENIED: rate limited",
        )
        .await;
        let mut response = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            format!(
                "too many failed logins for this account or address; retry in {wait} s (limit per {WINDOW_SECONDS} s)"
            ),
        )
        .with_details(json!({ "retryAfterSeconds": wait }))
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(response);
    }
    if !credentials_valid(&state, &email, request.password).await? {
        limiter.record_failure(&email, addr, now);
        audit(
            &state,
            Actor::new(&email, addr),
            "rg.auth.login",
            &email,
            "DENIED: bad credentials",
        )
        .await;
        // One message for unknown account and wrong password: no account enumeration.
        return Err(AppError::unauthenticated("wrong email or password"));
    }
    limiter.record_success(&email);
    let (secret, hash) = token::generate(TokenKind::Session);
    let expires_at = now + SESSION_SECONDS;
    let session = Session {
        token_hash: hash.as_str().to_string(),
        principal: email.clone(),
        expires_at,
    };
    let store = &state.inner.store;
    store_call!(store, s => s.create_session(&session).await)?;
    audit(
        &state,
        Actor::new(&email, addr),
        "rg.auth.login",
        &email,
        "OK",
    )
    .await;
    Ok(Json(LoginResponse {
        token: secret.expose().to_string(),
        expire_time: rfc3339(expires_at),
    })
    .into_response())
}

async fn credentials_valid(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<bool, AppError> {
    let store = &state.inner.store;
    if email.ends_with(SERVICE_ACCOUNT_DOMAIN) {
        let account = match store_call!(store, s => s.get_service_account(email).await) {
            Ok(account) => account,
            Err(rollgate_store::StoreError::NotFound { .. }) => return Ok(false),
            Err(error) => return Err(error.into()),
        };
        let Ok(stored) = TokenHash::from_hex(&account.key_hash) else {
            return Ok(false);
        };
        // The key is a generated `rgs_` key or one the account's creator
        // chose (at least 32 characters): either way its SHA-256 is stored.
        return Ok(TokenHash::of(&password) == stored);
    }
    let user = match store_call!(store, s => s.get_user(email).await) {
        Ok(user) => Some(user),
        Err(rollgate_store::StoreError::NotFound { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    // An unknown user costs one hash too, so timing does not tell which
    // emails exist.
    // A user created without a password (empty hash) cannot log in until
    // one is set; it costs the same hash as an unknown one.
    let phc = user
        .map(|u| u.password_hash)
        .filter(|phc| !phc.is_empty())
        .unwrap_or_else(|| dummy_hash().to_string());
    let exists = phc != dummy_hash();
    let valid = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|_| AppError::internal())?;
    Ok(exists && valid)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("rollgate-dummy-password-for-timing"))
}

// ---- First-start setup ----

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetupRequest {
    token: String,
    email: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/setup",
    tag = "auth",
    operation_id = "setup",
    summary = "Create the first Workspace Admin with the one-time setup token",
    request_body = SetupRequest,
    responses((status = 201, description = "The first Workspace Admin", body = crate::openapi::SetupResponseSchema))
)]
pub(crate) async fn setup(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(request): ApiJson<SetupRequest>,
) -> Result<Response, AppError> {
    let email = request.email.trim().to_string();
    validate_new_user(&email, &request.password)?;
    let pending = {
        let mut slot = state
            .inner
            .setup_token
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(expected) = slot.as_ref() else {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                "setup is not pending: it was completed or an admin was bootstrapped; log in instead",
            ));
        };
        if TokenHash::of(request.token.trim()) != *expected {
            return Err(AppError::unauthenticated(
                "the setup token is wrong; use the one the server printed on first start",
            ));
        }
        // Taken under the lock so that two concurrent requests cannot both use it.
        slot.take()
    };
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| AppError::internal())?;
    let user = User {
        email: email.clone(),
        password_hash,
        roles: vec![workspace_admin_role()],
    };
    let store = &state.inner.store;
    let created = store_call!(store, s => s.create_user(&user).await);
    audit_outcome(
        &state,
        Actor::new("setup", addr),
        "rg.setup",
        &format!("users/{email}"),
        &created,
    )
    .await;
    if let Err(error) = created {
        // Give the token back so the operator can retry.
        *state
            .inner
            .setup_token
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = pending;
        return Err(error.into());
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": format!("users/{email}"), "email": email, "roles": user.roles })),
    )
        .into_response())
}

pub(crate) fn workspace_admin_role() -> String {
    format!("roles/{}", Role::WorkspaceAdmin.id())
}

pub(crate) fn validate_new_user(email: &str, password: &str) -> Result<(), AppError> {
    let Some((local, domain)) = email.split_once('@') else {
        return Err(AppError::invalid_argument(
            "`email` must be an email address",
        ));
    };
    if local.is_empty() || domain.is_empty() || email.ends_with(SERVICE_ACCOUNT_DOMAIN) {
        return Err(AppError::invalid_argument(format!(
            "`email` must be a user's email address, not empty and not ending in {SERVICE_ACCOUNT_DOMAIN}"
        )));
    }
    if password.chars().count() < 8 {
        return Err(AppError::invalid_argument(
            "`password` must be at least 8 characters",
        ));
    }
    Ok(())
}

// ---- Lists ----

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    #[serde(default)]
    pub(crate) page_size: u32,
    #[serde(default)]
    pub(crate) page_token: Option<String>,
}

impl ListQuery {
    pub(crate) fn page(self) -> PageRequest {
        PageRequest {
            page_size: self.page_size,
            page_token: self.page_token.filter(|t| !t.is_empty()),
        }
    }
}

/// A list endpoint's body: `{"<key>": [dto, ...], "nextPageToken": ...}`,
/// each item of `page` mapped through `dto`; the token is `null` on the last
/// page.
pub(crate) fn page_json<T, D: Serialize>(
    key: &str,
    page: Page<T>,
    dto: impl FnMut(T) -> D,
) -> Json<serde_json::Value> {
    let items: Vec<D> = page.items.into_iter().map(dto).collect();
    let mut body = serde_json::Map::new();
    body.insert(key.to_string(), json!(items));
    body.insert("nextPageToken".to_string(), json!(page.next_page_token));
    Json(serde_json::Value::Object(body))
}

// ---- Environments ----

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentDto {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) order: i64,
    pub(crate) policy: serde_json::Value,
}

impl From<Environment> for EnvironmentDto {
    fn from(env: Environment) -> EnvironmentDto {
        EnvironmentDto {
            name: format!("environments/{}", env.id),
            policy: serde_json::from_str(&env.policy_json).unwrap_or(serde_json::Value::Null),
            id: env.id,
            title: env.title,
            order: env.order,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateEnvironmentRequest {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    order: Option<i64>,
    #[serde(default)]
    policy: Option<serde_json::Value>,
}

#[utoipa::path(
    get,
    path = "/api/v1/environments",
    tag = "environments",
    operation_id = "listEnvironments",
    summary = "List environments",
    params(ListQuery),
    responses((status = 200, description = "A page of environments", body = crate::openapi::EnvironmentPage))
)]
pub(crate) async fn list_environments(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::EnvironmentsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_environments(&query.page()).await)?;
    Ok(page_json("environments", page, EnvironmentDto::from))
}

#[utoipa::path(
    get,
    path = "/api/v1/environments/{id}",
    tag = "environments",
    operation_id = "getEnvironment",
    summary = "Get an environment",
    params(("id" = String, Path, description = "The resource id")),
    responses((status = 200, description = "The environment", body = EnvironmentDto))
)]
pub(crate) async fn get_environment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EnvironmentDto>, AppError> {
    principal.require(Permission::EnvironmentsGet)?;
    let store = &state.inner.store;
    let env = store_call!(store, s => s.get_environment(&id).await)?;
    Ok(Json(env.into()))
}

#[utoipa::path(
    post,
    path = "/api/v1/environments",
    tag = "environments",
    operation_id = "createEnvironment",
    summary = "Create an environment",
    request_body = CreateEnvironmentRequest,
    responses((status = 201, description = "The created environment", body = EnvironmentDto))
)]
pub(crate) async fn create_environment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateEnvironmentRequest>,
) -> Result<Response, AppError> {
    let resource = format!("environments/{}", request.id);
    let result = async {
        principal.require(Permission::EnvironmentsCreate)?;
        validate_id("id", &request.id)?;
        let policy = validate_policy(
            request
                .policy
                .unwrap_or_else(|| json!({ "rollout": "automatic" })),
        )?;
        let store = &state.inner.store;
        let order = match request.order {
            Some(order) => order,
            None => next_environment_order(&state).await?,
        };
        let env = Environment {
            title: request.title.unwrap_or_else(|| request.id.clone()),
            id: request.id,
            order,
            policy_json: policy.to_string(),
        };
        store_call!(store, s => s.create_environment(&env).await)?;
        Ok((StatusCode::CREATED, Json(EnvironmentDto::from(env))).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.environments.create",
        &resource,
        &result,
    )
    .await;
    result
}

/// An environment's rollout policy: `{"rollout":"automatic"}` or
/// `{"rollout":"manual","roles":["roles/projectReleaser", …]}` (roles that may
/// run its tasks besides holders of `rg.taskRuns.create`). Returns it with
/// role names in their `roles/…` form.
pub(crate) fn validate_policy(policy: serde_json::Value) -> Result<serde_json::Value, AppError> {
    let invalid = |field: &str, message: String| {
        AppError::invalid_argument(format!("`{field}` {message}"))
            .with_details(json!({ "field": field }))
    };
    let Some(object) = policy.as_object() else {
        return Err(invalid(
            "policy",
            "must be a JSON object like {\"rollout\":\"automatic\"}".into(),
        ));
    };
    if let Some(key) = object.keys().find(|k| *k != "rollout" && *k != "roles") {
        return Err(invalid(
            &format!("policy.{key}"),
            "is not a policy setting; use `rollout` and `roles`".into(),
        ));
    }
    match object.get("rollout").and_then(|v| v.as_str()) {
        Some("automatic") => {
            if object.contains_key("roles") {
                return Err(invalid(
                    "policy.roles",
                    "applies only to a manual rollout; remove it or set `rollout` to `manual`"
                        .into(),
                ));
            }
            Ok(json!({ "rollout": "automatic" }))
        }
        Some("manual") => {
            let roles = match object.get("roles") {
                None => Vec::new(),
                Some(serde_json::Value::Array(items)) => {
                    let mut roles = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let role = item
                            .as_str()
                            .and_then(|name| name.parse::<Role>().ok())
                            .ok_or_else(|| {
                                invalid(
                                    &format!("policy.roles[{i}]"),
                                    format!("must be a role name, one of {}", role_names()),
                                )
                            })?;
                        let name = format!("roles/{}", role.id());
                        if !roles.contains(&name) {
                            roles.push(name);
                        }
                    }
                    roles
                }
                Some(_) => {
                    return Err(invalid(
                        "policy.roles",
                        "must be a list of role names".into(),
                    ));
                }
            };
            Ok(json!({ "rollout": "manual", "roles": roles }))
        }
        _ => Err(invalid(
            "policy.rollout",
            "must be `automatic` or `manual`".into(),
        )),
    }
}

/// `roles/workspaceAdmin, …`, for error messages.
pub(crate) fn role_names() -> String {
    Role::ALL
        .iter()
        .map(|role| format!("roles/{}", role.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One past the highest order, so environments created without one go last.
async fn next_environment_order(state: &AppState) -> Result<i64, AppError> {
    let store = &state.inner.store;
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    let mut max = -1;
    loop {
        let result = store_call!(store, s => s.list_environments(&page).await)?;
        max = result.items.iter().map(|e| e.order).fold(max, i64::max);
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(max + 1),
        }
    }
}

// ---- Projects ----

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProjectDto {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) title: String,
    /// `instances/{i}/databases/{d}`, ordered.
    pub(crate) databases: Vec<String>,
}

impl ProjectDto {
    /// The project with its databases.
    pub(crate) async fn load(state: &AppState, project: Project) -> Result<ProjectDto, AppError> {
        let store = &state.inner.store;
        let mut databases = Vec::new();
        let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
        loop {
            let result =
                store_call!(store, s => s.list_project_databases(&project.id, &page).await)?;
            databases.extend(result.items.iter().map(ToString::to_string));
            match result.next_page_token {
                Some(token) => page.page_token = Some(token),
                None => break,
            }
        }
        Ok(ProjectDto {
            name: format!("projects/{}", project.id),
            id: project.id,
            title: project.title,
            databases,
        })
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProjectRequest {
    id: String,
    #[serde(default)]
    title: Option<String>,
}

/// With `rg.projects.list` from a workspace-wide role: every project. With
/// it only from project bindings: the projects where the principal holds
/// `rg.projects.get`, so nobody sees a project it has no role in.
#[utoipa::path(
    get,
    path = "/api/v1/projects",
    tag = "projects",
    operation_id = "listProjects",
    summary = "List projects",
    params(ListQuery),
    responses((status = 200, description = "A page of projects", body = crate::openapi::ProjectPage))
)]
pub(crate) async fn list_projects(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let store = &state.inner.store;
    let page = query.page();
    let (projects, next_page_token) = if principal.require(Permission::ProjectsList).is_ok() {
        let result = store_call!(store, s => s.list_projects(&page).await)?;
        (result.items, result.next_page_token)
    } else {
        let listable = principal
            .bound_projects_granting(&state, Permission::ProjectsList)
            .await?;
        if listable.is_empty() {
            return Err(principal.denied(Permission::ProjectsList, None));
        }
        let visible = principal
            .bound_projects_granting(&state, Permission::ProjectsGet)
            .await?;
        let after = page.page_token.clone();
        let limit = match page.page_size {
            0 => rollgate_store::DEFAULT_PAGE_SIZE,
            n => n.min(rollgate_store::MAX_PAGE_SIZE),
        } as usize;
        let mut ids: Vec<String> = visible
            .into_iter()
            .filter(|id| after.as_ref().is_none_or(|after| id > after))
            .collect();
        let next = if ids.len() > limit {
            ids.truncate(limit);
            ids.last().cloned()
        } else {
            None
        };
        let mut projects = Vec::with_capacity(ids.len());
        for id in ids {
            match store_call!(store, s => s.get_project(&id).await) {
                Ok(project) => projects.push(project),
                // Deleted between the two reads.
                Err(rollgate_store::StoreError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        (projects, next)
    };
    let mut items = Vec::with_capacity(projects.len());
    for project in projects {
        items.push(ProjectDto::load(&state, project).await?);
    }
    Ok(Json(
        json!({ "projects": items, "nextPageToken": next_page_token }),
    ))
}

pub(crate) async fn get_project(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Json<ProjectDto>, AppError> {
    principal
        .require_in_project(state, Permission::ProjectsGet, id)
        .await?;
    let store = &state.inner.store;
    let project = store_call!(store, s => s.get_project(id).await)?;
    Ok(Json(ProjectDto::load(state, project).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/projects",
    tag = "projects",
    operation_id = "createProject",
    summary = "Create a project",
    request_body = CreateProjectRequest,
    responses((status = 201, description = "The created project", body = ProjectDto))
)]
pub(crate) async fn create_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateProjectRequest>,
) -> Result<Response, AppError> {
    let resource = format!("projects/{}", request.id);
    let result = async {
        principal.require(Permission::ProjectsCreate)?;
        validate_id("id", &request.id)?;
        let project = Project {
            title: request.title.unwrap_or_else(|| request.id.clone()),
            id: request.id,
        };
        let store = &state.inner.store;
        store_call!(store, s => s.create_project(&project).await)?;
        Ok((
            StatusCode::CREATED,
            Json(ProjectDto::load(&state, project).await?),
        )
            .into_response())
    }
    .await;
    audit_result(&state, &principal, "rg.projects.create", &resource, &result).await;
    result
}

// ---- Audit log ----

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditEntryDto {
    id: i64,
    actor: String,
    action: String,
    resource: String,
    outcome: String,
    time: String,
    /// The client's address, when known.
    address: Option<String>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(entry: AuditEntry) -> AuditEntryDto {
        AuditEntryDto {
            id: entry.id,
            actor: entry.actor,
            action: entry.action,
            resource: entry.resource,
            outcome: entry.outcome,
            time: rfc3339(entry.at),
            address: entry.address,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/auditLogs",
    tag = "auditLogs",
    operation_id = "listAuditLogs",
    summary = "List audit log entries",
    params(ListQuery),
    responses((status = 200, description = "A page of audit entries, newest first", body = crate::openapi::AuditLogPage))
)]
pub(crate) async fn list_audit_logs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::AuditLogsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_audit(&query.page()).await)?;
    Ok(page_json("auditLogs", page, AuditEntryDto::from))
}

// ---- Helpers ----

/// Resource ids: lowercase letters, digits and `-`, starting with a letter,
/// at most 63 characters (they appear in resource names and URLs).
pub(crate) fn validate_id(field: &str, id: &str) -> Result<(), AppError> {
    let valid = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid_argument(format!(
            "`{field}` must be 1-63 characters of a-z, 0-9 and `-`, starting with a letter"
        ))
        .with_details(json!({ "field": field })))
    }
}

pub(crate) async fn audit_outcome<T>(
    state: &AppState,
    actor: impl Into<Actor>,
    action: &str,
    resource: &str,
    result: &Result<T, rollgate_store::StoreError>,
) {
    let outcome = match result {
        Ok(_) => "OK".to_string(),
        Err(error) => format!("ERROR: {}", AppError::from_store_ref(error)),
    };
    audit(state, actor, action, resource, &outcome).await;
}

/// Appends the outcome of a handler's whole result to the audit log:
/// `OK`, `DENIED: PERMISSION_DENIED` or `ERROR: <code>`. Handlers that wrap
/// their permission check, validation and store calls in one result record
/// every outcome this way.
///
/// Not an `async fn`: the outcome is read before the returned future, so the
/// future does not hold `result` (a `Response` is not `Sync`).
pub(crate) fn audit_result<'a, T>(
    state: &'a AppState,
    actor: impl Into<Actor>,
    action: &'a str,
    resource: &'a str,
    result: &Result<T, AppError>,
) -> impl std::future::Future<Output = ()> + Send + 'a {
    let outcome = match result {
        Ok(_) => "OK".to_string(),
        Err(error) if error.status == StatusCode::FORBIDDEN => format!("DENIED: {}", error.code),
        Err(error) => format!("ERROR: {}", error.code),
    };
    let actor = actor.into();
    async move { audit(state, actor, action, resource, &outcome).await }
}

/// Who did something, and from which address: the "who" and "from where" of
/// an audit entry.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) name: String,
    pub(crate) address: Option<IpAddr>,
}

impl Actor {
    pub(crate) fn new(name: &str, address: Option<IpAddr>) -> Actor {
        Actor {
            name: name.to_string(),
            address,
        }
    }
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Actor {
        Actor::new(&principal.name, principal.address)
    }
}

/// Appends an audit entry. A failed append is logged, not returned: the
/// call it records has already happened.
pub(crate) async fn audit(
    state: &AppState,
    actor: impl Into<Actor>,
    action: &str,
    resource: &str,
    outcome: &str,
) {
    let actor = actor.into();
    let entry = NewAuditEntry {
        actor: actor.name,
        action: action.to_string(),
        resource: resource.to_string(),
        outcome: outcome.to_string(),
        at: now_unix(),
        address: actor.address.map(|a| a.to_string()),
    };
    let store = &state.inner.store;
    if let Err(error) = store_call!(store, s => s.append_audit(&entry).await) {
        tracing::error!(%error, action, resource, "could not append an audit entry");
    }
}

impl AppError {
    /// The code of the error a store error becomes, for audit outcomes.
    fn from_store_ref(error: &rollgate_store::StoreError) -> &'static str {
        match error {
            rollgate_store::StoreError::NotFound { .. } => "NOT_FOUND",
            rollgate_store::StoreError::Conflict { .. } => "ALREADY_EXISTS",
            rollgate_store::StoreError::Invalid { .. } => "INVALID_ARGUMENT",
            rollgate_store::StoreError::Database { .. } => "UNAVAILABLE",
        }
    }
}
