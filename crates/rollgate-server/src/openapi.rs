//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' `ToSchema` derives.
//!
//! [`openapi`] assembles the document and then fills in, from
//! [`crate::ENDPOINT_PERMISSIONS`], what every `/api/v1` operation shares: the
//! permission it checks (in its description), the bearer security
//! requirement, and the `{code, message, details}` error responses. So the
//! permission table stays the one source of truth and the spec cannot drift
//! from it. The document is served at `GET /api/v1/openapi.json` and
//! committed as `docs/openapi.json`; a test fails when either is stale.
//!
//! Some response bodies are built with `serde_json::json!` in the handlers;
//! the `*Schema` structs here describe their shape for the spec only and are
//! never constructed.

use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::{Tag, TagBuilder};
use utoipa::openapi::{ContentBuilder, InfoBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};

use crate::{ENDPOINT_PERMISSIONS, endpoint_scope};

/// The name of the bearer security scheme in the document.
const BEARER: &str = "bearerAuth";

/// The whole document: OpenAPI 3.1, `Rollgate API`, the crate's version.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info = InfoBuilder::new()
        .title("Rollgate API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The Rollgate control plane's HTTP API. Every `/api/v1` endpoint except \
             `POST /api/v1/auth/login` and `GET /api/v1/openapi.json` needs \
             `Authorization: Bearer <token>`, a session token (`rgt_…`) from login or a \
             service account key (`rgs_…`), and checks exactly one permission, named in \
             its description. Errors are `{code, message, details}`.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("rgt_… session token or rgs_… service account key")
                .build(),
        ),
    );
    for (_, name, description) in ERROR_RESPONSES {
        components
            .responses
            .insert(name.to_string(), RefOr::T(error_response(description)));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ] {
            if let Some(operation) = operation {
                complete_operation(method, path, operation);
            }
        }
    }
    doc.tags = Some(TAGS.iter().map(|(name, text)| tag(name, text)).collect());
    doc
}

/// `GET /api/v1/openapi.json`: the document, no authentication (it holds no data).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "getOpenApi",
    summary = "This OpenAPI document",
    description = "Needs no token: the document holds no data.",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// The document as committed in `docs/openapi.json`: pretty-printed with a
/// trailing newline. Maps are ordered (utoipa keeps them in `BTreeMap`s), so
/// the text is stable.
pub fn openapi_pretty_json() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    text.push('\n');
    text
}

/// Operations that need no bearer token.
pub const UNAUTHENTICATED_OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/setup"),
];

const TAGS: &[(&str, &str)] = &[
    ("auth", "Login and first-start setup"),
    (
        "environments",
        "Environments, in rollout order, with their rollout policy",
    ),
    (
        "instances",
        "Target database servers; their URLs are stored encrypted and never returned with a password",
    ),
    ("databases", "Databases on instances"),
    ("projects", "Projects, their databases and IAM policies"),
    ("users", "Users and their workspace-wide roles"),
    ("serviceAccounts", "Service accounts (CI) and their keys"),
    ("auditLogs", "The audit log"),
    (
        "releases",
        "Releases: immutable sets of migration files, and their review check",
    ),
    ("plans", "Plans: a release against target databases"),
    (
        "rollouts",
        "Rollouts: stages per environment, tasks per database, task runs and logs",
    ),
    (
        "changelog",
        "The migration history read from a target database",
    ),
    (
        "reviewPolicies",
        "SQL review policies attached to environments and projects",
    ),
    ("meta", "This document"),
];

fn tag(name: &str, description: &str) -> Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

/// The shared error responses: `(status, component name, description)`.
const ERROR_RESPONSES: &[(&str, &str, &str)] = &[
    (
        "400",
        "InvalidArgument",
        "INVALID_ARGUMENT (or MALFORMED_JSON): a field, parameter or the body is invalid; `details.field` names the field when it is one",
    ),
    (
        "401",
        "Unauthenticated",
        "UNAUTHENTICATED: no bearer token, or it is unknown or expired (for login and setup: wrong credentials or setup token)",
    ),
    (
        "403",
        "PermissionDenied",
        "PERMISSION_DENIED: the caller lacks the permission this operation checks",
    ),
    (
        "404",
        "NotFound",
        "NOT_FOUND: the resource, or a resource the request names, does not exist",
    ),
    (
        "409",
        "Conflict",
        "ALREADY_EXISTS or FAILED_PRECONDITION: the resource exists, or its state forbids the call",
    ),
    (
        "413",
        "PayloadTooLarge",
        "PAYLOAD_TOO_LARGE: the request body is larger than the server's limit",
    ),
    (
        "429",
        "ResourceExhausted",
        "RESOURCE_EXHAUSTED: too many failed logins; `details.retryAfterSeconds` and the `Retry-After` header say when to retry",
    ),
    (
        "503",
        "Unavailable",
        "UNAVAILABLE: the metadata store is unavailable; retry later",
    ),
];

/// Adds the permission, the security requirement and the error responses to
/// one operation.
fn complete_operation(method: &str, path: &str, operation: &mut Operation) {
    let permission = ENDPOINT_PERMISSIONS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, permission)| *permission);
    let authenticated = !UNAUTHENTICATED_OPERATIONS.contains(&(method, path));
    let mut description = operation.description.take().unwrap_or_default();
    if let Some(permission) = permission {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!(
            "Permission: `{permission}` (checked in: {}).",
            operation_scope(method, path)
        ));
    }
    operation.description = (!description.is_empty()).then_some(description);
    if authenticated {
        operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    }
    let login_or_setup = path == "/api/v1/auth/login" || path == "/setup";
    let has_body = operation.request_body.is_some();
    for (status, name, _) in ERROR_RESPONSES {
        let applies = match *status {
            "400" | "503" => login_or_setup || authenticated,
            "401" => login_or_setup || authenticated,
            "403" | "404" => authenticated,
            "409" => method != "GET" && (authenticated || path == "/setup"),
            "413" => has_body,
            "429" => path == "/api/v1/auth/login",
            _ => false,
        };
        if applies {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))));
        }
    }
}

/// Where the operation checks its permission.
fn operation_scope(method: &str, path: &str) -> &'static str {
    endpoint_scope(method, path)
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        openapi_json,
        crate::api::login,
        crate::api::setup,
        crate::api::list_environments,
        crate::api::get_environment,
        crate::api::create_environment,
        crate::api_iam::patch_environment,
        crate::api_iam::delete_environment,
        crate::api_instances::list_instances,
        crate::api_instances::get_instance,
        crate::api_instances::create_instance,
        crate::api_instances::patch_instance,
        crate::api_instances::delete_instance,
        crate::api_instances::post_instance_method,
        crate::api_instances::list_all_databases,
        crate::api_instances::list_instance_databases,
        crate::api_instances::create_database,
        crate::api_instances::get_database,
        crate::api_instances::patch_database,
        crate::api_instances::delete_database,
        crate::api::list_projects,
        crate::api_iam::get_project_or_policy,
        crate::api::create_project,
        crate::api_iam::patch_project,
        crate::api_iam::delete_project,
        get_iam_policy_operation,
        crate::api_iam::post_project_method,
        crate::api_iam::list_users,
        crate::api_iam::get_user,
        crate::api_iam::create_user,
        crate::api_iam::patch_user,
        crate::api_iam::delete_user,
        crate::api_iam::list_service_accounts,
        crate::api_iam::get_service_account,
        crate::api_iam::create_service_account,
        crate::api_iam::patch_service_account,
        crate::api_iam::delete_service_account,
        crate::api_iam::post_service_account_method,
        crate::api::list_audit_logs,
        crate::rollouts::list_releases,
        crate::rollouts::create_release,
        crate::rollouts::get_release,
        crate::rollouts::list_plans,
        crate::rollouts::create_plan,
        crate::rollouts::get_plan,
        crate::rollouts::create_rollout,
        crate::rollouts::list_rollouts,
        crate::rollouts::get_rollout,
        crate::rollouts::run_tasks,
        crate::rollouts::skip_tasks,
        crate::rollouts::cancel_task_runs,
        crate::rollouts::list_stages,
        crate::rollouts::get_stage,
        crate::rollouts::list_tasks,
        crate::rollouts::get_task,
        crate::rollouts::list_task_runs,
        crate::rollouts::get_task_run,
        crate::rollouts::get_task_run_log,
        crate::changelog::get_changelog,
        crate::drift::get_drift,
        crate::drift::post_drift_check,
        crate::policies::list_review_policies,
        crate::policies::get_environment_policy,
        crate::policies::put_environment_policy,
        crate::policies::delete_environment_policy,
        crate::policies::get_project_policy,
        crate::policies::put_project_policy,
        crate::policies::delete_project_policy,
        crate::check::check_release,
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// `GET /projects/{project}:getIamPolicy` is served by
/// `api_iam::get_project_or_policy` (the router cannot match a suffix after a
/// path parameter); this function only carries its operation for the spec and
/// is never routed.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}:getIamPolicy",
    tag = "projects",
    operation_id = "getProjectIamPolicy",
    summary = "Get a project's IAM policy",
    description = "The project's role bindings: `{bindings: [{role, members}]}`.",
    params(("project" = String, Path, description = "The project id")),
    responses((status = 200, description = "The project's IAM policy", body = crate::api_iam::PolicyDto))
)]
#[allow(dead_code)]
fn get_iam_policy_operation() {}

// ---- Schemas of responses built with `json!` (spec only) ----

/// Every error: a stable code, a message saying what to fix, and details
/// (for example `{"field": "id"}`).
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// Stable machine-readable code, e.g. `PERMISSION_DENIED`, `INVALID_ARGUMENT`.
    code: String,
    message: String,
    /// An object; `field` names the offending field when there is one.
    #[schema(value_type = Object)]
    details: Value,
}

/// `{status}` of the health and the `{}` body of deletes that return one.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmptySchema {}

/// Declares a `{<items>: [...], nextPageToken}` page schema; the field is
/// named in snake case and goes on the wire in camelCase.
macro_rules! page_schema {
    ($name:ident, $field:ident, $item:ty) => {
        #[derive(Serialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        pub(crate) struct $name {
            $field: Vec<$item>,
            /// Pass as `pageToken` for the next page; absent or null on the last.
            next_page_token: Option<String>,
        }
    };
}

page_schema!(EnvironmentPage, environments, crate::api::EnvironmentDto);
page_schema!(ProjectPage, projects, crate::api::ProjectDto);
page_schema!(AuditLogPage, audit_logs, crate::api::AuditEntryDto);
page_schema!(InstancePage, instances, crate::api_instances::InstanceDto);
page_schema!(DatabasePage, databases, crate::api_instances::DatabaseDto);
page_schema!(UserPage, users, crate::api_iam::UserDto);
page_schema!(
    ServiceAccountPage,
    service_accounts,
    crate::api_iam::ServiceAccountDto
);
page_schema!(ReleasePage, releases, ReleaseSchema);
page_schema!(PlanPage, plans, PlanSchema);
page_schema!(RolloutPage, rollouts, RolloutSchema);
page_schema!(StagePage, stages, StageSchema);
page_schema!(TaskPage, tasks, TaskSchema);
page_schema!(TaskRunPage, task_runs, TaskRunSchema);
page_schema!(
    ReviewPolicyPage,
    review_policies,
    crate::policies::ReviewPolicyDto
);

/// The created admin of `POST /setup`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SetupResponseSchema {
    /// `users/{email}`.
    name: String,
    email: String,
    roles: Vec<String>,
}

/// `POST /instances/{id}:matchUrl`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct MatchUrlResponseSchema {
    /// Whether the given URL is the stored one.
    matches: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct ReleaseFileSchema {
    path: String,
    version: String,
    /// `DDL`, `DML`, …
    change_type: String,
    /// `sha256-v1:…`.
    checksum: String,
    statement: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct VcsSchema {
    commit_sha: String,
    commit_url: String,
    merge_request_url: String,
    author: String,
}

/// A release: `projects/{project}/releases/{id}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ReleaseSchema {
    name: String,
    id: String,
    files: Vec<ReleaseFileSchema>,
    vcs: VcsSchema,
}

/// A plan: a release against target databases.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct PlanSchema {
    /// `projects/{project}/plans/{id}`.
    name: String,
    id: i64,
    /// `projects/{project}/releases/{id}`.
    release: String,
    /// `instances/{i}/databases/{d}`.
    targets: Vec<String>,
    creator: String,
    /// RFC 3339.
    create_time: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct TaskSchema {
    /// `…/stages/{stage}/tasks/{id}`.
    name: String,
    id: i64,
    /// `instances/{i}/databases/{d}`.
    target: String,
    status: String,
    skipped_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct StageSchema {
    /// `projects/{project}/rollouts/{rollout}/stages/{id}`.
    name: String,
    /// The environment id.
    id: String,
    /// `environments/{id}`.
    environment: String,
    status: String,
    tasks: Vec<TaskSchema>,
}

/// A stage run before its turn by an admin override.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct OverrideSchema {
    stage: String,
    actor: String,
    reason: String,
    /// What the override bypassed.
    #[schema(value_type = Object)]
    blocking_tasks: Value,
    time: String,
}

/// A rollout: one stage per environment, one task per target database.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct RolloutSchema {
    /// `projects/{project}/rollouts/{id}`.
    name: String,
    id: i64,
    /// `projects/{project}/plans/{id}`.
    plan: String,
    /// `projects/{project}/releases/{id}`.
    release: String,
    status: String,
    create_time: String,
    stages: Vec<StageSchema>,
    overrides: Vec<OverrideSchema>,
}

/// A queued task run of `tasks:run`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct QueuedTaskRunSchema {
    /// `…/tasks/{task}/taskRuns/{id}`.
    name: String,
    id: i64,
    /// The task id.
    task: i64,
    /// `instances/{i}/databases/{d}`.
    target: String,
}

/// `tasks:run`: the task runs it queued.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct RunTasksResponseSchema {
    task_runs: Vec<QueuedTaskRunSchema>,
}

/// `tasks:skip`: the ids of the tasks it skipped.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct SkipTasksResponseSchema {
    skipped_tasks: Vec<i64>,
}

/// `taskRuns:cancel`: the ids of the tasks whose runs it canceled.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct CancelTaskRunsResponseSchema {
    canceled_tasks: Vec<i64>,
}

/// One run of a task.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct TaskRunSchema {
    /// `…/tasks/{task}/taskRuns/{id}`.
    name: String,
    id: i64,
    /// `PENDING`, `RUNNING`, `DONE`, `FAILED`, `CANCELED`, …
    status: String,
    attempts: i64,
    error: Option<String>,
    create_time: String,
    start_time: Option<String>,
    finish_time: Option<String>,
}

/// A task run's log: the worker's entries, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct TaskRunLogSchema {
    /// `…/taskRuns/{id}/log`.
    name: String,
    task_run: TaskRunSchema,
    /// Per file and per statement: start, end, duration, rows affected, and
    /// the file:line of a failure.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<Value>,
}

/// One row of a target's migration history.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct ChangelogEntrySchema {
    version: String,
    file_name: String,
    change_type: String,
    kind: String,
    status: String,
    checksum: String,
    start_time: String,
    finish_time: Option<String>,
    duration_ms: Option<i64>,
    applied_by: String,
    /// `projects/{project}/releases/{id}` when applied by a rollout.
    release: Option<String>,
    task: Option<String>,
    error: Option<String>,
}

/// The history of one target; `error` when it could not be read.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ChangelogSchema {
    /// `instances/{i}/databases/{d}`.
    target: String,
    entries: Vec<ChangelogEntrySchema>,
    error: Option<String>,
}

/// A database's latest drift check.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DriftStatusSchema {
    /// `instances/{instance}/databases/{database}/drift`.
    name: String,
    /// `instances/{instance}/databases/{database}`.
    database: String,
    /// `IN_SYNC`, `DRIFTED`, `ERROR` or `NOT_CHECKED`.
    status: String,
    /// RFC 3339; null before the first check.
    check_time: Option<String>,
    /// `on_demand` or `schedule`; null before the first check.
    checked_by: Option<String>,
    /// The unified diff, expected (replayed history) against live, when DRIFTED.
    diff: Option<String>,
    /// Why the check could not compare, when ERROR.
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ChangelogResponseSchema {
    changelogs: Vec<ChangelogSchema>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct CheckSummarySchema {
    /// Advices at level error.
    error: u64,
    /// Advices at level warning.
    warning: u64,
}

/// One review finding (`rollgate_review::Advice`). Lines and columns are
/// 1-based; the end points just past the offending text.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AdviceSchema {
    /// Stable rule name, e.g. `COLUMN_NO_NULL`, or `SYNTAX_ERROR`.
    rule: String,
    level: AdviceLevelSchema,
    code: u32,
    title: String,
    /// What is wrong, naming the object, and how to fix it.
    content: String,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
pub(crate) enum AdviceLevelSchema {
    Warning,
    Error,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
pub(crate) enum RiskLevelSchema {
    Low,
    Moderate,
    High,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
pub(crate) enum CheckStatusSchema {
    /// Reviewed: it would be applied.
    Pending,
    /// Already applied with this content.
    Skipped,
    /// See the advices.
    Error,
}

/// The review of one file on one target.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct CheckResultSchema {
    file: String,
    version: String,
    /// `instances/{i}/databases/{d}`.
    target: String,
    status: CheckStatusSchema,
    advices: Vec<AdviceSchema>,
    /// Rows the file's DML would touch, when known.
    affected_rows: Option<u64>,
    risk_level: Option<RiskLevelSchema>,
    risk_reasons: Vec<String>,
}

/// One target of a check.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct CheckTargetSchema {
    /// `instances/{i}/databases/{d}`.
    target: String,
    environment: String,
    /// Where the review policy came from.
    policy: String,
    reachable: bool,
    /// Why it was not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The result of `releases:check`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct CheckResponseSchema {
    /// One per file and target.
    results: Vec<CheckResultSchema>,
    /// One per target: its environment, policy and whether it was reachable.
    targets: Vec<CheckTargetSchema>,
    summary: CheckSummarySchema,
    /// Rows the DML would touch, summed, when known.
    affected_rows: Option<u64>,
    /// The highest over all results.
    risk_level: Option<RiskLevelSchema>,
}
