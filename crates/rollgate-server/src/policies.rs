//! Review policies: the `[review]` table of `rollgate.toml`, as JSON,
//! attached to one environment or one project.
//!
//! ```text
//! GET    /api/v1/reviewPolicies                       rg.reviewConfigs.list
//! GET    /api/v1/environments/{id}/reviewPolicy       rg.reviewConfigs.get
//! PUT    /api/v1/environments/{id}/reviewPolicy       rg.reviewConfigs.update
//! DELETE /api/v1/environments/{id}/reviewPolicy       rg.reviewConfigs.delete
//! (the same four under /api/v1/projects/{project}/reviewPolicy)
//! ```
//!
//! A policy on the wire: `{"name": "environments/test/reviewPolicy",
//! "attach": "environments/test", "review": {"template": "basic",
//! "engine": "postgres", "rules": {"COLUMN_NO_NULL": {"level": "ERROR"}}}}`.
//! `PUT {"review": {…}}` validates with `rollgate_review` (the same checks
//! as `rollgate lint` on `rollgate.toml`) and answers 400 naming the
//! setting at fault (`details.setting`, e.g. `review.rules.NAMING_TABLE.level`).
//!
//! [`resolve_for`] is the one place that decides which policy a target
//! database is reviewed with: its environment's, else its project's, else
//! the `basic` template.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rollgate_auth::Permission;
use rollgate_review::policy::RuleOverride;
use rollgate_review::{ConfigError, Policy, ReviewConfig, Template};
use rollgate_store::{PolicyAttach, ReviewPolicy, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{ListQuery, audit_outcome, page_json, validate_id};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Principal};
use crate::store::store_call;

/// A review policy on the wire.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewPolicyDto {
    name: String,
    attach: String,
    review: Value,
}

impl From<ReviewPolicy> for ReviewPolicyDto {
    fn from(policy: ReviewPolicy) -> ReviewPolicyDto {
        let attach = policy.attach.to_string();
        // Policies written through the API are JSON; a TOML text (written
        // by other tools) is shown as the string it is.
        let review = serde_json::from_str(&policy.review).unwrap_or(Value::String(policy.review));
        ReviewPolicyDto {
            name: format!("{attach}/reviewPolicy"),
            attach,
            review,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutReviewPolicyRequest {
    review: Value,
}

#[utoipa::path(
    get,
    path = "/api/v1/reviewPolicies",
    tag = "reviewPolicies",
    operation_id = "listReviewPolicies",
    summary = "List review policies",
    params(ListQuery),
    responses((status = 200, description = "A page of review policies", body = crate::openapi::ReviewPolicyPage))
)]
pub(crate) async fn list_review_policies(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    principal.require(Permission::ReviewConfigsList)?;
    let store = &state.inner.store;
    let page = store_call!(store, s => s.list_review_policies(&query.page()).await)?;
    Ok(page_json("reviewPolicies", page, ReviewPolicyDto::from))
}

#[utoipa::path(
    get,
    path = "/api/v1/environments/{id}/reviewPolicy",
    tag = "reviewPolicies",
    operation_id = "getEnvironmentPolicy",
    summary = "Get an environment's review policy",
    params(("id" = String, Path, description = "The resource id")),
    responses((status = 200, description = "The environment's review policy", body = ReviewPolicyDto))
)]
pub(crate) async fn get_environment_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ReviewPolicyDto>, AppError> {
    get_policy(&state, &principal, PolicyAttach::Environment(id)).await
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/reviewPolicy",
    tag = "reviewPolicies",
    operation_id = "getProjectPolicy",
    summary = "Get a project's review policy",
    params(("project" = String, Path, description = "The project id")),
    responses((status = 200, description = "The project's review policy", body = ReviewPolicyDto))
)]
pub(crate) async fn get_project_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ReviewPolicyDto>, AppError> {
    get_policy(&state, &principal, PolicyAttach::Project(id)).await
}

#[utoipa::path(
    put,
    path = "/api/v1/environments/{id}/reviewPolicy",
    tag = "reviewPolicies",
    operation_id = "putEnvironmentPolicy",
    summary = "Set an environment's review policy",
    params(("id" = String, Path, description = "The resource id")),
    request_body = PutReviewPolicyRequest,
    responses((status = 200, description = "The stored review policy", body = ReviewPolicyDto))
)]
pub(crate) async fn put_environment_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Result<ApiJson<PutReviewPolicyRequest>, AppError>,
) -> Result<Response, AppError> {
    put_policy(&state, &principal, PolicyAttach::Environment(id), request).await
}

#[utoipa::path(
    put,
    path = "/api/v1/projects/{project}/reviewPolicy",
    tag = "reviewPolicies",
    operation_id = "putProjectPolicy",
    summary = "Set a project's review policy",
    params(("project" = String, Path, description = "The project id")),
    request_body = PutReviewPolicyRequest,
    responses((status = 200, description = "The stored review policy", body = ReviewPolicyDto))
)]
pub(crate) async fn put_project_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    request: Result<ApiJson<PutReviewPolicyRequest>, AppError>,
) -> Result<Response, AppError> {
    put_policy(&state, &principal, PolicyAttach::Project(id), request).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/environments/{id}/reviewPolicy",
    tag = "reviewPolicies",
    operation_id = "deleteEnvironmentPolicy",
    summary = "Remove an environment's review policy",
    params(("id" = String, Path, description = "The resource id")),
    responses((status = 200, description = "Deleted", body = crate::openapi::EmptySchema))
)]
pub(crate) async fn delete_environment_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    delete_policy(&state, &principal, PolicyAttach::Environment(id)).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/reviewPolicy",
    tag = "reviewPolicies",
    operation_id = "deleteProjectPolicy",
    summary = "Remove a project's review policy",
    params(("project" = String, Path, description = "The project id")),
    responses((status = 200, description = "Deleted", body = crate::openapi::EmptySchema))
)]
pub(crate) async fn delete_project_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    delete_policy(&state, &principal, PolicyAttach::Project(id)).await
}

async fn get_policy(
    state: &AppState,
    principal: &Principal,
    attach: PolicyAttach,
) -> Result<Json<ReviewPolicyDto>, AppError> {
    require_for(state, principal, Permission::ReviewConfigsGet, &attach).await?;
    let store = &state.inner.store;
    let policy = store_call!(store, s => s.get_review_policy(&attach).await)?;
    Ok(Json(policy.into()))
}

async fn put_policy(
    state: &AppState,
    principal: &Principal,
    attach: PolicyAttach,
    request: Result<ApiJson<PutReviewPolicyRequest>, AppError>,
) -> Result<Response, AppError> {
    // The permission is checked before the body is looked at.
    require_for(state, principal, Permission::ReviewConfigsUpdate, &attach).await?;
    let ApiJson(request) = request?;
    let resource = format!("{attach}/reviewPolicy");
    let validated = validate_attach(&attach).and_then(|()| {
        review_config_from_json(&request.review).map_err(|error| {
            AppError::invalid_argument(format!(
                "`{}`: {}; fix the policy and send it again",
                error.setting, error.message
            ))
            .with_details(json!({ "setting": error.setting }))
        })
    });
    if let Err(error) = validated {
        crate::api::audit(
            state,
            principal,
            "rg.reviewPolicies.update",
            &resource,
            &format!("ERROR: {}", error.code),
        )
        .await;
        return Err(error);
    }
    let policy = ReviewPolicy {
        attach,
        review: request.review.to_string(),
    };
    let store = &state.inner.store;
    let put = store_call!(store, s => s.put_review_policy(&policy).await);
    audit_outcome(
        state,
        principal,
        "rg.reviewPolicies.update",
        &resource,
        &put,
    )
    .await;
    put?;
    Ok(Json(ReviewPolicyDto::from(policy)).into_response())
}

async fn delete_policy(
    state: &AppState,
    principal: &Principal,
    attach: PolicyAttach,
) -> Result<Json<Value>, AppError> {
    require_for(state, principal, Permission::ReviewConfigsDelete, &attach).await?;
    let resource = format!("{attach}/reviewPolicy");
    let store = &state.inner.store;
    let deleted = store_call!(store, s => s.delete_review_policy(&attach).await);
    audit_outcome(
        state,
        principal,
        "rg.reviewPolicies.delete",
        &resource,
        &deleted,
    )
    .await;
    deleted?;
    Ok(Json(json!({})))
}

fn validate_attach(attach: &PolicyAttach) -> Result<(), AppError> {
    match attach {
        PolicyAttach::Environment(id) => validate_id("environment id", id),
        PolicyAttach::Project(id) => validate_id("project id", id),
    }
}

/// The `[review]` table as JSON, checked the way `rollgate lint` checks
/// `rollgate.toml`: every error names its setting (`review.template`,
/// `review.rules.NAME.level`, …).
pub(crate) fn review_config_from_json(value: &Value) -> Result<ReviewConfig, ConfigError> {
    let Some(object) = value.as_object() else {
        return Err(ConfigError::new(
            "review",
            r#"must be a JSON object such as {"template": "basic", "rules": {"COLUMN_NO_NULL": {"level": "ERROR"}}}"#,
        ));
    };
    let mut config = ReviewConfig::default();
    for (key, setting) in object {
        let path = format!("review.{key}");
        match key.as_str() {
            "engine" => {
                let engine = setting.as_str().ok_or_else(|| {
                    ConfigError::new(&path, "must be a string, e.g. \"postgres\"")
                })?;
                config.engine = Some(engine.to_string());
            }
            "template" => {
                let text = setting.as_str().ok_or_else(|| {
                    ConfigError::new(&path, "must be a string: sample, basic, advanced or none")
                })?;
                config.template = Some(Template::parse(text).ok_or_else(|| {
                    ConfigError::new(
                        &path,
                        format!(
                            "unknown template \"{text}\"; valid templates: sample, basic, advanced, none"
                        ),
                    )
                })?);
            }
            "rules" => {
                let rules = setting.as_object().ok_or_else(|| {
                    ConfigError::new(
                        &path,
                        r#"must be an object of rule names, e.g. {"COLUMN_NO_NULL": {"level": "ERROR"}}"#,
                    )
                })?;
                for (name, rule) in rules {
                    let rule_override: RuleOverride = serde_json::from_value(rule.clone())
                        .map_err(|error| {
                            ConfigError::new(format!("review.rules.{name}"), error.to_string())
                        })?;
                    config.rules.insert(name.clone(), rule_override);
                }
            }
            _ => {
                return Err(ConfigError::new(
                    path,
                    "unknown setting; valid settings: engine, template, rules",
                ));
            }
        }
    }
    Policy::resolve(&config)?;
    Ok(config)
}

/// A stored policy text: JSON as the API writes it, or the TOML body of a
/// `[review]` table.
pub(crate) fn parse_stored(text: &str) -> Result<ReviewConfig, ConfigError> {
    if text.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| ConfigError::new("review", error.to_string()))?;
        review_config_from_json(&value)
    } else {
        rollgate_review::parse_config(&format!("[review]\n{text}"))
    }
}

/// The policy a target database is reviewed with, and its name: the
/// environment's policy, else the project's, else the `basic` template
/// (named `templates/basic`). A stored policy that no longer resolves (a
/// rule removed by an upgrade) is an error naming it.
pub(crate) async fn resolve_for(
    state: &AppState,
    environment: &str,
    project: &str,
) -> Result<(String, Policy), AppError> {
    let store = &state.inner.store;
    for attach in [
        PolicyAttach::Environment(environment.to_string()),
        PolicyAttach::Project(project.to_string()),
    ] {
        match store_call!(store, s => s.get_review_policy(&attach).await) {
            Ok(stored) => {
                let name = format!("{attach}/reviewPolicy");
                let policy = parse_stored(&stored.review)
                    .and_then(|config| Policy::resolve(&config))
                    .map_err(|error| {
                        AppError::new(
                            axum::http::StatusCode::CONFLICT,
                            "FAILED_PRECONDITION",
                            format!(
                                "the stored {name} is no longer valid ({error}); PUT a corrected policy"
                            ),
                        )
                    })?;
                return Ok((name, policy));
            }
            Err(StoreError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Ok((
        format!("templates/{}", Template::Basic.as_str()),
        Policy::from_template(Template::Basic),
    ))
}

/// A project's policy is checked in the project (its IAM bindings count); an
/// environment's workspace-wide.
async fn require_for(
    state: &AppState,
    principal: &Principal,
    permission: Permission,
    attach: &PolicyAttach,
) -> Result<(), AppError> {
    match attach {
        PolicyAttach::Project(project) => {
            principal
                .require_in_project(state, permission, project)
                .await
        }
        PolicyAttach::Environment(_) => principal.require(permission),
    }
}
