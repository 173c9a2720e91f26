//! `GET /api/v1/projects/{p}/databases/{d}/changelog`: what was applied
//! where, by which release.
//!
//! The truth is each target's own history table, so this reads it through
//! the engine (read-only: history rows only, no lock, no write). `{d}` is a
//! database name: every database of the project with that name is listed
//! (`?instance=` narrows to one instance), each with its history rows or,
//! when the target cannot be read, one error entry: an unreachable target
//! is never a 500. Errors name the redacted target, never its URL.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use rollgate_auth::Permission;
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{Engine, HistoryRecord};
use rollgate_store::DatabaseRef;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiQuery, Principal};
use crate::rollouts::project_databases;
use crate::store::store_call;

/// How long reading one target's history may take.
const TARGET_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangelogQuery {
    #[serde(default)]
    instance: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/databases/{database}/changelog",
    tag = "changelog",
    operation_id = "getChangelog",
    summary = "Read a project database's migration history from the target",
    params(("project" = String, Path, description = "The project id"), ("database" = String, Path, description = "The database name"), ChangelogQuery),
    responses((status = 200, description = "The history of every project database of that name", body = crate::openapi::ChangelogResponseSchema))
)]
pub(crate) async fn get_changelog(
    State(state): State<AppState>,
    principal: Principal,
    Path((project, database)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ChangelogQuery>,
) -> Result<Json<Value>, AppError> {
    principal
        .require_in_project(&state, Permission::ChangelogsList, &project)
        .await?;
    let store = state.store();
    store_call!(store, s => s.get_project(&project).await)?;
    let targets: Vec<DatabaseRef> = project_databases(&state, &project)
        .await?
        .into_iter()
        .filter(|db| db.name == database)
        .filter(|db| query.instance.as_ref().is_none_or(|i| *i == db.instance))
        .collect();
    if targets.is_empty() {
        let on = query
            .instance
            .as_ref()
            .map_or_else(String::new, |i| format!(" on instance `{i}`"));
        return Err(AppError::not_found(format!(
            "project `{project}` has no database named `{database}`{on}; add it to the project or fix the name"
        )));
    }
    let mut out = Vec::with_capacity(targets.len());
    for target in &targets {
        let entry = match read_history(&state, target).await {
            Ok(rows) => json!({
                "target": target.to_string(),
                "entries": rows.iter().map(|row| entry_dto(&project, row)).collect::<Vec<_>>(),
            }),
            Err(message) => json!({
                "target": target.to_string(),
                "entries": [],
                "error": message,
            }),
        };
        out.push(entry);
    }
    Ok(Json(json!({ "changelogs": out })))
}

fn entry_dto(project: &str, row: &HistoryRecord) -> Value {
    json!({
        "version": row.version,
        "fileName": row.file_name,
        "changeType": row.change_type,
        "kind": row.kind.as_str(),
        "status": row.status.as_str(),
        "checksum": row.checksum,
        "startTime": row.started_at,
        "finishTime": row.finished_at,
        "durationMs": row.duration_ms,
        "appliedBy": row.applied_by,
        "release": row.release_id.as_ref().map(|id| format!("projects/{project}/releases/{id}")),
        "task": row.task_id,
        "error": row.error,
    })
}

/// The target's history rows, or a message saying why they cannot be read.
async fn read_history(
    state: &AppState,
    target: &DatabaseRef,
) -> Result<Vec<HistoryRecord>, String> {
    let store = state.store();
    let instance = store_call!(store, s => s.get_instance(&target.instance).await)
        .map_err(|e| format!("cannot read instance `{}`: {e}", target.instance))?;
    let url = crate::target::database_url(state.key_ring(), &instance, &target.name)?;
    let read = async {
        let mut engine = AnyEngine::connect(&url, None).await?;
        engine.history().await
    };
    match tokio::time::timeout(TARGET_TIMEOUT, read).await {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(error)) => Err(format!("cannot read the history of {target}: {error}")),
        Err(_) => Err(format!(
            "cannot read the history of {target}: no answer within {} s",
            TARGET_TIMEOUT.as_secs()
        )),
    }
}
