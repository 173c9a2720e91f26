//! Who may do what: users, service accounts, project IAM policies, and the
//! project and environment edits that belong with them (project PATCH with its
//! database set, project DELETE, environment PATCH and DELETE).
//!
//! Each handler checks one permission ([`crate::ENDPOINT_PERMISSIONS`]);
//! those under `/projects/{project}` check it in the project
//! ([`Principal::require_in_project`]). Mutating handlers run their check,
//! validation and store calls as one result and audit it, so denials and
//! invalid requests are in the audit log too. No response carries a password
//! hash or a key hash; a service account key is shown once, when the server
//! generated it.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rollgate_auth::token::{self, TokenHash, TokenKind};
use rollgate_auth::{Permission, Role, RoleScope, has_permission, hash_password};
use rollgate_store::{
    DatabaseRef, Environment, IamBinding, PageRequest, Project, SERVICE_ACCOUNT_DOMAIN,
    ServiceAccount, StoreError, User,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::api::{
    EnvironmentDto, ListQuery, ProjectDto, audit_result, get_project, page_json, role_names,
    validate_id, validate_policy,
};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Principal};
use crate::store::store_call;

// ---- Custom methods (`/projects/{project}:getIamPolicy`) ----

/// Splits `shop:getIamPolicy` into (`shop`, `Some("getIamPolicy")`). The
/// router cannot match a suffix after a path parameter, so handlers of
/// `/{id}` dispatch on it.
pub(crate) fn custom_method(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once(':') {
        Some((id, method)) => (id, Some(method)),
        None => (segment, None),
    }
}

pub(crate) fn no_such_method(method: &str) -> AppError {
    AppError::not_found(format!(
        "no such endpoint: unknown custom method `:{method}`"
    ))
}

// ---- Projects: get (and :getIamPolicy), PATCH, DELETE, :setIamPolicy ----

/// `GET /projects/{project}` and `GET /projects/{project}:getIamPolicy`.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}",
    tag = "projects",
    operation_id = "getProjectOrPolicy",
    summary = "Get a project",
    params(("project" = String, Path, description = "The project id")),
    responses((status = 200, description = "The project", body = ProjectDto))
)]
pub(crate) async fn get_project_or_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(segment): Path<String>,
) -> Result<Response, AppError> {
    match custom_method(&segment) {
        (id, None) => Ok(get_project(&state, &principal, id).await?.into_response()),
        (id, Some("getIamPolicy")) => {
            principal
                .require_in_project(&state, Permission::ProjectsGetIamPolicy, id)
                .await?;
            let store = &state.inner.store;
            let bindings = store_call!(store, s => s.get_project_iam_policy(id).await)?;
            Ok(Json(PolicyDto::from(bindings)).into_response())
        }
        (_, Some(method)) => Err(no_such_method(method)),
    }
}

/// `POST /projects/{project}:setIamPolicy`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}:setIamPolicy",
    tag = "projects",
    operation_id = "postProjectMethod",
    summary = "Replace a project's IAM policy",
    params(("project" = String, Path, description = "The project id")),
    request_body = SetIamPolicyRequest,
    responses((status = 200, description = "The stored IAM policy", body = PolicyDto))
)]
pub(crate) async fn post_project_method(
    State(state): State<AppState>,
    principal: Principal,
    Path(segment): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let (id, method) = custom_method(&segment);
    if method != Some("setIamPolicy") {
        return Err(no_such_method(method.unwrap_or("")));
    }
    let resource = format!("projects/{id}");
    let result = async {
        principal
            .require_in_project(&state, Permission::ProjectsSetIamPolicy, id)
            .await?;
        let ApiJson(body) = ApiJson::<SetIamPolicyRequest>::from_request(request, &state).await?;
        let bindings = validate_bindings(&state, body.bindings).await?;
        let store = &state.inner.store;
        store_call!(store, s => s.set_project_iam_policy(id, &bindings).await)?;
        let stored = store_call!(store, s => s.get_project_iam_policy(id).await)?;
        Ok(Json(PolicyDto::from(stored)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.projects.setIamPolicy",
        &resource,
        &result,
    )
    .await;
    result
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BindingDto {
    role: String,
    members: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PolicyDto {
    bindings: Vec<BindingDto>,
}

impl From<Vec<IamBinding>> for PolicyDto {
    fn from(bindings: Vec<IamBinding>) -> PolicyDto {
        PolicyDto {
            bindings: bindings
                .into_iter()
                .map(|b| BindingDto {
                    role: b.role,
                    members: b.members,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetIamPolicyRequest {
    bindings: Vec<BindingDto>,
}

/// Roles must be project roles; members `user:EMAIL` or
/// `serviceAccount:EMAIL` of existing accounts.
async fn validate_bindings(
    state: &AppState,
    bindings: Vec<BindingDto>,
) -> Result<Vec<IamBinding>, AppError> {
    let store = &state.inner.store;
    let mut checked = Vec::with_capacity(bindings.len());
    for (i, binding) in bindings.into_iter().enumerate() {
        let field = format!("bindings[{i}].role");
        let role = binding
            .role
            .parse::<Role>()
            .map_err(|_| field_error(&field, format!("must be one of {}", project_role_names())))?;
        if role.scope() != RoleScope::Project {
            return Err(field_error(
                &field,
                format!(
                    "`roles/{}` is a workspace role; a project policy grants project roles: {}",
                    role.id(),
                    project_role_names()
                ),
            ));
        }
        let mut members = Vec::with_capacity(binding.members.len());
        for (j, member) in binding.members.into_iter().enumerate() {
            let field = format!("bindings[{i}].members[{j}]");
            let exists = if let Some(email) = member.strip_prefix("user:") {
                if email.ends_with(SERVICE_ACCOUNT_DOMAIN) {
                    return Err(field_error(
                        &field,
                        format!("`{member}` is a service account; write `serviceAccount:{email}`"),
                    ));
                }
                store_call!(store, s => s.get_user(email).await).map(|_| ())
            } else if let Some(email) = member.strip_prefix("serviceAccount:") {
                store_call!(store, s => s.get_service_account(email).await).map(|_| ())
            } else {
                return Err(field_error(
                    &field,
                    "must be `user:EMAIL` or `serviceAccount:NAME@service.rollgate.local`".into(),
                ));
            };
            match exists {
                Ok(()) => members.push(member),
                Err(StoreError::NotFound { .. }) => {
                    return Err(field_error(
                        &field,
                        format!("`{member}` does not exist; create the account first"),
                    ));
                }
                Err(error) => return Err(error.into()),
            }
        }
        checked.push(IamBinding {
            role: format!("roles/{}", role.id()),
            members,
        });
    }
    Ok(checked)
}

fn project_role_names() -> String {
    Role::ALL
        .iter()
        .filter(|role| role.scope() == RoleScope::Project)
        .map(|role| format!("roles/{}", role.id()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchProjectRequest {
    #[serde(default)]
    title: Option<String>,
    /// Replaces the project's database set.
    #[serde(default)]
    databases: Option<Vec<String>>,
}

/// `PATCH /projects/{project}` `{title?, databases?}`.
#[utoipa::path(
    patch,
    path = "/api/v1/projects/{project}",
    tag = "projects",
    operation_id = "patchProject",
    summary = "Update a project's title or database set",
    params(("project" = String, Path, description = "The project id")),
    request_body = PatchProjectRequest,
    responses((status = 200, description = "The updated project", body = ProjectDto))
)]
pub(crate) async fn patch_project(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PatchProjectRequest>,
) -> Result<Response, AppError> {
    let resource = format!("projects/{id}");
    let result = async {
        principal
            .require_in_project(&state, Permission::ProjectsUpdate, &id)
            .await?;
        let store = &state.inner.store;
        let mut project = store_call!(store, s => s.get_project(&id).await)?;
        let databases = match request.databases {
            Some(names) => Some(parse_database_set(&state, &names).await?),
            None => None,
        };
        if let Some(title) = &request.title {
            validate_title("title", title)?;
        }
        let current = project_databases(&state, &id).await?;
        if let Some(wanted) = &databases {
            for (i, db) in wanted.iter().enumerate() {
                if !current.contains(db) {
                    require_can_add_database(&state, &principal, db, i).await?;
                }
            }
        }
        if let Some(title) = request.title {
            project.title = title;
            store_call!(store, s => s.update_project(&project).await)?;
        }
        if let Some(wanted) = databases {
            // One transaction: an unknown database changes nothing.
            store_call!(store, s => s.set_project_databases(&id, &wanted).await)?;
        }
        let project: Project = store_call!(store, s => s.get_project(&id).await)?;
        Ok(Json(ProjectDto::load(&state, project).await?).into_response())
    }
    .await;
    audit_result(&state, &principal, "rg.projects.update", &resource, &result).await;
    result
}

/// `instances/{i}/databases/{d}` names, each of an existing database, once each.
async fn parse_database_set(
    state: &AppState,
    names: &[String],
) -> Result<Vec<DatabaseRef>, AppError> {
    let store = &state.inner.store;
    let mut set: Vec<DatabaseRef> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let field = format!("databases[{i}]");
        let key = parse_database_name(name).ok_or_else(|| {
            field_error(
                &field,
                "must be `instances/{instance}/databases/{database}`".into(),
            )
        })?;
        match store_call!(store, s => s.get_database(&key).await) {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(field_error(
                    &field,
                    format!("`{name}` does not exist; create the database first"),
                ));
            }
            Err(error) => return Err(error.into()),
        }
        if set.contains(&key) {
            return Err(field_error(&field, format!("`{name}` is listed twice")));
        }
        set.push(key);
    }
    Ok(set)
}

pub(crate) fn parse_database_name(name: &str) -> Option<DatabaseRef> {
    let rest = name.strip_prefix("instances/")?;
    let (instance, database) = rest.split_once("/databases/")?;
    if instance.is_empty() || database.is_empty() || database.contains('/') {
        return None;
    }
    Some(DatabaseRef::new(instance, database))
}

/// Every database of `project`.
async fn project_databases(state: &AppState, project: &str) -> Result<Vec<DatabaseRef>, AppError> {
    let store = &state.inner.store;
    let mut databases = Vec::new();
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    loop {
        let result = store_call!(store, s => s.list_project_databases(project, &page).await)?;
        databases.extend(result.items);
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(databases),
        }
    }
}

/// Adding a database to a project lets the project roll out to it, so
/// `rg.projects.update` alone is not enough: the caller also needs
/// `rg.databases.update` workspace-wide, or in a project that already holds
/// the database (moving it between its own projects). Otherwise a project
/// owner could pull any database, another team's production included, into
/// its project.
async fn require_can_add_database(
    state: &AppState,
    principal: &Principal,
    db: &DatabaseRef,
    index: usize,
) -> Result<(), AppError> {
    if has_permission(&principal.roles, Permission::DatabasesUpdate) {
        return Ok(());
    }
    for project in principal
        .bound_projects_granting(state, Permission::DatabasesUpdate)
        .await?
    {
        if project_databases(state, &project).await?.contains(db) {
            return Ok(());
        }
    }
    let field = format!("databases[{index}]");
    Err(AppError::new(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        format!(
            "`{}` cannot add `{db}` (`{field}`): that needs `rg.databases.update` workspace-wide or in a project that already holds the database; ask a workspace DBA to add it",
            principal.name
        ),
    )
    .with_details(json!({ "permission": Permission::DatabasesUpdate.as_str(), "field": field })))
}

/// `DELETE /projects/{project}`: the project, its database memberships and its
/// IAM bindings (not the databases).
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}",
    tag = "projects",
    operation_id = "deleteProject",
    summary = "Delete a project",
    params(("project" = String, Path, description = "The project id")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_project(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let resource = format!("projects/{id}");
    let result = async {
        principal
            .require_in_project(&state, Permission::ProjectsDelete, &id)
            .await?;
        let store = &state.inner.store;
        store_call!(store, s => s.delete_project(&id).await)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    audit_result(&state, &principal, "rg.projects.delete", &resource, &result).await;
    result
}

// ---- Environments: PATCH, DELETE ----

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchEnvironmentRequest {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    order: Option<i64>,
    #[serde(default)]
    policy: Option<serde_json::Value>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/environments/{id}",
    tag = "environments",
    operation_id = "patchEnvironment",
    summary = "Update an environment",
    params(("id" = String, Path, description = "The resource id")),
    request_body = PatchEnvironmentRequest,
    responses((status = 200, description = "The updated environment", body = EnvironmentDto))
)]
pub(crate) async fn patch_environment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PatchEnvironmentRequest>,
) -> Result<Response, AppError> {
    let resource = format!("environments/{id}");
    let result = async {
        principal.require(Permission::EnvironmentsUpdate)?;
        let store = &state.inner.store;
        let mut env: Environment = store_call!(store, s => s.get_environment(&id).await)?;
        if let Some(title) = request.title {
            validate_title("title", &title)?;
            env.title = title;
        }
        if let Some(order) = request.order {
            env.order = order;
        }
        if let Some(policy) = request.policy {
            env.policy_json = validate_policy(policy)?.to_string();
        }
        store_call!(store, s => s.update_environment(&env).await)?;
        Ok(Json(EnvironmentDto::from(env)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.environments.update",
        &resource,
        &result,
    )
    .await;
    result
}

/// Refused (409) while a database or an instance is in the environment.
#[utoipa::path(
    delete,
    path = "/api/v1/environments/{id}",
    tag = "environments",
    operation_id = "deleteEnvironment",
    summary = "Delete an environment",
    params(("id" = String, Path, description = "The resource id")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_environment(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let resource = format!("environments/{id}");
    let result = async {
        principal.require(Permission::EnvironmentsDelete)?;
        let store = &state.inner.store;
        match store_call!(store, s => s.delete_environment(&id).await) {
            Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(StoreError::Conflict { .. }) => Err(AppError::new(
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                format!(
                    "environment `{id}` still has databases or instances; move them to another environment first"
                ),
            )),
            Err(error) => Err(error.into()),
        }
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.environments.delete",
        &resource,
        &result,
    )
    .await;
    result
}

// ---- Users ----

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserDto {
    name: String,
    email: String,
    roles: Vec<String>,
}

impl From<User> for UserDto {
    fn from(user: User) -> UserDto {
        UserDto {
            name: format!("users/{}", user.email),
            email: user.email,
            roles: user.roles,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    email: String,
    #[serde(default)]
    password: Option<String>,
    roles: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchUserRequest {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "listUsers",
    summary = "List users",
    params(ListQuery),
    responses((status = 200, description = "A page of users", body = crate::openapi::UserPage))
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::UsersList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_users(&query.page()).await)?;
    Ok(page_json("users", page, UserDto::from))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{email}",
    tag = "users",
    operation_id = "getUser",
    summary = "Get a user",
    params(("email" = String, Path, description = "The user's email")),
    responses((status = 200, description = "The user", body = UserDto))
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(email): Path<String>,
) -> Result<Json<UserDto>, AppError> {
    principal.require(Permission::UsersGet)?;
    let store = &state.inner.store;
    Ok(Json(
        store_call!(store, s => s.get_user(&email).await)?.into(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    operation_id = "createUser",
    summary = "Create a user",
    request_body = CreateUserRequest,
    responses((status = 201, description = "The created user", body = UserDto))
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<Response, AppError> {
    let email = request.email.trim().to_string();
    let resource = format!("users/{email}");
    let result = async {
        principal.require(Permission::UsersCreate)?;
        validate_user_email(&email)?;
        let roles = parse_roles("roles", &request.roles)?;
        let password_hash = match request.password {
            Some(password) => hash(password).await?,
            // No password: cannot log in until one is set.
            None => String::new(),
        };
        let user = User {
            email: email.clone(),
            password_hash,
            roles,
        };
        let store = &state.inner.store;
        store_call!(store, s => s.create_user(&user).await)?;
        Ok((StatusCode::CREATED, Json(UserDto::from(user))).into_response())
    }
    .await;
    audit_result(&state, &principal, "rg.users.create", &resource, &result).await;
    result
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{email}",
    tag = "users",
    operation_id = "patchUser",
    summary = "Update a user's password or roles",
    params(("email" = String, Path, description = "The user's email")),
    request_body = PatchUserRequest,
    responses((status = 200, description = "The updated user", body = UserDto))
)]
pub(crate) async fn patch_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(email): Path<String>,
    ApiJson(request): ApiJson<PatchUserRequest>,
) -> Result<Response, AppError> {
    let resource = format!("users/{email}");
    let result = async {
        principal.require(Permission::UsersUpdate)?;
        let roles = match &request.roles {
            Some(roles) => Some(parse_roles("roles", roles)?),
            None => None,
        };
        let store = &state.inner.store;
        let mut user = store_call!(store, s => s.get_user(&email).await)?;
        let new_password = request.password.is_some();
        if let Some(password) = request.password {
            user.password_hash = hash(password).await?;
        }
        if let Some(roles) = roles {
            let admin = format!("roles/{}", Role::WorkspaceAdmin.id());
            let was_admin = user
                .roles
                .iter()
                .any(|r| r.parse() == Ok(Role::WorkspaceAdmin));
            if email == principal.name && was_admin && !roles.contains(&admin) {
                return Err(AppError::new(
                    StatusCode::CONFLICT,
                    "FAILED_PRECONDITION",
                    "you cannot remove your own Workspace Admin role; ask another workspace admin",
                ));
            }
            user.roles = roles;
        }
        store_call!(store, s => s.update_user(&user).await)?;
        if new_password {
            // Whoever knew the old password is logged out.
            store_call!(store, s => s.delete_principal_sessions(&email).await)?;
        }
        Ok(Json(UserDto::from(user)).into_response())
    }
    .await;
    audit_result(&state, &principal, "rg.users.update", &resource, &result).await;
    result
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{email}",
    tag = "users",
    operation_id = "deleteUser",
    summary = "Delete a user",
    params(("email" = String, Path, description = "The user's email")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(email): Path<String>,
) -> Result<Response, AppError> {
    let resource = format!("users/{email}");
    let result = async {
        principal.require(Permission::UsersDelete)?;
        if email == principal.name {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                "you cannot delete your own account; ask another workspace admin",
            ));
        }
        let store = &state.inner.store;
        store_call!(store, s => s.delete_user(&email).await)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    audit_result(&state, &principal, "rg.users.delete", &resource, &result).await;
    result
}

fn validate_user_email(email: &str) -> Result<(), AppError> {
    let valid = email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !valid {
        return Err(field_error(
            "email",
            "must be an email address like ada@example.com".into(),
        ));
    }
    if email.ends_with(SERVICE_ACCOUNT_DOMAIN) {
        return Err(field_error(
            "email",
            format!("must not end in {SERVICE_ACCOUNT_DOMAIN}; create a service account instead"),
        ));
    }
    Ok(())
}

/// Argon2id, off the async threads.
async fn hash(password: String) -> Result<String, AppError> {
    let length = password.chars().count();
    if !(8..=1024).contains(&length) {
        return Err(field_error(
            "password",
            "must be 8 to 1024 characters".into(),
        ));
    }
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| AppError::internal())
}

/// Role names (`roles/x` or `x`) in their `roles/x` form, each once.
pub(crate) fn parse_roles(field: &str, roles: &[String]) -> Result<Vec<String>, AppError> {
    let mut parsed = Vec::with_capacity(roles.len());
    for (i, name) in roles.iter().enumerate() {
        let role = name.parse::<Role>().map_err(|_| {
            field_error(
                &format!("{field}[{i}]"),
                format!("`{name}` is not a role; use one of {}", role_names()),
            )
        })?;
        let name = format!("roles/{}", role.id());
        if !parsed.contains(&name) {
            parsed.push(name);
        }
    }
    Ok(parsed)
}

// ---- Service accounts ----

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ServiceAccountDto {
    name: String,
    email: String,
    roles: Vec<String>,
    /// The key, only in the response that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl From<ServiceAccount> for ServiceAccountDto {
    fn from(account: ServiceAccount) -> ServiceAccountDto {
        let name = account
            .email
            .strip_suffix(SERVICE_ACCOUNT_DOMAIN)
            .unwrap_or(&account.email);
        ServiceAccountDto {
            name: format!("serviceAccounts/{name}"),
            email: account.email,
            roles: account.roles,
            key: None,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateServiceAccountRequest {
    name: String,
    roles: Vec<String>,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchServiceAccountRequest {
    #[serde(default)]
    roles: Option<Vec<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateKeyRequest {
    #[serde(default)]
    key: Option<String>,
}

fn service_account_email(name: &str) -> String {
    format!("{name}{SERVICE_ACCOUNT_DOMAIN}")
}

#[utoipa::path(
    get,
    path = "/api/v1/serviceAccounts",
    tag = "serviceAccounts",
    operation_id = "listServiceAccounts",
    summary = "List service accounts",
    params(ListQuery),
    responses((status = 200, description = "A page of service accounts", body = crate::openapi::ServiceAccountPage))
)]
pub(crate) async fn list_service_accounts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::ServiceAccountsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_service_accounts(&query.page()).await)?;
    Ok(page_json("serviceAccounts", page, ServiceAccountDto::from))
}

#[utoipa::path(
    get,
    path = "/api/v1/serviceAccounts/{name}",
    tag = "serviceAccounts",
    operation_id = "getServiceAccount",
    summary = "Get a service account",
    params(("name" = String, Path, description = "The service account name (before @service.rollgate)")),
    responses((status = 200, description = "The service account (never its key)", body = ServiceAccountDto))
)]
pub(crate) async fn get_service_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<ServiceAccountDto>, AppError> {
    principal.require(Permission::ServiceAccountsGet)?;
    let store = &state.inner.store;
    let email = service_account_email(&name);
    Ok(Json(
        store_call!(store, s => s.get_service_account(&email).await)?.into(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/serviceAccounts",
    tag = "serviceAccounts",
    operation_id = "createServiceAccount",
    summary = "Create a service account",
    request_body = CreateServiceAccountRequest,
    responses((status = 201, description = "The created service account, with its key when the server generated it", body = ServiceAccountDto))
)]
pub(crate) async fn create_service_account(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateServiceAccountRequest>,
) -> Result<Response, AppError> {
    let resource = format!("serviceAccounts/{}", request.name);
    let result = async {
        principal.require(Permission::ServiceAccountsCreate)?;
        validate_id("name", &request.name)?;
        let roles = parse_roles("roles", &request.roles)?;
        let (key_hash, shown) = new_key(request.key.as_deref())?;
        let account = ServiceAccount {
            email: service_account_email(&request.name),
            key_hash,
            roles,
        };
        let store = &state.inner.store;
        store_call!(store, s => s.create_service_account(&account).await)?;
        let mut dto = ServiceAccountDto::from(account);
        dto.key = shown;
        Ok((StatusCode::CREATED, Json(dto)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.serviceAccounts.create",
        &resource,
        &result,
    )
    .await;
    result
}

#[utoipa::path(
    patch,
    path = "/api/v1/serviceAccounts/{name}",
    tag = "serviceAccounts",
    operation_id = "patchServiceAccount",
    summary = "Update a service account's roles",
    params(("name" = String, Path, description = "The service account name (before @service.rollgate)")),
    request_body = PatchServiceAccountRequest,
    responses((status = 200, description = "The updated service account", body = ServiceAccountDto))
)]
pub(crate) async fn patch_service_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<PatchServiceAccountRequest>,
) -> Result<Response, AppError> {
    let resource = format!("serviceAccounts/{name}");
    let result = async {
        principal.require(Permission::ServiceAccountsUpdate)?;
        let store = &state.inner.store;
        let email = service_account_email(&name);
        let mut account = store_call!(store, s => s.get_service_account(&email).await)?;
        if let Some(roles) = &request.roles {
            account.roles = parse_roles("roles", roles)?;
        }
        store_call!(store, s => s.update_service_account(&account).await)?;
        Ok(Json(ServiceAccountDto::from(account)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.serviceAccounts.update",
        &resource,
        &result,
    )
    .await;
    result
}

#[utoipa::path(
    delete,
    path = "/api/v1/serviceAccounts/{name}",
    tag = "serviceAccounts",
    operation_id = "deleteServiceAccount",
    summary = "Delete a service account",
    params(("name" = String, Path, description = "The service account name (before @service.rollgate)")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_service_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let resource = format!("serviceAccounts/{name}");
    let result = async {
        principal.require(Permission::ServiceAccountsDelete)?;
        let store = &state.inner.store;
        let email = service_account_email(&name);
        store_call!(store, s => s.delete_service_account(&email).await)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.serviceAccounts.delete",
        &resource,
        &result,
    )
    .await;
    result
}

/// `POST /serviceAccounts/{name}:rotateKey` `{key?}`: replaces the key; the
/// old one stops logging in at once and the sessions it opened end.
#[utoipa::path(
    post,
    path = "/api/v1/serviceAccounts/{name}:rotateKey",
    tag = "serviceAccounts",
    operation_id = "postServiceAccountMethod",
    summary = "Rotate a service account's key",
    params(("name" = String, Path, description = "The service account name (before @service.rollgate)")),
    request_body(content = Option<RotateKeyRequest>, description = "Optional; an empty body takes the defaults"),
    responses((status = 200, description = "The service account, with its new key when the server generated it", body = ServiceAccountDto))
)]
pub(crate) async fn post_service_account_method(
    State(state): State<AppState>,
    principal: Principal,
    Path(segment): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let (name, method) = custom_method(&segment);
    if method != Some("rotateKey") {
        return Err(no_such_method(method.unwrap_or("")));
    }
    let resource = format!("serviceAccounts/{name}");
    let result = async {
        principal.require(Permission::ServiceAccountsUpdate)?;
        let body = if request_has_body(&request) {
            ApiJson::<RotateKeyRequest>::from_request(request, &state)
                .await?
                .0
        } else {
            RotateKeyRequest::default()
        };
        let store = &state.inner.store;
        let email = service_account_email(name);
        let mut account = store_call!(store, s => s.get_service_account(&email).await)?;
        let (key_hash, shown) = new_key(body.key.as_deref())?;
        account.key_hash = key_hash;
        store_call!(store, s => s.update_service_account(&account).await)?;
        store_call!(store, s => s.delete_principal_sessions(&email).await)?;
        let mut dto = ServiceAccountDto::from(account);
        dto.key = shown;
        Ok(Json(dto).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.serviceAccounts.rotateKey",
        &resource,
        &result,
    )
    .await;
    result
}

/// The body of `:rotateKey` is optional: a request with neither a
/// `Content-Type` nor a non-zero `Content-Length` has none.
fn request_has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(axum::http::header::CONTENT_TYPE)
        || headers
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|length| length != "0")
}

/// The hash to store and the key to show once: a generated `rgs_` key when
/// `provided` is `None`, else the caller's key (a valid `rgs_` key, or 32 to
/// 512 printable characters), which is not echoed back.
fn new_key(provided: Option<&str>) -> Result<(String, Option<String>), AppError> {
    let Some(key) = provided else {
        let (secret, hash) = token::generate(TokenKind::ServiceAccount);
        return Ok((hash.as_str().to_string(), Some(secret.expose().to_string())));
    };
    if key.starts_with(TokenKind::ServiceAccount.prefix()) {
        match token::parse(key) {
            Ok(parsed) if parsed.kind == TokenKind::ServiceAccount => {}
            _ => {
                return Err(field_error(
                    "key",
                    "starts with `rgs_` but is not a whole service account key (its checksum does not match); paste the whole key, or omit `key` to have one generated".into(),
                ));
            }
        }
    } else if key.starts_with(TokenKind::Session.prefix()) {
        return Err(field_error(
            "key",
            "is a session token; a service account key is an `rgs_` key or a random string of at least 32 characters".into(),
        ));
    } else {
        let length = key.chars().count();
        if !(32..=512).contains(&length) || key.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(field_error(
                "key",
                "must be an `rgs_` key or 32 to 512 characters without spaces; omit it to have one generated".into(),
            ));
        }
    }
    Ok((TokenHash::of(key).as_str().to_string(), None))
}

// ---- Shared validation ----

/// Titles: 1-200 characters, no control characters.
pub(crate) fn validate_title(field: &str, title: &str) -> Result<(), AppError> {
    let length = title.chars().count();
    if !(1..=200).contains(&length) || title.chars().any(char::is_control) {
        return Err(field_error(
            field,
            "must be 1-200 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// 400 naming the field.
pub(crate) fn field_error(field: &str, message: String) -> AppError {
    AppError::invalid_argument(format!("`{field}` {message}"))
        .with_details(json!({ "field": field }))
}
