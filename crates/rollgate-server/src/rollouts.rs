//! Releases, plans, rollouts, stages, tasks and task runs under
//! `/api/v1/projects/{project}/…`.
//!
//! A release is immutable (files addressed by checksum, VCS metadata, an id
//! from the `release_{date}-RC{n}` template). A plan names a release and
//! target databases of the project. Its rollout (created once per plan)
//! groups the targets into stages, one per environment in environment
//! order, one task per database. Running a stage goes through
//! `rollgate_rollout::can_run_stage`, so stage order and the environments'
//! rollout policies hold whichever client calls; an admin override is
//! recorded in the audit log and with the rollout. Handlers only queue task
//! runs; workers (`crate::worker`) execute them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rollgate_auth::Permission;
use rollgate_migration::{Checksum, Version, parse_file_name};
use rollgate_rollout::{Actor, Permit, Refusal, RolloutPolicy};
use rollgate_store::{
    DatabaseRef, PageRequest, Plan, Release, ReleaseFile, Rollout, RolloutOverride, StoreError,
    TaskRun, Vcs,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{ListQuery, audit, audit_outcome, page_json};
use crate::error::AppError;
use crate::extract::{ApiQuery, Principal};
use crate::store::store_call;
use crate::time::{now_unix, rfc3339};

/// Largest file of a release: 2 MiB of SQL.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// Most files in one release.
pub const MAX_RELEASE_FILES: usize = 500;
/// Most targets in one plan.
pub const MAX_PLAN_TARGETS: usize = 1000;
/// Longest file path accepted.
const MAX_PATH_CHARS: usize = 512;

/// A request body read whole but parsed only after the permission check, so
/// a caller without the permission gets 403 whatever it sent. An oversize
/// body is a JSON 413 like everywhere else.
pub(crate) struct RawBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.body_text().contains("length limit") {
                    AppError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PAYLOAD_TOO_LARGE",
                        "the request body is larger than the server's limit; send a smaller body or raise the server's body limit",
                    )
                } else {
                    AppError::invalid_argument(format!(
                        "the request body could not be read: {}",
                        rejection.body_text()
                    ))
                }
            })
    }
}

impl RawBody {
    /// Parses a JSON body (an empty body is `{}` when `T` has defaults).
    fn parse<T: serde::de::DeserializeOwned>(&self, fields: &str) -> Result<T, AppError> {
        let bytes: &[u8] = if self.0.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.0
        };
        serde_json::from_slice(bytes).map_err(|e| {
            let code = if e.is_syntax() || e.is_eof() {
                "MALFORMED_JSON"
            } else {
                "INVALID_ARGUMENT"
            };
            AppError::new(
                StatusCode::BAD_REQUEST,
                code,
                format!("the request body does not match the expected fields ({fields}): {e}"),
            )
        })
    }
}

// ---- Releases ----

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateReleaseRequest {
    files: Vec<FileRequest>,
    #[serde(default)]
    vcs: Option<VcsRequest>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileRequest {
    path: String,
    version: String,
    #[serde(default)]
    change_type: Option<String>,
    statement: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VcsRequest {
    #[serde(default)]
    commit_sha: String,
    #[serde(default)]
    commit_url: String,
    #[serde(default)]
    merge_request_url: String,
    #[serde(default)]
    author: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/releases",
    tag = "releases",
    operation_id = "createRelease",
    summary = "Create a release from migration files",
    params(("project" = String, Path, description = "The project id")),
    request_body = CreateReleaseRequest,
    responses((status = 201, description = "The created release", body = crate::openapi::ReleaseSchema))
)]
pub(crate) async fn create_release(
    State(state): State<AppState>,
    principal: Principal,
    Path(project): Path<String>,
    body: RawBody,
) -> Result<Response, AppError> {
    principal
        .require_in_project(&state, Permission::ReleasesCreate, &project)
        .await?;
    let request: CreateReleaseRequest = body.parse("files, vcs")?;
    let resource = format!("projects/{project}/releases");
    let result = create_release_inner(&state, &project, request).await;
    let outcome = match &result {
        Ok(release) => format!("OK: {}", release.id),
        Err(error) => format!("ERROR: {}", error.code),
    };
    audit(
        &state,
        &principal,
        "rg.releases.create",
        &resource,
        &outcome,
    )
    .await;
    let release = result?;
    Ok((StatusCode::CREATED, Json(release_dto(&release))).into_response())
}

/// How many ids a release create tries before answering `ABORTED`.
const MAX_RELEASE_ID_ATTEMPTS: usize = 64;

async fn create_release_inner(
    state: &AppState,
    project: &str,
    request: CreateReleaseRequest,
) -> Result<Release, AppError> {
    let store = state.store();
    store_call!(store, s => s.get_project(project).await)?;
    let files = validate_files(request.files)?;
    let vcs = request.vcs.unwrap_or_default();
    let vcs = Vcs {
        commit_sha: limit_text("vcs.commitSha", vcs.commit_sha)?,
        commit_url: limit_text("vcs.commitUrl", vcs.commit_url)?,
        merge_request_url: limit_text("vcs.mergeRequestUrl", vcs.merge_request_url)?,
        author: limit_text("vcs.author", vcs.author)?,
    };
    let today = today();
    // Concurrent creates may pick the same id: the loser takes the next.
    // Each round has one winner among those that collided, so the attempts
    // must cover a burst of CI jobs (20 at once lost with 5); an id seen
    // taken counts as existing even before the re-list shows it.
    let mut taken = Vec::new();
    for _ in 0..MAX_RELEASE_ID_ATTEMPTS {
        let mut existing = all_release_ids(state, project).await?;
        existing.extend(taken.iter().cloned());
        let id = rollgate_rollout::release_id(today, &existing);
        match store_call!(store, s => s.create_release(project, &id, &files, &vcs).await) {
            Ok(()) => return Ok(store_call!(store, s => s.get_release(project, &id).await)?),
            Err(StoreError::Conflict { .. }) => taken.push(id),
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::new(
        StatusCode::CONFLICT,
        "ABORTED",
        "too many releases created at the same moment; retry",
    ))
}

fn limit_text(field: &str, text: String) -> Result<String, AppError> {
    if text.chars().count() > 2048 || text.chars().any(char::is_control) {
        return Err(field_error(
            field,
            format!("`{field}` must be at most 2048 characters without control characters"),
        ));
    }
    Ok(text)
}

fn field_error(field: &str, message: String) -> AppError {
    AppError::invalid_argument(message).with_details(json!({ "field": field }))
}

/// Checks every file (size, path, version, change type, duplicates) and
/// computes its checksum.
fn validate_files(files: Vec<FileRequest>) -> Result<Vec<ReleaseFile>, AppError> {
    if files.is_empty() {
        return Err(field_error(
            "files",
            "`files` is empty: a release needs at least one migration file".into(),
        ));
    }
    if files.len() > MAX_RELEASE_FILES {
        return Err(field_error(
            "files",
            format!(
                "a release holds at most {MAX_RELEASE_FILES} files, this one has {}; split it into several releases",
                files.len()
            ),
        ));
    }
    let mut seen: Vec<(Version, String)> = Vec::with_capacity(files.len());
    let mut out = Vec::with_capacity(files.len());
    for (index, file) in files.into_iter().enumerate() {
        let field = format!("files[{index}]");
        if file.statement.len() > MAX_FILE_BYTES {
            return Err(field_error(
                &format!("{field}.statement"),
                format!(
                    "file `{}` is {} bytes; a release file may be at most {MAX_FILE_BYTES} bytes (2 MiB): split it",
                    shorten(&file.path),
                    file.statement.len()
                ),
            ));
        }
        validate_path(&field, &file.path)?;
        let version = Version::parse(&file.version).map_err(|e| {
            field_error(
                &format!("{field}.version"),
                format!(
                    "`{field}.version` `{}` is not a version: {e}",
                    shorten(&file.version)
                ),
            )
        })?;
        let file_name = file.path.rsplit('/').next().unwrap_or(&file.path);
        let parsed = parse_file_name(file_name).ok_or_else(|| {
            field_error(
                &format!("{field}.path"),
                format!(
                    "file name `{}` does not start with its version: name it like `{}_description.sql`",
                    shorten(file_name),
                    file.version
                ),
            )
        })?;
        if parsed.version != version {
            return Err(field_error(
                &format!("{field}.version"),
                format!(
                    "`{field}.version` is `{}` but the file name `{}` says `{}`: make them agree",
                    file.version,
                    shorten(file_name),
                    parsed.version
                ),
            ));
        }
        let change_type = parsed.change_type.as_str();
        if let Some(given) = &file.change_type
            && !given.eq_ignore_ascii_case(change_type)
        {
            return Err(field_error(
                &format!("{field}.changeType"),
                format!(
                    "`{field}.changeType` is `{}` but the file name `{}` makes it {change_type} (names ending in `_dml.sql` are DML, others DDL): rename the file or fix changeType",
                    shorten(given),
                    shorten(file_name)
                ),
            ));
        }
        if let Some((_, other)) = seen.iter().find(|(v, _)| *v == version) {
            return Err(field_error(
                &format!("{field}.version"),
                format!(
                    "version `{}` appears twice (`{}` and `{}`): each file of a release needs its own version",
                    file.version,
                    shorten(other),
                    shorten(&file.path)
                ),
            ));
        }
        seen.push((version, file.path.clone()));
        out.push(ReleaseFile {
            checksum: Checksum::of(&file.statement).as_str().to_string(),
            path: file.path,
            version: file.version,
            change_type: change_type.to_string(),
            statement: file.statement,
        });
    }
    Ok(out)
}

fn validate_path(field: &str, path: &str) -> Result<(), AppError> {
    let bad = |why: &str| {
        Err(field_error(
            &format!("{field}.path"),
            format!("`{field}.path` `{}` {why}", shorten(path)),
        ))
    };
    if path.is_empty() {
        return bad("is empty: give the file's path in the repository");
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return bad(&format!("is longer than {MAX_PATH_CHARS} characters"));
    }
    if path.chars().any(char::is_control) || path.contains('\\') {
        return bad("holds a control character or a backslash: use `/` between directories");
    }
    if path.starts_with('/') || path.split('/').any(|part| part == ".." || part.is_empty()) {
        return bad("must be a relative path without `..` or empty segments");
    }
    if !path.to_ascii_lowercase().ends_with(".sql") {
        return bad("must name a `.sql` file");
    }
    Ok(())
}

/// At most 80 characters of user input, for messages.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(80).collect::<String>())
    }
}

/// Today's date in UTC as (year, month, day).
fn today() -> (i32, u32, u32) {
    let stamp = rfc3339(now_unix());
    let year = stamp.get(0..4).and_then(|s| s.parse().ok()).unwrap_or(1970);
    let month = stamp.get(5..7).and_then(|s| s.parse().ok()).unwrap_or(1);
    let day = stamp.get(8..10).and_then(|s| s.parse().ok()).unwrap_or(1);
    (year, month, day)
}

async fn all_release_ids(state: &AppState, project: &str) -> Result<Vec<String>, AppError> {
    let store = state.store();
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    let mut ids = Vec::new();
    loop {
        let result = store_call!(store, s => s.list_releases(project, &page).await)?;
        ids.extend(result.items.into_iter().map(|r| r.id));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(ids),
        }
    }
}

fn release_name(project: &str, id: &str) -> String {
    format!("projects/{project}/releases/{id}")
}

fn release_dto(release: &Release) -> Value {
    json!({
        "name": release_name(&release.project, &release.id),
        "id": release.id,
        "files": release.files.iter().map(|f| json!({
            "path": f.path,
            "version": f.version,
            "changeType": f.change_type,
            "checksum": f.checksum,
            "statement": f.statement,
        })).collect::<Vec<_>>(),
        "vcs": {
            "commitSha": release.vcs.commit_sha,
            "commitUrl": release.vcs.commit_url,
            "mergeRequestUrl": release.vcs.merge_request_url,
            "author": release.vcs.author,
        },
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/releases",
    tag = "releases",
    operation_id = "listReleases",
    summary = "List a project's releases",
    params(("project" = String, Path, description = "The project id"), ListQuery),
    responses((status = 200, description = "A page of the project's releases", body = crate::openapi::ReleasePage))
)]
pub(crate) async fn list_releases(
    State(state): State<AppState>,
    principal: Principal,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::ReleasesList, &project)
        .await?;
    let store = state.store();
    let page = store_call!(store, s => s.list_releases(&project, &query.page()).await)?;
    Ok(page_json("releases", page, |item| release_dto(&item)))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/releases/{release}",
    tag = "releases",
    operation_id = "getRelease",
    summary = "Get a release",
    params(("project" = String, Path, description = "The project id"), ("release" = String, Path, description = "The release id")),
    responses((status = 200, description = "The release", body = crate::openapi::ReleaseSchema))
)]
pub(crate) async fn get_release(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, release)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::ReleasesGet, &project)
        .await?;
    let store = state.store();
    let release = store_call!(store, s => s.get_release(&project, &release).await)?;
    Ok(Json(release_dto(&release)))
}

// ---- Plans ----

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreatePlanRequest {
    release: String,
    targets: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/plans",
    tag = "plans",
    operation_id = "createPlan",
    summary = "Plan a release against target databases",
    params(("project" = String, Path, description = "The project id")),
    request_body = CreatePlanRequest,
    responses((status = 201, description = "The created plan", body = crate::openapi::PlanSchema))
)]
pub(crate) async fn create_plan(
    State(state): State<AppState>,
    principal: Principal,
    Path(project): Path<String>,
    body: RawBody,
) -> Result<Response, AppError> {
    principal
        .require_in_project(&state, Permission::PlansCreate, &project)
        .await?;
    let request: CreatePlanRequest = body.parse("release, targets")?;
    let result = create_plan_inner(&state, &principal, &project, request).await;
    let (resource, outcome) = match &result {
        Ok(plan) => (plan_name(plan), "OK".to_string()),
        Err(error) => (
            format!("projects/{project}/plans"),
            format!("ERROR: {}", error.code),
        ),
    };
    audit(&state, &principal, "rg.plans.create", &resource, &outcome).await;
    Ok((StatusCode::CREATED, Json(plan_dto(&result?))).into_response())
}

async fn create_plan_inner(
    state: &AppState,
    principal: &Principal,
    project: &str,
    request: CreatePlanRequest,
) -> Result<Plan, AppError> {
    let store = state.store();
    store_call!(store, s => s.get_project(project).await)?;
    let release_id = match request.release.strip_prefix("projects/") {
        Some(rest) => match rest.split_once("/releases/") {
            Some((p, id)) if p == project => id.to_string(),
            _ => {
                return Err(field_error(
                    "release",
                    format!(
                        "`release` `{}` is not a release of project `{project}`: write `projects/{project}/releases/{{id}}`",
                        shorten(&request.release)
                    ),
                ));
            }
        },
        None => request.release.clone(),
    };
    store_call!(store, s => s.get_release(project, &release_id).await)?;
    if request.targets.is_empty() {
        return Err(field_error(
            "targets",
            "`targets` is empty: list at least one `instances/{instance}/databases/{database}`"
                .into(),
        ));
    }
    if request.targets.len() > MAX_PLAN_TARGETS {
        return Err(field_error(
            "targets",
            format!("a plan has at most {MAX_PLAN_TARGETS} targets"),
        ));
    }
    let members = project_databases(state, project).await?;
    let mut targets: Vec<DatabaseRef> = Vec::with_capacity(request.targets.len());
    for (index, text) in request.targets.iter().enumerate() {
        let target = parse_database_name(text).ok_or_else(|| {
            field_error(
                &format!("targets[{index}]"),
                format!(
                    "target `{}` is not a database name: write `instances/{{instance}}/databases/{{database}}`",
                    shorten(text)
                ),
            )
        })?;
        if targets.contains(&target) {
            return Err(field_error(
                &format!("targets[{index}]"),
                format!("target `{target}` is listed twice: list each database once"),
            ));
        }
        match store_call!(store, s => s.get_database(&target).await) {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(AppError::not_found(format!(
                    "target `{target}` does not exist: create the database first or fix the name"
                ))
                .with_details(json!({ "target": target.to_string() })));
            }
            Err(error) => return Err(error.into()),
        }
        if !members.contains(&target) {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                format!(
                    "target `{target}` is not a database of project `{project}`: add it to the project first, or remove it from the plan"
                ),
            )
            .with_details(json!({ "target": target.to_string() })));
        }
        targets.push(target);
    }
    Ok(
        store_call!(store, s => s.create_plan(project, &release_id, &targets, &principal.name, now_unix()).await)?,
    )
}

/// `instances/{i}/databases/{d}` with both parts non-empty and free of `/`.
pub(crate) fn parse_database_name(text: &str) -> Option<DatabaseRef> {
    let rest = text.strip_prefix("instances/")?;
    let (instance, name) = rest.split_once("/databases/")?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/') && s.len() <= 256;
    (valid(instance) && valid(name)).then(|| DatabaseRef::new(instance, name))
}

pub(crate) async fn project_databases(
    state: &AppState,
    project: &str,
) -> Result<Vec<DatabaseRef>, AppError> {
    let store = state.store();
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    let mut all = Vec::new();
    loop {
        let result = store_call!(store, s => s.list_project_databases(project, &page).await)?;
        all.extend(result.items);
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(all),
        }
    }
}

fn plan_name(plan: &Plan) -> String {
    format!("projects/{}/plans/{}", plan.project, plan.id)
}

fn plan_dto(plan: &Plan) -> Value {
    json!({
        "name": plan_name(plan),
        "id": plan.id,
        "release": release_name(&plan.project, &plan.release),
        "targets": plan.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "creator": plan.creator,
        "createTime": rfc3339(plan.created_at),
    })
}

/// A numeric id from a path segment; 404 naming the resource otherwise.
fn parse_id(kind: &str, text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::not_found(format!("{kind} `{}` not found", shorten(text))))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/plans",
    tag = "plans",
    operation_id = "listPlans",
    summary = "List a project's plans",
    params(("project" = String, Path, description = "The project id"), ListQuery),
    responses((status = 200, description = "A page of the project's plans", body = crate::openapi::PlanPage))
)]
pub(crate) async fn list_plans(
    State(state): State<AppState>,
    principal: Principal,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::PlansList, &project)
        .await?;
    let store = state.store();
    let page = store_call!(store, s => s.list_plans(&project, &query.page()).await)?;
    Ok(page_json("plans", page, |item| plan_dto(&item)))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/plans/{plan}",
    tag = "plans",
    operation_id = "getPlan",
    summary = "Get a plan",
    params(("project" = String, Path, description = "The project id"), ("plan" = String, Path, description = "The plan id")),
    responses((status = 200, description = "The plan", body = crate::openapi::PlanSchema))
)]
pub(crate) async fn get_plan(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, plan)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::PlansGet, &project)
        .await?;
    let id = parse_id("plan", &plan)?;
    let store = state.store();
    let plan = store_call!(store, s => s.get_plan(&project, id).await)?;
    Ok(Json(plan_dto(&plan)))
}

// ---- Rollouts ----

/// `POST /projects/{p}/plans/{n}/rollout`: idempotent per plan.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/plans/{plan}/rollout",
    tag = "rollouts",
    operation_id = "createRollout",
    summary = "Create (or get) the rollout of a plan",
    params(("project" = String, Path, description = "The project id"), ("plan" = String, Path, description = "The plan id")),
    responses((status = 200, description = "The plan's rollout (created on the first call, the same one after)", body = crate::openapi::RolloutSchema))
)]
pub(crate) async fn create_rollout(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, plan)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsCreate, &project)
        .await?;
    let result = create_rollout_inner(&state, &project, &plan).await;
    let (resource, outcome) = match &result {
        Ok(rollout) => (rollout_name(rollout), "OK".to_string()),
        Err(error) => (
            format!("projects/{project}/plans/{}", shorten(&plan)),
            format!("ERROR: {}", error.code),
        ),
    };
    audit(
        &state,
        &principal,
        "rg.rollouts.create",
        &resource,
        &outcome,
    )
    .await;
    let rollout = result?;
    Ok(Json(rollout_dto(&rollout)))
}

async fn create_rollout_inner(
    state: &AppState,
    project: &str,
    plan: &str,
) -> Result<Rollout, AppError> {
    let store = state.store();
    let plan = store_call!(store, s => s.get_plan(project, parse_id("plan", plan)?).await)?;
    let environments = all_environments(state).await?;
    let mut targets = Vec::with_capacity(plan.targets.len());
    for target in &plan.targets {
        let database = store_call!(store, s => s.get_database(target).await).map_err(|e| match e {
            StoreError::NotFound { .. } => AppError::new(
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                format!("target `{target}` of the plan no longer exists: create a new plan without it"),
            ),
            other => other.into(),
        })?;
        targets.push(rollgate_rollout::Target {
            database: target.to_string(),
            environment: database.environment,
        });
    }
    let built = rollgate_rollout::build_rollout(&targets, &environments)
        .map_err(|e| AppError::new(StatusCode::CONFLICT, "FAILED_PRECONDITION", e.to_string()))?;
    let stages: Vec<(String, Vec<DatabaseRef>)> = built
        .stages
        .iter()
        .map(|stage| {
            let dbs = stage
                .tasks
                .iter()
                .filter_map(|t| parse_database_name(t.database()))
                .collect();
            (stage.id.clone(), dbs)
        })
        .collect();
    let id =
        store_call!(store, s => s.create_rollout(project, plan.id, &stages, now_unix()).await)?;
    Ok(store_call!(store, s => s.get_rollout(id).await)?)
}

/// Every environment as `rollgate_rollout` sees it: ordered by the
/// workspace's order (positions, so any `i64` order fits), with its policy.
async fn all_environments(
    state: &AppState,
) -> Result<Vec<rollgate_rollout::Environment>, AppError> {
    let store = state.store();
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    let mut all = Vec::new();
    loop {
        let result = store_call!(store, s => s.list_environments(&page).await)?;
        all.extend(result.items);
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => break,
        }
    }
    all.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
    Ok(all
        .into_iter()
        .enumerate()
        .map(|(position, env)| rollgate_rollout::Environment {
            policy: rollout_policy(&env.policy_json),
            id: env.id,
            title: env.title,
            order: u32::try_from(position).unwrap_or(u32::MAX),
        })
        .collect())
}

/// `{"rollout":"manual","roles":[…]}` is manual; no `rollout` key or
/// `"automatic"` is automatic; anything else is manual with the roles given
/// (none: workspace admins only), so a mistyped policy fails closed.
pub(crate) fn rollout_policy(policy_json: &str) -> RolloutPolicy {
    let value: Value = serde_json::from_str(policy_json).unwrap_or(Value::Null);
    let roles = || {
        value
            .get("roles")
            .and_then(Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    match value.get("rollout") {
        None => RolloutPolicy::Automatic,
        Some(Value::String(kind)) if kind == "automatic" => RolloutPolicy::Automatic,
        Some(_) => RolloutPolicy::Manual { roles: roles() },
    }
}

fn rollout_name(rollout: &Rollout) -> String {
    format!("projects/{}/rollouts/{}", rollout.project, rollout.id)
}

/// The rollout as `rollgate_rollout` sees it, with each stage's policy
/// (`None`: every stage automatic, enough for deriving statuses).
fn domain_rollout(
    rollout: &Rollout,
    environments: Option<&[rollgate_rollout::Environment]>,
) -> rollgate_rollout::Rollout {
    let stages = rollout
        .stages
        .iter()
        .map(|stage| {
            let env = environments.and_then(|envs| envs.iter().find(|e| e.id == stage.id));
            let policy = match (environments, env) {
                (None, _) => RolloutPolicy::Automatic,
                (Some(_), Some(env)) => env.policy.clone(),
                // The environment was deleted: only a workspace admin may run it.
                (Some(_), None) => RolloutPolicy::Manual { roles: Vec::new() },
            };
            rollgate_rollout::Stage {
                id: stage.id.clone(),
                environment: format!("environments/{}", stage.id),
                title: env.map_or_else(|| stage.id.clone(), |e| e.title.clone()),
                policy,
                tasks: stage
                    .tasks
                    .iter()
                    .map(|task| {
                        serde_json::from_value(json!({
                            "database": task.database.to_string(),
                            "status": task.status,
                            "skippedReason": task.skipped_reason,
                        }))
                        // A status this build does not know counts as unfinished.
                        .unwrap_or_else(|_| rollgate_rollout::Task::new(task.database.to_string()))
                    })
                    .collect(),
            }
        })
        .collect();
    rollgate_rollout::Rollout { stages }
}

fn rollout_dto(rollout: &Rollout) -> Value {
    let domain = domain_rollout(rollout, None);
    let name = rollout_name(rollout);
    let stages: Vec<Value> = rollout
        .stages
        .iter()
        .zip(&domain.stages)
        .map(|(stage, domain_stage)| {
            let stage_name = format!("{name}/stages/{}", stage.id);
            json!({
                "name": stage_name,
                "id": stage.id,
                "environment": format!("environments/{}", stage.id),
                "status": domain_stage.status(),
                "tasks": stage.tasks.iter().map(|task| json!({
                    "name": format!("{stage_name}/tasks/{}", task.id),
                    "id": task.id,
                    "target": task.database.to_string(),
                    "status": task.status,
                    "skippedReason": task.skipped_reason,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let overrides: Vec<Value> = rollout
        .overrides
        .iter()
        .map(|o| {
            json!({
                "stage": format!("{name}/stages/{}", o.stage),
                "actor": o.actor,
                "reason": o.reason,
                "blockingTasks": serde_json::from_str::<Value>(&o.blocking_json).unwrap_or(Value::Null),
                "time": rfc3339(o.at),
            })
        })
        .collect();
    json!({
        "name": name,
        "id": rollout.id,
        "plan": format!("projects/{}/plans/{}", rollout.project, rollout.plan),
        "release": release_name(&rollout.project, &rollout.release),
        "status": domain.status(),
        "createTime": rfc3339(rollout.created_at),
        "stages": stages,
        "overrides": overrides,
    })
}

/// The rollout `id` of `project`; 404 when it belongs to another project.
async fn load_rollout(state: &AppState, project: &str, id: &str) -> Result<Rollout, AppError> {
    let not_found = || {
        AppError::not_found(format!(
            "rollout `projects/{project}/rollouts/{}` not found",
            shorten(id)
        ))
    };
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let store = state.store();
    match store_call!(store, s => s.get_rollout(id).await) {
        Ok(rollout) if rollout.project == project => Ok(rollout),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(not_found()),
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts",
    tag = "rollouts",
    operation_id = "listRollouts",
    summary = "List a project's rollouts",
    params(("project" = String, Path, description = "The project id"), ListQuery),
    responses((status = 200, description = "A page of the project's rollouts", body = crate::openapi::RolloutPage))
)]
pub(crate) async fn list_rollouts(
    State(state): State<AppState>,
    principal: Principal,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsList, &project)
        .await?;
    let store = state.store();
    let page = store_call!(store, s => s.list_rollouts(&project, &query.page()).await)?;
    Ok(page_json("rollouts", page, |rollout| rollout_dto(&rollout)))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}",
    tag = "rollouts",
    operation_id = "getRollout",
    summary = "Get a rollout",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id")),
    responses((status = 200, description = "The rollout", body = crate::openapi::RolloutSchema))
)]
pub(crate) async fn get_rollout(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsGet, &project)
        .await?;
    let rollout = load_rollout(&state, &project, &rollout).await?;
    Ok(Json(rollout_dto(&rollout)))
}

/// The stage `stage` of a rollout's DTO, or 404 naming the stages there are.
fn stage_of(rollout: &Value, stage: &str) -> Result<Value, AppError> {
    let stages = rollout["stages"].as_array().cloned().unwrap_or_default();
    let known: Vec<&str> = stages.iter().filter_map(|s| s["id"].as_str()).collect();
    stages
        .iter()
        .find(|s| s["id"] == stage)
        .cloned()
        .ok_or_else(|| {
            AppError::not_found(format!(
                "stage `{stage}` not found in `{}`; its stages are: {}",
                rollout["name"].as_str().unwrap_or("the rollout"),
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages",
    tag = "rollouts",
    operation_id = "listStages",
    summary = "List a rollout's stages, in environment order, with their tasks",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id")),
    responses((status = 200, description = "The stages", body = crate::openapi::StagePage))
)]
pub(crate) async fn list_stages(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsGet, &project)
        .await?;
    let rollout = rollout_dto(&load_rollout(&state, &project, &rollout).await?);
    Ok(Json(
        json!({ "stages": rollout["stages"], "nextPageToken": null }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}",
    tag = "rollouts",
    operation_id = "getStage",
    summary = "Get a stage with its tasks",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)")),
    responses((status = 200, description = "The stage", body = crate::openapi::StageSchema))
)]
pub(crate) async fn get_stage(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage)): Path<(String, String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsGet, &project)
        .await?;
    let rollout = rollout_dto(&load_rollout(&state, &project, &rollout).await?);
    Ok(Json(stage_of(&rollout, &stage)?))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks",
    tag = "rollouts",
    operation_id = "listTasks",
    summary = "List a stage's tasks, one per target database",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)")),
    responses((status = 200, description = "The tasks", body = crate::openapi::TaskPage))
)]
pub(crate) async fn list_tasks(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage)): Path<(String, String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsGet, &project)
        .await?;
    let rollout = rollout_dto(&load_rollout(&state, &project, &rollout).await?);
    let stage = stage_of(&rollout, &stage)?;
    Ok(Json(
        json!({ "tasks": stage["tasks"], "nextPageToken": null }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}",
    tag = "rollouts",
    operation_id = "getTask",
    summary = "Get a task",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)"), ("task" = String, Path, description = "The task id")),
    responses((status = 200, description = "The task", body = crate::openapi::TaskSchema))
)]
pub(crate) async fn get_task(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage, task)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::RolloutsGet, &project)
        .await?;
    let rollout = rollout_dto(&load_rollout(&state, &project, &rollout).await?);
    let stage = stage_of(&rollout, &stage)?;
    stage["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["id"].as_i64().is_some_and(|id| task == id.to_string()))
        .cloned()
        .map(Json)
        .ok_or_else(|| {
            AppError::not_found(format!(
                "task `{task}` not found in `{}`; list its tasks with GET …/tasks",
                stage["name"].as_str().unwrap_or("the stage")
            ))
        })
}

// ---- Stage actions ----

/// Optional body of `tasks:run`, `tasks:skip` and `taskRuns:cancel`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StageActionRequest {
    /// Task names (`…/tasks/{id}`) or ids; default: every task of the stage.
    #[serde(default)]
    tasks: Option<Vec<Value>>,
    /// Run before earlier stages are finished (workspace admins only).
    #[serde(default, rename = "override")]
    override_: bool,
    #[serde(default)]
    reason: Option<String>,
}

fn parse_body(body: &RawBody) -> Result<StageActionRequest, AppError> {
    body.parse("tasks, override, reason")
}

/// The stage's tasks the request names (all of them by default).
fn select_tasks<'a>(
    stage: &'a rollgate_store::Stage,
    wanted: Option<&[Value]>,
) -> Result<Vec<&'a rollgate_store::Task>, AppError> {
    let Some(wanted) = wanted else {
        return Ok(stage.tasks.iter().collect());
    };
    let mut out = Vec::with_capacity(wanted.len());
    for value in wanted {
        let id = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.rsplit('/').next().and_then(|id| id.parse().ok()),
            _ => None,
        };
        let task = id
            .and_then(|id| stage.tasks.iter().find(|t| t.id == id))
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "task `{}` is not a task of stage `{}`",
                    shorten(&value.to_string()),
                    stage.id
                ))
            })?;
        if !out.iter().any(|t: &&rollgate_store::Task| t.id == task.id) {
            out.push(task);
        }
    }
    Ok(out)
}

fn find_stage<'a>(
    rollout: &'a Rollout,
    stage: &str,
) -> Result<&'a rollgate_store::Stage, AppError> {
    rollout
        .stages
        .iter()
        .find(|s| s.id == stage)
        .ok_or_else(|| {
            let known: Vec<&str> = rollout.stages.iter().map(|s| s.id.as_str()).collect();
            AppError::not_found(format!(
                "rollout {} has no stage `{}`; its stages are: {}",
                rollout.id,
                shorten(stage),
                known.join(", ")
            ))
        })
}

/// The caller as the stage gate sees it: its workspace-wide roles plus the
/// roles its bindings give it in the rollout's project.
fn actor(principal: &Principal, bound: &[rollgate_auth::Role]) -> Actor {
    Actor::new(
        principal
            .roles
            .iter()
            .chain(bound)
            .filter_map(|role| role.id().parse::<rollgate_rollout::Role>().ok()),
    )
}

fn refusal_error(refusal: &Refusal) -> AppError {
    let (status, code) = match refusal {
        Refusal::UnknownStage { .. } => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        Refusal::NoRunPermission
        | Refusal::ServiceAgentOnManual { .. }
        | Refusal::ManualRoleMissing { .. } => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        Refusal::EarlierStageUnfinished { .. } | Refusal::OverrideNeedsAdmin { .. } => {
            (StatusCode::CONFLICT, "FAILED_PRECONDITION")
        }
    };
    AppError::new(status, code, refusal.to_string())
}

/// `POST …/rollouts/{n}/stages/{env}/tasks:run`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:run",
    tag = "rollouts",
    operation_id = "runTasks",
    summary = "Run a stage's tasks",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)")),
    request_body(content = Option<StageActionRequest>, description = "Optional; an empty body takes the defaults"),
    responses((status = 200, description = "The task runs queued", body = crate::openapi::RunTasksResponseSchema))
)]
pub(crate) async fn run_tasks(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage)): Path<(String, String, String)>,
    body: RawBody,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::TaskRunsCreate, &project)
        .await?;
    let resource = format!(
        "projects/{project}/rollouts/{}/stages/{}",
        shorten(&rollout),
        shorten(&stage)
    );
    let result = run_tasks_inner(&state, &principal, &project, &rollout, &stage, body).await;
    let outcome = match &result {
        Ok(runs) => format!("OK: {} task run(s) queued", runs.len()),
        Err(error) => format!("ERROR: {}: {}", error.code, shorten(&error.message)),
    };
    audit(
        &state,
        &principal,
        "rg.taskRuns.create",
        &resource,
        &outcome,
    )
    .await;
    let runs = result?;
    Ok(Json(json!({ "taskRuns": runs })))
}

async fn run_tasks_inner(
    state: &AppState,
    principal: &Principal,
    project: &str,
    rollout_id: &str,
    stage_id: &str,
    body: RawBody,
) -> Result<Vec<Value>, AppError> {
    let request = parse_body(&body)?;
    let rollout = load_rollout(state, project, rollout_id).await?;
    let environments = all_environments(state).await?;
    let domain = domain_rollout(&rollout, Some(&environments));
    let actor = actor(principal, &principal.project_roles(state, project).await?);
    let permit = rollgate_rollout::can_run_stage(&domain, stage_id, &actor, request.override_)
        .map_err(|refusal| refusal_error(&refusal))?;
    let stage = find_stage(&rollout, stage_id)?;
    let tasks = select_tasks(stage, request.tasks.as_deref())?;
    let runnable: Vec<&rollgate_store::Task> = tasks
        .iter()
        .copied()
        .filter(|t| matches!(t.status.as_str(), "NOT_STARTED" | "FAILED" | "CANCELED"))
        .collect();
    if request.tasks.is_some()
        && let Some(task) = tasks
            .iter()
            .find(|t| !runnable.iter().any(|r| r.id == t.id))
    {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
            format!(
                "task {} ({}) is {}: only NOT_STARTED, FAILED or CANCELED tasks can run",
                task.id, task.database, task.status
            ),
        ));
    }
    if runnable.is_empty() {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
            format!(
                "stage `{stage_id}` has no task to run: every task is DONE, SKIPPED, PENDING or RUNNING"
            ),
        ));
    }
    if let Permit::Override { blocking } = &permit {
        let reason = request
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                field_error(
                    "reason",
                    "an override of stage order needs a `reason`; it is recorded in the audit log and the rollout".into(),
                )
            })?;
        let blocking_json = Value::Array(
            blocking
                .iter()
                .map(|b| json!({ "stage": b.stage, "target": b.database, "status": b.status }))
                .collect(),
        )
        .to_string();
        let entry = RolloutOverride {
            rollout: rollout.id,
            stage: stage_id.to_string(),
            actor: principal.name.clone(),
            reason: shorten_to(reason, 1000),
            blocking_json,
            at: now_unix(),
        };
        let store = state.store();
        let recorded = store_call!(store, s => s.record_rollout_override(&entry).await);
        audit_outcome(
            state,
            principal,
            "rg.rollouts.overrideStageOrder",
            &format!("{}/stages/{stage_id}", rollout_name(&rollout)),
            &recorded,
        )
        .await;
        recorded?;
    }
    let store = state.store();
    let mut queued = Vec::with_capacity(runnable.len());
    for task in runnable {
        match store_call!(store, s => s.enqueue_task_run(task.id, now_unix()).await) {
            Ok(run) => queued.push(json!({
                "name": format!("{}/stages/{stage_id}/tasks/{}/taskRuns/{run}", rollout_name(&rollout), task.id),
                "id": run,
                "task": task.id,
                "target": task.database.to_string(),
            })),
            // Queued meanwhile by another caller: nothing to add.
            Err(StoreError::Conflict { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(queued)
}

fn shorten_to(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `POST …/stages/{env}/tasks:skip {reason, tasks?}`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:skip",
    tag = "rollouts",
    operation_id = "skipTasks",
    summary = "Skip a stage's tasks",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)")),
    request_body(content = Option<StageActionRequest>, description = "Optional; an empty body takes the defaults"),
    responses((status = 200, description = "The tasks skipped", body = crate::openapi::SkipTasksResponseSchema))
)]
pub(crate) async fn skip_tasks(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage)): Path<(String, String, String)>,
    body: RawBody,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::TasksSkip, &project)
        .await?;
    let resource = format!(
        "projects/{project}/rollouts/{}/stages/{}",
        shorten(&rollout),
        shorten(&stage)
    );
    let result = skip_tasks_inner(&state, &principal, &project, &rollout, &stage, body).await;
    let outcome = match &result {
        Ok(skipped) => format!("OK: {} task(s) skipped", skipped.len()),
        Err(error) => format!("ERROR: {}: {}", error.code, shorten(&error.message)),
    };
    audit(&state, &principal, "rg.tasks.skip", &resource, &outcome).await;
    Ok(Json(json!({ "skippedTasks": result? })))
}

async fn skip_tasks_inner(
    state: &AppState,
    principal: &Principal,
    project: &str,
    rollout_id: &str,
    stage_id: &str,
    body: RawBody,
) -> Result<Vec<i64>, AppError> {
    let request = parse_body(&body)?;
    if request.override_ {
        return Err(field_error(
            "override",
            "`override` applies to tasks:run only".into(),
        ));
    }
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            field_error(
                "reason",
                "`reason` is required: say why the tasks are skipped".into(),
            )
        })?;
    let rollout = load_rollout(state, project, rollout_id).await?;
    // Skipping obeys the stage's rollout policy like running does: whoever
    // may not run a manual stage may not skip it either.
    let environments = all_environments(state).await?;
    let domain = domain_rollout(&rollout, Some(&environments));
    let actor = actor(principal, &principal.project_roles(state, project).await?);
    rollgate_rollout::can_skip_stage(&domain, stage_id, &actor)
        .map_err(|refusal| refusal_error(&refusal))?;
    let stage = find_stage(&rollout, stage_id)?;
    let tasks = select_tasks(stage, request.tasks.as_deref())?;
    let explicit = request.tasks.is_some();
    let store = state.store();
    let mut skipped = Vec::new();
    for task in tasks {
        if !matches!(task.status.as_str(), "NOT_STARTED" | "FAILED" | "CANCELED") {
            if explicit {
                return Err(AppError::new(
                    StatusCode::CONFLICT,
                    "FAILED_PRECONDITION",
                    format!(
                        "task {} ({}) is {}: only NOT_STARTED, FAILED or CANCELED tasks can be skipped",
                        task.id, task.database, task.status
                    ),
                ));
            }
            continue;
        }
        match store_call!(store, s => s.skip_task(task.id, &shorten_to(reason, 1000)).await) {
            Ok(()) => skipped.push(task.id),
            Err(StoreError::Conflict { .. }) if !explicit => {}
            Err(error) => return Err(error.into()),
        }
    }
    if skipped.is_empty() {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
            format!(
                "stage `{stage_id}` has no task to skip: only NOT_STARTED, FAILED or CANCELED tasks can be skipped"
            ),
        ));
    }
    Ok(skipped)
}

/// `POST …/stages/{env}/taskRuns:cancel {tasks?}`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/taskRuns:cancel",
    tag = "rollouts",
    operation_id = "cancelTaskRuns",
    summary = "Cancel a stage's queued or running task runs",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)")),
    request_body(content = Option<StageActionRequest>, description = "Optional; an empty body takes the defaults"),
    responses((status = 200, description = "The tasks whose runs were canceled", body = crate::openapi::CancelTaskRunsResponseSchema))
)]
pub(crate) async fn cancel_task_runs(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage)): Path<(String, String, String)>,
    body: RawBody,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::TaskRunsCancel, &project)
        .await?;
    let resource = format!(
        "projects/{project}/rollouts/{}/stages/{}",
        shorten(&rollout),
        shorten(&stage)
    );
    let result = cancel_inner(&state, &project, &rollout, &stage, body).await;
    let outcome = match &result {
        Ok(canceled) => format!("OK: {} task run(s) canceled", canceled.len()),
        Err(error) => format!("ERROR: {}: {}", error.code, shorten(&error.message)),
    };
    audit(
        &state,
        &principal,
        "rg.taskRuns.cancel",
        &resource,
        &outcome,
    )
    .await;
    Ok(Json(json!({ "canceledTasks": result? })))
}

async fn cancel_inner(
    state: &AppState,
    project: &str,
    rollout_id: &str,
    stage_id: &str,
    body: RawBody,
) -> Result<Vec<i64>, AppError> {
    let request = parse_body(&body)?;
    if request.override_ || request.reason.is_some() {
        return Err(AppError::invalid_argument(
            "taskRuns:cancel accepts only `tasks`",
        ));
    }
    let rollout = load_rollout(state, project, rollout_id).await?;
    let stage = find_stage(&rollout, stage_id)?;
    let tasks = select_tasks(stage, request.tasks.as_deref())?;
    let store = state.store();
    let mut canceled = Vec::new();
    for task in tasks {
        if store_call!(store, s => s.cancel_task_run(task.id, now_unix()).await)? {
            canceled.push(task.id);
        }
    }
    if canceled.is_empty() {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
            format!("stage `{stage_id}` has no queued or running task run to cancel"),
        ));
    }
    Ok(canceled)
}

// ---- Task runs and logs ----

fn task_run_dto(prefix: &str, run: &TaskRun) -> Value {
    json!({
        "name": format!("{prefix}/taskRuns/{}", run.id),
        "id": run.id,
        "status": run.status,
        "attempts": run.attempts,
        "error": run.error,
        "createTime": rfc3339(run.created_at),
        "startTime": run.started_at.map(rfc3339),
        "finishTime": run.finished_at.map(rfc3339),
    })
}

/// The task `task` of stage `stage` of the project's rollout, as a name prefix.
async fn load_task(
    state: &AppState,
    project: &str,
    rollout: &str,
    stage: &str,
    task: &str,
) -> Result<(String, i64), AppError> {
    let rollout = load_rollout(state, project, rollout).await?;
    let stage = find_stage(&rollout, stage)?;
    let task = select_tasks(stage, Some(&[Value::String(task.to_string())]))?[0];
    Ok((
        format!(
            "{}/stages/{}/tasks/{}",
            rollout_name(&rollout),
            stage.id,
            task.id
        ),
        task.id,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns",
    tag = "rollouts",
    operation_id = "listTaskRuns",
    summary = "List a task's runs",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)"), ("task" = String, Path, description = "The task id")),
    responses((status = 200, description = "The task's runs", body = crate::openapi::TaskRunPage))
)]
pub(crate) async fn list_task_runs(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage, task)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::TaskRunsList, &project)
        .await?;
    let (prefix, task_id) = load_task(&state, &project, &rollout, &stage, &task).await?;
    let store = state.store();
    let runs = store_call!(store, s => s.list_task_runs(task_id).await)?;
    let items: Vec<Value> = runs.iter().map(|r| task_run_dto(&prefix, r)).collect();
    Ok(Json(json!({ "taskRuns": items, "nextPageToken": null })))
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}",
    tag = "rollouts",
    operation_id = "getTaskRun",
    summary = "Get a task run",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)"), ("task" = String, Path, description = "The task id"), ("run" = String, Path, description = "The task run id")),
    responses((status = 200, description = "The task run", body = crate::openapi::TaskRunSchema))
)]
pub(crate) async fn get_task_run(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage, task, run)): Path<(String, String, String, String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::TaskRunsList, &project)
        .await?;
    let (prefix, task_id) = load_task(&state, &project, &rollout, &stage, &task).await?;
    let run = load_task_run(&state, &prefix, task_id, &run).await?;
    Ok(Json(task_run_dto(&prefix, &run)))
}

/// The run `run` of task `task_id`, or 404 naming it.
async fn load_task_run(
    state: &AppState,
    prefix: &str,
    task_id: i64,
    run: &str,
) -> Result<TaskRun, AppError> {
    let run_id = parse_id("task run", run)?;
    let store = state.store();
    match store_call!(store, s => s.get_task_run(run_id).await) {
        Ok(run) if run.task_id == task_id => Ok(run),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(AppError::not_found(format!(
            "task run `{prefix}/taskRuns/{run_id}` not found"
        ))),
        Err(error) => Err(error.into()),
    }
}

/// `GET …/taskRuns/{id}/log`: the worker's entries, oldest first (see
/// `crate::worker` for their shapes: per file and per statement, with
/// start, end, duration, rows affected, and file:line of a failure).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}/log",
    tag = "rollouts",
    operation_id = "getTaskRunLog",
    summary = "Get a task run's log",
    params(("project" = String, Path, description = "The project id"), ("rollout" = String, Path, description = "The rollout id"), ("stage" = String, Path, description = "The stage id (its environment id)"), ("task" = String, Path, description = "The task id"), ("run" = String, Path, description = "The task run id")),
    responses((status = 200, description = "The run's log", body = crate::openapi::TaskRunLogSchema))
)]
pub(crate) async fn get_task_run_log(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, rollout, stage, task, run)): Path<(String, String, String, String, String)>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::TaskRunsList, &project)
        .await?;
    let (prefix, task_id) = load_task(&state, &project, &rollout, &stage, &task).await?;
    let run = load_task_run(&state, &prefix, task_id, &run).await?;
    let run_id = run.id;
    let store = state.store();
    let entries = store_call!(store, s => s.list_task_log(run_id).await)?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| serde_json::from_str(&e.entry_json).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({
        "name": format!("{prefix}/taskRuns/{run_id}/log"),
        "taskRun": task_run_dto(&prefix, &run),
        "entries": entries,
    })))
}
