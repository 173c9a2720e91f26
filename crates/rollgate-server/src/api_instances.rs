//! Instances (database servers) and their databases.
//!
//! An instance's connection URL is stored only as a `KeyRing` envelope bound
//! to the row (AAD [`instance_url_aad`]); responses show it redacted
//! (`TargetUrl::redacted`: no password, no query), and `:matchUrl` answers
//! "is this the stored URL?" without ever returning it. Handlers never
//! connect to the URL: only workers do.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rollgate_auth::Permission;
use rollgate_engine::TargetUrl;
use rollgate_store::{Database, DatabaseRef, Instance, PageRequest, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::api::{ListQuery, audit_result, page_json, validate_id};
use crate::api_iam::{custom_method, field_error, no_such_method};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Principal};
use crate::store::store_call;
use crate::worker::instance_url_aad;

// ---- Instances ----

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InstanceDto {
    name: String,
    id: String,
    engine: String,
    environment: String,
    /// Without password or query string.
    url: String,
}

impl InstanceDto {
    fn new(state: &AppState, instance: Instance) -> InstanceDto {
        let url = match decrypt_url(state, &instance) {
            Ok(url) => url.redacted().to_string(),
            Err(error) => {
                tracing::warn!(instance = %instance.id, message = %error.message, "cannot show an instance URL");
                "<undecryptable: check the master key>".to_string()
            }
        };
        InstanceDto {
            name: format!("instances/{}", instance.id),
            id: instance.id,
            engine: instance.engine,
            environment: instance.environment,
            url,
        }
    }
}

/// The stored URL, decrypted into a redacting [`TargetUrl`].
fn decrypt_url(state: &AppState, instance: &Instance) -> Result<TargetUrl, AppError> {
    let plain = state
        .key_ring()
        .decrypt(&instance.url_envelope, &instance_url_aad(&instance.id))
        .map_err(|_| undecryptable(&instance.id))?;
    TargetUrl::parse(&plain).map_err(|_| AppError::internal())
}

fn undecryptable(id: &str) -> AppError {
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        format!(
            "the URL of instance `{id}` cannot be decrypted with this server's master key; start the server with the key that encrypted it, or set the URL again"
        ),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInstanceRequest {
    id: String,
    engine: String,
    url: String,
    environment: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchInstanceRequest {
    #[serde(default)]
    engine: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchUrlRequest {
    url: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/instances",
    tag = "instances",
    operation_id = "listInstances",
    summary = "List instances",
    params(ListQuery),
    responses((status = 200, description = "A page of instances", body = crate::openapi::InstancePage))
)]
pub(crate) async fn list_instances(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::InstancesList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_instances(&query.page()).await)?;
    Ok(page_json("instances", page, |i| {
        InstanceDto::new(&state, i)
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/instances/{id}",
    tag = "instances",
    operation_id = "getInstance",
    summary = "Get an instance",
    params(("id" = String, Path, description = "The resource id")),
    responses((status = 200, description = "The instance, its URL without password", body = InstanceDto))
)]
pub(crate) async fn get_instance(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<InstanceDto>, AppError> {
    principal.require(Permission::InstancesGet)?;
    let store = &state.inner.store;
    let instance = store_call!(store, s => s.get_instance(&id).await)?;
    Ok(Json(InstanceDto::new(&state, instance)))
}

#[utoipa::path(
    post,
    path = "/api/v1/instances",
    tag = "instances",
    operation_id = "createInstance",
    summary = "Create an instance",
    request_body = CreateInstanceRequest,
    responses((status = 201, description = "The created instance", body = InstanceDto))
)]
pub(crate) async fn create_instance(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateInstanceRequest>,
) -> Result<Response, AppError> {
    let resource = format!("instances/{}", request.id);
    let result = async {
        principal.require(Permission::InstancesCreate)?;
        validate_id("id", &request.id)?;
        let engine = validate_engine(&request.engine)?;
        let url = validate_url(&request.url, engine)?;
        require_environment(&state, "environment", &request.environment).await?;
        let instance = Instance {
            url_envelope: state
                .key_ring()
                .encrypt(url.trim(), &instance_url_aad(&request.id)),
            id: request.id.clone(),
            engine: engine.to_string(),
            environment: request.environment.clone(),
        };
        let store = &state.inner.store;
        store_call!(store, s => s.create_instance(&instance).await)?;
        Ok((
            StatusCode::CREATED,
            Json(InstanceDto::new(&state, instance)),
        )
            .into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.instances.create",
        &resource,
        &result,
    )
    .await;
    result
}

#[utoipa::path(
    patch,
    path = "/api/v1/instances/{id}",
    tag = "instances",
    operation_id = "patchInstance",
    summary = "Update an instance",
    params(("id" = String, Path, description = "The resource id")),
    request_body = PatchInstanceRequest,
    responses((status = 200, description = "The updated instance", body = InstanceDto))
)]
pub(crate) async fn patch_instance(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PatchInstanceRequest>,
) -> Result<Response, AppError> {
    let resource = format!("instances/{id}");
    let result = async {
        principal.require(Permission::InstancesUpdate)?;
        let store = &state.inner.store;
        let mut instance = store_call!(store, s => s.get_instance(&id).await)?;
        if let Some(engine) = &request.engine {
            instance.engine = validate_engine(engine)?.to_string();
        }
        match &request.url {
            Some(url) => {
                let url = validate_url(url, &instance.engine)?;
                instance.url_envelope = state
                    .key_ring()
                    .encrypt(url.trim(), &instance_url_aad(&id));
            }
            None if request.engine.is_some() => {
                // The stored URL must still fit the engine.
                let stored = decrypt_url(&state, &instance)?;
                if stored.kind().as_str() != instance.engine {
                    return Err(field_error(
                        "engine",
                        format!(
                            "`{}` does not match the stored URL's scheme ({}); send a new `url` with it",
                            instance.engine,
                            stored.kind().as_str()
                        ),
                    ));
                }
            }
            None => {}
        }
        if let Some(environment) = &request.environment {
            require_environment(&state, "environment", environment).await?;
            instance.environment = environment.clone();
        }
        store_call!(store, s => s.update_instance(&instance).await)?;
        Ok(Json(InstanceDto::new(&state, instance)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.instances.update",
        &resource,
        &result,
    )
    .await;
    result
}

/// Also deletes the instance's databases and their project memberships.
#[utoipa::path(
    delete,
    path = "/api/v1/instances/{id}",
    tag = "instances",
    operation_id = "deleteInstance",
    summary = "Delete an instance and its databases",
    params(("id" = String, Path, description = "The resource id")),
    responses((status = 204, description = "Deleted, with its databases"))
)]
pub(crate) async fn delete_instance(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let resource = format!("instances/{id}");
    let result = async {
        principal.require(Permission::InstancesDelete)?;
        let store = &state.inner.store;
        store_call!(store, s => s.delete_instance(&id).await)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.instances.delete",
        &resource,
        &result,
    )
    .await;
    result
}

/// `POST /instances/{id}:matchUrl` `{url}` → `{"matches": bool}`: whether
/// `url` is the stored URL (after trimming), so `workspace apply` converges
/// without reading secrets back. Audited: it is an oracle on a secret.
#[utoipa::path(
    post,
    path = "/api/v1/instances/{id}:matchUrl",
    tag = "instances",
    operation_id = "postInstanceMethod",
    summary = "Tell whether a URL is the instance's stored URL",
    params(("id" = String, Path, description = "The resource id")),
    request_body = MatchUrlRequest,
    responses((status = 200, description = "Whether the URL is the stored one", body = crate::openapi::MatchUrlResponseSchema))
)]
pub(crate) async fn post_instance_method(
    State(state): State<AppState>,
    principal: Principal,
    Path(segment): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let (id, method) = custom_method(&segment);
    if method != Some("matchUrl") {
        return Err(no_such_method(method.unwrap_or("")));
    }
    let resource = format!("instances/{id}");
    let result = async {
        principal.require(Permission::InstancesUpdate)?;
        let ApiJson(body) = ApiJson::<MatchUrlRequest>::from_request(request, &state).await?;
        let store = &state.inner.store;
        let instance = store_call!(store, s => s.get_instance(id).await)?;
        let stored = state
            .key_ring()
            .decrypt(&instance.url_envelope, &instance_url_aad(id))
            .map_err(|_| undecryptable(id))?;
        let matches = constant_time_eq(stored.as_bytes(), body.url.trim().as_bytes());
        Ok(Json(json!({ "matches": matches })).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.instances.matchUrl",
        &resource,
        &result,
    )
    .await;
    result
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn validate_engine(engine: &str) -> Result<&'static str, AppError> {
    match engine {
        "postgres" => Ok("postgres"),
        "mysql" => Ok("mysql"),
        "sqlite" => Ok("sqlite"),
        _ => Err(field_error(
            "engine",
            "must be `postgres`, `mysql` or `sqlite`".into(),
        )),
    }
}

/// Parses the URL and checks its scheme fits `engine`. Errors never show
/// the password (`TargetUrl` redacts).
fn validate_url<'a>(url: &'a str, engine: &str) -> Result<&'a str, AppError> {
    let parsed = TargetUrl::parse(url).map_err(|error| field_error("url", error.to_string()))?;
    if parsed.kind().as_str() != engine {
        return Err(field_error(
            "url",
            format!(
                "is a {} URL but `engine` is `{engine}`; make them agree",
                parsed.kind().as_str()
            ),
        ));
    }
    Ok(url)
}

/// 400 naming `field` when the environment does not exist.
async fn require_environment(state: &AppState, field: &str, id: &str) -> Result<(), AppError> {
    let store = &state.inner.store;
    match store_call!(store, s => s.get_environment(id).await) {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(field_error(
            field,
            format!("environment `{id}` does not exist; create it first"),
        )),
        Err(error) => Err(error.into()),
    }
}

// ---- Databases ----

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DatabaseDto {
    name: String,
    instance: String,
    database: String,
    environment: String,
}

impl From<Database> for DatabaseDto {
    fn from(db: Database) -> DatabaseDto {
        DatabaseDto {
            name: format!("instances/{}/databases/{}", db.instance, db.name),
            instance: db.instance,
            database: db.name,
            environment: db.environment,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDatabaseRequest {
    name: String,
    /// Defaults to the instance's environment.
    #[serde(default)]
    environment: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchDatabaseRequest {
    environment: String,
}

/// `GET /databases`: every database of every instance.
#[utoipa::path(
    get,
    path = "/api/v1/databases",
    tag = "databases",
    operation_id = "listAllDatabases",
    summary = "List the databases of every instance",
    params(ListQuery),
    responses((status = 200, description = "A page of databases of every instance", body = crate::openapi::DatabasePage))
)]
pub(crate) async fn list_all_databases(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::DatabasesList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_databases(&query.page()).await)?;
    Ok(page_json("databases", page, DatabaseDto::from))
}

/// `GET /instances/{i}/databases`; the page token is the last database name.
#[utoipa::path(
    get,
    path = "/api/v1/instances/{instance}/databases",
    tag = "databases",
    operation_id = "listInstanceDatabases",
    summary = "List an instance's databases",
    params(("instance" = String, Path, description = "The instance id"), ListQuery),
    responses((status = 200, description = "A page of the instance's databases", body = crate::openapi::DatabasePage))
)]
pub(crate) async fn list_instance_databases(
    State(state): State<AppState>,
    principal: Principal,
    Path(instance): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    principal.require(Permission::DatabasesList)?;
    let store = &state.inner.store;
    store_call!(store, s => s.get_instance(&instance).await)?;
    let page = query.page();
    let limit = match page.page_size {
        0 => rollgate_store::DEFAULT_PAGE_SIZE,
        n => n.min(rollgate_store::MAX_PAGE_SIZE),
    } as usize;
    // The store's database list is ordered by (instance, name): start just
    // after (instance, token) and stop at the next instance.
    let mut request = PageRequest {
        page_size: rollgate_store::MAX_PAGE_SIZE,
        page_token: Some(format!(
            "{instance}/{}",
            page.page_token.unwrap_or_default()
        )),
    };
    let mut items: Vec<Database> = Vec::new();
    'pages: loop {
        let result = store_call!(store, s => s.list_databases(&request).await)?;
        for db in result.items {
            if db.instance != instance || items.len() > limit {
                break 'pages;
            }
            items.push(db);
        }
        match result.next_page_token {
            Some(token) => request.page_token = Some(token),
            None => break,
        }
    }
    let next_page_token = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|db| db.name.clone())
    } else {
        None
    };
    let items: Vec<DatabaseDto> = items.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "databases": items, "nextPageToken": next_page_token }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/instances/{instance}/databases/{database}",
    tag = "databases",
    operation_id = "getDatabase",
    summary = "Get a database",
    params(("instance" = String, Path, description = "The instance id"), ("database" = String, Path, description = "The database name")),
    responses((status = 200, description = "The database", body = DatabaseDto))
)]
pub(crate) async fn get_database(
    State(state): State<AppState>,
    principal: Principal,
    Path((instance, name)): Path<(String, String)>,
) -> Result<Json<DatabaseDto>, AppError> {
    principal.require(Permission::DatabasesGet)?;
    let store = &state.inner.store;
    let key = DatabaseRef::new(instance, name);
    Ok(Json(
        store_call!(store, s => s.get_database(&key).await)?.into(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/instances/{instance}/databases",
    tag = "databases",
    operation_id = "createDatabase",
    summary = "Create a database on an instance",
    params(("instance" = String, Path, description = "The instance id")),
    request_body = CreateDatabaseRequest,
    responses((status = 201, description = "The created database", body = DatabaseDto))
)]
pub(crate) async fn create_database(
    State(state): State<AppState>,
    principal: Principal,
    Path(instance): Path<String>,
    ApiJson(request): ApiJson<CreateDatabaseRequest>,
) -> Result<Response, AppError> {
    let resource = format!("instances/{instance}/databases/{}", request.name);
    let result = async {
        principal.require(Permission::DatabasesCreate)?;
        validate_database_name(&request.name)?;
        let store = &state.inner.store;
        let owner = store_call!(store, s => s.get_instance(&instance).await)?;
        let environment = match request.environment {
            Some(environment) => {
                require_environment(&state, "environment", &environment).await?;
                environment
            }
            None => owner.environment,
        };
        let db = Database {
            instance: instance.clone(),
            name: request.name.clone(),
            environment,
        };
        store_call!(store, s => s.create_database(&db).await)?;
        Ok((StatusCode::CREATED, Json(DatabaseDto::from(db))).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.databases.create",
        &resource,
        &result,
    )
    .await;
    result
}

#[utoipa::path(
    patch,
    path = "/api/v1/instances/{instance}/databases/{database}",
    tag = "databases",
    operation_id = "patchDatabase",
    summary = "Move a database to another environment",
    params(("instance" = String, Path, description = "The instance id"), ("database" = String, Path, description = "The database name")),
    request_body = PatchDatabaseRequest,
    responses((status = 200, description = "The updated database", body = DatabaseDto))
)]
pub(crate) async fn patch_database(
    State(state): State<AppState>,
    principal: Principal,
    Path((instance, name)): Path<(String, String)>,
    ApiJson(request): ApiJson<PatchDatabaseRequest>,
) -> Result<Response, AppError> {
    let resource = format!("instances/{instance}/databases/{name}");
    let result = async {
        principal.require(Permission::DatabasesUpdate)?;
        let store = &state.inner.store;
        let key = DatabaseRef::new(instance.clone(), name.clone());
        let mut db = store_call!(store, s => s.get_database(&key).await)?;
        require_environment(&state, "environment", &request.environment).await?;
        db.environment = request.environment.clone();
        store_call!(store, s => s.update_database(&db).await)?;
        Ok(Json(DatabaseDto::from(db)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.databases.update",
        &resource,
        &result,
    )
    .await;
    result
}

#[utoipa::path(
    delete,
    path = "/api/v1/instances/{instance}/databases/{database}",
    tag = "databases",
    operation_id = "deleteDatabase",
    summary = "Delete a database",
    params(("instance" = String, Path, description = "The instance id"), ("database" = String, Path, description = "The database name")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_database(
    State(state): State<AppState>,
    principal: Principal,
    Path((instance, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let resource = format!("instances/{instance}/databases/{name}");
    let result = async {
        principal.require(Permission::DatabasesDelete)?;
        let store = &state.inner.store;
        let key = DatabaseRef::new(instance.clone(), name.clone());
        store_call!(store, s => s.delete_database(&key).await)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.databases.delete",
        &resource,
        &result,
    )
    .await;
    result
}

/// Database names: 1-63 characters of letters, digits, `_` and `-`, not
/// starting with `-` (they appear in resource names and URLs).
fn validate_database_name(name: &str) -> Result<(), AppError> {
    let valid = (1..=63).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(field_error(
            "name",
            "must be 1-63 characters of letters, digits, `_` and `-`, not starting with `-`".into(),
        ))
    }
}
