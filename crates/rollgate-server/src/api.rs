//! `/api/v1` handlers. Each resource handler starts with [`Principal`] and
//! checks exactly the permission [`crate::ENDPOINT_PERMISSIONS`] names for it;
//! each mutating handler appends an audit entry, whatever its outcome.
//! Wire types (the `*Dto`s) are separate from the store's domain types.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollgate_auth::token::{self, TokenHash, TokenKind};
use rollgate_auth::{Permission, Role, hash_password, verify_password};
use rollgate_store::{
    AuditEntry, Environment, NewAuditEntry, PageRequest, Project, SERVICE_ACCOUNT_DOMAIN, Session,
    User,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    token: String,
    expire_time: String,
}

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
            &email,
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
            &email,
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
    audit(&state, &email, "rg.auth.login", &email, "OK").await;
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
        let Ok(parsed) = token::parse(&password) else {
            return Ok(false);
        };
        let Ok(stored) = TokenHash::from_hex(&account.key_hash) else {
            return Ok(false);
        };
        return Ok(parsed.kind == TokenKind::ServiceAccount && parsed.hash() == stored);
    }
    let user = match store_call!(store, s => s.get_user(email).await) {
        Ok(user) => Some(user),
        Err(rollgate_store::StoreError::NotFound { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    // An unknown user costs one hash too, so timing does not tell which
    // emails exist.
    let phc = user.map_or_else(|| dummy_hash().to_string(), |u| u.password_hash);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetupRequest {
    token: String,
    email: String,
    password: String,
}

pub(crate) async fn setup(
    State(state): State<AppState>,
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
        "setup",
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ListQuery {
    #[serde(default)]
    page_size: u32,
    #[serde(default)]
    page_token: Option<String>,
}

impl ListQuery {
    pub(crate) fn page(self) -> PageRequest {
        PageRequest {
            page_size: self.page_size,
            page_token: self.page_token.filter(|t| !t.is_empty()),
        }
    }
}

// ---- Environments ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentDto {
    name: String,
    id: String,
    title: String,
    order: i64,
    policy: serde_json::Value,
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

#[derive(Deserialize)]
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

pub(crate) async fn list_environments(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::EnvironmentsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_environments(&query.page()).await)?;
    let items: Vec<EnvironmentDto> = page.items.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "environments": items, "nextPageToken": page.next_page_token }),
    ))
}

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

pub(crate) async fn create_environment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateEnvironmentRequest>,
) -> Result<Response, AppError> {
    principal.require(Permission::EnvironmentsCreate)?;
    validate_id("id", &request.id)?;
    let policy = request
        .policy
        .unwrap_or_else(|| json!({ "rollout": "automatic" }));
    if !policy.is_object() {
        return Err(AppError::invalid_argument("`policy` must be a JSON object"));
    }
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
    let created = store_call!(store, s => s.create_environment(&env).await);
    let resource = format!("environments/{}", env.id);
    audit_outcome(
        &state,
        &principal.name,
        "rg.environments.create",
        &resource,
        &created,
    )
    .await;
    created?;
    Ok((StatusCode::CREATED, Json(EnvironmentDto::from(env))).into_response())
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

#[derive(Serialize)]
pub(crate) struct ProjectDto {
    name: String,
    id: String,
    title: String,
}

impl From<Project> for ProjectDto {
    fn from(project: Project) -> ProjectDto {
        ProjectDto {
            name: format!("projects/{}", project.id),
            id: project.id,
            title: project.title,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProjectRequest {
    id: String,
    #[serde(default)]
    title: Option<String>,
}

pub(crate) async fn list_projects(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::ProjectsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_projects(&query.page()).await)?;
    let items: Vec<ProjectDto> = page.items.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "projects": items, "nextPageToken": page.next_page_token }),
    ))
}

pub(crate) async fn get_project(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ProjectDto>, AppError> {
    principal.require(Permission::ProjectsGet)?;
    let store = &state.inner.store;
    let project = store_call!(store, s => s.get_project(&id).await)?;
    Ok(Json(project.into()))
}

pub(crate) async fn create_project(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateProjectRequest>,
) -> Result<Response, AppError> {
    principal.require(Permission::ProjectsCreate)?;
    validate_id("id", &request.id)?;
    let project = Project {
        title: request.title.unwrap_or_else(|| request.id.clone()),
        id: request.id,
    };
    let store = &state.inner.store;
    let created = store_call!(store, s => s.create_project(&project).await);
    let resource = format!("projects/{}", project.id);
    audit_outcome(
        &state,
        &principal.name,
        "rg.projects.create",
        &resource,
        &created,
    )
    .await;
    created?;
    Ok((StatusCode::CREATED, Json(ProjectDto::from(project))).into_response())
}

// ---- Audit log ----

#[derive(Serialize)]
pub(crate) struct AuditEntryDto {
    id: i64,
    actor: String,
    action: String,
    resource: String,
    outcome: String,
    time: String,
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
        }
    }
}

pub(crate) async fn list_audit_logs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::AuditLogsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_audit(&query.page()).await)?;
    let items: Vec<AuditEntryDto> = page.items.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "auditLogs": items, "nextPageToken": page.next_page_token }),
    ))
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
    actor: &str,
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

/// Appends an audit entry. A failed append is logged, not returned: the
/// call it records has already happened.
pub(crate) async fn audit(
    state: &AppState,
    actor: &str,
    action: &str,
    resource: &str,
    outcome: &str,
) {
    let entry = NewAuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        resource: resource.to_string(),
        outcome: outcome.to_string(),
        at: now_unix(),
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
