//! Drift status per database: does a target's live schema still match what
//! its applied files say it should be?
//!
//! A check ([`check_database`]) reads the target's history table (read
//! only), takes its successful applies in version order, finds each file's
//! content in the store (the release the row names, by version, with the
//! checksum verified; else any release of a project holding the database
//! with a file of that checksum), and runs [`rollgate_engine::drift::detect`]
//! (live dump, replay into a scratch database next to the target, diff).
//! The result, `IN_SYNC`, `DRIFTED` (with the diff) or `ERROR` (with what is
//! wrong and what to do), is recorded in the store as the database's latest
//! status. A check never fails the request because of the target: an
//! unreachable target is an `ERROR` status. Messages name the database,
//! never its URL.
//!
//! Endpoints: `GET /api/v1/instances/{i}/databases/{d}/drift` (the latest
//! status, `rg.databases.get`) and `POST …/drift:check` (check now,
//! `rg.databases.update`, audited).
//!
//! The schedule: [`drift_loop`] runs on every replica; every poll it claims
//! (atomically, in the store) the databases whose last check is older than
//! the interval and checks those, so replicas never check a database twice
//! in one interval.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rollgate_auth::Permission;
use rollgate_engine::any::AnyEngine;
use rollgate_engine::drift::DriftError;
use rollgate_engine::{Engine, EngineError, HistoryRecord, RecordStatus};
use rollgate_migration::{MigrationFile, Version};
use rollgate_store::{
    DatabaseRef, DriftResult, DriftStatus, PageRequest, Release, StoreError, drift_status,
};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::audit_result;
use crate::error::AppError;
use crate::extract::Principal;
use crate::store::store_call;
use crate::time::now_unix;

/// How long reading a target's history may take.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the live dump, the replay and the scratch dump may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// Default interval of the scheduled check.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// The scheduled check's interval from `ROLLGATE_DRIFT_INTERVAL_SECONDS`
/// (see [`parse_interval`]).
pub fn interval_from_env() -> anyhow::Result<Option<Duration>> {
    parse_interval(
        std::env::var("ROLLGATE_DRIFT_INTERVAL_SECONDS")
            .ok()
            .as_deref(),
    )
}

/// The scheduled check's interval from the value of
/// `ROLLGATE_DRIFT_INTERVAL_SECONDS`: unset or empty is one hour, 0 is
/// `None` (no scheduled checks).
pub fn parse_interval(value: Option<&str>) -> anyhow::Result<Option<Duration>> {
    match value.map(str::trim) {
        None | Some("") => Ok(Some(DEFAULT_INTERVAL)),
        Some(text) => {
            let seconds: u64 = text.parse().map_err(|_| {
                anyhow::anyhow!(
                    "ROLLGATE_DRIFT_INTERVAL_SECONDS must be a whole number of seconds (0 disables the scheduled drift check), not `{text}`"
                )
            })?;
            Ok((seconds > 0).then(|| Duration::from_secs(seconds)))
        }
    }
}

/// `GET /api/v1/instances/{instance}/databases/{database}/drift`.
#[utoipa::path(
    get,
    path = "/api/v1/instances/{instance}/databases/{database}/drift",
    tag = "databases",
    operation_id = "getDrift",
    summary = "The latest drift check of a database (NOT_CHECKED before the first)",
    params(("instance" = String, Path, description = "The instance id"), ("database" = String, Path, description = "The database name")),
    responses((status = 200, description = "The latest drift status", body = crate::openapi::DriftStatusSchema))
)]
pub(crate) async fn get_drift(
    State(state): State<AppState>,
    principal: Principal,
    Path((instance, database)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    principal.require(Permission::DatabasesGet)?;
    let store = state.store();
    let key = DatabaseRef::new(instance, database);
    let status = store_call!(store, s => s.get_drift_status(&key).await)?;
    Ok(Json(status_dto(&status)))
}

/// `POST /api/v1/instances/{instance}/databases/{database}/drift:check`.
#[utoipa::path(
    post,
    path = "/api/v1/instances/{instance}/databases/{database}/drift:check",
    tag = "databases",
    operation_id = "checkDrift",
    summary = "Compare the live schema with the replay of its applied files, now",
    description = "An unreachable target or a history the server cannot replay is status ERROR with a message, not an HTTP error.",
    params(("instance" = String, Path, description = "The instance id"), ("database" = String, Path, description = "The database name")),
    responses((status = 200, description = "The new drift status", body = crate::openapi::DriftStatusSchema))
)]
pub(crate) async fn post_drift_check(
    State(state): State<AppState>,
    principal: Principal,
    Path((instance, database)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let key = DatabaseRef::new(instance, database);
    let resource = format!("{key}/drift");
    let result = async {
        principal.require(Permission::DatabasesUpdate)?;
        let status = check_database(&state, &key, drift_status::ON_DEMAND).await?;
        Ok(Json(status_dto(&status)).into_response())
    }
    .await;
    audit_result(
        &state,
        &principal,
        "rg.databases.checkDrift",
        &resource,
        &result,
    )
    .await;
    result
}

/// The wire shape of a drift status.
fn status_dto(status: &DriftStatus) -> Value {
    let drifted = status.status == drift_status::DRIFTED;
    json!({
        "name": format!("{}/drift", status.database),
        "database": status.database.to_string(),
        "status": status.status,
        "checkTime": status.checked_at.map(crate::time::rfc3339),
        "checkedBy": status.checked_by,
        "diff": if drifted { status.detail.clone() } else { None },
        "error": if drifted { None } else { status.detail.clone() },
    })
}

/// Checks one database now and records the result as its latest status.
/// `Err` only when the database does not exist or the metadata store
/// fails; whatever goes wrong with the target is an `ERROR` status.
pub(crate) async fn check_database(
    state: &AppState,
    key: &DatabaseRef,
    checked_by: &str,
) -> Result<DriftStatus, StoreError> {
    let store = state.store();
    store_call!(store, s => s.get_database(key).await)?;
    let (status, detail) = match compare(state, key).await? {
        Ok(None) => (drift_status::IN_SYNC, None),
        Ok(Some(diff)) => (drift_status::DRIFTED, Some(diff)),
        Err(message) => (drift_status::ERROR, Some(message)),
    };
    let result = DriftResult {
        database: key.clone(),
        status: status.to_string(),
        checked_at: now_unix(),
        detail,
        checked_by: checked_by.to_string(),
    };
    store_call!(store, s => s.record_drift_check(&result).await)?;
    Ok(DriftStatus {
        database: result.database,
        status: result.status,
        checked_at: Some(result.checked_at),
        detail: result.detail,
        checked_by: Some(result.checked_by),
    })
}

/// `Ok(Ok(diff))` (no diff: in sync), `Ok(Err(message))` when the target
/// could not be compared, `Err` when the store failed.
async fn compare(
    state: &AppState,
    key: &DatabaseRef,
) -> Result<Result<Option<String>, String>, StoreError> {
    let store = state.store();
    let instance = store_call!(store, s => s.get_instance(&key.instance).await)?;
    let url = match crate::target::database_url(state.key_ring(), &instance, &key.name) {
        Ok(url) => url,
        Err(message) => return Ok(Err(message)),
    };
    let read = async {
        let mut engine = AnyEngine::connect(&url, None).await?;
        engine.read_history().await
    };
    let history = match tokio::time::timeout(HISTORY_TIMEOUT, read).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) => {
            return Ok(Err(format!(
                "cannot read the history of {key}: {}; check that the database is reachable and the instance's URL is right",
                engine_message(&error)
            )));
        }
        Err(_) => {
            return Ok(Err(format!(
                "cannot read the history of {key}: no answer within {} s; check that the database is reachable",
                HISTORY_TIMEOUT.as_secs()
            )));
        }
    };
    let applied = match applied_rows(key, &history) {
        Ok(rows) => rows,
        Err(message) => return Ok(Err(message)),
    };
    let files = match expected_files(state, key, &applied).await? {
        Ok(files) => files,
        Err(message) => return Ok(Err(message)),
    };
    match tokio::time::timeout(
        CHECK_TIMEOUT,
        rollgate_engine::drift::detect(&url, None, &files),
    )
    .await
    {
        Ok(Ok(report)) => Ok(Ok(report.diff)),
        Ok(Err(DriftError::Live(error))) => Ok(Err(format!(
            "cannot read the live schema of {key}: {}",
            engine_message(&error)
        ))),
        Ok(Err(DriftError::Scratch(error))) => Ok(Err(format!(
            "cannot use a scratch database next to {key} to replay its history: {}; the instance's user needs the right to create databases",
            engine_message(&error)
        ))),
        Ok(Err(DriftError::Replay { file_name, error })) => Ok(Err(format!(
            "replaying {file_name} (applied on {key}) into a scratch database failed: {}; the file does not run on an empty database in version order",
            engine_message(&error)
        ))),
        Err(_) => Ok(Err(format!(
            "the drift check of {key} took longer than {} s; try again later",
            CHECK_TIMEOUT.as_secs()
        ))),
    }
}

/// An engine error without the target's (redacted) URL: connection errors
/// carry it, so only their cause is kept.
fn engine_message(error: &EngineError) -> String {
    match error {
        EngineError::Connect { message, .. } => format!("cannot connect: {message}"),
        EngineError::BadUrl(_) => "the connection URL is not valid".to_string(),
        other => other.to_string(),
    }
}

/// The rows of the versions the target holds as applied, in version order:
/// per version, its last successful row (a migration, baseline or accepted
/// repair). A version whose last row failed or is still running makes the
/// expected schema unknown, which is an error.
fn applied_rows<'a>(
    key: &DatabaseRef,
    history: &'a [HistoryRecord],
) -> Result<Vec<(Version, &'a HistoryRecord)>, String> {
    let mut latest: BTreeMap<&str, &HistoryRecord> = BTreeMap::new();
    for row in history {
        latest.insert(row.version.as_str(), row);
    }
    let mut applied = Vec::new();
    for (version, last) in latest {
        let row = match last.status {
            RecordStatus::Succeeded => last,
            RecordStatus::Cleared => continue,
            RecordStatus::Failed | RecordStatus::Running => {
                return Err(format!(
                    "version {version} ({}) is {} on {key}, so its expected schema is unknown; finish it (run the task again) or repair the history, then check again",
                    last.file_name,
                    last.status.as_str()
                ));
            }
        };
        let parsed = Version::parse(version).map_err(|_| {
            format!(
                "history row {} of {key} has version \"{version}\", which is not a version; repair the history, then check again",
                row.id
            )
        })?;
        applied.push((parsed, row));
    }
    applied.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(applied)
}

/// The content of every applied row, from the releases the server holds.
async fn expected_files(
    state: &AppState,
    key: &DatabaseRef,
    applied: &[(Version, &HistoryRecord)],
) -> Result<Result<Vec<MigrationFile>, String>, StoreError> {
    let projects = projects_holding(state, key).await?;
    let mut releases: Option<Vec<Release>> = None;
    let mut files = Vec::with_capacity(applied.len());
    for (_, row) in applied {
        let mut found = None;
        if let Some(release_id) = &row.release_id {
            for project in &projects {
                let store = state.store();
                let release = match store_call!(store, s => s.get_release(project, release_id).await)
                {
                    Ok(release) => release,
                    Err(StoreError::NotFound { .. }) => continue,
                    Err(error) => return Err(error),
                };
                if let Some(file) = release.files.iter().find(|f| f.version == row.version) {
                    if file.checksum != row.checksum {
                        return Ok(Err(format!(
                            "version {} was applied on {key} by projects/{project}/releases/{release_id} with checksum {}, but that release's file {} has checksum {}; repair the history or check the release, then check again",
                            row.version, row.checksum, file.path, file.checksum
                        )));
                    }
                    found = Some(file.clone());
                    break;
                }
            }
        }
        if found.is_none() {
            if releases.is_none() {
                releases = Some(all_releases(state, &projects).await?);
            }
            found = releases
                .iter()
                .flatten()
                .flat_map(|r| r.files.iter())
                .find(|f| f.checksum == row.checksum)
                .cloned();
        }
        let Some(file) = found else {
            let by = row.release_id.as_ref().map_or_else(
                || "outside the server (e.g. by `rollgate migrate`)".to_string(),
                |id| format!("by release `{id}`, which no project holding it has"),
            );
            return Ok(Err(format!(
                "version {} ({}) was applied on {key} {by}, and no release of a project holding the database has a file with its checksum {}; create a release with that file in a project holding {key} (or repair the history), then check again",
                row.version, row.file_name, row.checksum
            )));
        };
        let migration = MigrationFile::from_text(&file.path, &file.statement);
        if migration.checksum.as_str() != row.checksum {
            return Ok(Err(format!(
                "the stored content of {} (version {}) does not match its checksum {}; create the release again",
                file.path, row.version, row.checksum
            )));
        }
        files.push(migration);
    }
    Ok(Ok(files))
}

/// The projects that hold the database.
async fn projects_holding(state: &AppState, key: &DatabaseRef) -> Result<Vec<String>, StoreError> {
    let store = state.store();
    let mut holding = Vec::new();
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    loop {
        let projects = store_call!(store, s => s.list_projects(&page).await)?;
        for project in &projects.items {
            let mut databases = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
            loop {
                let result = store_call!(store, s => s.list_project_databases(&project.id, &databases).await)?;
                if result.items.contains(key) {
                    holding.push(project.id.clone());
                    break;
                }
                match result.next_page_token {
                    Some(token) => databases.page_token = Some(token),
                    None => break,
                }
            }
        }
        match projects.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(holding),
        }
    }
}

async fn all_releases(state: &AppState, projects: &[String]) -> Result<Vec<Release>, StoreError> {
    let store = state.store();
    let mut all = Vec::new();
    for project in projects {
        let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
        loop {
            let result = store_call!(store, s => s.list_releases(project, &page).await)?;
            all.extend(result.items);
            match result.next_page_token {
                Some(token) => page.page_token = Some(token),
                None => break,
            }
        }
    }
    Ok(all)
}

/// One pass of the schedule at `now` (Unix seconds): claims every database
/// whose last check (or claim) is at least `interval` old and checks it.
/// Returns how many databases this pass checked. Stops between databases
/// once `shutdown` is true.
pub async fn scheduled_pass(
    state: &AppState,
    interval: Duration,
    now: i64,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let store = state.store();
    let older_than = now.saturating_sub(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX));
    let mut checked = 0;
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    loop {
        let databases = store_call!(store, s => s.list_databases(&page).await)?;
        for database in &databases.items {
            if *shutdown.borrow() {
                return Ok(checked);
            }
            let key = DatabaseRef::new(database.instance.clone(), database.name.clone());
            let claimed = match store_call!(store, s => s.claim_drift_check(&key, now, older_than).await)
            {
                Ok(claimed) => claimed,
                // Deleted since the list was read.
                Err(StoreError::NotFound { .. }) => continue,
                Err(error) => return Err(error.into()),
            };
            if !claimed {
                continue;
            }
            match check_database(state, &key, drift_status::SCHEDULE).await {
                Ok(status) => {
                    checked += 1;
                    if status.status != drift_status::IN_SYNC {
                        tracing::info!(database = %key, status = status.status, "scheduled drift check");
                    }
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        match databases.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(checked),
        }
    }
}

/// How often [`drift_loop`] looks for databases due: a tenth of the
/// interval, between 1 s and 60 s.
pub fn poll_period(interval: Duration) -> Duration {
    (interval / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Runs [`scheduled_pass`] every [`poll_period`] until `shutdown` turns
/// true. A check in progress at shutdown gets `grace` to finish; then it
/// is dropped (its database is checked again after the next interval).
pub async fn drift_loop(
    state: AppState,
    interval: Duration,
    grace: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let period = poll_period(interval);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let pass_shutdown = shutdown.clone();
        let pass = scheduled_pass(&state, interval, now_unix(), &pass_shutdown);
        tokio::pin!(pass);
        let result = tokio::select! {
            biased;
            result = &mut pass => result,
            () = stopped(&mut shutdown) => {
                if tokio::time::timeout(grace, &mut pass).await.is_err() {
                    tracing::warn!("shutdown grace period over; dropping the drift check in progress");
                }
                break;
            }
        };
        if let Err(error) = result {
            tracing::warn!(error = %format!("{error:#}"), "scheduled drift check failed");
        }
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            () = tokio::time::sleep(period) => {}
        }
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The `rollgate_drift_databases{status}` gauge for `/metrics`: every status
/// is listed, 0 when no database is in it.
pub(crate) fn render_metrics(counts: &[(String, i64)]) -> String {
    use std::fmt::Write as _;
    let mut text = String::from(
        "# HELP rollgate_drift_databases Databases by the status of their latest drift check.\n\
         # TYPE rollgate_drift_databases gauge\n",
    );
    for status in [
        drift_status::DRIFTED,
        drift_status::ERROR,
        drift_status::IN_SYNC,
        drift_status::NOT_CHECKED,
    ] {
        let n = counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(text, "rollgate_drift_databases{{status=\"{status}\"}} {n}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_defaults_to_an_hour_and_zero_disables() {
        assert_eq!(parse_interval(None).unwrap(), Some(DEFAULT_INTERVAL));
        assert_eq!(parse_interval(Some(" ")).unwrap(), Some(DEFAULT_INTERVAL));
        assert_eq!(parse_interval(Some("0")).unwrap(), None);
        assert_eq!(
            parse_interval(Some("90")).unwrap(),
            Some(Duration::from_secs(90))
        );
        let error = parse_interval(Some("1h")).unwrap_err().to_string();
        assert!(error.contains("ROLLGATE_DRIFT_INTERVAL_SECONDS"), "{error}");
        assert!(error.contains("`1h`"), "{error}");
    }

    #[test]
    fn poll_period_is_a_tenth_of_the_interval_within_bounds() {
        assert_eq!(poll_period(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(
            poll_period(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(poll_period(DEFAULT_INTERVAL), Duration::from_secs(60));
    }

    #[test]
    fn the_gauge_lists_every_status() {
        let text = render_metrics(&[("DRIFTED".into(), 2), ("IN_SYNC".into(), 5)]);
        assert!(text.contains("# TYPE rollgate_drift_databases gauge\n"));
        for line in [
            "rollgate_drift_databases{status=\"DRIFTED\"} 2",
            "rollgate_drift_databases{status=\"ERROR\"} 0",
            "rollgate_drift_databases{status=\"IN_SYNC\"} 5",
            "rollgate_drift_databases{status=\"NOT_CHECKED\"} 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
